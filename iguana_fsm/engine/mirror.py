"""The image device's registry mirror, started when the boot first needs a registry.

dracut/95iguana-images (``images-setup start``) names the device's read-only image store and,
when the device also carries a registry store, writes that registry's configuration
(``RUN/images-registry.yml``) and the registries.conf drop-in that sends pulls through it, but
does not start it: a boot whose images are all used in place never needs it. Before the first
pull or question to a registry the engine calls ``ensure``, which runs ``images-setup serve``:
it starts the registry unless it runs and returns once it listens. Without that configuration
(no such device, a sandbox, a network boot) ``ensure`` does nothing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from iguana_fsm.engine.output import one_line
from iguana_fsm.errors import EngineError

HELPER = Path("/usr/lib/iguana/images-setup")
"""Installed by dracut/95iguana-images/module-setup.sh."""

CONFIG = "images-registry.yml"
"""Written under the run directory by ``images-setup start`` when the device has a registry."""


class Mirror:
    """Starts the device's registry mirror at most once per boot process (``ensure``)."""

    def __init__(self, run: Path, log: Any, helper: Path = HELPER) -> None:
        self.config = run / CONFIG
        self.helper = helper
        self._log = log
        self._ready = False

    def ensure(self) -> None:
        """Start the mirror if the device has one and it is not known to listen yet;
        EngineError (with the helper's words) when it does not start."""
        if self._ready or not self.config.exists():
            return
        try:
            done = subprocess.run(
                [str(self.helper), "serve"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as error:
            raise EngineError(
                f"the image device's registry mirror: {self.helper}: {error}"
            ) from None
        if done.returncode != 0:
            words = one_line(done.stderr.strip() or f"exit code {done.returncode}")
            raise EngineError(f"the image device's registry mirror did not start: {words}")
        self._ready = True
        self._log.info("images.mirror_ready", config=str(self.config))
