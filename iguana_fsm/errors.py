"""Every error Iguana raises on purpose, each with the exit code the CLI returns for it.

Kept in a module of its own so that any module can import it without import loops.
A user sees ``str(error)``: one line that names the file, URL, image or job at fault.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Every exit code ``iguana`` and the initrd scripts use; the one place that numbers them.

    The README's exit-code table, ``iguana --help`` and ``dracut/95iguana/iguana-lib.sh`` follow
    this enum (tests/unit/test_errors.py compares them).
    """

    OK = 0
    INTERNAL = 1
    USAGE = 2
    LOCATE = 3
    TRUST = 4
    ENGINE = 5
    JOB = 6
    MOUNT = 7
    CHECKPOINT = 8
    RESUME_REFUSED = 9
    HANDOFF = 10
    RUNNING = 11
    INTERRUPTED = 12

    @property
    def meaning(self) -> str:
        """What the code tells a user, as the README's table says it."""
        return MEANINGS[self]


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success (run: the boot reached its hand-off)",
    ExitCode.INTERNAL: "internal error (a bug; the traceback is in the log, never on the console)",
    ExitCode.USAGE: "usage error or invalid workflow",
    ExitCode.LOCATE: "the workflow could not be located or fetched",
    ExitCode.TRUST: "refused by the trust policy",
    ExitCode.ENGINE: (
        "container engine error (podman service, pull, a service that does not start), or a "
        "job's images cannot fit in the memory the boot may use (refused in verify)"
    ),
    ExitCode.JOB: (
        "a job failed, timed out, or its container could not run (this counts as the job's "
        "failure, so `if: failure()` jobs still run)"
    ),
    ExitCode.MOUNT: (
        "mount of the new root failed, or a file the containers left for it "
        "(`/iguana/mountlist`, `kernelAction`, `machine-id`) was refused"
    ),
    ExitCode.CHECKPOINT: (
        "checkpoint could not be written or read (also: `/iguana` full, the log not writable, "
        "a checkpoint that cannot be understood, or one of a newer Iguana's schema)"
    ),
    ExitCode.RESUME_REFUSED: "resume refused (no checkpoint, finished boot, changed workflow)",
    ExitCode.HANDOFF: "hand-off failed",
    ExitCode.RUNNING: "status: the boot still runs (also when `--wait --timeout` runs out)",
    ExitCode.INTERRUPTED: (
        "status: the boot was interrupted (nothing holds the boot lock: `iguana resume` "
        "continues it)"
    ),
}


SHELL_BEGIN = "# BEGIN exit codes: generated from iguana_fsm.errors.ExitCode by `make exit-codes`"
SHELL_END = "# END exit codes"


def shell_definitions() -> str:
    """The codes as shell variables (``IGUANA_EXIT_ENGINE=5``), for the initrd scripts."""
    return "".join(f"IGUANA_EXIT_{code.name}={code.value}\n" for code in ExitCode)


def with_shell_block(script: str) -> str:
    """``script`` with its generated exit-code block (between SHELL_BEGIN and SHELL_END lines)
    replaced by the current ``shell_definitions()``."""
    start = script.index(SHELL_BEGIN)
    body = script.index("\n", start) + 1
    end = script.index(SHELL_END, body)
    return script[:body] + shell_definitions() + script[end:]


class IguanaError(Exception):
    """Base of all expected failures; ``exit_code`` is what ``iguana`` exits with.

    ``details`` carries what the checkpoint should keep beside the message (e.g. the job id).
    """

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message)
        self.details = details


class UsageError(IguanaError):
    """The command line of ``iguana`` itself is wrong (a missing file, a bad flag value)."""

    exit_code = ExitCode.USAGE


class WorkflowInvalid(IguanaError):
    """A workflow has problems; ``problems`` holds every one of them, not just the first."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[object]) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "invalid workflow"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more, problems=[str(problem) for problem in problems])


class LocateError(IguanaError):
    """No workflow source could be found: no control_url, no containers, no bundled file."""

    exit_code = ExitCode.LOCATE


class FetchError(IguanaError):
    """The workflow could not be fetched (network, TLS, HTTP status, deadline)."""

    exit_code = ExitCode.LOCATE


class TrustError(IguanaError):
    """A workflow or image was refused by the trust policy (signature, digest, registry)."""

    exit_code = ExitCode.TRUST


class SignatureRejected(TrustError):
    """The engine's signature policy refused an image; ``reason`` is the engine's words."""

    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"image {reference}: refused by the signature policy ({reason})")
        self.reference = reference
        self.reason = reason


class EngineError(IguanaError):
    """The container engine failed: the podman service, a pull, a container start."""

    exit_code = ExitCode.ENGINE


class PullError(EngineError):
    """An image could not be pulled; the message carries podman's own words."""


class JobFailed(IguanaError):
    """A job ended with a non-zero exit code or ran past its timeout."""

    exit_code = ExitCode.JOB


class MountError(IguanaError):
    """The mountlist is invalid or a mount of the new root failed."""

    exit_code = ExitCode.MOUNT


class CheckpointError(IguanaError):
    """The checkpoint at /iguana/state could not be written or read."""

    exit_code = ExitCode.CHECKPOINT


class ResumeRefused(IguanaError):
    """``iguana resume`` will not continue: no checkpoint, finished boot, or changed workflow."""

    exit_code = ExitCode.RESUME_REFUSED


class HandoffError(IguanaError):
    """kexec, reboot or switch-root could not be prepared or carried out."""

    exit_code = ExitCode.HANDOFF


class StillRunning(IguanaError):
    """``iguana status --wait --timeout`` ran out of time while the boot still runs."""

    exit_code = ExitCode.RUNNING


class MemoryRefused(EngineError):
    """A job's images cannot fit in the memory the boot may use (found in verify, before any
    container runs); the message names the job, the bytes it needs and the bytes available."""
