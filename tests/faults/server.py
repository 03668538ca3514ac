"""A misbehaving HTTP server on 127.0.0.1: static files plus per-path faults (resets, stalls, lies)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Behaviour = Callable[[BaseHTTPRequestHandler], None]


def send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    headers = {"Content-Type": "text/html", **(headers or {})}
    for k, v in headers.items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def status(
    code: int,
    body: bytes = b"<html><body>error</body></html>",
    headers: dict[str, str] | None = None,
) -> Behaviour:
    return lambda h: send(h, code, body, headers)


def content(body: bytes, content_type: str = "text/html") -> Behaviour:
    return lambda h: send(h, 200, body, {"Content-Type": content_type})


def reset(handler: BaseHTTPRequestHandler) -> None:
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


def truncated(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "50000")
    handler.end_headers()
    handler.wfile.write(b"<html><body><p>" + "半截".encode() * 100)
    handler.wfile.flush()
    handler.connection.shutdown(socket.SHUT_RDWR)
    handler.close_connection = True


def stall(seconds: float) -> Behaviour:
    def behave(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)  # bounded: longer than the test's download timeout, then give up
        handler.close_connection = True

    return behave


def redirect(location: str) -> Behaviour:
    return lambda h: send(h, 302, b"", {"Location": location})


class FaultServer:
    """Serves ``root``; ``faults[path]`` replaces a path's answer. ``log`` records every request path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.faults: dict[str, Behaviour] = {}
        self.log: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                server.log.append(path)
                behaviour = server.faults.get(path)
                if behaviour is not None:
                    behaviour(self)
                    return
                file = (server.root / path.lstrip("/")).resolve()
                if not file.is_file() or server.root.resolve() not in file.parents:
                    send(self, 404, b"<html><body>404</body></html>")
                    return
                ctype = "text/plain" if file.suffix == ".txt" else "text/html"
                send(self, 200, file.read_bytes(), {"Content-Type": ctype})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self, path: str) -> int:
        return self.log.count(path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
