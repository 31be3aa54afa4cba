"""The console, for a person at an 80x25 screen: one short line per step, progress in place on a
terminal, problems always, and the failure banner last. The JSON log (``log.py``) keeps every
field of every event; this module only chooses and shortens.

Three modes, from the kernel command line: ``quiet`` shows only progress and problems; the
default shows one line per step; ``rd.iguana.debug`` or dracut's ``rd.debug`` show every event
(``log.py`` renders those in full). No module here imports structlog or the engine, so that
``iguana status`` can use the banner cheaply.
"""

from __future__ import annotations

import enum
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

from iguana_fsm.errors import ExitCode

WIDTH = 80
"""No line Iguana writes to the console is wider (a job's own output attached to it may be)."""

BANNER_TAIL = 8
"""Last output lines of a failed job shown above the banner; the checkpoint keeps more."""

PROGRESS_EVERY = 5.0
"""Seconds between two progress lines of one pull or job when the console is no terminal."""

RULE = "=" * WIDTH
_HIDDEN_FIELDS = frozenset({"event", "level", "timestamp", "run_id", "exception"})


class Mode(enum.StrEnum):
    """How much the console shows."""

    QUIET = "quiet"
    NORMAL = "normal"
    DEBUG = "debug"


def fit(text: str, width: int = WIDTH) -> str:
    """``text`` on one line of at most ``width`` columns (cut with ``...``), without control
    characters (a container's words must not move the cursor)."""
    line = "".join(char if char.isprintable() else " " for char in text).rstrip()
    return line if len(line) <= width else line[: width - 3] + "..."


def short_image(reference: object) -> str:
    """An image reference as a person names it: the last path component and its tag, without
    the registry or the digest (``reg:5000/a/tools@sha256:...`` is ``tools``)."""
    text = str(reference or "?")
    name = text.split("@", 1)[0].rsplit("/", 1)[-1]
    return name or text


def size(count: float) -> str:
    """Bytes in the largest unit that keeps the number short: ``3.2 MB``."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def seconds(value: object) -> str:
    """Elapsed seconds as ``0.3s``, ``42s`` or ``3m05s``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "?"
    if number < 10:
        return f"{number:.1f}s"
    if number < 600:
        return f"{number:.0f}s"
    return f"{int(number) // 60}m{int(number) % 60:02d}s"


def _job(event: Mapping[str, Any]) -> str:
    """``job 2/4 install`` (the position when the event has it)."""
    place = f"{event['n']}/{event['of']} " if "n" in event and "of" in event else ""
    return f"job {place}{event.get('job', '?')}"


HEAD = len("iguana 123.4s services ")
"""Columns of the time and state in front of each line Iguana writes (``ConsoleView._line``)."""


def _amount(done: float, total: float) -> str:
    """``1.2/4.5 MB``, or ``800.0 kB/4.5 MB`` when the units differ."""
    shown, whole = size(done), size(total)
    unit = whole.split()[-1]
    return f"{shown.split()[0]}/{whole}" if shown.endswith(" " + unit) else f"{shown}/{whole}"


def _pull(event: Mapping[str, Any]) -> str:
    """``pull tools 1.2/4.5 MB 26% 150.0 kB/s 22s left`` (the name shortened to keep the
    figures within WIDTH), ``pull tools 1.2 MB ... (12s)`` without a total, and ``pulled``."""
    done, total, rate = event.get("done") or 0, event.get("total"), event.get("rate")
    image = short_image(event.get("image"))
    per_second = f" {size(rate)}/s" if rate else ""
    if event.get("final"):
        text = f"{size(done)} in {seconds(event.get('seconds'))}{per_second}"
        return f"pulled {_room(image, text, 'pulled ')} {text}"
    if not total:
        text = f"{size(done)}{per_second} ({seconds(event.get('seconds'))})"
        return f"pull {_room(image, text, 'pull ')} {text}"
    percent = event.get("percent")
    shown = f" {percent:.0f}%" if isinstance(percent, int | float) else ""
    eta = event.get("eta")
    left = f" {seconds(eta)} left" if isinstance(eta, int | float) else ""
    text = f"{_amount(done, total)}{shown}{per_second}{left}"
    return f"pull {_room(image, text, 'pull ')} {text}"


def _room(name: str, text: str, verb: str) -> str:
    """``name`` cut so that ``verb name text`` fits a console line after its head."""
    room = max(WIDTH - HEAD - len(verb) - len(text) - 1, 4)
    return name if len(name) <= room else name[: room - 3] + "..."


def _job_progress(event: Mapping[str, Any]) -> str:
    percent = event.get("percent")
    shown = f" {percent:g}%" if isinstance(percent, int | float) else ""
    message = event.get("message") or ""
    return f"{_job(event)}{shown} {message}".rstrip() + f" ({seconds(event.get('elapsed'))})"


def _job_finished(event: Mapping[str, Any]) -> str:
    text = f"{_job(event)} {event.get('status')} in {seconds(event.get('seconds'))}"
    reason = event.get("reason")
    return f"{text}: {reason}" if reason and event.get("status") != "succeeded" else text


STEPS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "workflow.located": lambda e: f"workflow {e.get('source')}",
    "workflow.fetched": lambda e: (
        f"workflow: {len(e.get('jobs') or ())} jobs, sha256 {str(e.get('sha256'))[:12]}"
    ),
    "network.waiting": lambda e: f"waiting for the network ({e.get('timeout')} s at most)",
    "network.up": lambda e: f"network up in {seconds(e.get('seconds'))}",
    "engine.started": lambda e: f"podman {e.get('podman')} ready in {seconds(e.get('seconds'))}",
    "verify.image": lambda e: (
        f"image {short_image(e.get('image'))} {str(e.get('digest') or 'no digest')[:15]}, "
        f"signature {e.get('signature')}"
    ),
    "boot.resumed": lambda e: f"resuming at {e.get('entry')} (was {e.get('previous')})",
    "service.started": lambda e: f"service {e.get('service')} up for job {e.get('job')}",
    "job.started": lambda e: f"{_job(e)}: {short_image(e.get('image'))} started",
    "job.finished": _job_finished,
    "job.skipped": lambda e: f"{_job(e)} skipped: {e.get('reason')}",
    "mount.mounted": lambda e: f"mounted {e.get('device')} on {e.get('mountpoint')}",
    "handoff.decided": lambda e: f"hand-off {e.get('action')}: {e.get('reason')}",
    "handoff.switch_root": lambda e: f"switching root to {e.get('newroot')}",
    "handoff.kexec": lambda _: "starting the installed kernel (kexec)",
    "handoff.reboot": lambda _: "rebooting into the installed system",
    "report.saved": lambda e: f"report saved on {e.get('device')}",
}
"""The events the default console shows, each as its short text."""

PROGRESS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "pull.progress": _pull,
    "job.progress": _job_progress,
}
"""Progress events, shown in quiet mode too: at most one line every PROGRESS_EVERY seconds (a
job's and its own output share the console); a pull's is redrawn in place on a terminal."""

PROBLEMS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "rescue.reboot": lambda e: f"rebooting in {e.get('seconds')} s",
    "rescue.shell": lambda _: "emergency shell: `iguana status`, fix, `iguana resume`",
    "runner.crashed": lambda e: f"internal error in {e.get('state')} (traceback in the log)",
    "stage.crashed": lambda e: f"internal error in {e.get('state')} (traceback in the log)",
}
"""Warnings and errors that read better in words of their own than as fields."""

QUIET_ON_CONSOLE = frozenset({"state.failed", "rescue.failed"})
"""Errors the failure banner says again: the console shows them once, in the banner."""


def problem_text(event: Mapping[str, Any]) -> str:
    """A warning or error in a few words: its name and its most telling fields."""
    name = str(event.get("event", "?"))
    special = PROBLEMS.get(name)
    if special is not None:
        return special(event)
    fields = {k: v for k, v in event.items() if k not in _HIDDEN_FIELDS and v is not None}
    for key in ("error", "reason", "message"):
        if key in fields:
            return f"{name}: {fields[key]}"
    return " ".join([name, *(f"{key}={value}" for key, value in sorted(fields.items()))])


class ConsoleView:
    """Shows events on ``stream`` as a person wants them (see the module docstring)."""

    def __init__(
        self,
        stream: IO[str],
        mode: Mode = Mode.NORMAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.mode = mode
        self._clock = clock
        self._started = clock()
        self.state = "locate"
        self._open_line = False
        self._last_progress: dict[str, float] = {}
        try:
            self._terminal = bool(stream.isatty())
        except (AttributeError, ValueError):
            self._terminal = False

    def show(self, event: Mapping[str, Any]) -> None:
        """Show ``event`` if the mode asks for it (the debug mode is ``log.py``'s own)."""
        name = str(event.get("event", ""))
        if name == "state.entered":
            self.state = str(event.get("state", self.state))
        if name == "boot.failed":
            self.write_block(banner_lines(event))
            return
        level = str(event.get("level", "info"))
        if name in PROGRESS:
            self._progress(name, event)
        elif level in ("warning", "error", "critical"):
            if name not in QUIET_ON_CONSOLE:
                self.write_block(self._wrapped(f"{level}: {problem_text(event)}"))
        elif self.mode is Mode.QUIET or level != "info":
            return
        elif name == "job.output":
            self.write_block([fit(f"  | {event.get('line')}")])
        elif name in STEPS:
            self.write_block([self._line(STEPS[name](event))])

    def _line(self, text: str) -> str:
        head = f"iguana {self._clock() - self._started:5.1f}s {self.state:<8} "
        return fit(head + text)

    def _wrapped(self, text: str) -> list[str]:
        """A problem on up to four lines (its words matter more than one line's room)."""
        head = f"iguana {self._clock() - self._started:5.1f}s {self.state:<8} "
        lines = textwrap.wrap(
            text, WIDTH, initial_indent=head, subsequent_indent=" " * len(head)
        ) or [head]
        return [*lines[:3], fit(" ".join(lines[3:]))] if len(lines) > 4 else lines

    def _progress(self, name: str, event: Mapping[str, Any]) -> None:
        key = f"{name}:{event.get('image') or event.get('job')}"
        line = self._line(PROGRESS[name](event))
        final = bool(event.get("final"))
        if self._terminal and name == "pull.progress":
            self.stream.write("\r" + line + "\x1b[K" + ("\n" if final else ""))
            self.stream.flush()
            self._open_line = not final
            return
        now = self._clock()
        last = self._last_progress.get(key)
        if not final and last is not None and now - last < PROGRESS_EVERY:
            return
        self._last_progress[key] = now
        self.write_block([line])

    def write_block(self, lines: Iterable[str]) -> None:
        """Write whole lines, after ending a progress line drawn in place."""
        text = "".join(line + "\n" for line in lines)
        if self._open_line:
            text = "\n" + text
            self._open_line = False
        self.stream.write(text)
        self.stream.flush()


def banner_lines(event: Mapping[str, Any], width: int = WIDTH) -> list[str]:
    """The failure banner from a ``boot.failed`` event (or a BootError's fields): the job's last
    output lines above, then the reason, job, exit code, checkpoint and next step, so that all
    of it fits the last screen of an 80x25 console."""
    lines: list[str] = []
    tail = [str(line) for line in event.get("tail") or ()][-BANNER_TAIL:]
    if tail:
        lines.append(fit(f"last output of job {event.get('job')}:", width))
        lines.extend(fit(f"  | {line}", width) for line in tail)
    lines.append("==== IGUANA BOOT FAILED ".ljust(width, "="))
    problems = [str(problem) for problem in event.get("problems") or ()]
    reason = str(event.get("message"))
    if len(problems) > 1:
        reason = f"the workflow has {len(problems)} problems (`iguana validate` lists them all)"
    lines.extend(_field("reason", reason, width, 3))
    for problem in problems[:3] if len(problems) > 1 else ():
        lines.extend(_field("", problem, width, 3))
    if event.get("job"):
        code = event.get("exit_code")
        job = f"{event['job']}" + (f", exit code {code}" if code is not None else "")
        lines.extend(_field("job", job, width, 1))
    lines.extend(_field("exit code", _exit_code(event), width, 1))
    lines.extend(_field("checkpoint", str(event.get("checkpoint") or "-"), width, 3))
    lines.extend(_field("next", "fix the cause, then `iguana resume`", width, 1))
    lines.append("=" * width)
    return lines


def _field(name: str, value: str, width: int, most: int) -> list[str]:
    head = f"{name + ':' if name else '':<12}"
    wrapped = textwrap.wrap(
        value, width, initial_indent=head, subsequent_indent=" " * len(head), break_on_hyphens=False
    ) or [head]
    if len(wrapped) > most:
        wrapped = [*wrapped[: most - 1], fit(" ".join(wrapped[most - 1 :]), width)]
    return wrapped


def _exit_code(event: Mapping[str, Any]) -> str:
    code = event.get("code")
    try:
        meaning = ExitCode(int(code)).meaning.split(" (")[0].split(",")[0]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(code)
    return f"{int(code)} ({meaning}) in state {event.get('state')}"  # type: ignore[arg-type]
