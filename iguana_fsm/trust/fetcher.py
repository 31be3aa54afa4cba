"""Read a workflow (or its signature) from an http(s) URL, a ``file://`` URL or a local path.

HTTP goes through requests with TLS verified against the system CAs plus Iguana's own bundle.
Connection errors, timeouts and 5xx answers are retried with exponential backoff until a total
deadline; a 4xx answer or a TLS failure is final, because waiting does not change it.

An attempt's timeout is a real deadline for the whole attempt (connection, TLS, headers, body),
not only for each read: a server that trickles a byte at a time would otherwise keep one attempt,
and so the fetch, going for as long as it likes. A watchdog (``_Watchdog``) shuts down the
attempt's sockets when its time is up, which ends any read that blocks, and the body is checked
against the same monotonic deadline after every chunk.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import requests.adapters
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from iguana_fsm.errors import FetchError, IguanaError, TrustError
from iguana_fsm.trust.cabundle import system_ca_bundle
from iguana_fsm.workflow.source import MAX_BYTES, UnreadableFile, read_bounded

DEFAULT_ATTEMPT_TIMEOUT = 10.0
DEFAULT_DEADLINE = 60.0
MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307, 308)


class HTTPStatusError(FetchError):
    """The server answered with an error status; ``status`` holds it."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FetchSettings:
    """How hard to try: per-attempt timeout, total deadline, backoff, CA bundle, plain http."""

    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    ca_bundle: Path | None = None
    allow_http: bool = False
    backoff_first: float = 0.5
    backoff_max: float = 8.0
    max_bytes: int = MAX_BYTES


@dataclass(frozen=True)
class Fetched:
    """What was read: the bytes, where they finally came from and how many attempts it took."""

    location: str
    data: bytes
    attempts: int = 1


def is_http(location: str) -> bool:
    """Whether ``location`` is an http or https URL."""
    return urllib.parse.urlsplit(location).scheme in ("http", "https")


def local_path(location: str) -> Path:
    """The file a ``file://`` URL or a plain path names."""
    parts = urllib.parse.urlsplit(location)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"{location}: a file:// URL must name a local file (file:///path)")
        return Path(urllib.parse.unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:
        raise FetchError(f"{location}: unsupported scheme {parts.scheme!r} (http, https, file)")
    return Path(location)


def read_local(location: str, max_bytes: int = MAX_BYTES) -> Fetched:
    """The bytes of a local file; FetchError naming it when it cannot be read."""
    path = local_path(location)
    try:
        return Fetched(str(path), read_bounded(path, max_bytes))
    except UnreadableFile as error:
        raise FetchError(f"{path}: {error}") from None


def fetch(
    location: str,
    settings: FetchSettings,
    log: Any,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """The bytes at ``location`` (http, https, file:// or a path), retried as the module says."""
    if not is_http(location):
        return read_local(location, settings.max_bytes)
    if urllib.parse.urlsplit(location).scheme == "http" and not settings.allow_http:
        raise TrustError(
            f"{location}: plain http refused (the workflow could be changed on the way); "
            "fix: use https, pin it with rd.iguana.control_digest=sha256:HEX, "
            "or accept the risk with rd.iguana.insecure=1"
        )
    return _fetch_http(location, settings, log, clock, sleep)


def _verify_option(settings: FetchSettings) -> str | bool:
    # an explicit path on every request: requests ignores Session.verify under REQUESTS_CA_BUNDLE
    if settings.ca_bundle is not None:
        return str(settings.ca_bundle)
    system = system_ca_bundle()
    return str(system) if system is not None else True


def _fetch_http(
    url: str,
    settings: FetchSettings,
    log: Any,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Fetched:
    started = clock()
    end = started + settings.deadline
    verify = _verify_option(settings)
    reason = "first attempt"
    last_error = "no attempt made"
    number = 0
    while True:
        number += 1
        remaining = end - clock()
        timeout = min(settings.attempt_timeout, max(remaining, 0.1))
        log.info("fetch.attempt", number=number, url=url, reason=reason, timeout=timeout)
        try:
            location, data = _watched_attempt(url, settings, verify, timeout, clock)
            log.info("fetch.done", number=number, url=location, bytes=len(data))
            return Fetched(location, data, number)
        except _Retryable as error:
            last_error = str(error)
        delay = min(settings.backoff_max, settings.backoff_first * 2 ** (number - 1))
        if clock() + delay >= end:
            elapsed = clock() - started
            raise FetchError(
                f"{url}: gave up after {number} attempt(s) in {elapsed:.1f}s "
                f"(deadline {settings.deadline:g}s): {last_error}; fix: check the network "
                "and the server, or raise the deadline: rd.iguana.fetch_timeout=ATTEMPT,TOTAL"
            )
        log.warning("fetch.retry", number=number, url=url, error=last_error, wait=delay)
        reason = f"retry after: {last_error}"
        sleep(delay)


class _Retryable(Exception):
    """One attempt failed in a way that a later attempt may not."""


class _Watchdog:
    """Shuts down every socket of one attempt once ``seconds`` have passed, so that no read
    (of a TLS handshake, a header or the body) outlives the attempt."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (at once when it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # the plain socket's shutdown, also under TLS: it ends a blocked read in another thread
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections hand their sockets to a watchdog."""

    def __init__(self, watchdog: _Watchdog) -> None:
        self._watchdog = watchdog  # before super().__init__, which makes the pool manager
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The pool manager, with pools whose connections are watched."""
        super().init_poolmanager(*args, **kwargs)
        watchdog = self._watchdog

        class Plain(HTTPConnection):
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                watchdog.watch(sock)
                return sock

        class Secure(HTTPSConnection):
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                watchdog.watch(sock)
                return sock

        class PlainPool(HTTPConnectionPool):
            ConnectionCls = Plain

        class SecurePool(HTTPSConnectionPool):
            ConnectionCls = Secure

        self.poolmanager.pool_classes_by_scheme = {"http": PlainPool, "https": SecurePool}


def _watched_attempt(
    url: str,
    settings: FetchSettings,
    verify: str | bool,
    timeout: float,
    clock: Callable[[], float],
) -> tuple[str, bytes]:
    """One attempt that ends, whatever the server does, ``timeout`` seconds after it began."""
    with _Watchdog(timeout) as watchdog, requests.Session() as session:
        adapter = _WatchedAdapter(watchdog)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            answer = _attempt(session, url, settings, verify, timeout, clock)
        except (_Retryable, IguanaError, requests.exceptions.RequestException, OSError):
            if watchdog.fired:
                raise _Retryable(f"no complete answer within {timeout:.1f}s") from None
            raise
        # a connection shut down mid-header can read as a short, complete answer: not trusted
        if watchdog.fired:
            raise _Retryable(f"no complete answer within {timeout:.1f}s")
        return answer


def _attempt(
    session: requests.Session,
    url: str,
    settings: FetchSettings,
    verify: str | bool,
    timeout: float,
    clock: Callable[[], float],
) -> tuple[str, bytes]:
    """One attempt, following redirects by hand so that none leads from https to http."""
    attempt_end = clock() + timeout
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = session.get(
                current,
                timeout=(timeout, timeout),
                verify=verify,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError as error:
            raise FetchError(
                f"{current}: TLS verification failed ({_tls_reason(error)}); fix: put the CA "
                "that issued the server's certificate in /etc/iguana/ca.pem or name it with "
                "rd.iguana.ca=FILE"
            ) from None
        except requests.exceptions.Timeout:
            raise _Retryable(f"no answer within {timeout:.1f}s") from None
        except requests.exceptions.ConnectionError as error:
            raise _Retryable(f"cannot connect: {_connection_reason(error)}") from None
        with response:
            if response.status_code in REDIRECTS and "location" in response.headers:
                target = urllib.parse.urljoin(current, response.headers["location"])
                _check_redirect(current, target)
                current = target
                continue
            if response.status_code >= 500:
                raise _Retryable(f"HTTP {response.status_code} {response.reason}")
            if response.status_code >= 400:
                raise HTTPStatusError(
                    f"{current}: HTTP {response.status_code} {response.reason} "
                    "(not retried: a client error does not go away)",
                    response.status_code,
                )
            if response.status_code != 200:
                raise HTTPStatusError(
                    f"{current}: unexpected HTTP {response.status_code} {response.reason}",
                    response.status_code,
                )
            return current, _read_body(response, current, settings, attempt_end, clock)
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _check_redirect(source: str, target: str) -> None:
    """A redirect may keep or raise the protection, never lower it."""
    old = urllib.parse.urlsplit(source).scheme
    new = urllib.parse.urlsplit(target).scheme
    if new not in ("http", "https"):
        raise TrustError(f"{source}: redirect to {target} refused (only http and https)")
    if old == "https" and new == "http":
        raise TrustError(
            f"{source}: redirect to plain http ({target}) refused: it would drop TLS; "
            "fix: make the server redirect to https or point rd.iguana.control_url at the target"
        )


def _read_body(
    response: requests.Response,
    url: str,
    settings: FetchSettings,
    attempt_end: float,
    clock: Callable[[], float],
) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > settings.max_bytes:
                raise FetchError(f"{url}: larger than {settings.max_bytes} bytes, not a workflow")
            # a server that trickles bytes would otherwise dodge the per-read timeout
            if clock() > attempt_end:
                raise _Retryable("body not received within the attempt timeout")
    except requests.exceptions.RequestException as error:
        raise _Retryable(f"body interrupted: {error.__class__.__name__}") from None
    return b"".join(chunks)


def _tls_reason(error: Exception) -> str:
    text = str(error)
    found = re.search(r"certificate verify failed: ([^()]*)", text)
    if found:
        return f"certificate verify failed: {found.group(1).strip()}"
    return text.split("(Caused by")[-1].strip(" ()")[:200] or "TLS handshake failed"


def _connection_reason(error: Exception) -> str:
    text = str(error)
    for known in (
        "Connection refused",
        "Name or service not known",
        "No route to host",
        "Network is unreachable",
        "Connection reset by peer",
        "Remote end closed connection without response",
    ):
        if known in text:
            return known
    return text.split("(Caused by")[-1].strip(" ()")[:200] or error.__class__.__name__
