"""The network boot under QEMU: a signed workflow over HTTPS and signed images from a TLS
registry, on a restricted user network whose only endpoints are servers this test starts on
127.0.0.1 (tests/e2e/netkit.py), with the CA, keyring and registry list bundled into the initrd
(build-initrd.sh --confdir, as /etc/iguana).

Guest view: https://10.0.2.100/ (control.yaml, control.yaml.sig, /sigstore/ lookaside) and the
registry 10.0.2.100:5000, which ``rd.iguana.registries=`` alone allows. Disks: vda the report device
(rd.iguana.report=), vdb the install target.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import bootkit, netkit
from tests.integration.trust_support import Answer, ScriptedServer
from tests.support.podman_cli import PodmanCli, podman_env
from tests.support.registry import Registry

pytestmark = pytest.mark.e2e

HOST = netkit.GUEST_SERVER
REGISTRY = netkit.GUEST_REGISTRY
IMAGE = f"{REGISTRY}/e2e/installer:1"
UNSIGNED = f"{REGISTRY}/e2e/unsigned:1"
STEP_IMAGES = {step: f"{REGISTRY}/e2e/{step}:1" for step in ("partition", "mountlist")}
CONTROL_URL = f"https://{HOST}/control.yaml"
COMMON = (
    "console=ttyS0 root=iguana panic=1 ip=dhcp rd.neednet=1 "
    f"rd.iguana.registries={REGISTRY} rd.iguana.report=LABEL={bootkit.REPORT_LABEL} "
)


@pytest.fixture(scope="module")
def registry_data(
    tmp_path_factory: pytest.TempPathFactory, source_tree: Path, trust: netkit.Trust
) -> Path:
    """The TLS registry's store: the offline test's installer as e2e/installer:1 (signed) and
    e2e/unsigned:1 (the same manifest, never signed), and one image per step with STEP and
    TARGET set (signed) for rd.iguana.containers. Signatures go to ``trust.lookaside``."""
    top = tmp_path_factory.mktemp("net-registry")
    shutil.copytree(source_tree / "registry", top / "data")
    podman = PodmanCli(top / "storage", top / "runroot", podman_env(top / "conf"))
    certs = ["--cert-dir", str(trust.certs_d)]
    try:
        with Registry(top, tls=trust.cert, ca=trust.ca.cert) as registry:
            local = registry.host
            for name in ("installer", "unsigned"):
                _skopeo(
                    "copy", "--src-cert-dir", str(trust.certs_d), "--dest-cert-dir",
                    str(trust.certs_d), f"docker://{local}/{bootkit.IMAGE}",
                    f"docker://{local}/e2e/{name}:1",
                )  # fmt: skip
            podman.run("pull", *certs, f"{local}/e2e/installer:1")
            for step in STEP_IMAGES:
                context = top / f"ctx-{step}"
                context.mkdir()
                (context / "Containerfile").write_text(
                    f"FROM {local}/e2e/installer:1\nENV STEP={step} TARGET=/dev/vdb\n"
                )
                tag = f"{local}/e2e/{step}:1"
                podman.run("build", "--quiet", "--format", "docker", "--tag", tag, str(context))
                podman.run("push", *certs, tag)
            for reference in (IMAGE, *STEP_IMAGES.values()):
                manifest = _skopeo(
                    "inspect", "--raw", "--cert-dir", str(trust.certs_d),
                    f"docker://{reference.replace(REGISTRY, local)}",
                )  # fmt: skip
                netkit.sign_manifest(trust.key, manifest, reference, trust.lookaside)
    finally:
        podman.run("rmi", "--all", "--force", check=False)
        podman.remove_runroot()
    return top / "data"


def _skopeo(*args: str) -> bytes:
    result = bootkit.run(["skopeo", *args])
    return result.stdout.encode()


@dataclass
class Network:
    """The servers of one boot: HTTPS (workflow, signature, lookaside) and the TLS registry."""

    https: ScriptedServer
    registry: Registry

    def qemu(self) -> list[str]:
        """QEMU's network arguments forwarding 10.0.2.100:443 and :5000 to them."""
        return netkit.qemu_network({443: self.https.port, 5000: self.registry.port})


@pytest.fixture
def network(tmp_path: Path, trust: netkit.Trust, registry_data: Path) -> Iterator[Network]:
    """The HTTPS server (started) and the registry (not started: the test decides when)."""
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "data").symlink_to(registry_data)
    registry = Registry(tmp_path / "registry", tls=trust.cert, ca=trust.ca.cert)
    with ScriptedServer(tls=trust.cert) as https:
        netkit.serve_lookaside(https, trust.lookaside)
        try:
            yield Network(https, registry)
        finally:
            registry.stop()


def _serve_workflow(network: Network, trust: netkit.Trust, text: str, *first: Answer) -> None:
    """Serve ``text`` as control.yaml (after the ``first`` answers) with its signature."""
    data = text.encode()
    network.https.serve("/control.yaml", *first, Answer(200, data))
    network.https.serve("/control.yaml.sig", Answer(200, trust.key.detach_sign(data)))


def _workflow(image: str) -> str:
    return bootkit.workflow_yaml("partition", "mountlist").replace(bootkit.IMAGE, image)


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_network_boot_installs_from_https_and_tls_registry(
    tmp_path: Path,
    kernel: bootkit.Kernel,
    net_initrds: dict[str, Path],
    network: Network,
    trust: netkit.Trust,
) -> None:
    """The systemd initrd brings the network up by DHCP, fetches the signed workflow over HTTPS
    (the server answers 503 twice first: two retries in the log), pulls the signed image from
    the TLS registry, installs, and switches root; the installed disk's /var/log/iguana holds
    every state passed and the image's digest."""
    _serve_workflow(network, trust, _workflow(IMAGE), Answer(503), Answer(503))
    network.registry.start()
    target = bootkit.blank_image(tmp_path / "target.img", 64)
    report = bootkit.ext4_image(tmp_path / "report.img", 16, bootkit.REPORT_LABEL)
    cmdline = COMMON + f"rd.shell=0 rd.iguana.control_url={CONTROL_URL}"

    result = bootkit.boot(
        kernel, net_initrds["systemd"], [report, target], cmdline, tmp_path / "serial.log",
        timeout=420, network=network.qemu(),
    )  # fmt: skip

    console = result.console
    assert result.returncode == 0, f"qemu ended with {result.returncode}:\n{console[-4000:]}"
    assert bootkit.MARKER in console, console[-4000:]
    assert network.https.hits["/control.yaml"] == 3
    offset = bootkit.partition_offset(target, 1)
    record = json.loads(bootkit.read_file(target, "/var/log/iguana/state", offset))
    assert record["state"] == "switch_root" and record["error"] is None
    assert [step["dest"] for step in record["history"]] == [
        "fetch", "verify", "services", "jobs", "services", "jobs", "mount", "switch_root"
    ]  # fmt: skip
    digest = _skopeo_digest(network, trust, IMAGE)
    assert record["images"] == {IMAGE: f"{IMAGE.rsplit(':', 1)[0]}@{digest}"}
    verdict = record["trust"]
    assert verdict["workflow"]["signed_by"] and verdict["workflow"]["attempts"] == 3
    assert verdict["images"][IMAGE]["digest"] == digest
    events = _events(bootkit.read_file(target, "/var/log/iguana/log.jsonl", offset))
    retries = [event for event in events if event.get("event") == "fetch.retry"]
    assert [event["error"] for event in retries] == ["HTTP 503 Service Unavailable"] * 2
    (up,) = [event for event in events if event.get("event") == "network.up"]
    assert up["resolved"] == [HOST] and up["default_route"]

    pulled = netkit.entered_at(record, "services") - netkit.entered_at(record, "verify")
    in_jobs = sum(job["finished"] - job["started"] for job in record["jobs"].values())
    bootkit.record_figures(
        net_boot_seconds_to_iguana=netkit.console_uptime(console, "iguana: starting"),
        net_boot_seconds_to_network_up=up["uptime"],
        net_boot_fetch_seconds=round(
            netkit.entered_at(record, "verify") - netkit.entered_at(record, "fetch"), 2
        ),
        net_boot_pull_seconds=round(pulled, 2),
        net_boot_jobs_seconds=round(in_jobs, 2),
        net_boot_handoff_seconds=round(
            netkit.entered_at(record, "switch_root") - netkit.entered_at(record, "mount"), 2
        ),
        net_boot_seconds_to_installed_init=netkit.console_uptime(
            console, re.escape(bootkit.MARKER)
        ),
        net_boot_qemu_wall_seconds=round(result.seconds, 1),
    )


def _skopeo_digest(network: Network, trust: netkit.Trust, reference: str) -> str:
    local = reference.replace(REGISTRY, network.registry.host)
    return bootkit.run(
        ["skopeo", "inspect", "--cert-dir", str(trust.certs_d), "--format", "{{.Digest}}",
         f"docker://{local}"]
    ).stdout.strip()  # fmt: skip


def _failed_boot(
    tmp_path: Path, kernel: bootkit.Kernel, initrd: Path, network: Network
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """Boot the shell initrd to a failure (no debug: Iguana reboots, QEMU ends); the console,
    the report device's record and its log."""
    report = bootkit.ext4_image(tmp_path / "report.img", 16, bootkit.REPORT_LABEL)
    target = bootkit.blank_image(tmp_path / "target.img", 16)
    cmdline = COMMON + f"rd.shell=0 rd.iguana.reboot_delay=1 rd.iguana.control_url={CONTROL_URL}"
    result = bootkit.boot(
        kernel, initrd, [report, target], cmdline, tmp_path / "serial.log",
        timeout=300, network=network.qemu(),
    )  # fmt: skip
    console = result.console
    assert "IGUANA BOOT FAILED" in console, console[-4000:]
    record = json.loads(bootkit.read_file(report, "/iguana-report/state"))
    events = _events(bootkit.read_file(report, "/iguana-report/log.jsonl"))
    return console, record, events


def test_tampered_workflow_is_refused_in_fetch(
    tmp_path: Path,
    kernel: bootkit.Kernel,
    net_initrds: dict[str, Path],
    network: Network,
    trust: netkit.Trust,
) -> None:
    """In the shell initrd (network by dhclient from dracut's hooks) a workflow whose bytes do
    not match their signature is refused in fetch (exit code 4, the trust policy), and the report
    device holds the record; no image is pulled."""
    text = _workflow(IMAGE)
    network.https.serve("/control.yaml", Answer(200, text.replace("mountlist", "evil").encode()))
    network.https.serve("/control.yaml.sig", Answer(200, trust.key.detach_sign(text.encode())))
    network.registry.start()

    console, record, events = _failed_boot(tmp_path, kernel, net_initrds["shell"], network)

    assert record["failed_state"] == "fetch", console[-3000:]
    assert record["error"]["code"] == 4
    assert "signature" in record["error"]["message"]
    assert record["images"] == {}
    assert any(event.get("event") == "network.up" for event in events)
    assert not any(event.get("event") == "verify.image" for event in events)


def test_unsigned_image_is_refused_in_verify(
    tmp_path: Path,
    kernel: bootkit.Kernel,
    net_initrds: dict[str, Path],
    network: Network,
    trust: netkit.Trust,
) -> None:
    """A signed workflow naming an image that has no signature in the lookaside is refused in
    verify (exit code 4) by podman's signature policy, before any container runs."""
    _serve_workflow(network, trust, _workflow(UNSIGNED))
    network.registry.start()

    console, record, events = _failed_boot(tmp_path, kernel, net_initrds["shell"], network)

    assert record["failed_state"] == "verify", console[-3000:]
    assert record["error"]["code"] == 4
    assert record["error"]["message"].startswith(f"image {UNSIGNED}: refused by the signature")
    assert all(job["status"] == "pending" for job in record.get("jobs", {}).values())
    assert not any(str(event.get("event", "")).startswith("job.") for event in events)


RESCUE = [("Press Enter for maintenance", "\n", False), ("# ", "iguana resume; exit\n", True)]


def test_registry_down_then_resume_from_the_rescue_shell(
    tmp_path: Path,
    kernel: bootkit.Kernel,
    net_initrds: dict[str, Path],
    network: Network,
) -> None:
    """rd.iguana.containers= with two images over the network: the registry is down when verify
    starts, so the boot fails with exit code 5 and the report device gets the record; the
    registry comes back, ``iguana resume`` typed into the emergency shell pulls, installs and
    the boot switches root."""
    target = bootkit.blank_image(tmp_path / "target.img", 64)
    report = bootkit.ext4_image(tmp_path / "report.img", 16, bootkit.REPORT_LABEL)
    log = tmp_path / "serial.log"
    cmdline = COMMON + "rd.iguana.debug=1 rd.iguana.containers=" + ",".join(STEP_IMAGES.values())

    def bring_registry_back() -> None:
        # the registry starts once the failure banner is on the console (report saved by then)
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            if log.exists() and "IGUANA BOOT FAILED" in log.read_text(errors="replace"):
                network.registry.start()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=bring_registry_back, daemon=True)
    watcher.start()
    result = bootkit.boot(
        kernel, net_initrds["systemd"], [report, target], cmdline, log,
        timeout=480, replies=RESCUE, network=network.qemu(),
    )  # fmt: skip
    watcher.join(5)

    console = result.console
    assert "finished with exit code 5" in console, console[-4000:]
    assert bootkit.MARKER in console, console[-4000:]
    saved = json.loads(bootkit.read_file(report, "/iguana-report/state"))
    events = _events(bootkit.read_file(report, "/iguana-report/log.jsonl"))
    failed = [event for event in events if event.get("event") == "state.failed"]
    assert [(event["state"], event["code"]) for event in failed] == [("verify", 5)], failed
    assert saved["state"] == "switch_root"
    steps = [step["dest"] for step in saved["history"]]
    assert steps[:2] == ["fetch", "verify"] and "rescue" in steps
    assert set(saved["images"]) == set(STEP_IMAGES.values())
    offset = bootkit.partition_offset(target, 1)
    record = json.loads(bootkit.read_file(target, "/var/log/iguana/state", offset))
    assert record["state"] == "switch_root"
    assert {name: job["status"] for name, job in record["jobs"].items()} == {
        "partition": "succeeded", "mountlist": "succeeded"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("init", "options"),
    [("systemd", ""), ("shell", "ip=dhcp rd.neednet=1 ")],
    ids=["systemd-no-ip", "shell-ip-dhcp"],
)
def test_no_network_fails_in_locate_naming_the_wait(
    tmp_path: Path,
    kernel: bootkit.Kernel,
    net_initrds: dict[str, Path],
    init: str,
    options: str,
) -> None:
    """With no NIC at all, an https workflow and rd.iguana.net_timeout=5, neither initrd hangs in
    dracut's wait for the network (rd.retry): it ends at that deadline, Iguana's locate state
    waits its 5 s and fails with exit code 3 naming what it waited for, and the report device
    holds the failed record (with and without ip=dhcp rd.neednet=1 on the command line)."""
    report = bootkit.ext4_image(tmp_path / "report.img", 16, bootkit.REPORT_LABEL)
    cmdline = (
        f"console=ttyS0 root=iguana panic=1 {options}rd.shell=0 rd.iguana.reboot_delay=1 "
        f"rd.iguana.report=LABEL={bootkit.REPORT_LABEL} rd.iguana.net_timeout=5 "
        f"rd.iguana.control_url={CONTROL_URL}"
    )
    result = bootkit.boot(
        kernel, net_initrds[init], [report], cmdline, tmp_path / "serial.log", timeout=300
    )

    console = result.console
    assert "IGUANA BOOT FAILED" in console, console[-4000:]
    assert "dracut stops waiting" in console, console[-4000:]
    assert "Could not boot" not in console
    record = json.loads(bootkit.read_file(report, "/iguana-report/state"))
    assert record["failed_state"] == "locate", record
    error = record["error"]
    assert error["code"] == 3
    assert error["message"].startswith("network not up after 5s (rd.iguana.net_timeout=5)")
    assert "an interface (not lo) that is up and has an address" in error["message"]
    events = _events(bootkit.read_file(report, "/iguana-report/log.jsonl"))
    (timeout,) = [event for event in events if event.get("event") == "network.timeout"]
    assert timeout["timeout"] == 5
