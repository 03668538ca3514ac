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


def test_secrets_come_from_the_environment_and_appear_nowhere(serve, tmp_path: Path) -> None:
    """A scheduled run with a signed webhook and a CCDI cookie in the environment: the
    secrets are used (requests are signed) and never written to logs, reports or the database."""
    import hashlib
    import hmac
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.conftest import xunshi
    from tests.test_sites_golden import MANIFEST

    hook_secret, cookie_secret = "hooksecret-5f1c9a", "cookiesecret-77d2e0"
    received: list[tuple[bytes, str]] = []

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers.get("X-Xunshi-Signature", "")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    site = serve("zjsjw")
    config = tmp_path / "xunshi.toml"
    config.write_text(
        f'db = "x.db"\n[sites.zjsjw]\ncron = "0 3 * * *"\nstart_url = "{site.url(MANIFEST["zjsjw"]["start"])}"\n'
        f'[[deliveries]]\nname = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:{receiver.server_address[1]}/hook"\n'
        'secret_env = "XUNSHI_TEST_HOOK_SECRET"\n',
        encoding="utf-8",
    )
    env = {"XUNSHI_TEST_HOOK_SECRET": hook_secret, "XUNSHI_CCDI_COOKIE": f"s={cookie_secret}"}
    proc = xunshi("schedule", "--once", "--config", str(config), env=env)
    receiver.shutdown()
    receiver.server_close()
    assert received, proc.stdout + proc.stderr
    for body, signature in received:
        expected = "sha256=" + hmac.new(hook_secret.encode(), body, hashlib.sha256).hexdigest()
        assert signature == expected
        json.loads(body)
    output = (proc.stdout + proc.stderr).encode()
    assert hook_secret.encode() not in output and cookie_secret.encode() not in output
    for file in tmp_path.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert hook_secret.encode() not in data, file
            assert cookie_secret.encode() not in data, file
