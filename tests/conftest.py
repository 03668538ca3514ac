"""Test fixtures: recorded sites served by a real HTTP server on 127.0.0.1, temporary databases."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITES_DIR = ROOT / "tests" / "sites"
SHARED = ROOT.parent / "shared"
SEEDS = SHARED / "seeds"

# What a handler may return instead of serving the file: (status, headers, body).
Override = Callable[["Request"], tuple[int, dict[str, str], bytes] | None]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class LocalSite:
    """A copy of a recorded site served on 127.0.0.1; edit ``root`` files between crawls."""

    root: Path
    base: str
    log: list[Request] = field(default_factory=list)
    overrides: dict[str, Override] = field(default_factory=dict)
    content_types: dict[str, str] = field(default_factory=dict)
    conditional: bool = True

    def url(self, path: str) -> str:
        return self.base + path

    def requests_for(self, path: str) -> list[Request]:
        return [r for r in self.log if r.path == path]

    def paths(self) -> list[str]:
        return [r.path for r in self.log]


def _handler(site: LocalSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            req = Request("GET", path, {k.lower(): v for k, v in self.headers.items()})
            site.log.append(req)
            override = site.overrides.get(path)
            if override is not None:
                answer = override(req)
                if answer is not None:
                    self._send(*answer)
                    return
            file = (site.root / path.lstrip("/")).resolve()
            if path.endswith("/"):
                file = file / "index.html"
            if not file.is_file() or site.root.resolve() not in file.parents:
                self._send(
                    404, {"Content-Type": "text/html"}, b"<html><body>404 Not Found</body></html>"
                )
                return
            body = file.read_bytes()
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            last_modified = formatdate(file.stat().st_mtime, usegmt=True)
            headers = {"Content-Type": site.content_types.get(path, _content_type(file))}
            if site.conditional:
                headers.update({"ETag": etag, "Last-Modified": last_modified})
                if req.headers.get("if-none-match") == etag:
                    self._send(304, headers, b"")
                    return
            self._send(200, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and status != 304:
                self.wfile.write(body)

    return Handler


def _content_type(file: Path) -> str:
    suffix = file.suffix.lower()
    if suffix in (".html", ".shtml", ".htm"):
        return "text/html"
    if suffix == ".txt":
        return "text/plain"
    if suffix == ".pdf":
        return "application/pdf"
    return "application/octet-stream"


class QuietServer(ThreadingHTTPServer):
    """A local site's server that takes a client hanging up mid-answer (a crawl that ends or
    drops a response) as normal: socketserver would print its traceback to whatever
    sys.stderr is then, such as a CliRunner capturing a command's output."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str | Path], LocalSite]]:
    """``serve("zjsjw")`` copies tests/sites/zjsjw to a temp folder and serves it on 127.0.0.1;
    ``serve(path)`` serves that folder as it is."""
    servers: list[ThreadingHTTPServer] = []

    def start(name: str | Path) -> LocalSite:
        if isinstance(name, Path):
            root = name
        else:
            root = tmp_path / "sites" / name
            shutil.copytree(SITES_DIR / name, root)
        site = LocalSite(root=root, base="")
        server = QuietServer(("127.0.0.1", 0), _handler(site))
        server.daemon_threads = True
        site.base = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return site

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.db"


def xunshi(
    *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real `xunshi` command line in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("XUNSHI_DB", None) if env is None or "XUNSHI_DB" not in env else None
    proc = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"xunshi {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def seed(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")
