"""Every error Iguana raises on purpose, each with the exit code the CLI returns for it.

Kept in a module of its own so that any module can import it without import loops.
A user sees ``str(error)``: one line that names the file, URL, image or job at fault.
"""

from __future__ import annotations


class IguanaError(Exception):
    """Base of all expected failures; ``exit_code`` is what ``iguana`` exits with.

    ``details`` carries what the checkpoint should keep beside the message (e.g. the job id).
    """

    exit_code = 1

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message)
        self.details = details


class UsageError(IguanaError):
    """The command line of ``iguana`` itself is wrong (a missing file, a bad flag value)."""

    exit_code = 2


class WorkflowInvalid(IguanaError):
    """A workflow has problems; ``problems`` holds every one of them, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[object]) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "invalid workflow"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more, problems=[str(problem) for problem in problems])


class LocateError(IguanaError):
    """No workflow source could be found: no control_url, no containers, no bundled file."""

    exit_code = 3


class FetchError(IguanaError):
    """The workflow could not be fetched (network, TLS, HTTP status, deadline)."""

    exit_code = 3


class TrustError(IguanaError):
    """A workflow or image was refused by the trust policy (signature, digest, registry)."""

    exit_code = 4


class SignatureRejected(TrustError):
    """The engine's signature policy refused an image; ``reason`` is the engine's words."""

    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"image {reference}: refused by the signature policy ({reason})")
        self.reference = reference
        self.reason = reason


class EngineError(IguanaError):
    """The container engine failed: the podman service, a pull, a container start."""

    exit_code = 5


class PullError(EngineError):
    """An image could not be pulled; the message carries podman's own words."""


class JobFailed(IguanaError):
    """A job ended with a non-zero exit code or ran past its timeout."""

    exit_code = 6


class MountError(IguanaError):
    """The mountlist is invalid or a mount of the new root failed."""

    exit_code = 7


class CheckpointError(IguanaError):
    """The checkpoint at /iguana/state could not be written or read."""

    exit_code = 8


class ResumeRefused(IguanaError):
    """``iguana resume`` will not continue: no checkpoint, finished boot, or changed workflow."""

    exit_code = 9


class HandoffError(IguanaError):
    """kexec, reboot or switch-root could not be prepared or carried out."""

    exit_code = 10


class StillRunning(IguanaError):
    """``iguana status --wait --timeout`` ran out of time while the boot still runs."""

    exit_code = 11


EXIT_CODES: dict[int, str] = {
    0: "success (for run: the boot reached its hand-off)",
    1: "internal error (a bug; the traceback is in the log, never on the console)",
    2: "usage error or invalid workflow",
    3: "the workflow could not be located or fetched",
    4: "refused by the trust policy",
    5: "container engine error (podman service, pull, start)",
    6: "a job failed or timed out",
    7: "mount of the new root failed",
    8: "checkpoint could not be written or read",
    9: "resume refused",
    10: "hand-off failed",
}
