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
from iguana_fsm.record import WorkflowTrust
from iguana_fsm.stages.base import BootContext, SourceKind, WorkflowSource
from iguana_fsm.trust.fetcher import read_local
from iguana_fsm.trust.signature import sha256_hex
from iguana_fsm.trust.source import fetch_workflow
from iguana_fsm.workflow.containers import workflow_from_containers
from iguana_fsm.workflow.plan import redact
from iguana_fsm.workflow.validator import load_workflow


def run(ctx: BootContext) -> str:
    """Fetch, verify and parse the workflow into ``ctx.workflow``; fire ``fetched``."""
    if ctx.source is None:
        raise RuntimeError("no workflow source in context: locate has not run")
    text, location, verdict = _read(ctx, ctx.source)
    workflow = (
        workflow_from_containers(list(ctx.source.images))
        if verdict.kind == SourceKind.CONTAINERS
        else load_workflow(text, location)
    )
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
    ctx.record.trust.workflow = verdict
    save_copy(ctx.paths.workflow_copy, text)
    save_copy(ctx.paths.workflow_redacted, redacted_yaml(text, workflow.public_env), 0o644)
    ctx.log.info(
        "workflow.fetched",
        source=location,
        sha256=ctx.record.workflow_sha256,
        jobs=[job.id for job in workflow.jobs],
    )
    return "fetched"


def _read(ctx: BootContext, source: WorkflowSource) -> tuple[bytes, str, WorkflowTrust]:
    """The workflow's bytes, the location that names it, and why it is trusted."""
    if source.kind == SourceKind.CONTAINERS:
        text = containers_yaml(workflow_from_containers(list(source.images)).jobs)
        location = "rd.iguana.containers=" + source.location
        return text, location, WorkflowTrust(str(source.kind), location)
    if source.kind == SourceKind.BUNDLED:
        text, location = _bundled(ctx)
        return text, location, WorkflowTrust("bundled", location, trusted_as="part of the initrd")
    try:
        checked = fetch_workflow(source.location, ctx.config, ctx.paths, ctx.log)
    except FetchError as error:
        if not (ctx.config.fallback and ctx.paths.bundled_workflow.is_file()):
            raise
        warning = f"{error}; using the bundled workflow (rd.iguana.fallback=1)"
        ctx.record.warnings.append(warning)
        ctx.log.warning("fetch.fallback", error=str(error), bundled=str(ctx.paths.bundled_workflow))
        text, location = _bundled(ctx)
        return text, location, WorkflowTrust("bundled", location, fallback_from=source.location)
    ctx.record.warnings.extend(checked.warnings)
    # the source as configured names the workflow; a redirect target is in the verdict
    verdict = WorkflowTrust(
        str(source.kind),
        checked.location,
        sha256=checked.sha256,
        pinned=checked.pinned,
        signed_by=checked.signer,
        attempts=checked.attempts,
    )
    return checked.data, source.location, verdict


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


def save_copy(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically (see ``iguana_fsm.atomic``), root-only unless
    ``mode`` says otherwise: the verbatim workflow holds env values in clear."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode)


REDACTED_HEADER = (
    b"# The boot's workflow with every env value redacted unless public-env names it;\n"
    b"# the verbatim copy is /iguana/workflow.yaml (root-only). YAML anchors are expanded.\n"
)


def _flat(value: Any) -> bool:
    """Whether ``value`` is an env mapping (name: scalar), not a job that happens to be named
    ``env``."""
    return isinstance(value, dict) and not any(
        isinstance(item, (dict, list)) for item in value.values()
    )


def redacted_yaml(text: bytes, public: frozenset[str]) -> bytes:
    """The checked workflow ``text`` rewritten with the value of every ``env`` mapping (at any
    depth: workflow, job, container, service) replaced as ``plan.redact`` does."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: redact(value, public) if key == "env" and _flat(value) else walk(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    # the text has passed the bounded validator, so loading it again is safe
    document = walk(yaml.safe_load(text))
    return REDACTED_HEADER + yaml.safe_dump(document, sort_keys=False).encode("utf-8")
