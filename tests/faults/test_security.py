"""Security: page content is data, never markup or commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from store import report
from tests.conftest import ROOT

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "<svg/onload=alert(1)>",
    "</td></tr></table><iframe src=//evil>",
]


def code_files() -> list[Path]:
    files = [
        *ROOT.glob("crawler/**/*.py"),
        *ROOT.glob("store/**/*.py"),
        *ROOT.glob("cli*.py"),
        ROOT / "scheduler.py",
    ]
    return sorted(f for f in files if f.is_file())


@pytest.mark.parametrize("path", code_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_shell_command_is_built(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        assert func not in (
            "os.system",
            "os.popen",
            "subprocess.getoutput",
            "subprocess.getstatusoutput",
        ), f"{path.name}:{node.lineno} runs a shell"
        for kw in node.keywords:
            if kw.arg == "shell":
                assert isinstance(kw.value, ast.Constant) and kw.value.value is False, (
                    f"{path.name}:{node.lineno} shell=True"
                )


@pytest.mark.parametrize("payload", PAYLOADS)
def test_report_escapes_page_content(payload: str) -> None:
    entry = {"site": payload, "url": "javascript:alert(1)", "title": payload, "unit": payload, "published_at": None,
             "notice_id": 1, "kind": "blocked", "detail": {"reason": payload, "from_version": 1, "to_version": 2},
             "char_diff": [[["equal", payload], ["insert", payload]]]}  # fmt: skip
    data = {"scope": payload, "runs": [], "per_site": {payload: {"runs": 1}}, "new": [entry], "changed": [entry],
            "removed": [entry], "failures": [entry], "blocked": [entry], "new_districts": []}  # fmt: skip
    page = report.to_html(data)
    if "<" in payload:
        assert payload not in page  # markup arrives escaped, as text
    assert (
        "<script" not in page.lower()
        and "<img" not in page
        and "<iframe" not in page
        and "<svg" not in page
    )
    assert 'href="javascript:' not in page
