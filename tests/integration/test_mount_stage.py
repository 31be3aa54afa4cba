"""The mount stage and the endings against real disks: image files partitioned with sgdisk
(GPT type GUIDs), attached with losetup, formatted ext4/vfat/LUKS, read with blkid -p (no
udev here). Each test ends with nothing mounted and no loop device left attached."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm import identity
from iguana_fsm.checkpoint import BootRecord, CheckpointStore
from iguana_fsm.cmdline import BootConfig
from iguana_fsm.devices import FLAG_READ_ONLY, root_type
from iguana_fsm.errors import MountError
from iguana_fsm.host import InitrdHost, SandboxHost, run_command
from iguana_fsm.log import make_logger
from iguana_fsm.machine import END
from iguana_fsm.mounts import mounted_under
from iguana_fsm.paths import Paths
from iguana_fsm.stages import endings, mount
from iguana_fsm.stages.base import BootContext
from tests.unit.fake_engine import FakeEngine

pytestmark = pytest.mark.integration

LINUX = "0fc63daf-8483-4772-8e79-3d69d8477de4"
ESP = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
RUNNING = os.uname().release
MACHINE_ID = "0123456789abcdef0123456789abcdef"
# Some test kernels (this project's CI VMs) lack vfat: the mounted ESP is then ext2.
ESP_FS = "vfat" if "vfat" in Path("/proc/filesystems").read_text() else "ext2"


def sh(*argv: str, stdin: str | None = None) -> str:
    """Run a command that must succeed; its stdout."""
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Part:
    """One partition to make: size, GPT type, and what goes on it."""

    size_mib: int
    type_guid: str
    fs: str | None = None
    label: str | None = None
    tree: dict[str, str] = field(default_factory=dict)
    """Files to put in an ext4 (path -> content; a path ending in / is a directory)."""
    links: dict[str, str] = field(default_factory=dict)
    flags: int = 0
    name: str | None = None
    """The GPT partition name (PARTLABEL)."""


class Disk:
    """An image file under a test's tmp_path, partitioned, attached and formatted."""

    def __init__(self, image: Path, parts: Sequence[Part]) -> None:
        self.image = image
        self.parts = list(parts)
        size = 2 + sum(part.size_mib for part in parts)
        with image.open("wb") as handle:
            handle.truncate(size * 1024 * 1024)
        args: list[str] = []
        for number, part in enumerate(parts, start=1):
            args += [f"-n{number}:0:+{part.size_mib}M", f"-t{number}:{part.type_guid}"]
            if part.name:
                args.append(f"-c{number}:{part.name}")
            for bit in range(64):
                if part.flags & (1 << bit):
                    args.append(f"-A{number}:set:{bit}")
        sh("sgdisk", *args, str(image))
        self.loop = Path(sh("losetup", "-f", "--show", "-P", str(image)).strip())
        # losetup -P scanned the table already; partx -a only fills gaps, so its "busy" is fine.
        subprocess.run(["partx", "-a", str(self.loop)], capture_output=True, check=False)
        for number in range(1, len(parts) + 1):
            self._wait(self.node(number))
        for number, part in enumerate(parts, start=1):
            self._format(number, part)

    @staticmethod
    def _wait(node: Path) -> None:
        deadline = time.monotonic() + 10
        while not node.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"{node} did not appear")
            time.sleep(0.05)

    def node(self, number: int) -> Path:
        """The device node of partition ``number``."""
        return Path(f"{self.loop}p{number}")

    def _format(self, number: int, part: Part) -> None:
        node = str(self.node(number))
        if part.fs == "ext4":
            tree = self.image.parent / f"{self.image.stem}-tree{number}"
            tree.mkdir()
            for path, content in part.tree.items():
                target = tree / path.lstrip("/")
                if path.endswith("/"):
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(content, encoding="utf-8")
            for path, to in part.links.items():
                link = tree / path.lstrip("/")
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(to)
            sh("mkfs.ext4", "-q", "-F", "-L", part.label or "", "-d", str(tree), node)
        elif part.fs == "ext2":
            sh("mkfs.ext2", "-q", "-F", "-L", part.label or "", node)
        elif part.fs == "vfat":
            sh("mkfs.vfat", "-n", part.label or "NONE", node)
        elif part.fs == "luks":
            key = self.image.parent / f"{self.image.stem}-key{number}"
            key.write_bytes(os.urandom(32))
            sh(
                "cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2",
                "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
                "--key-file", str(key), node,
            )  # fmt: skip

    def info(self, number: int) -> dict[str, str]:
        """What blkid -p says about partition ``number``."""
        out = sh("blkid", "-p", "-o", "export", str(self.node(number)))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def cat(self, number: int, path: str) -> str:
        """A file of the (unmounted) ext4 on partition ``number``, read with debugfs."""
        result = subprocess.run(
            ["debugfs", "-R", f"cat {path}", str(self.node(number))],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout

    def detach(self) -> None:
        """Remove the partitions and the loop device."""
        subprocess.run(["partx", "-d", str(self.loop)], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", str(self.loop)], capture_output=True, check=False)


def attached_under(top: Path) -> list[str]:
    """Loop devices whose backing file lies under ``top``."""
    out = sh("losetup", "-l", "-n", "-O", "NAME,BACK-FILE")
    real = os.path.realpath(top)
    return [line for line in out.splitlines() if real in line]


DiskFactory = Callable[..., Disk]


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[DiskFactory]:
    """``disks(parts, name=..., where=...)`` makes a Disk; all are detached afterwards, and the
    test fails if anything stays mounted or attached."""
    made: list[Disk] = []

    def make(parts: Sequence[Part], name: str = "disk", where: Path | None = None) -> Disk:
        directory = where or tmp_path
        directory.mkdir(parents=True, exist_ok=True)
        disk = Disk(directory / f"{name}.img", parts)
        made.append(disk)
        return disk

    yield make
    leftovers = mounted_under(tmp_path)
    for point in reversed(leftovers):
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
    for disk in made:
        disk.detach()
    assert leftovers == [], f"left mounted: {leftovers}"
    assert attached_under(tmp_path) == []


@dataclass
class Boot:
    """A BootContext in the mount state of a sandbox under ``top``."""

    ctx: BootContext
    host: SandboxHost
    progress: list[str]

    @property
    def paths(self) -> Paths:
        """The sandbox paths."""
        return self.ctx.paths

    def events(self, name: str) -> list[dict[str, Any]]:
        """Log events called ``name``, from the boot's JSON log file."""
        lines = self.paths.log.read_text(encoding="utf-8").splitlines()
        return [event for line in lines if (event := json.loads(line))["event"] == name]

    def mountlist(self, text: str) -> None:
        """Write /iguana/mountlist as a container would."""
        self.paths.mountlist.write_text(text, encoding="utf-8")

    def stored(self) -> BootRecord:
        """The checkpoint as it is on disk now."""
        return CheckpointStore(self.paths.state).load()


def make_boot(top: Path, config: BootConfig | None = None) -> Boot:
    """A sandbox boot under ``top`` about to run the mount stage, with a machine id settled."""
    paths = Paths.for_sandbox(top)
    paths.iguana.mkdir(parents=True, exist_ok=True)
    paths.machine_id.write_text(MACHINE_ID + "\n", encoding="utf-8")
    record = BootRecord(run_id=uuid.uuid4().hex, state="mount", sandbox=True)
    store = CheckpointStore(paths.state)
    host = SandboxHost()
    progress: list[str] = []
    ctx = BootContext(
        config=config or BootConfig(),
        paths=paths,
        engine=FakeEngine(),
        host=host,
        record=record,
        log=make_logger(paths.log, console=None, run_id=record.run_id),
        progress=progress.append,
        save=lambda: store.save(record),
    )
    return Boot(ctx, host, progress)


def system_tree(*releases: str, boot: Sequence[str] = ()) -> dict[str, str]:
    """An installed system: /etc with an empty machine-id, modules and /boot files."""
    tree = {"etc/machine-id": "", "var/": ""}
    for release in releases:
        tree[f"lib/modules/{release}/"] = ""
    for name in boot:
        tree[f"boot/{name}"] = f"not really {name}\n"
    return tree


def fstypes(root: Path) -> dict[str, str]:
    """Mount point -> file system type for everything mounted at or below ``root``."""
    found: dict[str, str] = {}
    real = os.path.realpath(root)
    for line in Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines():
        left, _, right = line.partition(" - ")
        point = left.split()[4]
        if point == real or point.startswith(real + "/"):
            found[point[len(real) :] or "/"] = right.split()[0]
    return found


def dps_root() -> str:
    """The DPS root type of the machine running the tests."""
    guid = root_type()
    assert guid is not None, "no DPS root type for this architecture"
    return guid


class TestExplicitMountlist:
    def test_nested_mounts_by_tags_then_switch_root(
        self, tmp_path: Path, disks: DiskFactory
    ) -> None:
        """A mountlist with UUID=, LABEL=, PARTUUID=, PARTLABEL= (with a \\040 space) and tmpfs
        mounts in order, the root gets
        the machine id, the decision is on disk before the ending, and switch-root (sandbox)
        leaves the boot record in /var/log/iguana and unmounts everything."""
        disk = disks(
            [
                Part(24, LINUX, "ext4", "root", system_tree(RUNNING)),
                Part(16, LINUX, "ext4", "BOOT"),
                Part(16, ESP, ESP_FS, "EFI"),
                Part(16, LINUX, "ext4", "SRV", name="srv data"),
            ]
        )
        boot = make_boot(tmp_path)
        boot.mountlist(
            "# written by the installer\n"
            f"UUID={disk.info(1)['UUID']} /\n"
            "LABEL=BOOT /boot\n"
            f"PARTUUID={disk.info(3)['PART_ENTRY_UUID']} /boot/efi noatime\n"
            "\n"
            "tmpfs /run size=1m\n"
            "PARTLABEL=srv\\040data /srv\n"
        )
        assert mount.run(boot.ctx) == "choose_switch_root"
        newroot = boot.paths.newroot
        assert mounted_under(newroot) == [
            newroot,
            newroot / "boot",
            newroot / "boot" / "efi",
            newroot / "run",
            newroot / "srv",
        ]
        assert fstypes(newroot) == {
            "/": "ext4",
            "/boot": "ext4",
            "/boot/efi": ESP_FS,
            "/run": "tmpfs",
            "/srv": "ext4",
        }
        assert (newroot / "etc" / "machine-id").read_text() == MACHINE_ID + "\n"
        handoff = boot.ctx.record.handoff
        assert handoff is not None and handoff.action == "switch_root"
        assert f"modules for the running kernel {RUNNING}" in handoff.reason
        assert [m.mountpoint for m in handoff.mounts] == [
            "/",
            "/boot",
            "/boot/efi",
            "/run",
            "/srv",
        ]
        assert boot.stored().handoff == handoff

        assert endings.switch_root(boot.ctx) == END
        assert mounted_under(tmp_path) == []
        assert boot.host.actions == []
        copied = json.loads(disk.cat(1, "/var/log/iguana/state"))
        assert copied["handoff"]["action"] == "switch_root"
        assert "handoff.decided" in disk.cat(1, "/var/log/iguana/log.jsonl")
        assert disk.cat(1, "/etc/machine-id") == MACHINE_ID + "\n"

    def test_a_bad_line_mounts_nothing(self, tmp_path: Path, disks: DiskFactory) -> None:
        """One bad line fails the whole list, named by its number, before anything is mounted."""
        disk = disks([Part(24, LINUX, "ext4", "root", system_tree(RUNNING))])
        boot = make_boot(tmp_path)
        boot.mountlist(f"{disk.node(1)} /\n{disk.node(1)} /srv rw,,noatime\n")
        with pytest.raises(MountError) as caught:
            mount.run(boot.ctx)
        assert str(caught.value) == (
            f"{boot.paths.mountlist}:2: options 'rw,,noatime': empty option (stray comma)"
        )
        assert mounted_under(tmp_path) == []

    def test_escaping_the_new_root_is_refused(self, tmp_path: Path, disks: DiskFactory) -> None:
        """A mountpoint that climbs out of the new root is refused and nothing is mounted."""
        disk = disks([Part(24, LINUX, "ext4", "root", system_tree(RUNNING))])
        boot = make_boot(tmp_path)
        boot.mountlist("LABEL=root /\ntmpfs /../../../etc\n")
        with pytest.raises(MountError, match=r"mountlist:2: mountpoint /../../../etc escapes"):
            mount.run(boot.ctx)
        assert mounted_under(tmp_path) == []
        assert disk.info(1)["LABEL"] == "root"

    def test_a_symlink_in_the_root_cannot_lead_out(
        self, tmp_path: Path, disks: DiskFactory
    ) -> None:
        """An absolute symlink inside the installed root is followed inside it, never on the
        host: the mount lands in the new root."""
        outside = f"iguana-escape-{uuid.uuid4().hex}"
        disks(
            [
                Part(
                    24, LINUX, "ext4", "root", system_tree(RUNNING),
                    links={"efi": f"/../../../../../../tmp/{outside}"},
                )
            ]
        )  # fmt: skip
        boot = make_boot(tmp_path)
        boot.mountlist("LABEL=root /\ntmpfs /efi size=1m\n")
        assert mount.run(boot.ctx) == "choose_switch_root"
        assert fstypes(boot.paths.newroot)[f"/tmp/{outside}"] == "tmpfs"
        assert not Path("/tmp", outside).exists()
        endings.switch_root(boot.ctx)
        assert mounted_under(tmp_path) == []

    def test_a_device_that_never_appears(self, tmp_path: Path, disks: DiskFactory) -> None:
        """A device that does not appear fails after its deadline, naming it."""
        disks([Part(24, LINUX, "ext4", "root", system_tree(RUNNING))])
        boot = make_boot(tmp_path)
        missing = "UUID=0badc0de-0000-4000-8000-000000000000"
        boot.mountlist(f"LABEL=root /\n{missing} /srv x-systemd.device-timeout=1\n")
        started = time.monotonic()
        with pytest.raises(MountError) as caught:
            mount.run(boot.ctx)
        waited = time.monotonic() - started
        prefix = f"{boot.paths.mountlist}:2: device {missing} did not appear within "
        message = str(caught.value)
        assert message.startswith(prefix)
        # the message names the time actually waited, which is at least the device timeout
        assert float(message[len(prefix) :].split(" ", 1)[0]) >= 1.0
        assert waited >= 1.0
        assert mounted_under(tmp_path) == []

    def test_a_device_that_appears_while_waiting(self, tmp_path: Path, disks: DiskFactory) -> None:
        """A device attached only after the stage started is waited for and mounted."""
        image = tmp_path / "late.img"
        with image.open("wb") as handle:
            handle.truncate(24 * 1024 * 1024)
        tree = tmp_path / "late-tree"
        (tree / "lib" / "modules" / RUNNING).mkdir(parents=True)
        sh("mkfs.ext4", "-q", "-F", "-L", "late", "-d", str(tree), str(image))
        boot = make_boot(tmp_path)
        boot.mountlist("LABEL=late / x-systemd.device-timeout=20\n")
        attached: list[str] = []

        def attach_later() -> None:
            time.sleep(1.0)
            attached.append(sh("losetup", "-f", "--show", str(image)).strip())

        late = threading.Thread(target=attach_later)
        started = time.monotonic()
        late.start()
        try:
            assert mount.run(boot.ctx) == "choose_switch_root"
            waited = time.monotonic() - started
            assert 1.0 <= waited < 15
            assert fstypes(boot.paths.newroot) == {"/": "ext4"}
            endings.switch_root(boot.ctx)
        finally:
            late.join()
            for loop in attached:
                subprocess.run(["umount", "-l", loop], capture_output=True, check=False)
                subprocess.run(["losetup", "-d", loop], capture_output=True, check=False)

    def test_a_failed_mount_unmounts_what_was_mounted(
        self, tmp_path: Path, disks: DiskFactory
    ) -> None:
        """When the second mount fails, the first is unmounted and mount's words are shown."""
        disks(
            [
                Part(24, LINUX, "ext4", "root", system_tree(RUNNING)),
                Part(16, ESP, "vfat", "EFI"),
            ]
        )
        boot = make_boot(tmp_path)
        boot.mountlist("LABEL=root /\nLABEL=EFI /boot/efi no_such_option_xyz\n")
        with pytest.raises(MountError, match=r"mountlist:2: mount LABEL=EFI on /boot/efi: .+"):
            mount.run(boot.ctx)
        assert mounted_under(tmp_path) == []
        assert [e["target"] for e in boot.events("mount.unmounted")] == [str(boot.paths.newroot)]

    def test_devices_outside_the_sandbox_are_not_touched(
        self, tmp_path: Path, disks: DiskFactory
    ) -> None:
        """In sandbox mode a loop device backed by a file outside the sandbox is refused, and
        a UUID= lookup does not see it."""
        other = disks(
            [Part(24, LINUX, "ext4", "root", system_tree(RUNNING))],
            where=tmp_path / "outside",
        )
        boot = make_boot(tmp_path / "sandbox")
        boot.mountlist(f"{other.node(1)} /\n")
        with pytest.raises(MountError, match="not touched in sandbox mode"):
            mount.run(boot.ctx)
        boot.mountlist(f"UUID={other.info(1)['UUID']} / x-systemd.device-timeout=0.5\n")
        with pytest.raises(MountError, match=r"did not appear within .* \(sandbox: only loop"):
            mount.run(boot.ctx)
        assert mounted_under(tmp_path) == []

    def test_running_again_starts_from_an_empty_root(
        self, tmp_path: Path, disks: DiskFactory
    ) -> None:
        """A resumed boot that re-enters mount first unmounts what the interrupted one left."""
        disks([Part(24, LINUX, "ext4", "root", system_tree(RUNNING))])
        boot = make_boot(tmp_path)
        boot.mountlist("LABEL=root /\ntmpfs /run\n")
        assert mount.run(boot.ctx) == "choose_switch_root"
        assert mount.run(boot.ctx) == "choose_switch_root"
        assert mounted_under(boot.paths.newroot) == [boot.paths.newroot, boot.paths.newroot / "run"]
        assert boot.events("mount.leftovers_unmounted")[0]["count"] == 2
        endings.switch_root(boot.ctx)


class TestGuessAndKexec:
    def test_dps_guess_then_kexec(self, tmp_path: Path, disks: DiskFactory) -> None:
        """Without a mountlist the DPS root is mounted (logged as a guess, with why); a root
        with another kernel and its initrd is kexec-ed, with the new root's command line."""
        release = "9.9.9-iguana"
        tree = system_tree(release, boot=[f"vmlinuz-{release}", f"initrd.img-{release}"])
        tree["etc/kernel/cmdline"] = "root=LABEL=sys rw quiet\n"
        disk = disks([Part(16, ESP, "vfat", "EFI"), Part(24, dps_root(), "ext4", "sys", tree)])
        boot = make_boot(tmp_path)
        assert mount.run(boot.ctx) == "choose_kexec"
        (guessed,) = boot.events("mount.guessed")
        assert guessed["device"] == str(disk.node(2))
        assert f"no {boot.paths.mountlist} was written" in guessed["why"]
        assert dps_root() in guessed["why"]
        handoff = boot.stored().handoff
        assert handoff is not None
        assert handoff.guessed_root is True
        assert handoff.kernel == f"/boot/vmlinuz-{release}"
        assert handoff.cmdline == "root=LABEL=sys rw quiet"
        assert handoff.cmdline_source == "/etc/kernel/cmdline"

        assert endings.kexec(boot.ctx) == END
        staged = boot.paths.run / "kexec"
        assert boot.host.actions == [
            {
                "action": "kexec",
                "kernel": str(staged / f"vmlinuz-{release}"),
                "initrd": str(staged / f"initrd.img-{release}"),
                "cmdline": "root=LABEL=sys rw quiet",
            }
        ]
        assert list(staged.iterdir()) == []
        assert mounted_under(tmp_path) == []
        assert json.loads(disk.cat(2, "/var/log/iguana/state"))["handoff"]["action"] == "kexec"

    def test_read_only_flag_is_honoured(self, tmp_path: Path, disks: DiskFactory) -> None:
        """A DPS root with the read-only attribute is mounted read-only and left unchanged."""
        disk = disks(
            [Part(24, dps_root(), "ext4", "sys", system_tree(RUNNING), flags=FLAG_READ_ONLY)]
        )
        boot = make_boot(tmp_path)
        assert mount.run(boot.ctx) == "choose_switch_root"
        assert boot.ctx.record.handoff is not None
        assert boot.ctx.record.handoff.machine_id == "skipped"
        options = [
            line.split()[5]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4] == os.path.realpath(boot.paths.newroot)
        ]
        assert options and options[0].split(",")[0] == "ro"
        endings.switch_root(boot.ctx)
        assert disk.cat(1, "/etc/machine-id") == ""
        assert mounted_under(tmp_path) == []

    def test_no_mountlist_and_no_root(self, tmp_path: Path) -> None:
        """Nothing to mount is an error, unless kernelAction asks for a reboot."""
        boot = make_boot(tmp_path)
        with pytest.raises(MountError, match=r"no .*mountlist and no root partition to guess"):
            mount.run(boot.ctx)
        boot.paths.kernel_action.write_text("reboot\n")
        assert mount.run(boot.ctx) == "choose_reboot"
        assert boot.ctx.record.handoff is not None
        assert "kernelAction asks for reboot" in boot.ctx.record.handoff.reason

    def test_a_failed_kexec_falls_back_to_reboot(self, tmp_path: Path, disks: DiskFactory) -> None:
        """kexec-tools really refuses a file that is no kernel; the decision becomes a reboot
        that waits rd.iguana.reboot_delay and says why."""
        release = "9.9.9-iguana"
        tree = system_tree(release, boot=[f"vmlinuz-{release}", f"initrd.img-{release}"])
        disks([Part(24, dps_root(), "ext4", "sys", tree)])
        boot = make_boot(tmp_path, BootConfig(reboot_delay=7.0, kexec_cmdline="quiet"))
        assert mount.run(boot.ctx) == "choose_kexec"
        assert boot.ctx.record.handoff is not None
        assert boot.ctx.record.handoff.cmdline_source == "rd.iguana.kexec_cmdline"

        def never_exec(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
            assert list(argv) != ["kexec", "-e"], "the test must never execute a kernel"
            return run_command(argv)

        boot.ctx.host = InitrdHost(run=never_exec, settle_seconds=0)
        assert endings.kexec(boot.ctx) == "kexec_failed"
        handoff = boot.stored().handoff
        assert handoff is not None
        assert handoff.action == "reboot" and handoff.fallback_from == "kexec"
        assert handoff.reason.startswith("kexec failed: kexec could not load")
        assert mounted_under(tmp_path) == []

        boot.ctx.host = boot.host
        assert endings.reboot(boot.ctx) == END
        assert boot.host.actions == [
            {"action": "sleep", "seconds": 7.0},
            {"action": "reboot", "reason": handoff.reason},
        ]


class TestLuks:
    @pytest.mark.parametrize("how", ["mountlist", "guess"])
    def test_a_luks_root_is_not_mounted_and_reboots(
        self, tmp_path: Path, disks: DiskFactory, how: str
    ) -> None:
        """A LUKS root, named or guessed, is not unlocked: the decision is a reboot that says
        so, and nothing is mounted."""
        disk = disks([Part(24, dps_root(), "luks")])
        assert disk.info(1)["TYPE"] == "crypto_LUKS"
        boot = make_boot(tmp_path)
        if how == "mountlist":
            boot.mountlist(f"UUID={disk.info(1)['UUID']} /\n")
        assert mount.run(boot.ctx) == "choose_reboot"
        handoff = boot.stored().handoff
        assert handoff is not None
        assert "is LUKS-encrypted: Iguana does not unlock it" in handoff.reason
        assert handoff.luks_devices == [str(disk.node(1))]
        assert mounted_under(tmp_path) == []
        assert endings.reboot(boot.ctx) == END
        assert boot.host.actions == [{"action": "reboot", "reason": handoff.reason}]


class TestMachineIdentity:
    def test_an_existing_roots_id_is_kept(self, tmp_path: Path, disks: DiskFactory) -> None:
        """Before the first container, the DPS root's /etc/machine-id becomes /iguana/machine-id;
        the scratch mount is gone afterwards."""
        old = "fedcba9876543210fedcba9876543210"
        tree = system_tree(RUNNING)
        tree["etc/machine-id"] = old + "\n"
        disk = disks([Part(24, dps_root(), "ext4", "old", tree)])
        paths = Paths.for_sandbox(tmp_path)
        log = make_logger(paths.log, console=None)
        assert identity.prepare(paths, log) == old
        assert paths.machine_id.read_text() == old + "\n"
        assert mounted_under(tmp_path) == []
        assert list(paths.run.glob("oldroot.*")) == []
        events = [json.loads(line) for line in paths.log.read_text().splitlines()]
        assert events[-1]["event"] == "identity.inherited"
        assert events[-1]["source"] == f"{disk.node(1)}:/etc/machine-id"

    def test_the_look_replays_no_journal(self, tmp_path: Path, disks: DiskFactory) -> None:
        """An ext4 root whose journal needs recovery is read without replaying it: its id is
        inherited and the needs_recovery flag is still set afterwards (nothing was written)."""
        old = "fedcba9876543210fedcba9876543210"
        tree = system_tree(RUNNING)
        tree["etc/machine-id"] = old + "\n"
        disk = disks([Part(24, dps_root(), "ext4", "old", tree)])
        node = str(disk.node(1))
        sh("debugfs", "-w", "-R", "feature needs_recovery", node)
        assert "needs_recovery" in sh("dumpe2fs", "-h", node)
        paths = Paths.for_sandbox(tmp_path)
        log = make_logger(paths.log, console=None)
        assert identity.prepare(paths, log) == old
        assert mounted_under(tmp_path) == []
        assert "needs_recovery" in sh("dumpe2fs", "-h", node)

    def test_a_failed_unmount_is_not_hidden(
        self, tmp_path: Path, disks: DiskFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the look's unmount fails, that error (not the scratch directory's rmdir) is what
        the boot sees: a new id is made and the unmount failure is the logged reason."""
        tree = system_tree(RUNNING)
        tree["etc/machine-id"] = "fedcba9876543210fedcba9876543210\n"
        disks([Part(24, dps_root(), "ext4", "old", tree)])
        paths = Paths.for_sandbox(tmp_path)
        log = make_logger(paths.log, console=None)

        def refuse(root: Path, _log: Any) -> list[Path]:
            raise MountError(f"{root}: cannot unmount: target is busy")

        monkeypatch.setattr(identity, "unmount_tree", refuse)
        try:
            made = identity.prepare(paths, log)
        finally:
            for point in reversed(mounted_under(tmp_path)):
                sh("umount", str(point))
        assert made != "fedcba9876543210fedcba9876543210" and identity.parse(made) == made
        events = [json.loads(line) for line in paths.log.read_text().splitlines()]
        assert events[-1]["event"] == "identity.generated"
        assert "cannot unmount: target is busy" in events[-1]["why"]

    def test_without_an_existing_root_a_new_id_is_made(self, tmp_path: Path) -> None:
        """With no root on any (sandbox) disk a fresh valid id is made, and why is logged."""
        paths = Paths.for_sandbox(tmp_path)
        log = make_logger(paths.log, console=None)
        made = identity.prepare(paths, log)
        assert identity.parse(made) == made
        events = [json.loads(line) for line in paths.log.read_text().splitlines()]
        assert events[-1]["event"] == "identity.generated"
        assert "no partition has the" in events[-1]["why"]
