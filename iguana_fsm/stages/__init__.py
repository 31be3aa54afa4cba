"""One module per boot stage; ``default_stages`` wires each state of the machine to its stage."""

from __future__ import annotations

from iguana_fsm.stages.base import Stage


def default_stages() -> dict[str, Stage]:
    """The stage that does the work of each state."""
    from iguana_fsm.stages import endings, failure, fetch, jobs, locate, mount, services, verify

    return {
        "locate": locate.run,
        "fetch": fetch.run,
        "verify": verify.run,
        "services": services.run,
        "jobs": jobs.run,
        "mount": mount.run,
        "switch_root": endings.switch_root,
        "kexec": endings.kexec,
        "reboot": endings.reboot,
        "failed": failure.failed,
        "rescue": failure.rescue,
    }
