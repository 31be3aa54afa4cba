"""``iguana run --dry-run``: locate and read the workflow, print the plan, touch nothing.

The workflow copy and logs go to a scratch directory that is removed afterwards; no engine is
started and no checkpoint is written. What the boot would warn about or refuse before it starts
a container is shown too: unknown ``rd.iguana.`` options (as warnings) and the image allow-list
and digest rules (a refused image, or a pin that the image device's store contradicts, ends the
dry run with the boot's trust error and exit code), and the pull plan: each image's sizes from
its registry, the budget of this machine (with the command line's memory options), and a job
that could not fit (exit code 5).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any

from iguana_fsm.bootstart import Options, boot_config
from iguana_fsm.checkpoint import BootRecord
from iguana_fsm.cmdline import unknown_warnings
from iguana_fsm.errors import MemoryRefused, TrustError
from iguana_fsm.host import SandboxHost
from iguana_fsm.log import make_logger
from iguana_fsm.memory.preview import preview
from iguana_fsm.paths import Paths
from iguana_fsm.stages import fetch, locate
from iguana_fsm.stages.base import BootContext
from iguana_fsm.trust.policy import check_image, load_policy, prepare_engine_env
from iguana_fsm.workflow.explain import explain

ENDING = """\
after the jobs:
  mount   the devices of /iguana/mountlist (or the discoverable root partition) under {newroot}
  hand-off switch-root, kexec or reboot, decided from the new root and /iguana/kernelAction
"""


class _NoEngine:
    """A dry run must not reach the engine; any use is a bug."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"dry run used the engine ({name})")


def dry_run(
    paths: Paths, cmdline: str | None, workflow: str | None, out: IO[str], *, registry: bool = True
) -> int:
    """Print where the workflow comes from and what would run; 0, or an IguanaError. Without
    ``registry`` no registry is asked for image sizes (and the pull plan is not shown)."""
    config, _ = boot_config(Options(paths=paths, cmdline=cmdline, workflow=workflow))
    with tempfile.TemporaryDirectory(prefix="iguana-dry-run.") as scratch:
        top = Path(scratch)
        scratch_paths = paths._replace(iguana=top / "iguana", run=top / "run")
        ctx = BootContext(
            config=config,
            paths=scratch_paths,
            engine=_NoEngine(),
            host=SandboxHost(),
            record=BootRecord(run_id="dry-run", state="locate"),
            log=make_logger(None, console=None),
            progress=lambda message: None,
            save=lambda: None,
        )
        locate.run(ctx)
        fetch.run(ctx)
        loaded = ctx.need_workflow()
        policy = load_policy(config, paths)
        verdicts = [check_image(policy, image) for image in loaded.images()]
        memory = None
        if registry:
            env = {**os.environ, **prepare_engine_env(config, scratch_paths)}
            memory = preview(loaded, config, paths.storage, env)
    out.writelines(f"warning: {line}\n" for line in unknown_warnings(config))
    out.write(f"sha256: {ctx.record.workflow_sha256}\n")
    out.write(explain(loaded, config.env))
    allowed = f"allowed by {policy.rules_source}" if policy.rules else "no allow-list"
    out.write(f"images checked ({allowed}):\n")
    out.writelines(
        f"  {verdict.reference}: "
        + (f"scope {verdict.scope}" if verdict.scope else "allowed")
        + (", signature required" if verdict.signature_required else "")
        + "\n"
        for verdict in verdicts
    )
    lines = memory.lines if memory else ["memory: no registry asked for sizes (--no-registry)"]
    out.writelines(line + "\n" for line in lines)
    out.write(ENDING.format(newroot=paths.newroot))
    if memory is not None and memory.refusals:
        # verify would refuse the boot before its pulls: the same exit code here
        raise TrustError(memory.refusals[0])
    if memory is not None and memory.plan.refusal is not None:
        raise MemoryRefused(memory.plan.refusal)
    return 0
