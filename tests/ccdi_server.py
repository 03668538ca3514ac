"""A CCDI-like guard for the local test server: cookies set by JavaScript, 403 without them, challenge pages.

What the real site is known to do (sites.md): inline JavaScript sets cookies, one of them
(``HOY_TR``) changes on every page, and a request without them is refused. The guard
wraps a ``serve(...)`` site: every HTML page it serves gets a script that sets a fixed
cookie and a fresh ``HOY_TR``; an article page is answered 403 unless the request
carries the fixed cookie and the ``HOY_TR`` of the page served just before it (which
only a crawler that re-sends the cookies, one request at a time, can do). Paths put in
``challenge`` are answered with a challenge page instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.conftest import LocalSite, Request

ARTICLE = re.compile(r"/t\d{8}_\d+(?:_\d+)?\.html$")
FIXED = ("ccdi_vt", "5f2c8e9a")
CHALLENGE_PAGE = (
    b"<html><head><title>\xe5\xae\x89\xe5\x85\xa8\xe9\xaa\x8c\xe8\xaf\x81</title>"
    b'<script src="https://seccaptcha.haplat.net/static/captcha.js"></script></head>'
    b'<body><div id="captchaPage"><img src="/comImageValidate?t=1"></div></body></html>'
)


def cookies_of(request: Request) -> dict[str, str]:
    pairs = (p.partition("=") for p in request.headers.get("cookie", "").split(";"))
    return {name.strip(): value.strip() for name, _, value in pairs if name.strip()}


@dataclass
class CcdiGuard:
    site: LocalSite
    challenge: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    served: list[str] = field(default_factory=list)

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes] | None:
        path = request.path
        if ARTICLE.search(path):
            cookies = cookies_of(request)
            current = self.issued[-1] if self.issued else None
            if cookies.get(FIXED[0]) != FIXED[1] or cookies.get("HOY_TR") != current:
                self.rejected.append(path)
                return (
                    403,
                    {"Content-Type": "text/html"},
                    b"<html><body>403 Forbidden</body></html>",
                )
        if path in self.challenge:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, CHALLENGE_PAGE
        file = self.site.root / path.lstrip("/")
        if path.endswith("/"):
            file = file / "index.html"
        if not file.is_file():
            return None  # the plain server's 404
        n = len(self.issued) + 1
        token = f"HOY{n:05d},{n * 7919 % 100000:05d}"
        self.issued.append(token)
        self.served.append(path)
        script = (
            '<script type="text/javascript">'
            f'document.cookie="{FIXED[0]}={FIXED[1]}; path=/";'
            f"document.cookie='HOY_TR={token}; path=/';</script>"
        ).encode()
        body = file.read_bytes().replace(b"</head>", script + b"</head>", 1)
        return 200, {"Content-Type": "text/html; charset=utf-8"}, body


def install_ccdi_guard(site: LocalSite) -> CcdiGuard:
    """Put the guard in front of every HTML page of ``site`` (folders and their index.html)."""
    guard = CcdiGuard(site)
    for file in site.root.rglob("*.html"):
        path = "/" + file.relative_to(site.root).as_posix()
        site.overrides[path] = guard.answer
        if file.name == "index.html":
            site.overrides[path.removesuffix("index.html")] = guard.answer
    return guard
