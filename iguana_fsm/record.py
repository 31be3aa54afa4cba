"""The boot record: every fact one stage hands to a later one, typed.

A stage reads and writes only these fields (mypy sees them); ``checkpoint.py`` stores the record
as JSON through ``to_plain`` / ``from_plain``, which follow the record classes' type hints, so a
field added here is stored without further code. Enums are stored as their values.
"""

import enum
import time
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from iguana_fsm.errors import CheckpointError, ExitCode
from iguana_fsm.memory.budget import Budget
from iguana_fsm.memory.plan import ImageSize, JobPlan
from iguana_fsm.recordclass import field, field_types, fields, is_recordclass, recordclass
from iguana_fsm.workflow.jobstatus import JobStatus

__all__ = [
    "BootError",
    "BootRecord",
    "Ending",
    "Handoff",
    "ImageTrust",
    "JobRecord",
    "JobStatus",
    "MemoryRecord",
    "MountedEntry",
    "Rescue",
    "RescueAction",
    "Timings",
    "Transition",
    "TrustRecord",
    "WorkflowTrust",
    "from_plain",
    "known_only",
    "to_plain",
]

SCHEMA = 3
"""The version of this record's JSON form; a change that an older Iguana would misread or refuse
(a key added, renamed or given another meaning) takes the next number, and ``checkpoint.py``
migrates every older one (docs/architecture.md, "The checkpoint's schema")."""

HISTORY_KEPT = 64
"""Transitions the record keeps (the oldest go first); the log keeps every one
(``state.entered``), and a record of a thousand jobs must not grow with each of them."""


class Ending(enum.StrEnum):
    """The three ways a boot hands the machine over; the values are the machine's states."""

    SWITCH_ROOT = "switch_root"
    KEXEC = "kexec"
    REBOOT = "reboot"


ENDING_STATES = frozenset(ending.value for ending in Ending)


class RescueAction(enum.StrEnum):
    """What the rescue state did with the machine."""

    EMERGENCY_SHELL = "emergency-shell"
    REBOOT = "reboot"


@recordclass
class JobRecord:
    """How one job went."""

    status: JobStatus = JobStatus.PENDING
    exit_code: int | None = None
    started: float | None = None
    finished: float | None = None
    image: str | None = None
    digest: str | None = None
    reason: str | None = None
    attempts: int = 0
    tail: list[str] = field(default_factory=list)
    place: int | None = None
    """The job's position in run order (1 for the first), once it has run."""
    progress: str | None = None
    """The job's last report on /iguana/progress (``42% copying files``)."""
    percent: float | None = None
    peak_memory: int | None = None
    """The job container's peak memory in bytes (its cgroup's high-water mark), when known."""
    storage_used: int | None = None
    """Bytes in use on container storage's file system when the job ended (images, layers)."""

    @property
    def duration(self) -> float | None:
        """Seconds the job ran, when it has started and ended."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@recordclass
class BootError:
    """Why the boot failed: the state, the one-line message and the exit code; for a job, its
    id, exit code and last output lines; for a workflow, every problem."""

    state: str | None
    message: str
    code: ExitCode
    job: str | None = None
    exit_code: int | None = None
    tail: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@recordclass
class Transition:
    """One step of the machine (``trigger`` ``resume`` for a re-entry)."""

    source: str
    dest: str
    trigger: str
    at: float = field(default_factory=time.time)
    mem_available: int | None = None
    """The kernel's MemAvailable (bytes) at this step."""


@recordclass
class WorkflowTrust:
    """How the workflow was found trustworthy."""

    kind: str
    location: str
    trusted_as: str | None = None
    fallback_from: str | None = None
    sha256: str | None = None
    pinned: bool | None = None
    signed_by: str | None = None
    attempts: int | None = None


@recordclass
class ImageTrust:
    """How one image passed the trust policy."""

    registry: str | None
    allowed_by: str | None
    digest: str | None
    signature: str


@recordclass
class TrustRecord:
    """The verdicts of fetch (the workflow) and verify (each image, by reference)."""

    workflow: WorkflowTrust | None = None
    images: dict[str, ImageTrust] = field(default_factory=dict)


@recordclass
class MemoryRecord:
    """What verify knew and decided about memory (``memory/``): the budget, each image's size
    (by reference as written), the pull plan (``mode``, per job) and the boot's peak."""

    budget: Budget | None = None
    mode: str | None = None
    total: int | None = None
    images: dict[str, ImageSize] = field(default_factory=dict)
    jobs: dict[str, JobPlan] = field(default_factory=dict)
    peak: int | None = None
    """The largest job peak so far (bytes)."""


@recordclass
class MountedEntry:
    """One mountlist line as it was mounted."""

    line: int
    device: str
    source: str
    mountpoint: str


@recordclass
class Handoff:
    """The ending the mount stage chose, why, and what carrying it out needs."""

    action: Ending
    reason: str
    release: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    warnings: list[str] = field(default_factory=list)
    running_kernel: str | None = None
    kernel_action: str | None = None
    decided_at: float | None = None
    mountlist: str | None = None
    guessed_root: bool | None = None
    mounts_skipped: bool = False
    """True when the mounts were skipped (sandbox mode without root): the containers filled
    the new root directory itself."""
    mounts: list[MountedEntry] = field(default_factory=list)
    machine_id: str | None = None
    cmdline: str | None = None
    cmdline_source: str | None = None
    luks_devices: list[str] = field(default_factory=list)
    crypt_module: bool | None = None
    fallback_from: Ending | None = None
    kexec: "Handoff | None" = None  # a string: the class is not made yet
    """After a failed kexec: the kexec decision this reboot replaced."""
    started_at: float | None = None


@recordclass
class Rescue:
    """What rescue did: the emergency shell, or a reboot after ``delay`` seconds."""

    action: RescueAction
    delay: float | None = None


@recordclass
class Timings:
    """Where a boot's time went, in seconds, for ``iguana status --timings``. The maps' values
    are replaced, never changed in place: the journal diffs them key by key."""

    states: dict[str, float] = field(default_factory=dict)
    """Each state's time, summed over its visits (services and jobs come once per job) and
    over the runs that resumed the boot; a state's time is added when the runner leaves it."""
    jobs: dict[str, dict[str, float]] = field(default_factory=dict)
    """Each job's phases in its last attempt: ``create`` and ``run`` (start to exit) of its
    container, and ``clean-up`` (removing the container, stopping its services, releasing
    its images)."""
    pulls: dict[str, float] = field(default_factory=dict)
    """Each image's pull (in verify), by the reference as written in the workflow."""
    engine: dict[str, float] = field(default_factory=dict)
    """The podman service's ``start`` (begun in the background as the boot starts), how long
    the first stage that needed it ``waited`` for it, and its ``stop`` at the end; the last
    run's."""

    def add_state(self, state: str, seconds: float) -> None:
        """Count ``seconds`` more for ``state``."""
        self.states[state] = round(self.states.get(state, 0.0) + seconds, 3)

    def set_engine(self, took: float, waited: float) -> None:
        """The engine's start took ``took`` seconds, of which a stage waited ``waited``."""
        self.engine = {"start": round(took, 3), "waited": round(waited, 3)}

    def set_job(self, job_id: str, phases: dict[str, float]) -> None:
        """Set some phases of ``job_id``, keeping the others."""
        rounded = {phase: round(seconds, 3) for phase, seconds in phases.items()}
        self.jobs[job_id] = {**self.jobs.get(job_id, {}), **rounded}


@recordclass
class BootRecord:
    """The whole mutable record of one boot; the runner checkpoints it after every transition."""

    run_id: str
    state: str
    started: float = field(default_factory=time.time)
    schema: int = SCHEMA
    sandbox: bool = False
    cmdline: str | None = None
    """The kernel command line, secrets redacted (resume reads the raw text elsewhere)."""
    workflow_source: str | None = None
    workflow_sha256: str | None = None
    failed_state: str | None = None
    current_job: str | None = None
    jobs_total: int | None = None
    """How many jobs the workflow has (``job N of M``), once the first one runs."""
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    """Image reference as written -> the pinned reference verify resolved it to."""
    images_present: list[str] = field(default_factory=list)
    """Pinned references known to be in the engine's storage now."""
    services: dict[str, str] = field(default_factory=dict)
    """The current job's started services: service id -> container id."""
    trust: TrustRecord = field(default_factory=TrustRecord)
    memory: MemoryRecord = field(default_factory=MemoryRecord)
    history: list[Transition] = field(default_factory=list)
    transitions: int = 0
    """Every transition ever made; ``history`` keeps the last HISTORY_KEPT of them."""
    error: BootError | None = None
    handoff: Handoff | None = None
    rescue: Rescue | None = None
    warnings: list[str] = field(default_factory=list)
    finished: float | None = None
    """When the ending was carried out (set just before the irreversible step: the machine is
    handed over) or the rescue reached; None while an ending is only chosen."""
    generation: int = 0
    """Snapshots of this record written so far; a journal line names the one it follows."""
    timings: Timings = field(default_factory=Timings)
    entered: float | None = None
    """When the current state was entered (``time.time()``) by the run or resume under way."""

    @property
    def handed_over(self) -> bool:
        """Whether the boot is over: an ending reached and carried out, without an error."""
        return self.state in ENDING_STATES and self.error is None and self.finished is not None

    def add_transition(self, step: Transition) -> None:
        """Remember ``step``; the record keeps only the last HISTORY_KEPT."""
        self.history.append(step)
        self.transitions += 1
        if len(self.history) > HISTORY_KEPT:
            del self.history[: len(self.history) - HISTORY_KEPT]

    def to_json(self) -> dict[str, Any]:
        """A plain JSON-able dict, job records included."""
        plain = to_plain(self)
        assert isinstance(plain, dict)
        return plain


T = TypeVar("T")


def to_plain(value: Any) -> Any:
    """``value`` as JSON-able data: records as dicts, enums as their values."""
    if isinstance(value, enum.Enum):
        return value.value
    if is_recordclass(type(value)):
        return {name: to_plain(getattr(value, name)) for name in fields(value)}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    return value


def from_plain(kind: type[T], data: Any, where: str = "checkpoint") -> T:
    """A ``kind`` built from JSON data, checked against its type hints; CheckpointError naming
    the key path (``where``) of the first value that does not fit."""
    return typing.cast(T, _decode(kind, data, where))


def known_only(kind: Any, data: Any, where: str = "", dropped: list[str] | None = None) -> Any:
    """``data`` without the keys ``kind``'s record classes do not have (at any depth), each
    dropped key path appended to ``dropped``: what this version can read of a record a newer
    version wrote. Values are not checked here (``from_plain`` does that)."""
    dropped = [] if dropped is None else dropped
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        real = [option for option in typing.get_args(kind) if option is not type(None)]
        return known_only(real[0], data, where, dropped) if data is not None else None
    if origin is list and isinstance(data, list):
        (item,) = typing.get_args(kind)
        return [known_only(item, value, f"{where}[{n}]", dropped) for n, value in enumerate(data)]
    if origin is dict and isinstance(data, dict):
        _, item = typing.get_args(kind)
        return {k: known_only(item, v, f"{where}.{k}", dropped) for k, v in data.items()}
    if is_recordclass(kind) and isinstance(data, dict):
        hints = field_types(kind)
        dropped.extend(f"{where}.{key}".lstrip(".") for key in data if key not in hints)
        return {
            key: known_only(hints[key], value, f"{where}.{key}", dropped)
            for key, value in data.items()
            if key in hints
        }
    return data


Decoder = Callable[[Any, str], Any]
"""Decodes a value of one type from its JSON form at a key path (for CheckpointError)."""

_DECODERS: dict[Any, Decoder] = {}


def _decode(kind: Any, data: Any, where: str) -> Any:
    return _decoder(kind)(data, where)


def _decoder(kind: Any) -> Decoder:
    """The decoder of type ``kind``, made once: the checks are chosen from the type here, not
    at each value."""
    found = _DECODERS.get(kind)
    if found is None:
        found = _DECODERS[kind] = _make_decoder(kind)
    return found


def _make_decoder(kind: Any) -> Decoder:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (real,) = [option for option in typing.get_args(kind) if option is not type(None)]
        return lambda data, where: None if data is None else _decoder(real)(data, where)
    if origin is list:
        (item,) = typing.get_args(kind)
        return lambda data, where: [
            _decoder(item)(value, f"{where}[{n}]")
            for n, value in enumerate(_expect(list, data, "a list", where))
        ]
    if origin is dict:
        _, item = typing.get_args(kind)
        return lambda data, where: {
            key: _decoder(item)(value, f"{where}.{key}")
            for key, value in _expect(dict, data, "an object", where).items()
        }
    if is_recordclass(kind):
        return lambda data, where: _decode_record(kind, data, where)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return lambda data, where: _decode_enum(kind, data, where)
    if kind is float:
        return _decode_float
    if kind is Any:
        return lambda data, where: data
    return lambda data, where: _expect(kind, data, kind.__name__, where)


def _decode_record(kind: Any, data: Any, where: str) -> Any:
    hints = field_types(kind)
    unknown = _expect(dict, data, "an object", where).keys() - hints.keys()
    if unknown:
        raise CheckpointError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    values = {name: _decoder(hints[name])(value, f"{where}.{name}") for name, value in data.items()}
    try:
        return kind(**values)
    except TypeError as error:
        raise CheckpointError(f"{where}: {error}") from None


def _decode_enum(kind: type[enum.Enum], data: Any, where: str) -> Any:
    try:
        return kind(data)
    except ValueError:
        raise CheckpointError(f"{where}: {data!r} is not a {kind.__name__}") from None


def _decode_float(data: Any, where: str) -> float:
    if type(data) is float:
        return data
    return float(_expect(int, data, "a number", where))


def _expect(kind: type[T], data: Any, what: str, where: str) -> T:
    """``data`` when it is a ``kind`` (a bool is no int here), else CheckpointError."""
    if isinstance(data, kind) and (kind is bool or not isinstance(data, bool)):
        return data
    raise CheckpointError(f"{where}: expected {what}, found {type(data).__name__}")
