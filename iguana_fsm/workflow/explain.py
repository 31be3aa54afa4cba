"""The resolved plan of a workflow as text: what ``iguana validate --explain`` prints."""

from __future__ import annotations

from collections.abc import Mapping

from iguana_fsm.workflow.model import Container, Volume, Workflow
from iguana_fsm.workflow.plan import merged_env, redact, run_order


def _volume(volume: Volume) -> str:
    kind = "named volume" if volume.is_named else "host path" if volume.is_bind else "anonymous"
    mode = "read-only" if volume.read_only else "read-write"
    source = f"{volume.source}:" if volume.source else ""
    return f"{source}{volume.target}  ({kind}, {mode})"


def _container(
    lines: list[str],
    title: str,
    workflow: Workflow,
    container: Container,
    overrides: Mapping[str, str],
) -> None:
    lines.append(f"  {title}: {container.image}")
    env = redact(merged_env(workflow, container, overrides), workflow.public_env)
    lines.append("    env:")
    lines.extend(f"      {name}={value}" for name, value in sorted(env.items()))
    if container.volumes:
        lines.append("    volumes:")
        lines.extend(f"      {_volume(volume)}" for volume in container.volumes)
    else:
        lines.append("    volumes: none")


def _container_data(
    workflow: Workflow, container: Container, overrides: Mapping[str, str]
) -> dict[str, object]:
    env = redact(merged_env(workflow, container, overrides), workflow.public_env)
    volumes = [
        {"source": volume.source, "target": volume.target, "read_only": volume.read_only}
        for volume in container.volumes
    ]
    return {"image": container.image, "env": env, "volumes": volumes}


def plan_data(workflow: Workflow, overrides: Mapping[str, str]) -> dict[str, object]:
    """What ``explain`` prints, as JSON data (``iguana validate --explain --format json``)."""
    jobs = [
        {
            "id": job.id,
            "line": job.line,
            "needs": list(job.needs),
            "if": f"{job.condition.value}()",
            "continue_on_error": job.continue_on_error,
            "timeout_minutes": job.timeout_minutes,
            "services": {
                service.id: _container_data(workflow, service.container, overrides)
                for service in job.services
            },
            "container": _container_data(workflow, job.container, overrides),
        }
        for job in run_order(workflow)
    ]
    return {
        "source": workflow.source,
        "name": workflow.name,
        "description": workflow.description,
        "public_env": sorted(workflow.public_env),
        "run_order": jobs,
        "images": list(workflow.images()),
    }


def explain(workflow: Workflow, overrides: Mapping[str, str]) -> str:
    """Job order, needs, conditions, images, volumes and the merged (redacted) env of each."""
    order = run_order(workflow)
    public = ", ".join(sorted(workflow.public_env)) or "none (every value is shown as ***)"
    lines = [f"workflow: {workflow.name or '(no name)'} ({workflow.source})"]
    if workflow.description:
        lines.append(f"description: {workflow.description}")
    lines.append(f"public env: {public}")
    lines.append(f"run order: {', '.join(job.id for job in order)}")
    for number, job in enumerate(order, 1):
        lines.append("")
        lines.append(
            f"{number}. job {job.id} (line {job.line})" if job.line else f"{number}. job {job.id}"
        )
        lines.append(f"  needs: {', '.join(job.needs) or '-'}")
        lines.append(f"  if: {job.condition.value}()")
        lines.append(f"  continue-on-error: {'true' if job.continue_on_error else 'false'}")
        timeout = f"{job.timeout:g} minutes" + ("" if job.timeout_minutes else " (the default)")
        lines.append(f"  timeout: {timeout}")
        for service in job.services:
            _container(lines, f"service {service.id}", workflow, service.container, overrides)
        _container(lines, "container", workflow, job.container, overrides)
    images = workflow.images()
    lines.append("")
    lines.append(f"images ({len(images)}):")
    lines.extend(f"  {image}" for image in images)
    return "\n".join(lines) + "\n"
