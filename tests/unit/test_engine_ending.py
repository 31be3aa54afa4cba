"""A job container's end (engine/ending.py): its exit code once podman records the end, the
removals in the background, the processes still naming a container."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.engine import ending


def states(*seen: Mapping[str, Any]) -> tuple[list[int], Any]:
    """A ``state()`` answering ``seen`` in turn (the last one from then on), and the list of
    the answers' numbers it gave."""
    given: list[int] = []

    def state() -> Mapping[str, Any]:
        given.append(len(given))
        return seen[min(len(given) - 1, len(seen) - 1)]

    return given, state


@pytest.mark.parametrize("status", ["stopped", "exited"])
def test_exit_code_once_the_end_is_recorded(status: str) -> None:
    """The exit code is read from the first state that is stopped or exited; a running or
    just created container is asked again."""
    given, state = states(
        {"Status": "created", "ExitCode": 0},
        {"Status": "running", "ExitCode": 0},
        {"Status": status, "ExitCode": 7},
        {"Status": "exited", "ExitCode": 99},
    )
    assert ending.exit_code(state) == 7
    assert len(given) == 3


def test_removals_run_in_order_and_drain_waits_for_them() -> None:
    """Each id is removed once, in the order given; drain returns only after the last, and a
    removal that raises does not stop the ones after it."""
    removed: list[str] = []
    release = threading.Event()

    def remove(container_id: str) -> None:
        release.wait(10)
        removed.append(container_id)
        if container_id == "b":
            raise RuntimeError("podman said no")

    removals = ending.Removals(remove)
    for container_id in ("a", "b", "c"):
        removals.put(container_id)
    assert removed == []
    drained = threading.Thread(target=removals.drain)
    drained.start()
    drained.join(0.05)
    assert drained.is_alive()
    release.set()
    drained.join(10)
    assert not drained.is_alive()
    assert removed == ["a", "b", "c"]
    removals.drain()


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[Path]:
    """A stand-in for /proc with the command lines of a few processes."""
    table = {
        "10": b"/usr/bin/conmon\0--api-version\0" + b"1\0-c\0aaaa\0-u\0aaaa\0",
        "11": b"/usr/bin/podman\0--root\0/s\0container\0cleanup\0bbbb\0",
        "12": b"",  # a zombie
        "13": b"/bin/sh\0-c\0echo cccc-dddd\0",
        "self": b"/usr/bin/python3\0dddd\0",
    }
    for pid, cmdline in table.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cmdline").write_bytes(cmdline)
    (tmp_path / "14").mkdir()  # gone between the listing and the read: no cmdline
    yield tmp_path


def test_naming_finds_whole_arguments_of_running_processes(proc: Path) -> None:
    """An id counts when a process's command line has it as a whole argument (conmon's, the
    clean-up's); part of an argument, a zombie or a non-process entry does not."""
    assert ending.naming({"aaaa", "bbbb", "cccc", "dddd", "eeee"}, proc) == {"aaaa", "bbbb"}


class HalfApi:
    """Stands in for the service process: it starts, and notes that it was stopped."""

    url = "unix:///nowhere/podman.sock"
    spawned_at = None
    version = "4.3.1"
    running = False

    def __init__(self) -> None:
        self.stopped = 0

    def attach_log(self, log: Any) -> None:
        """Nothing to replay."""

    def start(self) -> None:
        """Up at once."""

    def stop(self) -> None:
        self.stopped += 1


def test_a_start_that_fails_after_the_first_client_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the removals' client cannot be made, start raises an EngineError naming the
    service, closes the client it made and stops the service, with nothing else going wrong."""
    import podman
    import podman.errors

    from iguana_fsm.engine.podman import PodmanEngine
    from iguana_fsm.errors import EngineError
    from iguana_fsm.paths import Paths

    made: list[Any] = []

    class Client:
        def __init__(self, base_url: str) -> None:
            if made:
                raise podman.errors.PodmanError("no second client")
            self.closed = False
            made.append(self)

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(podman, "PodmanClient", Client)
    api = HalfApi()
    engine = PodmanEngine(Paths.for_sandbox(tmp_path), "half", api=api, log=HalfLog())  # type: ignore[arg-type]
    with pytest.raises(
        EngineError, match=r"^podman service at unix:///nowhere/podman.sock: no second client"
    ):
        engine.start()
    assert made[0].closed and api.stopped == 1


class HalfLog:
    """A logger that drops everything."""

    def __getattr__(self, level: str) -> Any:
        return lambda *args, **fields: None
