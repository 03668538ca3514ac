"""HTTP for deliveries: one POST with a deadline for the whole exchange, signed, never redirected.

Used by the webhook target (store/deliver.py). Credentials in a URL are sent as Basic auth
and scrubbed from every message; nothing here touches the database.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.message import Message
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

logger = logging.getLogger(__name__)


USER_AGENT = "xunshi-watch/0.1 (deliveries)"


RETRY_STATUSES = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """A target did not take the events. ``retry``: try again later (else: refused for good)."""

    def __init__(self, message: str, *, retry: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be re-sent as an empty GET by urllib: refuse it instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def sign(secret: str, body: bytes) -> str:
    """The X-Xunshi-Signature header value: ``sha256=`` + HMAC-SHA256 of the body, in hex."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _retry_after(headers: Message | None) -> float | None:
    value = (headers or Message()).get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


class Deadline:
    """A deadline for a whole HTTP exchange, not for each read.

    Socket timeouts apply to each read, so a receiver that answers one byte a second
    never trips them. A watcher thread shuts down every socket the request opened when
    the deadline passes or ``cancelled()`` becomes true (SIGTERM); the blocked read then
    returns at once and the request fails. ``fired`` says why, if it did.
    """

    POLL = 0.1

    def __init__(self, seconds: float, cancelled: Callable[[], bool] = lambda: False) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.cancelled = cancelled
        self.fired: str | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="delivery-deadline", daemon=True)

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def _watch(self) -> None:
        while not self._done.wait(min(self.POLL, self.remaining())):
            why = None
            if self.cancelled():
                why = "stopped"
            elif self.remaining() <= 0:
                why = "deadline"
            if why:
                with self._lock:
                    self.fired = why
                    socks = list(self._socks)
                for sock in socks:
                    _shutdown(sock)
                return

    def __enter__(self) -> Deadline:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watched(base: type[http.client.HTTPConnection], deadline: Deadline) -> Any:
    """``base`` whose sockets (to the receiver or a proxy) are handed to ``deadline``."""

    class Watched(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = self._connect_watched

        def _connect_watched(self, *args: Any, **kwargs: Any) -> socket.socket:
            sock = socket.create_connection(*args, **kwargs)
            deadline.attach(sock)
            return sock

    return Watched


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(
            _watched(http.client.HTTPSConnection, self.deadline),
            req,
            context=self._context,  # type: ignore[attr-defined]
        )


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    deadline: Deadline,
    *,
    auth: tuple[str, str] | None = None,
) -> None:
    """POST ``body``; return when the receiver answered 2xx, else raise DeliveryError.

    The whole exchange (connect, send, the answer's status line and headers) must end
    by the deadline. Credentials in the URL are sent as HTTP Basic auth, never shown:
    every message names the URL without user info or query.
    """
    shown = redact_url(url)
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        request.add_unredirected_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(
        _NoRedirect, _HTTPHandler(deadline), _HTTPSHandler(deadline)
    )

    def cut() -> DeliveryError:
        if deadline.fired == "stopped":
            return DeliveryError(f"stopped before {shown} answered")
        return DeliveryError(f"no answer from {shown} within {deadline.seconds:g} s")

    try:
        with deadline, opener.open(request, timeout=max(deadline.remaining(), 0.01)) as response:
            if deadline.fired:  # cut mid-headers: http.client takes EOF for their end
                raise cut()
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                response.read(1 << 16)  # the answer was 2xx: its body does not matter
    except urllib.error.HTTPError as exc:
        if deadline.fired:
            raise cut() from None
        code = exc.code
        if 300 <= code < 400:
            where = redact_url(exc.headers.get("Location", "") if exc.headers else "")
            raise DeliveryError(
                f"HTTP {code} from {shown}: redirected to {where or '?'}; "
                "point the delivery at the new URL",
                retry=False,
            ) from None
        if code == 401 and auth:
            raise DeliveryError(f"HTTP 401 from {shown}: the URL's user or password was refused",
                                retry=False) from None  # fmt: skip
        retry = code >= 500 or code in RETRY_STATUSES
        raise DeliveryError(
            f"HTTP {code} from {shown}", retry=retry, retry_after=_retry_after(exc.headers)
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        if deadline.fired:
            raise cut() from None
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach {shown}: {_scrub(str(reason), url)}") from None


def _scrub(text: str, url: str) -> str:
    """``text`` without the URL's password or query, whatever a library put in it."""
    parts = urlsplit(url)
    for secret in (parts.password, parts.username, parts.query):
        if secret:
            text = text.replace(secret, "***")
    return text


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``http://user:pw@host/p`` -> (``http://host/p``, (user, pw)), percent-decoded."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


def redact_url(url: str) -> str:
    """A URL without user info or query, which may carry tokens."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(a malformed URL)"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if port:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
