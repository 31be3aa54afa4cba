"""locate: decide where the workflow comes from.

Order: ``rd.iguana.control_url`` (http, https, file:// or a path), else ``rd.iguana.containers``,
else the bundled ``/etc/iguana/control.yaml``. The first that is set wins; nothing is read here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from iguana_fsm import netwait
from iguana_fsm.errors import LocateError, UsageError
from iguana_fsm.stages.base import BootContext

SCHEMES = ("http", "https", "file")


def run(ctx: BootContext) -> str:
    """Set ``ctx.extras["source"]`` to {kind, value} and name it in the record. A kernel
    command line with bad ``rd.iguana.`` values fails here, so the boot records it."""
    errors: list[str] = ctx.extras.get("cmdline_errors") or []
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UsageError(errors[0] + more)
    url = ctx.config.control_url
    source: dict[str, Any]
    if url:
        scheme = urlsplit(url).scheme
        if scheme and scheme not in SCHEMES:
            raise LocateError(
                f"rd.iguana.control_url={url}: unsupported scheme {scheme!r} "
                "(use http, https, file:// or a path)"
            )
        kind = "url" if scheme in ("http", "https") else "file"
        value = urlsplit(url).path if scheme == "file" else url
        source = {"kind": kind, "value": value}
    elif ctx.config.containers:
        source = {"kind": "containers", "value": list(ctx.config.containers)}
    elif ctx.paths.bundled_workflow.is_file():
        source = {"kind": "bundled", "value": str(ctx.paths.bundled_workflow)}
    else:
        raise LocateError(
            "no workflow: set rd.iguana.control_url=URL or rd.iguana.containers=IMAGE[,IMAGE], "
            f"or bundle {ctx.paths.bundled_workflow} in the initrd"
        )
    if not ctx.paths.sandbox:
        # a workstation's network is not Iguana's to wait for (iguana run --sandbox)
        netwait.wait_if_needed(ctx.config, source, ctx.log)
    ctx.extras["source"] = source
    ctx.record.workflow_source = (
        ",".join(source["value"]) if isinstance(source["value"], list) else source["value"]
    )
    ctx.log.info("workflow.located", kind=source["kind"], source=ctx.record.workflow_source)
    return "located"
