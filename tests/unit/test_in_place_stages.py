"""Images used in place (iguana_fsm/stages/inplace.py) in the verify and jobs stages and the
pull plan, over a fake engine whose read-only store holds pinned images; real podman and a
read-only loop-mounted store are in tests/integration/test_in_place.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.engine.api import image_store_options
from iguana_fsm.errors import ExitCode, TrustError
from iguana_fsm.memory.plan import PER_JOB, ImageSize, make_plan
from iguana_fsm.stages import jobs, services, verify
from tests.unit.test_memory_stages import MB, sized_engine
from tests.unit.test_trust_stages import ALLOWED, context, engine, workflow_of

PIN = "sha256:" + "d" * 64
STORED = f"{ALLOWED}/d@{PIN}"
OTHER = f"{ALLOWED}/d@sha256:" + "e" * 64
A = f"{ALLOWED}/a:1"


def test_pinned_image_in_the_store_is_used_in_place(tmp_path: Path) -> None:
    """A pinned image the read-only store holds under its pin is not pulled, counts no RAM in
    the plan, is never removed, and its verdict says the signature was not checked."""
    ctx = context(tmp_path, workflow_of(STORED, A, STORED), memory_limit=150 * MB)
    sized_engine(ctx, a=100)
    engine(ctx).read_only[STORED] = 400 * MB
    assert verify.run(ctx) == "next_job"
    memory = ctx.record.memory
    assert memory.images[STORED].in_place and memory.images[STORED].unpacked == 400 * MB
    assert memory.mode != PER_JOB  # the 400 MiB image would not fit a 150 MiB budget
    assert "used in place" in ctx.record.trust.images[STORED].signature
    for _ in range(3):
        services.run(ctx)
        jobs.run(ctx)
    calls = [(call, arg) for call, arg in engine(ctx).calls if call in ("pull", "remove_image")]
    assert calls == [("pull", A), ("remove_image", ctx.record.images[A])]


def test_wrong_pin_is_refused_naming_image_and_job(tmp_path: Path) -> None:
    """When the store holds the pinned image's repository only under another digest, verify
    refuses the boot (exit code TRUST) with one line naming the image, its job and both
    digests, before any pull."""
    ctx = context(tmp_path, workflow_of(A, OTHER), memory_limit=1024 * MB)
    engine(ctx).read_only[STORED] = MB
    with pytest.raises(TrustError) as refused:
        verify.run(ctx)
    message = str(refused.value)
    assert message.startswith(f"image {OTHER} (job job1): the image device's store holds {PIN}")
    assert "not the pinned sha256:eee" in message and "\n" not in message
    assert refused.value.exit_code == ExitCode.TRUST
    assert [call for call in engine(ctx).calls if call[0] == "pull"] == []


def test_tag_reference_is_pulled_even_when_the_store_has_it(tmp_path: Path) -> None:
    """A reference without a digest is never used in place: it is pulled as before."""
    tagged = f"{ALLOWED}/d:1"
    ctx = context(tmp_path, workflow_of(tagged), memory_limit=1024 * MB)
    engine(ctx).read_only[STORED] = MB
    assert verify.run(ctx) == "next_job"
    assert ("pull", tagged) in engine(ctx).calls
    assert ("read_only_images", tagged) not in engine(ctx).calls


def test_plan_leaves_in_place_images_out() -> None:
    """The plan counts an in-place image in no job's need, pull, prefetch or removal."""
    sizes = {
        "big": ImageSize(900 * MB, 900 * MB, True, PIN, in_place=True),
        "small": ImageSize(10 * MB, 20 * MB),
    }
    plan = make_plan([("one", ["big", "small"]), ("two", ["big"])], sizes, 100 * MB)
    assert plan.refusal is None and plan.total == 30 * MB
    assert plan.jobs["one"].remove == ["small"] and plan.jobs["two"].remove == []


def test_store_options_follow_storage_conf(tmp_path: Path) -> None:
    """A private --root loses storage.conf's additionalimagestores in podman 4.3, so the engine
    passes them as --storage-opt; none without such stores or without a readable file."""
    conf = tmp_path / "storage.conf"
    env = {"CONTAINERS_STORAGE_CONF": str(conf)}
    assert image_store_options(env) == []
    conf.write_text('[storage]\ndriver = "overlay"\n')
    assert image_store_options(env) == []
    conf.write_text(
        '[storage]\ndriver = "overlay"\n[storage.options]\nadditionalimagestores = ["/a", "/b"]\n'
    )
    assert image_store_options(env) == ["--storage-opt", "overlay.imagestore=/a,/b"]
    conf.write_text("[storage\n")
    assert image_store_options(env) == []
