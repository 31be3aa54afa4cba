"""The image policy against real parts: a TLS registry on 127.0.0.1 with a test CA, images
signed with ``podman push --sign-by`` into a lookaside directory, and Iguana's own podman
service reading the policy.json that ``prepare_engine_env`` wrote."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from iguana_fsm.checkpoint import BootRecord
from iguana_fsm.cmdline import BootConfig
from iguana_fsm.contract import container_spec
from iguana_fsm.engine.podman import PodmanEngine
from iguana_fsm.errors import PullError, SignatureRejected, TrustError
from iguana_fsm.host import SandboxHost
from iguana_fsm.log import make_logger
from iguana_fsm.paths import Paths
from iguana_fsm.stages import verify
from iguana_fsm.stages.base import BootContext
from iguana_fsm.trust.policy import prepare_engine_env
from iguana_fsm.trust.precheck import precheck
from iguana_fsm.workflow.model import Container, Job, Workflow
from tests.integration.trust_support import (
    CertAuthority,
    GpgKey,
    push_signed,
    registry_digest,
    unmount_under,
)
from tests.support.images import build_image, busybox_rootfs_tar
from tests.support.podman_cli import PodmanCli, podman_env
from tests.support.registry import Registry

pytestmark = pytest.mark.integration


@dataclass
class World:
    """A TLS registry holding signed, unsigned and stranger-signed images."""

    ca: CertAuthority
    registry: Registry
    trusted: GpgKey
    stranger: GpgKey
    lookaside: Path
    builder: PodmanCli
    scratch: Path

    def ref(self, name: str) -> str:
        """The registry reference of test image ``name``."""
        return f"{self.registry.host}/iguana/{name}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Build and push the test images once for the module; stop everything afterwards."""
    top = tmp_path_factory.mktemp("trust-world")
    ca = CertAuthority.create(top / "ca")
    registry = Registry(top / "registry", tls=ca.server_cert(top / "server"), ca=ca.cert)
    trusted = GpgKey.create(top, "trusted")
    stranger = GpgKey.create(top, "stranger")
    # podman refuses a runroot longer than 50 characters; pytest's temp paths can be longer
    runroot = Path(tempfile.mkdtemp(prefix="igt-rr-", dir="/tmp"))
    builder = PodmanCli(top / "storage", runroot, podman_env(top / "conf"))
    lookaside = top / "lookaside"
    lookaside.mkdir()
    world = World(ca, registry, trusted, stranger, lookaside, builder, top)
    try:
        registry.start()
        rootfs = busybox_rootfs_tar(top)
        images = {
            "signed:1": ("echo signed-image", trusted),
            "unsigned:1": ("echo unsigned-image", None),
            "stranger:1": ("echo stranger-image", stranger),
            "moving:1": ("echo first-image", trusted),
        }
        for name, (script, key) in images.items():
            local = build_image(builder, f"localhost/trust/{name}", script, rootfs)
            push_signed(
                builder,
                local,
                world.ref(name),
                ca=ca.cert,
                lookaside=lookaside,
                key=key,
                scratch=top,
            )
        yield world
    finally:
        registry.stop()
        trusted.close()
        stranger.close()
        builder.run("rm", "--all", "--force", check=False)
        builder.run("rmi", "--all", "--force", check=False)
        shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture
def short_run() -> Iterator[Path]:
    """A short run directory: podman refuses a runroot path longer than 50 characters."""
    directory = Path(tempfile.mkdtemp(prefix="igt-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def sandbox(
    tmp_path: Path,
    run_dir: Path,
    world: World,
    *,
    ca: bool = True,
    keyring: bool = True,
    registries: str | None = None,
) -> Paths:
    """Sandbox paths (run dir short for podman) with the test trust configuration."""
    paths = Paths.for_sandbox(tmp_path / "sandbox")._replace(run=run_dir)
    configure(paths, world, ca=ca, keyring=keyring, registries=registries)
    return paths


def configure(
    paths: Paths,
    world: World,
    *,
    ca: bool = True,
    keyring: bool = True,
    registries: str | None = None,
) -> None:
    """Write the test CA, the trusted keyring and registries.conf into /etc/iguana."""
    paths.config.mkdir(parents=True)
    if ca:
        (paths.config / "ca.pem").write_bytes(world.ca.cert.read_bytes())
    if keyring:
        (paths.config / "trusted.gpg").write_bytes(world.trusted.keyring.read_bytes())
    if registries is None:
        registries = f"{world.registry.host} lookaside=file://{world.lookaside}\n"
    (paths.config / "registries.conf").write_text(registries)


@pytest.fixture
def started() -> Iterator[list[PodmanEngine]]:
    """Engines a test starts; all stopped and their storage unmounted even when it fails."""
    engines: list[PodmanEngine] = []
    yield engines
    for engine in engines:
        engine.stop()
        if engine.paths.storage is not None:
            unmount_under(engine.paths.storage)


def engine_for(paths: Paths, config: BootConfig, started: list[PodmanEngine]) -> PodmanEngine:
    """Iguana's podman service with the trust environment, as the runner starts it."""
    engine = PodmanEngine(paths, uuid.uuid4().hex, env_overlay=prepare_engine_env(config, paths))
    started.append(engine)
    engine.start()
    return engine


def context(
    paths: Paths, config: BootConfig, engine: PodmanEngine, images: list[str]
) -> BootContext:
    """A boot context whose workflow runs one job per image."""
    jobs = tuple(
        Job(id=f"job{i}", container=Container(image=image)) for i, image in enumerate(images)
    )
    record = BootRecord(run_id=uuid.uuid4().hex, state="verify", sandbox=True)
    return BootContext(
        config=config,
        paths=paths,
        engine=engine,
        host=SandboxHost(),
        record=record,
        log=make_logger(paths.log, console=None),
        progress=lambda _line: None,
        save=lambda: None,
        workflow=Workflow(jobs=jobs),
    )


def run_output(engine: PodmanEngine, paths: Paths, image: str) -> str:
    """What a container of ``image`` prints."""
    lines: list[str] = []
    spec = container_spec(
        f"trust-{uuid.uuid4().hex[:8]}", image, {}, (), iguana_dir=paths.iguana, run_id="trust"
    )
    paths.iguana.mkdir(parents=True, exist_ok=True)
    result = engine.run_job(spec, timeout=60, interactive=False, output=lines.append)
    assert result.exit_code == 0, lines
    return "\n".join(lines).strip()


class TestSignedImages:
    def test_signed_image_verifies_pins_and_runs(
        self, tmp_path: Path, short_run: Path, world: World, started: list[PodmanEngine]
    ) -> None:
        """An image signed by the trusted key is pulled, pinned to its registry digest and runs."""
        paths = sandbox(tmp_path, short_run, world)
        config = BootConfig()
        engine = engine_for(paths, config, started)
        reference = world.ref("signed:1")
        ctx = context(paths, config, engine, [reference])
        assert verify.run(ctx) == "next_job"
        digest = registry_digest(world.builder, reference, world.ca.cert, world.scratch)
        assert ctx.record.images[reference] == f"{world.ref('signed')}@{digest}"
        assert ctx.record.trust.images[reference].signature.startswith("verified")
        assert run_output(engine, paths, ctx.record.images[reference]) == "signed-image"

    def test_unsigned_image_refused_before_any_container(
        self, tmp_path: Path, short_run: Path, world: World, started: list[PodmanEngine]
    ) -> None:
        """An unsigned image is refused with a TrustError naming it; no container exists."""
        paths = sandbox(tmp_path, short_run, world)
        config = BootConfig()
        engine = engine_for(paths, config, started)
        reference = world.ref("unsigned:1")
        ctx = context(paths, config, engine, [world.ref("signed:1"), reference])
        with pytest.raises(TrustError) as caught:
            verify.run(ctx)
        message = str(caught.value)
        assert reference in message and "signature" in message and "fix:" in message
        assert "\n" not in message
        assert reference not in ctx.record.images
        assert engine.client.containers.list(all=True) == []

    def test_engine_raises_signature_rejected_and_other_failures_stay_pull_errors(
        self, tmp_path: Path, short_run: Path, world: World, started: list[PodmanEngine]
    ) -> None:
        """podman's refusal under the signature policy is SignatureRejected (exit code 4) with
        podman's reason; an image that does not exist is a PullError (5), not a refusal."""
        paths = sandbox(tmp_path, short_run, world)
        engine = engine_for(paths, BootConfig(), started)
        reference = world.ref("unsigned:1")
        with pytest.raises(SignatureRejected) as caught:
            engine.pull(reference)
        assert caught.value.exit_code == 4 and caught.value.reference == reference
        assert "signature" in caught.value.reason.lower() and "\n" not in str(caught.value)
        with pytest.raises(PullError) as missing:
            engine.pull(world.ref("never-pushed:1"))
        assert not isinstance(missing.value, SignatureRejected)

    def test_unknown_key_refused(
        self, tmp_path: Path, short_run: Path, world: World, started: list[PodmanEngine]
    ) -> None:
        """An image signed by a key that is not in trusted.gpg is refused like an unsigned one."""
        paths = sandbox(tmp_path, short_run, world)
        config = BootConfig()
        engine = engine_for(paths, config, started)
        reference = world.ref("stranger:1")
        ctx = context(paths, config, engine, [reference])
        with pytest.raises(
            TrustError, match="stranger:1: refused by the signature policy"
        ) as caught:
            verify.run(ctx)
        assert f"signed by key {world.stranger.fingerprint}, which is not trusted" in str(
            caught.value
        )
        assert engine.client.containers.list(all=True) == []

    def test_unsigned_flag_accepts_unsigned_registry(
        self, tmp_path: Path, short_run: Path, world: World, started: list[PodmanEngine]
    ) -> None:
        """A registry marked ``unsigned`` in registries.conf lets an unsigned image through."""
        paths = sandbox(
            tmp_path,
            short_run,
            world,
            registries=f"{world.registry.host}/iguana/unsigned unsigned\n"
            f"{world.registry.host} lookaside=file://{world.lookaside}\n",
        )
        config = BootConfig()
        engine = engine_for(paths, config, started)
        reference = world.ref("unsigned:1")
        ctx = context(paths, config, engine, [reference])
        assert verify.run(ctx) == "next_job"
        assert ctx.record.trust.images[reference].signature == "not required"


class TestTLSRegistry:
    def test_pull_without_ca_fails_clearly(
        self, tmp_path: Path, short_run: Path, world: World, started: list[PodmanEngine]
    ) -> None:
        """Without the test CA the pull fails with podman's x509 message naming the image."""
        paths = sandbox(tmp_path, short_run, world, ca=False, keyring=False, registries="")
        config = BootConfig()
        engine = engine_for(paths, config, started)
        reference = world.ref("unsigned:1")
        with pytest.raises(PullError) as caught:
            verify.run(context(paths, config, engine, [reference]))
        assert reference in str(caught.value)
        assert "certificate signed by unknown authority" in str(caught.value)

    def test_pull_with_ca_from_command_line(
        self, tmp_path: Path, short_run: Path, world: World, started: list[PodmanEngine]
    ) -> None:
        """rd.iguana.ca= names the CA bundle; the pull over TLS then works."""
        paths = sandbox(tmp_path, short_run, world, ca=False, keyring=False)
        config = BootConfig(ca=str(world.ca.cert))
        engine = engine_for(paths, config, started)
        reference = world.ref("unsigned:1")
        ctx = context(paths, config, engine, [reference])
        assert verify.run(ctx) == "next_job"
        assert "@sha256:" in ctx.record.images[reference]


class TestPinnedDigest:
    def test_moved_tag_does_not_change_what_runs(
        self, tmp_path: Path, short_run: Path, world: World, started: list[PodmanEngine]
    ) -> None:
        """A tag moved to another image after verify: the verified digest is what runs."""
        paths = sandbox(tmp_path, short_run, world)
        config = BootConfig()
        engine = engine_for(paths, config, started)
        reference = world.ref("moving:1")
        rootfs = world.scratch / "rootfs.tar"
        ctx = context(paths, config, engine, [reference])
        assert verify.run(ctx) == "next_job"
        pinned = ctx.record.images[reference]
        second = build_image(world.builder, "localhost/trust/moving:2", "echo second-image", rootfs)
        push_signed(
            world.builder,
            second,
            reference,
            ca=world.ca.cert,
            lookaside=world.lookaside,
            key=world.trusted,
            scratch=world.scratch,
        )
        assert (
            registry_digest(world.builder, reference, world.ca.cert, world.scratch)
            != pinned.split("@")[1]
        )
        engine.remove_image(pinned)
        engine.pull(pinned)  # as the jobs stage does for an image no longer present
        assert run_output(engine, paths, pinned) == "first-image"
        engine.pull(reference)
        assert run_output(engine, paths, reference) == "second-image"

    def test_digest_reference_mismatch_refused(
        self, tmp_path: Path, short_run: Path, world: World, started: list[PodmanEngine]
    ) -> None:
        """A reference pinned to a digest the registry does not have fails, naming the image."""
        paths = sandbox(tmp_path, short_run, world)
        config = BootConfig()
        engine = engine_for(paths, config, started)
        reference = world.ref("signed") + "@sha256:" + "0" * 64
        with pytest.raises((PullError, TrustError)) as caught:
            verify.run(context(paths, config, engine, [reference]))
        assert reference in str(caught.value)


def workflow_file(directory: Path, images: list[str]) -> Path:
    """A workflow with one job per image."""
    lines = ["jobs:"]
    for number, image in enumerate(images):
        lines += [f"  job{number}:", "    container:", f"      image: {image}"]
    path = directory / "control.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class TestVerifyCommand:
    def test_all_trusted(self, tmp_path: Path, short_run: Path, world: World) -> None:
        """`iguana verify` prints registry, digest and a verified signature, and exits 0."""
        paths = sandbox(tmp_path, short_run, world)
        workflow = workflow_file(tmp_path, [world.ref("signed:1")])
        (tmp_path / "control.yaml.sig").write_bytes(
            world.trusted.detach_sign(workflow.read_bytes())
        )
        found = precheck(str(workflow), BootConfig(), paths)
        assert found.exit_code == 0
        text = found.report()
        digest = registry_digest(world.builder, world.ref("signed:1"), world.ca.cert, world.scratch)
        assert f"signed by {world.trusted.fingerprint}" in text
        assert f"image {world.ref('signed:1')}: OK" in text
        assert f"digest:    {digest} (resolved from the tag)" in text
        assert "signature: verified against" in text

    def test_refusals_each_named(self, tmp_path: Path, short_run: Path, world: World) -> None:
        """Unsigned, stranger-signed and foreign-registry images are each reported REFUSED."""
        paths = sandbox(tmp_path, short_run, world)
        foreign = "registry.example.org/iguana/other:1"
        images = [world.ref("signed:1"), world.ref("unsigned:1"), world.ref("stranger:1"), foreign]
        workflow = workflow_file(tmp_path, images)
        found = precheck(str(workflow), BootConfig(), paths)
        assert found.exit_code == TrustError.exit_code
        text = found.report()
        assert "REFUSED: " in text.splitlines()[0] and "no signature at" in text
        assert f"image {world.ref('signed:1')}: OK" in text
        for refused in images[1:]:
            assert f"image {refused}: REFUSED" in text
        assert "registry registry.example.org is not allowed" in text
        assert "verify: workflow refused; 4 image(s): 3 refused, 0 not checked" in text


class TestBoot:
    def test_unsigned_image_ends_the_boot_with_the_reason_in_status(
        self, short_run: Path, world: World
    ) -> None:
        """`iguana run` refuses an unsigned image in verify: exit 4, the reason in `iguana
        status`, no container created, no podman service left running."""
        paths = Paths.for_sandbox(short_run / "sb")
        configure(paths, world)
        unsigned = world.ref("unsigned:1")
        workflow = workflow_file(short_run, [world.ref("signed:1"), unsigned])
        (short_run / "control.yaml.sig").write_bytes(
            world.trusted.detach_sign(workflow.read_bytes())
        )
        cli = [sys.executable, "-m", "iguana_fsm"]
        top = ["--sandbox", str(short_run / "sb")]
        try:
            run = subprocess.run(
                [*cli, "run", *top, "--batch", "--workflow", str(workflow)],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert run.returncode == TrustError.exit_code, run.stderr
            status = subprocess.run(
                [*cli, "status", *top, "--json"], capture_output=True, text=True, check=False
            )
            record = json.loads(status.stdout)
            assert record["failed_state"] == "verify"
            reason = json.dumps(record["error"])
            assert f"image {unsigned}: refused by the signature policy" in reason
            assert record["images"].keys() == {world.ref("signed:1")}
            podman = PodmanCli.for_paths(paths, podman_env(short_run / "conf"))
            assert podman.run("ps", "-a", "--format", "{{.Names}}").stdout.split() == []
            leftover = subprocess.run(
                ["pgrep", "-f", str(paths.run)], capture_output=True, text=True, check=False
            )
            assert leftover.stdout == ""
        finally:
            unmount_under(short_run / "sb")
