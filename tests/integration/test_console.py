"""The console of real boots, as a person at an 80x25 screen sees it: ``make demo``'s boot (real
podman, a TLS registry) in the default and the ``quiet`` mode, and a failed boot whose banner
must be on the last screen."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from iguana_fsm.console import WIDTH, size
from iguana_fsm.errors import JobFailed
from tests.integration.test_boot_runs import NEW_ROOT, Sandbox, World, job, sandbox, world
from tests.integration.test_engine_images import MANIFEST_TYPES
from tests.support.throttle import ThrottledProxy

pytestmark = pytest.mark.integration

__all__ = ["sandbox", "world"]  # the fixtures this module borrows

REPO = Path(__file__).resolve().parents[2]
SCREEN = 25
PULL_PROGRESS = re.compile(r"^iguana +\S+ +\S+ +pull(ed)? ")
"""A pull's progress line: shown also with ``quiet``, once a pull has taken a few seconds (on a
loaded machine the tests' small pulls may)."""


def without_pull_progress(lines: list[str]) -> list[str]:
    """The console lines other than pull progress."""
    return [line for line in lines if not PULL_PROGRESS.match(line)]


def demo_console(extra_cmdline: str = "") -> list[str]:
    """The console lines of ``iguana run`` in ``make demo``: Iguana's own and its attached
    jobs' output, in the order a terminal shows them (between run.sh's two headings)."""
    env = {**os.environ, "IGUANA_VENV": str(Path(sys.executable).parent.parent)}
    env["IGUANA_DEMO_CMDLINE"] = extra_cmdline
    result = subprocess.run(
        ["bash", str(REPO / "demo" / "run.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    lines = result.stdout.splitlines()
    start, end = lines.index("== iguana run --sandbox"), lines.index("== iguana status")
    return [line for line in lines[start + 1 : end] if line]


def test_demo_boot_is_one_screen_of_short_lines() -> None:
    """The demo's three-job boot prints at most 22 console lines (was 59, median 148 columns),
    none wider than 80, one per step: the jobs as "job N/3", short image names, no env."""
    lines = demo_console()
    text = "\n".join(lines)
    # a pull slower than a second (a busy machine) adds its progress lines: not counted
    steps = [line for line in lines if not re.search(r" pull(ed)? \S+ ", line)]
    assert len(steps) <= 22, text
    assert all(len(line) <= WIDTH for line in lines), text
    assert "job 1/3 partition: tools started" in text
    assert "job 2/3 install succeeded in" in text
    assert "job 3/3 rescue-notes skipped" in text
    assert "installer: wrote /iguana/mountlist" in text
    assert not [line for line in lines if "env=" in line or "{" in line]


def test_demo_boot_quiet_shows_only_the_jobs_own_output() -> None:
    """With ``quiet`` the demo's successful boot prints no line of Iguana's own: only what its
    job containers wrote (they are attached to the console)."""
    lines = demo_console("quiet")
    # only progress: a pull slower than a second (a busy machine) may show its bytes
    lines = [line for line in lines if not re.search(r"^iguana .* pull(ed)? \S+ ", line)]
    assert not [line for line in lines if line.startswith("iguana")], "\n".join(lines)
    assert len(lines) == 6 and lines[-1] == "installer: wrote /iguana/mountlist", lines


def failing_workflow(box: Sandbox, world: World) -> None:
    """A job that writes 30 long lines and exits 4, and an ``if: failure()`` job after it."""
    noisy = 'for n in $(seq 30); do echo "step $n: $(printf "%0120d" 0)"; done; exit 4'
    box.write_workflow(
        {
            "first": job(world.job_image, "echo first ran"),
            "breaks": job(world.job_image, noisy),
            "notes": job(world.job_image, "echo after the failure", **{"if": "failure()"}),
        }
    )


def test_failed_boot_banner_is_on_the_last_screen(sandbox: Sandbox, world: World) -> None:
    """A failed boot ends with one banner whose reason, job, exit code, checkpoint and next step
    are within the last 25 lines, the job's last output above it; no line over 80 columns, and
    no more than 20 lines of Iguana's own besides the jobs' output (--batch shows it all)."""
    failing_workflow(sandbox, world)
    result = sandbox.run()
    assert result.returncode == JobFailed.exit_code, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert all(len(line) <= WIDTH for line in lines), result.stderr
    assert result.stderr.count("IGUANA BOOT FAILED") == 1
    last = "\n".join(lines[-SCREEN:])
    assert "reason:     job breaks failed: exited with code 4" in last
    assert "job:        breaks, exit code 4" in last
    assert "exit code:  6 (a job failed) in state jobs" in last
    assert "next:       fix the cause, then `iguana resume`" in last
    assert "last output of job breaks:" in last and "  | step 30: 000" in last
    assert "checkpoint: " + str(sandbox.paths.state) in "\n".join(lines)
    own = [line for line in without_pull_progress(lines) if not line.startswith("  | ")]
    assert len(own) <= 20, result.stderr


def test_failed_boot_quiet_is_the_banner(sandbox: Sandbox, world: World) -> None:
    """With ``quiet`` a failed boot prints the banner with its tail and the reboot notice and
    nothing else: fewer than 25 lines, so all of it stays on the screen."""
    failing_workflow(sandbox, world)
    result = sandbox.run("--cmdline", "quiet")
    assert result.returncode == JobFailed.exit_code, result.stderr[-3000:]
    lines = without_pull_progress(result.stderr.splitlines())
    assert len(lines) < SCREEN, result.stderr
    assert lines[0] == "last output of job breaks:"
    assert "rebooting in" in lines[-1]


def test_container_progress_reaches_console_and_checkpoint(sandbox: Sandbox, world: World) -> None:
    """A job's reports on /iguana/progress show on the console as "job N/M id P% message" and
    the last one stays in its checkpoint record."""
    script = (
        "echo '50 halfway there' >>/iguana/progress; sleep 1\n"
        "echo '2/2 all done' >>/iguana/progress\n" + NEW_ROOT
    )
    sandbox.write_workflow({"writer": job(world.job_image, script)})
    result = sandbox.run()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "job 1/1 writer 50% halfway there (" in result.stderr, result.stderr
    code, document = sandbox.status()
    assert code == 0
    assert document["jobs"]["writer"]["progress"] == "100% all done"
    assert document["jobs"]["writer"]["percent"] == 100.0
    assert "50 halfway there" in sandbox.read("progress").splitlines()


def manifest_sizes(world: World, reference: str) -> tuple[int, dict[str, int]]:
    """The config's size and each layer's (by digest) as the registry's own manifest says."""
    name, tag = reference.removeprefix(world.registry.host + "/").rsplit(":", 1)
    response = requests.get(
        f"{world.registry.url}/v2/{name}/manifests/{tag}",
        headers={"Accept": MANIFEST_TYPES},
        verify=str(world.ca),
        timeout=10,
    )
    response.raise_for_status()
    manifest = response.json()
    return manifest["config"]["size"], {
        layer["digest"]: layer["size"] for layer in manifest["layers"]
    }


def test_pull_from_a_throttled_registry_shows_bytes_and_rate(
    sandbox: Sandbox, world: World
) -> None:
    """A pull through a proxy that lets 150 kB/s through shows done/total, a percentage, its
    rate and the time left on the console while it runs (a line every few seconds, within 80
    columns, the console being no terminal) and once more at its end; its pull.progress
    events carry the total the registry's manifest gives (config and layers, storage being
    empty), a rising percentage and the seconds left."""
    config, layers = manifest_sizes(world, world.other_image)
    with ThrottledProxy(world.registry.port, 150_000) as proxy:
        (sandbox.paths.config / "registries.conf").write_text(f"{proxy.host}/igt\n")
        slow = world.other_image.replace(world.registry.host, proxy.host)
        sandbox.write_workflow({"slow": job(slow, NEW_ROOT)})
        result = sandbox.run()
    assert result.returncode == 0, result.stderr[-3000:]
    assert proxy.sent > 500_000, "the image came through the proxy"
    total = config + sum(layers.values())
    lines = [line for line in result.stderr.splitlines() if " pull other:1 " in line]
    assert lines and all(len(line) <= WIDTH for line in lines), result.stderr
    figures = r"pull other:1 [0-9.]+( [kM]B)?/[0-9.]+ [kM]B [0-9]+% [0-9.]+ [kM]B/s [0-9.ms]+ left$"
    assert re.search(figures, lines[0]), lines
    assert f"/{size(total)} " in lines[0], (lines, total)
    assert re.search(r"pulled other:1 [0-9.]+ [kM]B in [0-9.]+s [0-9.]+ kB/s", result.stderr)
    events = [json.loads(line) for line in sandbox.read("log.jsonl").splitlines()]
    pulls = [event for event in events if event["event"] == "pull.progress"]
    done = [event["done"] for event in pulls]
    assert len(pulls) >= 3 and done == sorted(done) and pulls[-1]["final"], pulls
    running = [event for event in pulls if not event["final"] and event["done"]]
    assert running and {event["total"] for event in running} == {total}, running
    percents = [event["percent"] for event in running]
    # the last samples may see the whole layer while podman still unpacks it: 0 s left
    assert percents == sorted(percents) and 0 < percents[0] < 100, percents
    etas = [event["eta"] for event in running]
    assert etas[0] > 0 and all(eta >= 0 for eta in etas), running
    assert pulls[-1]["done"] == pulls[-1]["total"] == total and pulls[-1]["percent"] == 100
    (pulled,) = [event for event in events if event["event"] == "image.pulled"]
    assert pulled["download"] == total


def test_a_pull_counts_only_the_layers_not_in_storage(sandbox: Sandbox, world: World) -> None:
    """Of two images with the same layer, the second pull's total is its config alone: the
    layer the first pull stored (containers/storage lists it by its compressed digest) is not
    downloaded again."""
    job_config, job_layers = manifest_sizes(world, world.job_image)
    other_config, other_layers = manifest_sizes(world, world.other_image)
    assert set(job_layers) == set(other_layers), "the two images share their layers"
    sandbox.write_workflow(
        {"first": job(world.job_image, "true"), "second": job(world.other_image, NEW_ROOT)}
    )
    result = sandbox.run()
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in sandbox.read("log.jsonl").splitlines()]
    downloads = {e["image"]: e["download"] for e in events if e["event"] == "image.pulled"}
    assert downloads == {
        world.job_image: job_config + sum(job_layers.values()),
        world.other_image: other_config,
    }
