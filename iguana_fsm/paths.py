"""Where Iguana keeps things. A Paths value is passed in, never read from a global.

A NamedTuple, not a dataclass: every verb loads this module, and ``iguana status`` must not pay
for importing dataclasses (and inspect with it) to learn where the checkpoint is (issue 17).
``paths._replace(run=...)`` gives a changed copy."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class Paths(NamedTuple):
    """The file system locations of one boot.

    ``iguana`` is the directory shared with every container (``/iguana``), ``newroot`` where the
    new root is mounted for dracut to switch to, ``config`` the initrd's own configuration
    (bundled workflow, CA bundle, keyring, registry list), ``run`` private runtime files (the
    podman socket, generated policy) and ``storage`` podman's image store (None: podman's default).
    """

    iguana: Path
    newroot: Path
    config: Path
    run: Path
    storage: Path | None = None
    sandbox: bool = False

    @classmethod
    def initrd(cls) -> Paths:
        """The real locations inside a booting initrd."""
        return cls(
            iguana=Path("/iguana"),
            newroot=Path("/sysroot"),
            config=Path("/etc/iguana"),
            run=Path("/run/iguana"),
        )

    @classmethod
    def for_sandbox(cls, top: Path) -> Paths:
        """Everything under ``top``, so a workflow can run on a workstation without harm."""
        top = top.absolute()
        return cls(
            iguana=top / "iguana",
            newroot=top / "sysroot",
            config=top / "etc" / "iguana",
            run=top / "run",
            storage=top / "storage",
            sandbox=True,
        )

    @property
    def state(self) -> Path:
        """The checkpoint, rewritten atomically after every transition."""
        return self.iguana / "state"

    @property
    def log(self) -> Path:
        """Structured log of the boot, one JSON object a line."""
        return self.iguana / "log.jsonl"

    @property
    def progress(self) -> Path:
        """One-line progress messages for plymouth and containers (a FIFO or a file)."""
        return self.iguana / "progress"

    @property
    def mountlist(self) -> Path:
        """Written by the containers: ``device mountpoint [options]`` a line."""
        return self.iguana / "mountlist"

    @property
    def kernel_action(self) -> Path:
        """Written by the containers: ``kexec`` or ``reboot``."""
        return self.iguana / "kernelAction"

    @property
    def machine_id(self) -> Path:
        """The machine id Iguana gives every container and the installed system."""
        return self.iguana / "machine-id"

    @property
    def workflow_copy(self) -> Path:
        """The workflow as fetched (env values in clear, so root-only: 0600)."""
        return self.iguana / "workflow.yaml"

    @property
    def workflow_redacted(self) -> Path:
        """The workflow with env values redacted unless public: what leaves the machine (the
        report device) instead of ``workflow_copy``."""
        return self.iguana / "workflow.redacted.yaml"

    @property
    def bundled_workflow(self) -> Path:
        """The workflow shipped inside the initrd, used when the command line names none."""
        return self.config / "control.yaml"
