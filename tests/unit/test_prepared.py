"""``iguana run`` / ``resume`` started before the initrd is prepared (``prepared.wait``): they
read iguana-boot's exit code from the FIFO in IGUANA_PREPARED, go on after 0, end with any other
code, and use the wait for their imports only while the preparation is not done."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from iguana_fsm import prepared


@pytest.fixture
def fifo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The FIFO named in IGUANA_PREPARED, held open read-write as iguana-boot holds it; the
    descriptor to write the preparation's code to."""
    path = tmp_path / "prepared"
    os.mkfifo(path, 0o600)
    monkeypatch.setenv(prepared.ENV, str(path))
    descriptor = os.open(path, os.O_RDWR)
    yield descriptor
    os.close(descriptor)


def test_without_the_variable_nothing_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any other caller (no IGUANA_PREPARED) goes on at once and skips ``meanwhile``."""
    monkeypatch.delenv(prepared.ENV, raising=False)
    called: list[str] = []
    prepared.wait(lambda: called.append("meanwhile"))
    assert called == []


def test_a_done_preparation_goes_on_without_meanwhile(fifo: int) -> None:
    """Code 0 already written: the boot goes on, its imports left for later, and the variable
    is not passed on to what Iguana starts."""
    os.write(fifo, b"0\n")
    called: list[str] = []
    prepared.wait(lambda: called.append("meanwhile"))
    assert called == []
    assert prepared.ENV not in os.environ


def test_meanwhile_runs_while_the_preparation_is_not_done(fifo: int) -> None:
    """Nothing written yet: ``meanwhile`` runs, then the wait blocks until the code comes."""
    order: list[str] = []

    def meanwhile() -> None:
        order.append("meanwhile")
        threading.Timer(0.05, lambda: (order.append("written"), os.write(fifo, b"0\n"))).start()

    prepared.wait(meanwhile)
    assert order == ["meanwhile", "written"]


@pytest.mark.parametrize(("written", "code"), [(b"3\n", 3), (b"5\n", 5), (b"oops\n", 1)])
def test_a_failed_preparation_ends_the_boot_with_its_code(
    fifo: int, written: bytes, code: int
) -> None:
    """A code other than 0 ends the boot with that code (1 for anything not a number)."""
    os.write(fifo, written)
    with pytest.raises(SystemExit) as ended:
        prepared.wait()
    assert ended.value.code == code
