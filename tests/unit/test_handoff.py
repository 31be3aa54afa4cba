"""The ending decision as a table, the facts it is read from, the kexec command line and the boot
record left in the installed system."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from iguana_fsm.contract_files import Refused
from iguana_fsm.errors import ExitCode, HandoffError
from iguana_fsm.handoff import (
    RootFacts,
    boot_pairs,
    copy_boot_record,
    decide,
    inspect_root,
    kexec_cmdline,
    parse_kernel_action,
    read_kernel_action,
    version_key,
)

RUNNING = "6.1.0-13-amd64"
NEW = "6.5.0-1-amd64"
BOOT_NEW = frozenset({f"vmlinuz-{NEW}", f"initrd.img-{NEW}", "config-6.5.0-1-amd64"})

# (case, module releases, /boot files, kernelAction, action, release, words in the reason)
TABLE: list[tuple[str, set[str], frozenset[str], str | None, str, str | None, tuple[str, ...]]] = [
    ("same kernel", {RUNNING}, frozenset(), None, "switch_root", RUNNING,
     ("has modules for the running kernel 6.1.0-13-amd64",)),
    ("same kernel, kexec asked", {RUNNING, NEW}, BOOT_NEW, "kexec\n", "switch_root", RUNNING,
     ("has modules for the running kernel",)),
    ("same kernel, reboot asked", {RUNNING}, BOOT_NEW, "reboot", "switch_root", RUNNING,
     ("has modules for the running kernel",)),
    ("different kernel with /boot files", {NEW}, BOOT_NEW, None, "kexec", NEW,
     ("no modules for the running kernel 6.1.0-13-amd64 (it has: 6.5.0-1-amd64)",
      "kexec is the default", "kernel 6.5.0-1-amd64 with its initrd")),
    ("different kernel, kexec asked", {NEW}, BOOT_NEW, "kexec", "kexec", NEW,
     ("kernelAction asks for kexec",)),
    ("different kernel, reboot asked", {NEW}, BOOT_NEW, " Reboot \n", "reboot", None,
     ("kernelAction asks for reboot",)),
    ("different kernel without /boot files", {NEW}, frozenset(), None, "reboot", None,
     ("/boot has no kernel with a matching initrd",)),
    ("different kernel, kernel without initrd", {NEW}, frozenset({f"vmlinuz-{NEW}"}), None,
     "reboot", None, ("/boot has no kernel with a matching initrd",)),
    ("kexec asked without /boot files", {NEW}, frozenset(), "kexec", "reboot", None,
     ("kernelAction asks for kexec but /boot has no kernel",)),
    ("garbage with /boot files", {NEW}, BOOT_NEW, "please-kexec", "kexec", NEW,
     ("kernelAction 'please-kexec' is neither kexec nor reboot and was ignored",)),
    ("garbage without /boot files", {NEW}, frozenset(), "switch", "reboot", None,
     ("no kernel with a matching initrd", "'switch' is neither kexec nor reboot")),
    ("garbage, same kernel", {RUNNING}, frozenset(), "yes", "switch_root", RUNNING,
     ("'yes' is neither kexec nor reboot",)),
    ("empty root", set(), frozenset(), None, "reboot", None, ("(it has: none)",)),
]  # fmt: skip


class TestDecisionTable:
    @pytest.mark.parametrize(
        ("case", "modules", "boot", "action_file", "action", "release", "words"),
        TABLE,
        ids=[row[0] for row in TABLE],
    )
    def test_decision(
        self,
        case: str,
        modules: set[str],
        boot: frozenset[str],
        action_file: str | None,
        action: str,
        release: str | None,
        words: tuple[str, ...],
    ) -> None:
        """Each row of the table gets its action, release and reason."""
        decision = decide(RootFacts(RUNNING, frozenset(modules), boot, action_file))
        assert decision.action == action, case
        assert decision.release == release, case
        for word in words:
            assert word in decision.reason, (case, decision.reason)

    def test_garbage_is_a_warning(self) -> None:
        """An unknown kernelAction is carried as a warning too."""
        decision = decide(RootFacts(RUNNING, frozenset({NEW}), BOOT_NEW, "maybe"))
        assert decision.warnings == (
            "kernelAction 'maybe' is neither kexec nor reboot and was ignored",
        )
        assert decision.as_handoff().warnings == list(decision.warnings)

    def test_kexec_names_kernel_and_initrd(self) -> None:
        """A kexec decision carries the kernel and initrd paths inside the new root."""
        decision = decide(RootFacts(RUNNING, frozenset({NEW}), BOOT_NEW))
        assert (decision.kernel, decision.initrd) == (
            f"/boot/vmlinuz-{NEW}",
            f"/boot/initrd.img-{NEW}",
        )
        handoff = decision.as_handoff()
        assert handoff.action == "kexec" and handoff.kernel == decision.kernel

    def test_kexec_prefers_a_kernel_with_modules_then_the_newest(self) -> None:
        """Among several kernels, one with modules wins over a newer one without."""
        boot = frozenset(
            {"vmlinuz-6.9.0", "initrd.img-6.9.0", "vmlinuz-6.5.0", "initrd.img-6.5.0",
             "vmlinuz-6.10.0", "initrd.img-6.10.0"}
        )  # fmt: skip
        assert decide(RootFacts(RUNNING, frozenset({"6.5.0"}), boot)).release == "6.5.0"
        assert decide(
            RootFacts(RUNNING, frozenset({"6.5.0", "6.9.0", "6.10.0"}), boot)
        ).release == ("6.10.0")


class TestBootPairs:
    def test_distribution_naming_schemes(self) -> None:
        """Debian, SUSE and Fedora names pair a kernel with its initrd; signatures are skipped."""
        pairs = boot_pairs(
            {
                "vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64",
                "vmlinuz-6.4.0-1-default", "initrd-6.4.0-1-default",
                "vmlinuz-6.8.5-301.fc40.x86_64", "initramfs-6.8.5-301.fc40.x86_64.img",
                "vmlinuz-6.1.0-9-amd64.sig", "vmlinuz", "initrd",
            }
        )  # fmt: skip
        assert pairs == {
            "6.1.0-9-amd64": ("vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64"),
            "6.4.0-1-default": ("vmlinuz-6.4.0-1-default", "initrd-6.4.0-1-default"),
            "6.8.5-301.fc40.x86_64": (
                "vmlinuz-6.8.5-301.fc40.x86_64",
                "initramfs-6.8.5-301.fc40.x86_64.img",
            ),
        }

    def test_version_order_is_numeric(self) -> None:
        """Release 13 sorts after release 9."""
        assert version_key("6.1.0-13-amd64") > version_key("6.1.0-9-amd64")


class TestInspectRoot:
    def test_reads_modules_boot_and_kernel_action(self, tmp_path: Path) -> None:
        """Module releases come from lib and usr/lib (absolute /lib link followed inside)."""
        root = tmp_path / "root"
        (root / "usr" / "lib" / "modules" / NEW).mkdir(parents=True)
        (root / "lib").symlink_to("/usr/lib")
        (root / "boot").mkdir()
        (root / "boot" / f"vmlinuz-{NEW}").write_bytes(b"k")
        (root / "boot" / "grub").mkdir()
        facts = inspect_root(root, RUNNING, "kexec\n")
        assert facts.module_releases == {NEW}
        assert facts.boot_files == {f"vmlinuz-{NEW}"}
        assert facts.kernel_action == "kexec\n"


class TestReadKernelAction:
    def test_text_or_none(self, tmp_path: Path) -> None:
        """The file's text is returned; a missing file is no kernelAction."""
        action = tmp_path / "kernelAction"
        action.write_text("reboot\n", encoding="utf-8")
        assert read_kernel_action(action) == "reboot\n"
        assert read_kernel_action(tmp_path / "missing") is None

    def test_a_directory_fifo_or_link_to_dev_zero_is_refused(self, tmp_path: Path) -> None:
        """What is not a small regular file of /iguana is refused with exit 7, without hanging."""
        action = tmp_path / "kernelAction"
        action.mkdir()
        with pytest.raises(Refused, match=r"kernelAction: is a directory, not a regular file"):
            read_kernel_action(action)
        action.rmdir()
        os.mkfifo(action)
        with pytest.raises(Refused, match=r"kernelAction: is a FIFO") as caught:
            read_kernel_action(action)
        assert caught.value.exit_code == ExitCode.MOUNT
        action.unlink()
        action.symlink_to("/dev/zero")
        with pytest.raises(Refused, match=r"a symbolic link that leads out of"):
            read_kernel_action(action)

    def test_an_unknown_word_is_shown_only_when_it_is_a_plain_word(self) -> None:
        """A short plain word is quoted in the warning; any other text only by its length."""
        assert parse_kernel_action("kexce\n") == (
            None,
            "kernelAction 'kexce' is neither kexec nor reboot and was ignored",
        )
        _, warning = parse_kernel_action("root:$6$salt$hash:19000:0:99999:7:::")
        assert warning == "kernelAction (36 characters) is neither kexec nor reboot and was ignored"


class TestKexecCmdline:
    def test_override_wins(self, tmp_path: Path) -> None:
        """rd.iguana.kexec_cmdline comes first."""
        assert kexec_cmdline(tmp_path, "/boot/vmlinuz-1", "UUID=x", "quiet root=y", "") == (
            "quiet root=y",
            "rd.iguana.kexec_cmdline",
        )

    def test_etc_kernel_cmdline(self, tmp_path: Path) -> None:
        """The new root's /etc/kernel/cmdline is used as written (whitespace folded)."""
        (tmp_path / "etc" / "kernel").mkdir(parents=True)
        (tmp_path / "etc" / "kernel" / "cmdline").write_text("root=UUID=a\n  rw quiet\n")
        assert kexec_cmdline(tmp_path, "/boot/vmlinuz-1", None, None, "") == (
            "root=UUID=a rw quiet",
            "/etc/kernel/cmdline",
        )

    def test_grub_entry_of_that_kernel(self, tmp_path: Path) -> None:
        """The grub.cfg line that boots the chosen kernel gives its arguments."""
        (tmp_path / "boot" / "grub").mkdir(parents=True)
        (tmp_path / "boot" / "grub" / "grub.cfg").write_text(
            "menuentry 'old' {\n\tlinux /boot/vmlinuz-1 root=UUID=old ro\n}\n"
            "menuentry 'new' {\n\tlinux\t/vmlinuz-2 root=UUID=new ro $vt_handoff quiet\n}\n"
        )
        assert kexec_cmdline(tmp_path, "/boot/vmlinuz-2", "UUID=z", None, "") == (
            "root=UUID=new ro quiet",
            "/boot/grub/grub.cfg",
        )

    def test_composed_from_root_and_console(self, tmp_path: Path) -> None:
        """Without any source: root= of the mounted root plus the running console= words."""
        running = "BOOT_IMAGE=/x console=tty0 rd.iguana.debug console=ttyS0,115200 quiet"
        assert kexec_cmdline(tmp_path, "/boot/vmlinuz-2", "UUID=z", None, running) == (
            "root=UUID=z console=tty0 console=ttyS0,115200",
            "composed",
        )


class TestBootRecordCopy:
    def test_copies_into_var_log_iguana(self, tmp_path: Path) -> None:
        """Checkpoint and log land in /var/log/iguana, root-only; missing files are skipped."""
        root = tmp_path / "root"
        (root / "var").mkdir(parents=True)
        state = tmp_path / "state"
        state.write_text('{"state": "switch_root"}')
        copies = copy_boot_record(root, [state, tmp_path / "log.jsonl"])
        assert copies == [root / "var" / "log" / "iguana" / "state"]
        assert copies[0].read_text() == '{"state": "switch_root"}'
        assert (root / "var" / "log" / "iguana").stat().st_mode & 0o777 == 0o700

    def test_failure_names_the_directory(self, tmp_path: Path) -> None:
        """When /var/log is not a directory the error says where."""
        root = tmp_path / "root"
        (root / "var").mkdir(parents=True)
        (root / "var" / "log").write_text("a file")
        state = tmp_path / "state"
        state.write_text("{}")
        with pytest.raises(HandoffError, match=r"var/log/iguana: cannot copy"):
            copy_boot_record(root, [state])

    def test_planted_link_at_a_copy_is_replaced_not_followed(self, tmp_path: Path) -> None:
        """A link the installed system has at var/log/iguana/state (to a file outside the new
        root) is replaced by a regular file; the file it pointed at is unchanged."""
        root = tmp_path / "root"
        (root / "var" / "log" / "iguana").mkdir(parents=True)
        victim = tmp_path / "initrd-file"
        victim.write_text("initrd content")
        victim.chmod(0o644)
        (root / "var" / "log" / "iguana" / "state").symlink_to(victim)
        state = tmp_path / "state"
        state.write_text('{"state": "switch_root"}')
        (copy,) = copy_boot_record(root, [state])
        assert victim.read_text() == "initrd content"
        assert victim.stat().st_mode & 0o777 == 0o644
        mode = copy.lstat().st_mode
        assert stat.S_ISREG(mode) and mode & 0o777 == 0o600
        assert copy.read_text() == '{"state": "switch_root"}'
        assert sorted(p.name for p in copy.parent.iterdir()) == ["state"]

    def test_linked_directory_stays_inside_the_new_root(self, tmp_path: Path) -> None:
        """var/log/iguana linked to an absolute path is followed inside the new root only."""
        root = tmp_path / "root"
        (root / "var" / "log").mkdir(parents=True)
        outside = tmp_path / "outside"
        outside.mkdir()
        (root / "var" / "log" / "iguana").symlink_to(outside)
        state = tmp_path / "state"
        state.write_text("{}")
        (copy,) = copy_boot_record(root, [state])
        assert list(outside.iterdir()) == []
        assert copy == root / str(outside).lstrip("/") / "state"
        assert copy.read_text() == "{}"
