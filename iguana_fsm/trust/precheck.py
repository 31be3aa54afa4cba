"""The boot's trust checks, run ahead of a boot against a workflow file (``iguana verify``).

The workflow's own pin and signature are checked as the fetch stage checks them. Each image gets
Iguana's allow-list and digest rules, then skopeo, run with the very policy.json, registries.d and
CA bundle that the boot hands to podman, resolves its digest (``skopeo inspect``) and, when a
signature is required, copies it into a temporary directory: that copy is where the containers
library enforces the signature policy, so the verdict is podman's own rule, at the price of
downloading the image once. ``online=False`` skips the registry and reports only local rules.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iguana_fsm.cmdline import BootConfig
from iguana_fsm.engine import refusals
from iguana_fsm.errors import EngineError, FetchError, MemoryRefused, TrustError, UsageError
from iguana_fsm.memory.preview import Preview, in_place, preview, read_only_images
from iguana_fsm.paths import Paths
from iguana_fsm.tools import run_tool, said
from iguana_fsm.trust.fetcher import is_http, local_path
from iguana_fsm.trust.policy import (
    ImageVerdict,
    TrustPolicy,
    check_image,
    load_policy,
    prepare_engine_env,
)
from iguana_fsm.trust.source import fetch_workflow
from iguana_fsm.workflow.reference import parse_reference
from iguana_fsm.workflow.validator import load_workflow

SKOPEO_TIMEOUT = 600.0
OK, REFUSED, UNCHECKED = "ok", "refused", "unchecked"


class _Quiet:
    """A logger that drops events: ``iguana verify`` prints its report instead."""

    def info(self, *_args: Any, **_fields: Any) -> None:
        """Drop the event."""

    warning = error = info


@dataclass
class ImageReport:
    """What ``iguana verify`` found for one image."""

    reference: str
    registry: str = "-"
    digest: str = "-"
    signature: str = "-"
    outcome: str = OK

    def lines(self) -> list[str]:
        """The image's block of the report."""
        return [
            f"image {self.reference}: {self.outcome.upper()}",
            f"  registry:  {self.registry}",
            f"  digest:    {self.digest}",
            f"  signature: {self.signature}",
        ]


@dataclass
class Precheck:
    """What the checks found: the workflow's outcome and line, each image's report."""

    outcome: str
    line: str
    images: list[ImageReport]
    policy: TrustPolicy
    memory: list[str] = dataclasses.field(default_factory=list)
    """The pull plan's lines (``memory/preview.py``); empty offline."""
    memory_refusal: str | None = None

    @property
    def exit_code(self) -> int:
        """0 when everything is trusted, TrustError's code when something is refused, and
        EngineError's code when something (a registry) could not be asked."""
        outcomes = [self.outcome, *(report.outcome for report in self.images)]
        if REFUSED in outcomes:
            return TrustError.exit_code
        if self.memory_refusal is not None:
            return MemoryRefused.exit_code
        return EngineError.exit_code if UNCHECKED in outcomes else 0

    def report(self) -> str:
        """The report: the workflow's line, each image's block, the summary line."""
        lines = [self.line]
        for image in self.images:
            lines.extend(image.lines())
        lines.extend(self.memory)
        return "\n".join([*lines, self.summary()]) + "\n"

    def summary(self) -> str:
        """The report's last line."""
        outcomes = [report.outcome for report in self.images]
        what = {OK: "trusted", REFUSED: "refused", UNCHECKED: "not checked"}[self.outcome]
        return (
            f"verify: workflow {what}; {len(self.images)} image(s): {outcomes.count(REFUSED)} "
            f"refused, {outcomes.count(UNCHECKED)} not checked ({policy_summary(self.policy)})"
        )


def precheck(path: str, config: BootConfig, paths: Paths, *, online: bool = True) -> Precheck:
    """Check the workflow at ``path`` (a file or URL) and every image it names, as a boot
    would. UsageError for a missing file; WorkflowInvalid propagates."""
    with tempfile.TemporaryDirectory(prefix="iguana-verify-") as scratch:
        private = paths._replace(run=Path(scratch) / "run")
        if not is_http(path) and not local_path(path).is_file():
            raise UsageError(f"{path}: no such workflow file")
        outcome, line, data = _workflow_verdict(path, config, private)
        if data is None and not is_http(path):
            # refused, but its images are still worth a verdict
            data = local_path(path).read_bytes()
        policy = load_policy(config, paths)
        reports: list[ImageReport] = []
        memory: Preview | None = None
        if data is not None:
            workflow = load_workflow(data, path)
            env = {**os.environ, **prepare_engine_env(config, private)} if online else {}
            stored = read_only_images(paths.storage, env) if online else []
            reports = [
                _image_report(reference, policy, env, Path(scratch), online, stored)
                for reference in workflow.images()
            ]
            if online:
                memory = preview(workflow, config, paths.storage, env)
    if memory is None:
        return Precheck(outcome, line, reports, policy)
    return Precheck(outcome, line, reports, policy, memory.lines, memory.plan.refusal)


def policy_summary(policy: TrustPolicy) -> str:
    """One line saying which rules were in force."""
    allow = f"allow-list from {policy.rules_source}" if policy.rules else "no allow-list"
    keys = f"keyring {policy.keyring}" if policy.keyring else "no keyring"
    return f"{allow}, {keys}"


def _workflow_verdict(path: str, config: BootConfig, paths: Paths) -> tuple[str, str, bytes | None]:
    try:
        checked = fetch_workflow(path, config, paths, _Quiet())
    except TrustError as error:
        return REFUSED, f"workflow {path}: REFUSED: {error}", None
    except FetchError as error:
        return UNCHECKED, f"workflow {path}: NOT CHECKED: {error}", None
    how = []
    if checked.pinned:
        how.append("digest pin matches")
    if checked.signer:
        how.append(f"signed by {checked.signer}")
    detail = ", ".join(how) or "no pin, no keyring: not checked"
    return OK, f"workflow {path}: OK (sha256 {checked.sha256}; {detail})", checked.data


def _image_report(
    reference: str,
    policy: TrustPolicy,
    env: dict[str, str],
    scratch: Path,
    online: bool,
    stored: list[dict[str, Any]],
) -> ImageReport:
    report = ImageReport(reference)
    try:
        verdict = check_image(policy, reference)
    except TrustError as error:
        report.outcome, report.registry = REFUSED, str(error)
        return report
    allowed = f"allowed by {verdict.scope}" if verdict.scope else "no allow-list"
    report.registry = f"{verdict.registry or '(short name)'} ({allowed})"
    report.signature = "required" if verdict.signature_required else "not required"
    if not online:
        report.digest = verdict.digest or "not resolved (offline)"
        if verdict.signature_required:
            report.signature, report.outcome = "required, not checked (offline)", UNCHECKED
        return report
    found = in_place(reference, stored)
    if found is not None:
        # the image device's read-only store decides, as in verify (stages/inplace.py)
        if isinstance(found, str):
            report.digest, report.outcome = found, REFUSED
        else:
            report.digest = f"{found.digest} (pinned; used in place from the image device)"
            report.signature = "not checked for an image used in place (docs/trust.md)"
        return report
    try:
        digest = _resolve_digest(reference, env)
    except EngineError as error:
        report.digest, report.outcome = f"not resolved: {error}", UNCHECKED
        return report
    if verdict.digest is not None and digest != verdict.digest:
        report.digest, report.outcome = f"{digest}, NOT the pinned {verdict.digest}", REFUSED
        return report
    report.digest = digest + (" (pinned)" if verdict.digest else " (resolved from the tag)")
    if verdict.signature_required:
        _check_signature(report, verdict, digest, policy, env, scratch)
    return report


def _skopeo(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """skopeo's answer; the callers read its exit code and words."""
    return run_tool(
        ["skopeo", *args],
        f"skopeo {args[0]}",
        EngineError,
        timeout=SKOPEO_TIMEOUT,
        check=False,
        env=env,
    )


def _resolve_digest(reference: str, env: dict[str, str]) -> str:
    result = _skopeo(["inspect", "--format", "{{.Digest}}", f"docker://{reference}"], env)
    digest = result.stdout.strip()
    if result.returncode != 0 or not digest.startswith("sha256:"):
        raise EngineError(refusals.reason(said(result)))
    return digest


def _check_signature(
    report: ImageReport,
    verdict: ImageVerdict,
    digest: str,
    policy: TrustPolicy,
    env: dict[str, str],
    scratch: Path,
) -> None:
    repository = parse_reference(verdict.reference).repository
    target = scratch / f"copy-{digest.split(':', 1)[1][:16]}"
    result = _skopeo(["copy", "--quiet", f"docker://{repository}@{digest}", f"dir:{target}"], env)
    shutil.rmtree(target, ignore_errors=True)
    if result.returncode == 0:
        report.signature = f"verified against {policy.keyring}"
        return
    words = refusals.reason(said(result))
    if refusals.is_signature_rejection(words):
        report.signature, report.outcome = f"REFUSED: {words}", REFUSED
    else:
        report.signature, report.outcome = f"not checked: {words}", UNCHECKED
