"""Interactive jobs: a container reads the console's stdin, on a terminal when the console is one.

podman-py cannot attach: on a terminal the engine attaches with ``podman start --attach
--interactive`` on a pty of its own, otherwise through the service's attach endpoint. These tests
drive a real ``run_job`` (tests/support/run_job_driver.py) from a pseudo-terminal and from a
pipe, type a line, and look for the container's answer on the terminal and in the output sink.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iguana_fsm.paths import Paths
from tests.support.images import build_image
from tests.support.podman_cli import PodmanCli

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
QUESTION = (
    "printf 'name? '; read answer; echo \"got:$answer\"; "
    'if [ -t 0 ]; then echo "size:$(stty size)"; else echo no-tty; fi; exit 4'
)


@pytest.fixture
def driver_sandbox(
    tmp_path: Path, podman_environment: dict[str, str], busybox_rootfs: Path
) -> Iterator[tuple[Path, str, PodmanCli]]:
    """A sandbox whose private storage holds the question image, for the driver's own engine."""
    top = tmp_path / "sandbox"
    podman = PodmanCli.for_paths(Paths.for_sandbox(top), podman_environment)
    try:
        yield top, build_image(podman, "localhost/it/question:1", QUESTION, busybox_rootfs), podman
    finally:
        podman.remove_runroot()


def driver_command(top: Path, image: str, sink: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.support.run_job_driver",
        str(top),
        image,
        str(sink),
        "--interactive",
    ]


def read_until(master: int, wanted: bytes, seen: bytearray, deadline: float) -> bool:
    """Read the pty into ``seen`` until ``wanted`` shows up (True) or the pty closes (False)."""
    while wanted not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"waited for {wanted!r}, got {bytes(seen)!r}"
        readable, _, _ = select.select([master], [], [], remaining)
        if not readable:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        seen.extend(chunk)
    return True


class TestInteractiveJob:
    def test_job_reads_a_typed_line_on_a_terminal(
        self,
        driver_sandbox: tuple[Path, str, PodmanCli],
        podman_environment: dict[str, str],
        tmp_path: Path,
    ) -> None:
        """Under a terminal the job gets a tty of our size, reads what is typed, and its answer
        shows on the terminal and in the output sink."""
        top, image, podman = driver_sandbox
        sink = tmp_path / "sink.txt"
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 31, 97, 0, 0))
        process = subprocess.Popen(
            driver_command(top, image, sink),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=REPO,
            env=podman_environment,
            start_new_session=True,
        )
        os.close(slave)
        seen = bytearray()
        try:
            deadline = time.monotonic() + 60
            assert read_until(master, b"name? ", seen, deadline)
            os.write(master, b"hello iguana\r")
            read_until(master, b"timed_out=", seen, deadline)
            read_until(master, b"\n", seen, deadline)
            assert process.wait(30) == 4
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            os.close(master)
        terminal = bytes(seen).decode(errors="replace")
        assert "got:hello iguana" in terminal
        assert "size:31 97" in terminal
        assert "exit=4 timed_out=False" in terminal
        lines = sink.read_text().splitlines()
        assert "got:hello iguana" in lines
        assert "size:31 97" in lines
        assert podman.run("ps", "-a", "--format", "{{.Names}}").stdout.split() == []

    def test_window_size_change_reaches_the_job(
        self,
        tmp_path: Path,
        podman_environment: dict[str, str],
        busybox_rootfs: Path,
    ) -> None:
        """Resizing our terminal while a job runs resizes the job's terminal too."""
        top = tmp_path / "sandbox"
        podman = PodmanCli.for_paths(Paths.for_sandbox(top), podman_environment)
        master = -1
        process: subprocess.Popen[bytes] | None = None
        try:
            image = build_image(
                podman,
                "localhost/it/resize:1",
                # Up to 30 s for the resize to arrive, seen as soon as it does.
                'first="$(stty size)"; echo "before:$first"; n=0; '
                'while [ "$(stty size)" = "$first" ] && [ $n -lt 300 ]; do '
                "sleep 0.1; n=$((n + 1)); done; "
                'echo "after:$(stty size)"',
                busybox_rootfs,
            )
            master, slave = os.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
            process = subprocess.Popen(
                driver_command(top, image, tmp_path / "sink.txt"),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=REPO,
                env=podman_environment,
                start_new_session=True,
                # Our pty is the driver's controlling terminal, so a resize signals it.
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            )
            os.close(slave)
            seen = bytearray()
            deadline = time.monotonic() + 60
            assert read_until(master, b"before:24 80", seen, deadline)
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            read_until(master, b"timed_out=", seen, deadline)
            assert process.wait(30) == 0
            assert b"after:40 120" in seen, bytes(seen)
        finally:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            if master >= 0:
                os.close(master)
            podman.remove_runroot()

    def test_job_reads_stdin_from_a_pipe(
        self,
        driver_sandbox: tuple[Path, str, PodmanCli],
        podman_environment: dict[str, str],
        tmp_path: Path,
    ) -> None:
        """Without a terminal an interactive job still reads our stdin, through a pipe, no tty."""
        top, image, podman = driver_sandbox
        sink = tmp_path / "sink.txt"
        result = subprocess.run(
            driver_command(top, image, sink),
            input="from a pipe\n",
            capture_output=True,
            text=True,
            cwd=REPO,
            env=podman_environment,
            timeout=60,
            check=False,
        )
        assert result.returncode == 4, result.stderr
        assert "got:from a pipe" in result.stdout
        assert sink.read_text().splitlines() == ["name? got:from a pipe", "no-tty"]
        assert podman.run("ps", "-a", "--format", "{{.Names}}").stdout.split() == []

    def test_job_that_cannot_start_is_an_engine_error(
        self,
        tmp_path: Path,
        podman_environment: dict[str, str],
        busybox_rootfs: Path,
    ) -> None:
        """An interactive job whose command does not exist fails with podman's words, no hang."""
        top = tmp_path / "sandbox"
        podman = PodmanCli.for_paths(Paths.for_sandbox(top), podman_environment)
        try:
            image = build_image(
                podman, "localhost/it/broken:1", "", busybox_rootfs, command=["/no/such/program"]
            )
            result = subprocess.run(
                driver_command(top, image, tmp_path / "sink.txt"),
                input="",
                capture_output=True,
                text=True,
                cwd=REPO,
                env=podman_environment,
                timeout=60,
                check=False,
            )
            assert result.returncode == 125, result.stderr
            error = result.stdout.strip().splitlines()[-1]
            assert error.startswith("error: run job driver-job (localhost/it/broken:1): ")
            assert "/no/such/program" in error
            assert podman.run("ps", "-a", "--format", "{{.Names}}").stdout.split() == []
        finally:
            podman.remove_runroot()

    @pytest.mark.parametrize(
        ("script", "expected"),
        [("wc -c", str(2 * 1024 * 1024)), ("echo not reading", "not reading")],
        ids=["reads-all", "reads-nothing"],
    )
    def test_large_piped_input_neither_blocks_nor_is_lost(
        self,
        tmp_path: Path,
        podman_environment: dict[str, str],
        busybox_rootfs: Path,
        script: str,
        expected: str,
    ) -> None:
        """Megabytes on stdin reach a job that reads them all, and a job that reads none ends."""
        top = tmp_path / "sandbox"
        podman = PodmanCli.for_paths(Paths.for_sandbox(top), podman_environment)
        try:
            image = build_image(podman, "localhost/it/stdin:1", script, busybox_rootfs)
            result = subprocess.run(
                driver_command(top, image, tmp_path / "sink.txt"),
                input=b"x" * (2 * 1024 * 1024),
                capture_output=True,
                cwd=REPO,
                env=podman_environment,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            sink = (tmp_path / "sink.txt").read_text()
            assert sink.split() == expected.split(), sink
        finally:
            podman.remove_runroot()
