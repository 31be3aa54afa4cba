"""verify: every job and service image passes the trust policy and is pinned to a digest
before any container starts.

Iguana checks the allow-list and the digest rule itself, then pulls each image through the
engine, whose podman service enforces the signature rule (the policy.json that
``trust.policy.prepare_engine_env`` wrote). The digest each pull resolved is recorded in
``record.images``; later stages run exactly that digest, so a tag that moves during the boot
changes nothing. On resume the recorded digest is pulled again, not the tag.

Before the first pull the images' sizes and the memory budget make the pull plan
(``stages/pulls.py``): when the images cannot all stay in memory, each is still pulled here and
passes the same checks, is measured, and goes again (the first job's stay); the jobs pull them
back by their pinned digest. A job that cannot fit at all is refused here, before any
container runs.

Images the ``rd.iguana.images=`` device's read-only store holds under their pinned digest are
used in place (``stages/inplace.py``): not pulled, not counted against memory, never removed.
"""

from __future__ import annotations

import time
from typing import Any

from iguana_fsm.engine.base import ImageInfo
from iguana_fsm.errors import SignatureRejected, TrustError
from iguana_fsm.record import ImageTrust, to_plain
from iguana_fsm.stages import inplace, pulls, specs
from iguana_fsm.stages.base import BootContext
from iguana_fsm.stages.order import next_job
from iguana_fsm.trust.policy import (
    ImageVerdict,
    TrustPolicy,
    check_image,
    load_policy,
    signature_refusal,
)


def run(ctx: BootContext) -> str:
    """Check, pull and pin every image; fire ``next_job`` or ``jobs_done``."""
    workflow = ctx.need_workflow()
    policy = load_policy(ctx.config, ctx.paths)
    verdicts = inplace.use_in_place(ctx, check_all(policy, workflow.images(), ctx.log))
    plan = pulls.plan_before_pulling(ctx, workflow.images())
    keep = pulls.kept_in_verify(ctx, plan)
    # the images that stay are pulled last, so that the others leave room for them
    verdicts.sort(key=lambda verdict: verdict.reference in keep)
    dropped = False
    for verdict in verdicts:
        info = _pull_checked(ctx, verdict, policy)
        pulls.measured(ctx, verdict.reference, info)
        if verdict.reference not in keep:
            ctx.engine.remove_image(info.pinned)
            ctx.record.images_present.remove(info.pinned)
            ctx.log.info("image.verified_dropped", image=verdict.reference, pinned=info.pinned)
            dropped = True
    pulls.plan_after_pulling(ctx, dropped)
    ctx.save()
    return next_job(ctx)


def _pull_checked(ctx: BootContext, verdict: ImageVerdict, policy: TrustPolicy) -> ImageInfo:
    """Pull one image, check its digest against the pin, record its pin and verdict."""
    images = ctx.record.trust.images
    reference = verdict.reference
    # after a resume the digest verified before is what counts, not where the tag is now
    target = ctx.record.images.get(reference, reference)
    ctx.progress(f"Verifying image {reference}")
    pulling = time.monotonic()
    try:
        info = ctx.engine.pull(target)
    except SignatureRejected as error:
        raise TrustError(signature_refusal(reference, error.reason, policy)) from None
    ctx.record.timings.pulls[reference] = round(time.monotonic() - pulling, 3)
    expected = verdict.digest or (target.split("@", 1)[1] if "@" in target else None)
    if expected is not None and info.digest != expected:
        raise TrustError(
            f"image {reference}: pulled digest {info.digest} is not the pinned {expected}; "
            "fix: check the registry (it served other content for a digest)"
        )
    if info.digest is None:
        warning = f"image {reference}: the engine reported no digest; it runs by reference"
        ctx.record.warnings.append(warning)
        ctx.log.warning("verify.no_digest", image=reference)
    ctx.record.images[reference] = info.pinned
    specs.mark_present(ctx, info.pinned)
    images[reference] = image_verdict(verdict, info.digest, policy)
    ctx.log.info("verify.image", image=reference, pinned=info.pinned, **to_plain(images[reference]))
    return info


def check_all(policy: TrustPolicy, references: tuple[str, ...], log: Any) -> list[ImageVerdict]:
    """Every image's verdict; TrustError for the first refusal, counting the others."""
    verdicts: list[ImageVerdict] = []
    refusals: list[str] = []
    for reference in references:
        try:
            verdicts.append(check_image(policy, reference))
        except TrustError as error:
            log.error("verify.refused", image=reference, reason=str(error))
            refusals.append(str(error))
    if refusals:
        more = f" (and {len(refusals) - 1} more image(s) refused)" if len(refusals) > 1 else ""
        raise TrustError(refusals[0] + more)
    return verdicts


def image_verdict(verdict: ImageVerdict, digest: str | None, policy: TrustPolicy) -> ImageTrust:
    """The checkpoint form of an image's verdict (``record.trust.images``)."""
    return ImageTrust(
        registry=verdict.registry,
        allowed_by=verdict.scope,
        digest=digest,
        signature=(
            f"verified against {policy.keyring}" if verdict.signature_required else "not required"
        ),
    )
