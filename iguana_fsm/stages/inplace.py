"""Images used in place: from the read-only image store on the ``rd.iguana.images=`` device
(podman's additional image store, see dracut/95iguana-images), never pulled into RAM.

An image is used in place when the workflow pins it by digest (``repo@sha256:...``) and the
store holds that repository with exactly that manifest digest. When the store holds the
repository only under other digests, the boot is refused (TrustError) before any container
runs: the device carries other content than the workflow names. A reference without a digest
is never used in place; it is pulled (through the device's registry mirror, if any).

What is and is not checked (docs/trust.md): the pin comes from the workflow, whose own
integrity fetch checked; podman's signature policy applies only when it copies an image from a
registry, so it is not applied here; podman does not hash the store's layers again when it runs
them. An image used in place trusts the device for its layers.
"""

from __future__ import annotations

from iguana_fsm.errors import TrustError
from iguana_fsm.memory.plan import ImageSize
from iguana_fsm.record import ImageTrust
from iguana_fsm.stages import specs
from iguana_fsm.stages.base import BootContext
from iguana_fsm.stages.pulls import job_images
from iguana_fsm.trust.policy import ImageVerdict

TRUST = "not checked: used in place from the image device's read-only store (digest pin)"
"""The signature column of an in-place image's verdict (``record.trust.images``)."""


def _jobs_using(ctx: BootContext, reference: str) -> str:
    jobs = [job_id for job_id, images in job_images(ctx) if reference in images]
    return ", ".join(jobs) or "none"


def use_in_place(ctx: BootContext, verdicts: list[ImageVerdict]) -> list[ImageVerdict]:
    """Take every pinned image the device's store holds with its pin; return the verdicts
    still to be pulled. TrustError when the store holds a pinned image's repository only
    under other digests."""
    to_pull: list[ImageVerdict] = []
    for verdict in verdicts:
        reference = verdict.reference
        if verdict.digest is None:
            to_pull.append(verdict)
            continue
        stored = ctx.engine.read_only_images(reference)
        if not stored:
            to_pull.append(verdict)
            continue
        match = [info for info in stored if info.digest == verdict.digest]
        if not match:
            held = ", ".join(sorted({str(info.digest) for info in stored}))
            raise TrustError(
                f"image {reference} (job {_jobs_using(ctx, reference)}): the image device's "
                f"store holds {held}, not the pinned {verdict.digest}; fix: put the pinned "
                "image on the device (podman --root DIR pull REFERENCE@DIGEST) or correct the pin"
            )
        info = match[0]
        ctx.record.images[reference] = info.pinned
        specs.mark_present(ctx, info.pinned)
        size = info.size or 0
        ctx.record.memory.images[reference] = ImageSize(size, size, True, info.digest, True)
        ctx.record.trust.images[reference] = ImageTrust(
            registry=verdict.registry,
            allowed_by=verdict.scope,
            digest=info.digest,
            signature=TRUST,
        )
        ctx.log.info("image.in_place", image=reference, pinned=info.pinned, size=info.size)
    return to_pull
