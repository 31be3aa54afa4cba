"""The end of iguana-boot's preparation, waited for by ``iguana run`` / ``iguana resume``.

dracut/95iguana/iguana-boot.sh starts Iguana while it still prepares the initrd (podman-setup,
the image device's mount, images-setup), so that the interpreter's start and the boot's imports
overlap that wait. It names a FIFO in ``IGUANA_PREPARED`` and writes the preparation's exit
code there, one line, when it is done. The boot reads that line before it touches anything
(the boot lock, the checkpoint, the podman service, which needs the device's image store in
storage.conf): on 0 it goes on, on anything else it ends with that code and leaves nothing
behind, as if it had not been started. Without the variable (any other caller) there is
nothing to wait for. While the preparation is not done yet the boot does what it would do
next anyway (``meanwhile``: its remaining imports), so that the podman service, spawned right
after the preparation, has the machine to itself.
"""

from __future__ import annotations

import os
import select
from collections.abc import Callable

ENV = "IGUANA_PREPARED"


def wait(meanwhile: Callable[[], object] | None = None) -> None:
    """Block until the preparation named by ``IGUANA_PREPARED`` is done, calling ``meanwhile``
    first when it is not; SystemExit with its code when it failed (1 when its writer went away
    without a code)."""
    path = os.environ.pop(ENV, None)
    if not path:
        return
    with open(path, encoding="ascii") as fifo:
        if meanwhile is not None and not select.select([fifo], [], [], 0)[0]:
            meanwhile()
        line = fifo.readline().strip()
    if line != "0":
        raise SystemExit(int(line) if line.isdigit() else 1)
