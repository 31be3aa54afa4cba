"""The initrd host's command sequences for kexec and reboot, without rebooting anything."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from iguana_fsm.errors import HandoffError
from iguana_fsm.host import InitrdHost


class Recorder:
    """Stands in for running commands on the initrd host: records argv, answers with codes."""

    def __init__(self, codes: dict[str, int]) -> None:
        self.codes = codes
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        code = self.codes.get(" ".join(argv[:2]), 0)
        return subprocess.CompletedProcess(
            list(argv), code, "", f"{argv[0]} said no" if code else ""
        )


class TestInitrdHostSequence:
    def test_kexec_falls_back_to_kexec_load_then_execs(self, tmp_path: Path) -> None:
        """kexec_file_load first, kexec_load second, then kexec -e, whose return is an error."""
        run = Recorder({"kexec -s": 1})
        host = InitrdHost(run=run)
        with pytest.raises(HandoffError, match="kexec -e returned"):
            host.kexec(tmp_path / "vmlinuz", tmp_path / "initrd", "root=UUID=x rw")
        assert run.calls == [
            ["kexec", "-s", "-l", str(tmp_path / "vmlinuz"), "--command-line=root=UUID=x rw",
             f"--initrd={tmp_path / 'initrd'}"],
            ["kexec", "-l", str(tmp_path / "vmlinuz"), "--command-line=root=UUID=x rw",
             f"--initrd={tmp_path / 'initrd'}"],
            ["kexec", "-e"],
        ]  # fmt: skip

    def test_kexec_load_failure_never_execs(self, tmp_path: Path) -> None:
        """When neither load works, both messages are reported and nothing is executed."""
        run = Recorder({"kexec -s": 1, "kexec -l": 1})
        with pytest.raises(HandoffError, match=r"kexec could not load .*kexec said no"):
            InitrdHost(run=run).kexec(tmp_path / "k", None, "")
        assert ["kexec", "-e"] not in run.calls

    def test_reboot_uses_the_syscall_when_reboot_fails(self) -> None:
        """A failing ``reboot -f`` falls back to reboot(2); still being up is an error."""
        run = Recorder({"reboot -f": 1})
        syscalls: list[int] = []

        def refused() -> int:
            syscalls.append(1)
            return -1

        host = InitrdHost(run=run, reboot_syscall=refused, settle_seconds=0)
        with pytest.raises(HandoffError, match="did not reboot"):
            host.reboot("test")
        assert run.calls == [["reboot", "-f"]] and syscalls == [1]
