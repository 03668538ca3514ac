"""A local world of many sites: each on its own loopback address (127.0.0.x), its own
threaded HTTP server, latency on every response, and a count of the requests each host
had in flight at once.

Sites come from tests/sitegen.py (TRS lists of any size) and from the recorded copies in
tests/sites/ (TRS, Hanweb, the Shanghai uuid CMS, the Sichuan CMS), each under a profile
of its own (``w07_jssjw``) that points at its address. Every site also gets a home page
(``/index.html``) that links its 巡视巡察 column, so that half the world can be given by
home page once discovery exists (``World.home_urls``); today every site is given by its
list page.

Used by tests/test_world.py and bench/bench_sites.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from crawler.sites import SiteProfile, get_site
from tests.sitegen import generate_site

ROOT = Path(__file__).resolve().parents[1]
SITES_DIR = ROOT / "tests" / "sites"
RECORDED = ("zjsjw", "shjjjc", "jssjw", "scjc", "bjsupervision")
CONTENT_TYPES = {"/module/web/jpage/dataproxy.jsp": "text/xml; charset=utf-8"}


@dataclass
class HostStats:
    """What one host saw: requests, and how many it had in flight at once."""

    in_flight: int = 0
    peak: int = 0
    requests: int = 0
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class WorldSite:
    name: str
    family: str  # sitegen | a recorded site's name
    root: Path
    address: str
    base: str = ""
    start_path: str = ""
    expected: dict[str, str] = field(default_factory=dict)  # path -> exact seed-format text
    stats: HostStats = field(default_factory=HostStats)
    server: ThreadingHTTPServer | None = None

    @property
    def list_url(self) -> str:
        return self.base + self.start_path

    @property
    def home_url(self) -> str:
        return self.base + "/index.html"

    def profile(self, *, by_home: bool = False) -> SiteProfile:
        """The site's profile, given by its list page, or (``by_home``) by its home page
        only, so that the crawl must find the list by discovery (crawler/discover.py)."""
        template = get_site("zjsjw" if self.family == "sitegen" else self.family)
        start = "/index.html" if by_home else self.start_path
        return dataclasses.replace(
            template, name=self.name, base_url=self.base, start_paths=(start,),
            label=f"{template.label} ({self.name})", extra_hosts=(), discover=by_home,
        )  # fmt: skip


def _handler(site: WorldSite, latency: float) -> type[BaseHTTPRequestHandler]:
    stats = site.stats

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            with stats.lock:
                stats.in_flight += 1
                stats.peak = max(stats.peak, stats.in_flight)
                stats.requests += 1
                stats.paths.append(self.path)
            try:
                if latency:
                    time.sleep(latency)
                self._answer()
            finally:
                with stats.lock:
                    stats.in_flight -= 1

        def _answer(self) -> None:
            path = self.path.split("?", 1)[0]
            file = (site.root / path.lstrip("/")).resolve()
            if path.endswith("/"):
                file = file / "index.html"
            if not file.is_file() or site.root.resolve() not in file.parents:
                self._send(404, {"Content-Type": "text/html"}, b"<html><body>404</body></html>")
                return
            body = file.read_bytes()
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            ctype = CONTENT_TYPES.get(path) or (
                "text/plain" if file.suffix == ".txt" else "text/html"
            )
            headers = {"Content-Type": ctype, "ETag": etag,
                       "Last-Modified": formatdate(file.stat().st_mtime, usegmt=True)}  # fmt: skip
            if self.headers.get("If-None-Match") == etag:
                self._send(304, headers, b"")
                return
            self._send(200, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if status != 304 else 0))
            self.end_headers()
            if body and status != 304:
                self.wfile.write(body)

    return Handler


def _expected_recorded(name: str) -> tuple[str, dict[str, str]]:
    from tests.test_sites_golden import MANIFEST, expected_text

    m = MANIFEST[name]
    return m["start"], {path: expected_text(ref) for path, ref in m["notices"].items()}


def _home_page(site: WorldSite) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>首页</title></head><body>'
        f'<ul class="nav"><li><a href="/">首页</a></li><li><a href="{site.start_path}">巡视巡察</a>'
        "</li></ul></body></html>"
    )


def build_world(
    folder: Path,
    n_sites: int,
    *,
    sizes: list[int] | None = None,
    recorded_every: int = 3,
    first_address: int = 2,
) -> list[WorldSite]:
    """Write ``n_sites`` sites under ``folder``: every ``recorded_every``-th a recorded copy
    (cycling through RECORDED), the others generated TRS sites of ``sizes[i]`` notices."""
    sites: list[WorldSite] = []
    for i in range(n_sites):
        n = first_address + i
        address = f"127.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        if recorded_every and i % recorded_every == recorded_every - 1:
            family = RECORDED[(i // recorded_every) % len(RECORDED)]
            root = folder / f"w{i:04d}"
            shutil.copytree(SITES_DIR / family, root)
            start, expected = _expected_recorded(family)
            site = WorldSite(f"w{i:04d}_{family}", family, root, address, start_path=start,
                             expected=expected)  # fmt: skip
        else:
            root = folder / f"w{i:04d}"
            size = sizes[i] if sizes else 5 + (i * 7) % 20
            notices = generate_site(root, size, start=date(2020, 1, 1))
            site = WorldSite(
                f"w{i:04d}_gen", "sitegen", root, address,
                start_path="/gongzuodongtai/xunshixuncha/index.shtml",
                expected={g.path: g.expected for g in notices},
            )  # fmt: skip
        (root / "index.html").write_text(_home_page(site), encoding="utf-8")
        sites.append(site)
    return sites


@contextmanager
def serving(sites: list[WorldSite], latency: float = 0.02) -> Iterator[list[WorldSite]]:
    """Serve every site on its own address (a threaded HTTP server each)."""
    try:
        for site in sites:
            server = ThreadingHTTPServer((site.address, 0), _handler(site, latency))
            server.daemon_threads = True
            site.server = server
            site.base = f"http://{site.address}:{server.server_address[1]}"
            threading.Thread(target=server.serve_forever, daemon=True).start()
        yield sites
    finally:
        for site in sites:
            if site.server is not None:
                site.server.shutdown()
                site.server.server_close()
                site.server = None


def profiles(sites: list[WorldSite], *, half_by_home: bool = False) -> dict[str, SiteProfile]:
    """Every site's profile; with ``half_by_home`` every other site (those of ``home_urls``)
    is given by its home page alone."""
    homes = home_urls(sites) if half_by_home else {}
    return {site.name: site.profile(by_home=site.name in homes) for site in sites}


def home_urls(sites: list[WorldSite]) -> dict[str, str]:
    """Half the world by home page (every other site)."""
    return {site.name: site.home_url for site in sites[::2]}
