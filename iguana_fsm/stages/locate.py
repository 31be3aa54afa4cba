"""locate: decide where the workflow comes from.

Order: ``rd.iguana.control_url`` (http, https, file:// or a path), else ``rd.iguana.containers``,
else the bundled ``/etc/iguana/control.yaml``. The first that is set wins; nothing is read here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from iguana_fsm import netwait
from iguana_fsm.errors import LocateError, UsageError
from iguana_fsm.stages.base import BootContext, SourceKind, WorkflowSource

SCHEMES = ("http", "https", "file")


def run(ctx: BootContext) -> str:
    """Set ``ctx.source`` and name it in the record. A kernel command line with bad
    ``rd.iguana.`` values fails here, so the boot records it."""
    errors = ctx.cmdline_errors
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UsageError(errors[0] + more)
    url = ctx.config.control_url
    if url:
        scheme = urlsplit(url).scheme
        if scheme and scheme not in SCHEMES:
            raise LocateError(
                f"rd.iguana.control_url={url}: unsupported scheme {scheme!r} "
                "(use http, https, file:// or a path)"
            )
        if scheme in ("http", "https"):
            source = WorkflowSource(SourceKind.URL, url)
        else:
            source = WorkflowSource(SourceKind.FILE, urlsplit(url).path if scheme else url)
    elif ctx.config.containers:
        images = tuple(ctx.config.containers)
        source = WorkflowSource(SourceKind.CONTAINERS, ",".join(images), images)
    elif ctx.paths.bundled_workflow.is_file():
        source = WorkflowSource(SourceKind.BUNDLED, str(ctx.paths.bundled_workflow))
    else:
        raise LocateError(
            "no workflow: set rd.iguana.control_url=URL or rd.iguana.containers=IMAGE[,IMAGE], "
            f"or bundle {ctx.paths.bundled_workflow} in the initrd"
        )
    if not ctx.paths.sandbox:
        # a workstation's network is not Iguana's to wait for (iguana run --sandbox)
        wanted = {"kind": str(source.kind), "value": source.location}
        netwait.wait_if_needed(ctx.config, wanted, ctx.log)
    ctx.source = source
    ctx.record.workflow_source = source.location
    ctx.log.info("workflow.located", kind=str(source.kind), source=source.location)
    return "located"
