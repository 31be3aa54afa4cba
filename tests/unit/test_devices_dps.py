"""The Discoverable Partitions Specification's root types, held against systemd's own table."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from iguana_fsm import devices
from iguana_fsm.devices import ROOT_TYPES, DeviceScope, dps_architecture, guess_root, root_type


def systemd_root_types() -> dict[str, str]:
    """``root-ARCH`` type UUIDs as this machine's systemd lists them (systemd-id128 show)."""
    result = subprocess.run(
        ["systemd-id128", "show"], capture_output=True, text=True, check=True, timeout=30
    )
    types: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" ")
        arch = name.removeprefix("root-")
        if name.startswith("root-") and "verity" not in arch and arch != "secondary":
            hex_id = value.strip()
            types[arch] = "-".join(
                (hex_id[:8], hex_id[8:12], hex_id[12:16], hex_id[16:20], hex_id[20:])
            )
    return types


def test_every_root_type_systemd_knows_is_known() -> None:
    """Each root type of systemd's table is in ours with the same GUID (21 in systemd 252)."""
    theirs = systemd_root_types()
    assert len(theirs) >= 21
    assert {arch: ROOT_TYPES.get(arch) for arch in theirs} == theirs


def test_the_specification_architectures_are_all_there() -> None:
    """The specification's 24 architectures (systemd 252 predates m68k, sh4 and sparc64)."""
    assert len(ROOT_TYPES) == 24
    assert {"m68k", "sh4", "sparc64"} <= set(ROOT_TYPES)
    assert len(set(ROOT_TYPES.values())) == len(ROOT_TYPES)


@pytest.mark.parametrize(
    ("machine", "byteorder", "arch"),
    [
        ("mips", "big", "mips"),
        ("mips", "little", "mips-le"),
        ("mips64", "big", "mips64"),
        ("mips64", "little", "mips64-le"),
        ("parisc64", "big", "parisc"),
        ("alpha", "little", "alpha"),
        ("tilegx", "little", "tilegx"),
        ("ppc", "big", "ppc"),
        ("s390", "big", "s390"),
        ("armv6l", "little", "arm"),
    ],
)
def test_machine_names_map_to_the_specification(machine: str, byteorder: str, arch: str) -> None:
    """uname -m names map to the specification's names; MIPS by the byte order too."""
    assert dps_architecture(machine, byteorder) == arch
    assert root_type(machine) is not None


def test_empty_label_is_never_the_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A root-typed partition labelled _empty (a placeholder, which systemd always ignores) is
    skipped and named; the next one on the disk is chosen."""
    guid = ROOT_TYPES["x86-64"]
    table = {
        "vda1": {"PART_ENTRY_TYPE": guid, "PART_ENTRY_NAME": "_empty", "PART_ENTRY_NUMBER": "1"},
        "vda2": {"PART_ENTRY_TYPE": guid, "PART_ENTRY_NAME": "root", "PART_ENTRY_NUMBER": "2"},
    }
    monkeypatch.setattr(devices, "block_devices", lambda scope: sorted(table))
    monkeypatch.setattr(devices, "partition_parent", lambda name, sys_block: "vda")
    monkeypatch.setattr(
        devices, "probe", lambda node: {**table[node.name], "PART_ENTRY_DISK": "8:0"}
    )
    guess = guess_root(DeviceScope(sys_block=tmp_path), machine="x86_64")
    assert guess.device is not None and guess.device.name == "vda2"
    assert guess.skipped == ("/dev/vda1 (labelled _empty)",)
