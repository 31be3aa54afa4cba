"""The fetch and verify stages' own decisions, with a fake engine (the real engine, registry
and servers are in tests/integration/test_trust_*.py)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from iguana_fsm.checkpoint import BootRecord
from iguana_fsm.cmdline import BootConfig
from iguana_fsm.errors import PullError, TrustError, UsageError, WorkflowInvalid
from iguana_fsm.host import SandboxHost
from iguana_fsm.paths import Paths
from iguana_fsm.stages import fetch, verify
from iguana_fsm.stages.base import BootContext
from iguana_fsm.trust.signature import check_pin, parse_pin, sha256_hex
from iguana_fsm.workflow.model import Container, Job, Service, Workflow
from tests.unit.fake_engine import FakeEngine

ALLOWED = "registry.example.org"


class Quiet:
    """A logger that keeps events for assertions."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def info(self, event: str, **_fields: Any) -> None:
        self.events.append(event)

    warning = error = info


def context(tmp_path: Path, workflow: Workflow | None = None, **config: Any) -> BootContext:
    """A context on sandbox paths with ``registries.conf`` allowing only ALLOWED."""
    paths = Paths.for_sandbox(tmp_path)
    paths.config.mkdir(parents=True, exist_ok=True)
    (paths.config / "registries.conf").write_text(f"{ALLOWED}\n")
    return BootContext(
        config=BootConfig(**config),
        paths=paths,
        engine=FakeEngine(),
        host=SandboxHost(),
        record=BootRecord(run_id=uuid.uuid4().hex, state="verify", sandbox=True),
        log=Quiet(),
        progress=lambda _line: None,
        save=lambda: None,
        workflow=workflow,
    )


def workflow_of(*images: str, service: str | None = None) -> Workflow:
    """One job per image; the first job gets ``service`` when given."""
    jobs = []
    for number, image in enumerate(images):
        services = (Service("svc", Container(service)),) if service and number == 0 else ()
        jobs.append(Job(id=f"job{number}", container=Container(image), services=services))
    return Workflow(jobs=tuple(jobs))


def engine(ctx: BootContext) -> FakeEngine:
    """The context's fake engine."""
    assert isinstance(ctx.engine, FakeEngine)
    return ctx.engine


class TestVerifyStage:
    def test_pins_every_job_and_service_image(self, tmp_path: Path) -> None:
        """Each image is pulled once and recorded as repo@digest; the first job comes next."""
        job, svc = f"{ALLOWED}/job:1", f"{ALLOWED}/svc:1"
        ctx = context(tmp_path, workflow_of(job, service=svc))
        assert verify.run(ctx) == "next_job"
        assert engine(ctx).names("pull") == [svc, job]
        assert ctx.record.images[job].startswith(f"{ALLOWED}/job@sha256:")
        assert ctx.record.current_job == "job0"
        assert set(ctx.record.details["trust"]["images"]) == {job, svc}

    def test_refusal_before_any_pull(self, tmp_path: Path) -> None:
        """One image from a registry not allowed stops verify before anything is pulled."""
        ctx = context(tmp_path, workflow_of(f"{ALLOWED}/ok:1", "docker.io/library/evil:1"))
        with pytest.raises(
            TrustError, match=r"image docker\.io/library/evil:1: registry docker\.io"
        ):
            verify.run(ctx)
        assert engine(ctx).names("pull") == []

    def test_several_refusals_counted(self, tmp_path: Path) -> None:
        """The first refusal is the message and the others are counted on the same line."""
        ctx = context(tmp_path, workflow_of("a.example.org/x:1", "b.example.org/y:1"))
        with pytest.raises(TrustError, match=r"\(and 1 more image\(s\) refused\)$"):
            verify.run(ctx)

    def test_signature_rejection_becomes_trust_error(self, tmp_path: Path) -> None:
        """The engine's SignatureRejected is a TrustError naming the image, the rule and the fix."""
        image = f"{ALLOWED}/unsigned:1"
        ctx = context(tmp_path, workflow_of(image))
        engine(ctx).signature_rejections[image] = (
            "Source image rejected: A signature was required, but no signature exists"
        )
        with pytest.raises(TrustError) as caught:
            verify.run(ctx)
        assert str(caught.value).startswith(f"image {image}: refused by the signature policy")
        assert "fix:" in str(caught.value)

    def test_other_pull_errors_stay_pull_errors(self, tmp_path: Path) -> None:
        """A missing image is an engine problem, not a trust refusal."""
        image = f"{ALLOWED}/missing:1"
        ctx = context(tmp_path, workflow_of(image))
        engine(ctx).pull_errors[image] = "manifest unknown"
        with pytest.raises(PullError, match="manifest unknown"):
            verify.run(ctx)

    def test_pinned_image_keeps_its_digest(self, tmp_path: Path) -> None:
        """An image pinned in the workflow that comes back with that digest is recorded as is."""
        image = f"{ALLOWED}/x@sha256:" + "a" * 64
        ctx = context(tmp_path, workflow_of(image))
        assert verify.run(ctx) == "next_job"
        assert ctx.record.images[image] == image

    def test_digest_mismatch_refused(self, tmp_path: Path) -> None:
        """An image pinned in the workflow must come back with that very digest."""
        image = f"{ALLOWED}/x@sha256:" + "a" * 64
        ctx = context(tmp_path, workflow_of(image))
        engine(ctx).served_digests[image] = "sha256:" + "c" * 64
        with pytest.raises(
            TrustError, match=r"pulled digest sha256:cccc\w+ is not the pinned sha256:aaaa"
        ):
            verify.run(ctx)

    def test_resume_pulls_the_recorded_digest(self, tmp_path: Path) -> None:
        """After a resume the digest verified before is pulled, not the tag again."""
        image = f"{ALLOWED}/x:1"
        ctx = context(tmp_path, workflow_of(image))
        pinned = f"{ALLOWED}/x@sha256:" + "b" * 64
        ctx.record.images[image] = pinned
        assert verify.run(ctx) == "next_job"
        assert engine(ctx).names("pull") == [pinned]
        assert ctx.record.images[image] == pinned

    def test_resume_refuses_other_content_for_the_recorded_digest(self, tmp_path: Path) -> None:
        """On resume the recorded digest must come back unchanged, or verify stops."""
        image = f"{ALLOWED}/x:1"
        ctx = context(tmp_path, workflow_of(image))
        pinned = f"{ALLOWED}/x@sha256:" + "b" * 64
        ctx.record.images[image] = pinned
        engine(ctx).served_digests[pinned] = "sha256:" + "d" * 64
        with pytest.raises(TrustError, match="is not the pinned sha256:bbbb"):
            verify.run(ctx)


class TestFetchStage:
    def test_containers_become_a_workflow_and_its_copy(self, tmp_path: Path) -> None:
        """rd.iguana.containers gives one job per image; the copy is YAML that parses back."""
        ctx = context(tmp_path)
        images = [f"{ALLOWED}/a:1", f"{ALLOWED}/b:1"]
        ctx.extras["source"] = {"kind": "containers", "value": images}
        assert fetch.run(ctx) == "fetched"
        assert ctx.workflow is not None
        assert [job.container.image for job in ctx.workflow.jobs] == images
        copy = yaml.safe_load(ctx.paths.workflow_copy.read_text())
        assert [job["container"]["image"] for job in copy["jobs"].values()] == images
        assert ctx.record.workflow_sha256 == sha256_hex(ctx.paths.workflow_copy.read_bytes())

    def test_bundled_workflow_is_trusted_as_part_of_the_initrd(self, tmp_path: Path) -> None:
        """The bundled workflow needs no signature even when a keyring is configured."""
        ctx = context(tmp_path)
        (ctx.paths.config / "trusted.gpg").write_bytes(b"\x99binary")
        text = f"jobs:\n  one:\n    container:\n      image: {ALLOWED}/one:1\n".encode()
        ctx.paths.bundled_workflow.write_bytes(text)
        ctx.extras["source"] = {"kind": "bundled", "value": str(ctx.paths.bundled_workflow)}
        assert fetch.run(ctx) == "fetched"
        assert ctx.record.details["trust"]["workflow"]["kind"] == "bundled"

    def test_invalid_workflow_is_not_copied(self, tmp_path: Path) -> None:
        """A workflow that fails validation raises WorkflowInvalid and leaves no copy."""
        ctx = context(tmp_path)
        bad = tmp_path / "bad.yaml"
        bad.write_text("jobs: 3\n")
        ctx.extras["source"] = {"kind": "file", "value": str(bad)}
        with pytest.raises(WorkflowInvalid):
            fetch.run(ctx)
        assert not ctx.paths.workflow_copy.exists()

    def test_armored_keyring_refused_with_fix(self, tmp_path: Path) -> None:
        """gpgv needs a binary keyring; an armored one is refused with the dearmor command."""
        ctx = context(tmp_path)
        (ctx.paths.config / "trusted.gpg").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
        workflow = tmp_path / "w.yaml"
        workflow.write_text("jobs: {}\n")
        (tmp_path / "w.yaml.sig").write_bytes(b"sig")
        ctx.extras["source"] = {"kind": "file", "value": str(workflow)}
        with pytest.raises(TrustError, match="gpg --dearmor"):
            fetch.run(ctx)


class TestPin:
    def test_pin_forms(self) -> None:
        """A pin is sha256:HEX or bare HEX, case-insensitive; anything else is a usage error."""
        digest = sha256_hex(b"x")
        assert parse_pin(f"sha256:{digest.upper()}") == digest == parse_pin(digest)
        with pytest.raises(UsageError, match="expected sha256:<64 hex digits>"):
            parse_pin("md5:abc")

    def test_mismatch_names_both(self) -> None:
        """A mismatch names what was found, what was pinned and the place."""
        with pytest.raises(TrustError, match=r"^URL: sha256 [0-9a-f]{64} does not match"):
            check_pin(b"x", "sha256:" + "0" * 64, "URL")
