"""The fetcher's retry schedule and its refusals, on a clock the test controls."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.errors import FetchError, TrustError
from iguana_fsm.trust.cabundle import combined_ca_bundle
from iguana_fsm.trust.fetcher import FetchSettings, fetch, local_path


class Clock:
    """Monotonic time that only moves when the fetcher sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Events:
    """A logger that keeps (event, fields)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.seen.append((event, fields))

    warning = info


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestSchedule:
    def test_backoff_doubles_up_to_the_cap_and_stops_at_the_deadline(self) -> None:
        """Waits double from backoff_first to backoff_max; no wait runs past the deadline."""
        clock, events = Clock(), Events()
        settings = FetchSettings(deadline=20.0, backoff_first=0.5, backoff_max=4.0, allow_http=True)
        url = f"http://127.0.0.1:{closed_port()}/w.yaml"
        with pytest.raises(FetchError, match="gave up after 8 attempt"):
            fetch(url, settings, events, clock=clock, sleep=clock.sleep)
        assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
        attempts = [fields for event, fields in events.seen if event == "fetch.attempt"]
        assert [a["number"] for a in attempts] == [1, 2, 3, 4, 5, 6, 7, 8]
        assert attempts[0]["reason"] == "first attempt"
        assert clock.now - 100.0 <= settings.deadline

    def test_attempt_timeout_shrinks_to_what_is_left(self) -> None:
        """The last attempt never gets more time than remains before the deadline."""
        clock, events = Clock(), Events()
        settings = FetchSettings(
            attempt_timeout=10.0, deadline=3.0, backoff_first=1.0, backoff_max=1.0, allow_http=True
        )
        url = f"http://127.0.0.1:{closed_port()}/w.yaml"
        with pytest.raises(FetchError):
            fetch(url, settings, events, clock=clock, sleep=clock.sleep)
        timeouts = [f["timeout"] for e, f in events.seen if e == "fetch.attempt"]
        assert timeouts == [3.0, 2.0, 1.0]


class TestRefusals:
    def test_plain_http_needs_permission(self) -> None:
        """http:// without allow_http is refused before any connection."""
        with pytest.raises(TrustError, match="plain http refused"):
            fetch("http://127.0.0.1:1/w.yaml", FetchSettings(), Events())

    def test_unknown_scheme(self) -> None:
        """Only http, https, file:// and paths are read."""
        with pytest.raises(FetchError, match="unsupported scheme 'ftp'"):
            fetch("ftp://example.org/w.yaml", FetchSettings(), Events())

    def test_missing_local_file(self, tmp_path: Path) -> None:
        """A missing file is named."""
        with pytest.raises(FetchError, match="no such file"):
            fetch(f"file://{tmp_path}/none.yaml", FetchSettings(), Events())

    def test_file_url_with_host_refused(self) -> None:
        """file://host/path is not a local file."""
        with pytest.raises(FetchError, match="must name a local file"):
            local_path("file://server/w.yaml")

    def test_ca_bundle_must_be_pem(self, tmp_path: Path) -> None:
        """A CA file without a certificate is refused, naming it."""
        bad = tmp_path / "ca.pem"
        bad.write_text("not a certificate\n")
        with pytest.raises(TrustError, match="not a PEM CA bundle"):
            combined_ca_bundle(bad, tmp_path / "work")
