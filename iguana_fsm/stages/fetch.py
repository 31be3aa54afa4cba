"""fetch: read the workflow the locate stage chose, check it, parse it, keep a copy.

``url``/``file`` sources go through the trust checks (TLS, pin, signature); the bundled workflow
is part of the signed initrd and ``rd.iguana.containers`` comes from the command line, so neither
has anything further to check. With ``rd.iguana.fallback=1`` a workflow that cannot be fetched
(FetchError: network, HTTP status, deadline) is replaced by the bundled one; a refusal by the
trust policy never falls back, so an attack is not hidden behind a working boot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from iguana_fsm.atomic import write_atomic
from iguana_fsm.errors import FetchError, ResumeRefused
from iguana_fsm.stages.base import BootContext
from iguana_fsm.trust.fetcher import read_local
from iguana_fsm.trust.signature import sha256_hex
from iguana_fsm.trust.source import fetch_workflow
from iguana_fsm.workflow.containers import workflow_from_containers
from iguana_fsm.workflow.validator import load_workflow


def run(ctx: BootContext) -> str:
    """Fetch, verify and parse the workflow into ``ctx.workflow``; fire ``fetched``."""
    source: dict[str, Any] = ctx.extras["source"]
    kind, value = source["kind"], source["value"]
    verdict: dict[str, Any]
    if kind == "containers":
        images = [str(image) for image in value]
        workflow = workflow_from_containers(images)
        text = containers_yaml(workflow.jobs)
        location = "rd.iguana.containers=" + ",".join(images)
        verdict = {"location": location, "kind": kind}
    elif kind == "bundled":
        text, location = _bundled(ctx)
        workflow = load_workflow(text, location)
        verdict = {"location": location, "kind": kind, "trusted_as": "part of the initrd"}
    else:
        try:
            checked = fetch_workflow(str(value), ctx.config, ctx.paths, ctx.log)
        except FetchError as error:
            if not (ctx.config.fallback and ctx.paths.bundled_workflow.is_file()):
                raise
            warning = f"{error}; using the bundled workflow (rd.iguana.fallback=1)"
            ctx.record.warnings.append(warning)
            ctx.log.warning(
                "fetch.fallback", error=str(error), bundled=str(ctx.paths.bundled_workflow)
            )
            text, location = _bundled(ctx)
            verdict = {"location": location, "kind": "bundled", "fallback_from": str(value)}
        else:
            for warning in checked.warnings:
                ctx.record.warnings.append(warning)
            # the source as configured names the workflow; a redirect target is in the verdict
            text, location = checked.data, str(value)
            verdict = {"kind": kind, **checked.verdict()}
        workflow = load_workflow(text, location)
    digest = sha256_hex(text)
    known = ctx.record.workflow_sha256
    if known is not None and digest != known:
        # a boot's workflow never changes: finished jobs ran under the one fetched first
        raise ResumeRefused(
            f"the workflow changed since the boot started ({location}: sha256 "
            f"{known[:12]}... is now {digest[:12]}...): start a new boot with "
            "`iguana run --fresh`"
        )
    ctx.workflow = workflow
    ctx.workflow_text = text
    ctx.record.workflow_source = location
    ctx.record.workflow_sha256 = digest
    ctx.record.details.setdefault("trust", {})["workflow"] = verdict
    save_copy(ctx.paths.workflow_copy, text)
    ctx.log.info(
        "workflow.fetched",
        source=location,
        sha256=ctx.record.workflow_sha256,
        jobs=[job.id for job in workflow.jobs],
    )
    return "fetched"


def _bundled(ctx: BootContext) -> tuple[bytes, str]:
    fetched = read_local(str(ctx.paths.bundled_workflow))
    return fetched.data, fetched.location


def containers_yaml(jobs: Any) -> bytes:
    """The workflow ``rd.iguana.containers`` stands for, written out as workflow YAML."""
    document = {
        "name": "rd.iguana.containers",
        "jobs": {job.id: {"container": {"image": job.container.image}} for job in jobs},
    }
    return yaml.safe_dump(document, sort_keys=False).encode("utf-8")


def save_copy(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``iguana_fsm.atomic``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, 0o644)
