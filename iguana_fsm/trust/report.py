"""``iguana verify FILE``: the boot's trust checks, run against a workflow file without booting.

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
from typing import IO, Any

from iguana_fsm.cmdline import BootConfig
from iguana_fsm.errors import EngineError, FetchError, TrustError, UsageError
from iguana_fsm.paths import Paths
from iguana_fsm.trust.fetcher import is_http, local_path
from iguana_fsm.trust.policy import (
    ImageVerdict,
    TrustPolicy,
    check_image,
    engine_reason,
    is_policy_rejection,
    load_policy,
    prepare_engine_env,
)
from iguana_fsm.trust.source import fetch_workflow
from iguana_fsm.workflow.reference import parse_reference
from iguana_fsm.workflow.validator import load_workflow

SKOPEO_TIMEOUT = 600.0
OK, REFUSED, UNCHECKED = "ok", "refused", "unchecked"


class _Quiet:
    """A logger that drops events: ``iguana verify`` reports on ``out`` instead."""

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


def cmd_verify(
    path: str, config: BootConfig, paths: Paths, out: IO[str], *, online: bool = True
) -> int:
    """Check the workflow at ``path`` and every image it names; print a report to ``out``.
    Returns 0 when everything is trusted, TrustError's code when something is refused, and
    EngineError's code when a registry could not be asked. WorkflowInvalid propagates."""
    with tempfile.TemporaryDirectory(prefix="iguana-verify-") as scratch:
        private = dataclasses.replace(paths, run=Path(scratch) / "run")
        if not is_http(path) and not local_path(path).is_file():
            raise UsageError(f"{path}: no such workflow file")
        outcome, line, data = _workflow_verdict(path, config, private)
        out.write(line + "\n")
        if data is None and not is_http(path):
            # refused, but its images are still worth a verdict
            data = local_path(path).read_bytes()
        policy = load_policy(config, paths)
        reports: list[ImageReport] = []
        if data is not None:
            workflow = load_workflow(data, path)
            env = {**os.environ, **prepare_engine_env(config, private)} if online else {}
            reports = [
                _image_report(reference, policy, env, Path(scratch), online)
                for reference in workflow.images()
            ]
    for report in reports:
        out.write("\n".join(report.lines()) + "\n")
    outcomes = [report.outcome for report in reports]
    refused, unchecked = outcomes.count(REFUSED), outcomes.count(UNCHECKED)
    what = {OK: "trusted", REFUSED: "refused", UNCHECKED: "not checked"}[outcome]
    out.write(
        f"verify: workflow {what}; {len(reports)} image(s): {refused} refused, "
        f"{unchecked} not checked ({policy_summary(policy)})\n"
    )
    if refused or outcome == REFUSED:
        return TrustError.exit_code
    return EngineError.exit_code if unchecked or outcome == UNCHECKED else 0


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
    reference: str, policy: TrustPolicy, env: dict[str, str], scratch: Path, online: bool
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
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise EngineError("skopeo is not installed: apt-get install -y skopeo")
    try:
        return subprocess.run(
            [skopeo, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=SKOPEO_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise EngineError(f"skopeo {args[0]} did not finish in {SKOPEO_TIMEOUT:g}s") from None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].removeprefix("time=").strip() if lines else "no message"


def _resolve_digest(reference: str, env: dict[str, str]) -> str:
    result = _skopeo(["inspect", "--format", "{{.Digest}}", f"docker://{reference}"], env)
    digest = result.stdout.strip()
    if result.returncode != 0 or not digest.startswith("sha256:"):
        raise EngineError(_last_line(result.stderr))
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
    words = engine_reason(_last_line(result.stderr))
    if is_policy_rejection(words):
        report.signature, report.outcome = f"REFUSED: {words}", REFUSED
    else:
        report.signature, report.outcome = f"not checked: {words}", UNCHECKED
