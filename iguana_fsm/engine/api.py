"""podman's API process: the private ``podman system service`` that Iguana starts, talks to
and stops. (A workflow's *services* are side containers of a job: ``stages/services.py``.)

Iguana never uses a system-wide podman socket: it starts its own service on a socket under
``Paths.run`` (and, in a sandbox, with storage under ``Paths.storage``), so a boot sees only the
containers it made and leaves nothing behind when it stops.

The socket is Iguana's: it is bound and listening before podman is spawned, and handed to the
service by systemd's socket activation protocol (``LISTEN_FDS``). A client may connect at once;
its request waits in the socket's queue until the service is up, so that waiting for the
service is waiting for its first answer, not polling for a socket file. The module is light
(no podman-py, requests or structlog): ``iguana run`` spawns the service from here before it
imports the rest of the boot.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import IO, Any

from iguana_fsm.engine import ping
from iguana_fsm.engine.storageconf import image_store_options as image_store_options
from iguana_fsm.errors import EngineError, MountError
from iguana_fsm.mounts import unmount_tree
from iguana_fsm.paths import Paths

INSTALL_HINT = "install it: apt-get install -y podman runc (or: zypper install podman runc)"

RUNTIME_DIRS = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""Where podman looks for an OCI runtime besides PATH."""

RUNROOT_MAX = 50
"""podman refuses a runroot path longer than this ("the specified runroot is longer than 50")."""

SOCKET_MAX = 100
"""A unix socket path must fit in sun_path (108 bytes with the terminating NUL)."""

SHORT_PARENT = Path("/tmp")
"""Where the short stand-ins for too long paths go."""

SOCKET_MARK = "IGUANA_PODMAN_SOCKET"
"""Set in the service's environment to its socket: how a later Iguana finds a service that a
killed one left running (its command line names no socket under socket activation)."""

ACTIVATE = 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$@" 3<&0 0</dev/null'
"""The shell step between Iguana and the service: it gets the listening socket as its stdin
and hands it on as file descriptor 3 (the protocol's first), and sets LISTEN_PID to the
service's own process id, which only the process that execs podman knows."""


def _short_path(long: Path, kind: str) -> Path:
    """A short, stable stand-in in /tmp for a path too long for podman or the kernel."""
    digest = hashlib.sha256(str(long).encode()).hexdigest()[:16]
    return SHORT_PARENT / f"iguana-{kind}-{digest}"


def usable_runroot(preferred: Path) -> Path:
    """``preferred``, or a short stand-in in /tmp when it is too long for podman."""
    return preferred if len(str(preferred)) <= RUNROOT_MAX else _short_path(preferred, "runroot")


def runroot_for(paths: Paths) -> Path | None:
    """podman's runroot for a private storage: RUN/runroot (see ``usable_runroot``); None
    (podman's default) without a private storage."""
    if paths.storage is None:
        return None
    return usable_runroot(paths.run / "runroot")


def socket_for(paths: Paths) -> Path:
    """The service's socket: RUN/podman.sock, or podman.sock in a private directory in /tmp
    when that is too long."""
    preferred = paths.run / "podman.sock"
    if len(str(preferred)) <= SOCKET_MAX:
        return preferred
    return _short_path(preferred, "sock") / "podman.sock"


def stand_ins(paths: Paths) -> list[Path]:
    """The directories in /tmp the service of ``paths`` uses instead of too long paths."""
    found = [runroot_for(paths), socket_for(paths).parent]
    return [path for path in found if path is not None and path.parent == SHORT_PARENT]


def private_directory(path: Path) -> None:
    """Create ``path`` as a directory only we can use (mode 0700); an existing one is accepted
    only when it is a real directory of ours with mode 0700 (ours from an earlier run, or made
    by podman), never when someone else could have prepared it."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise EngineError(f"cannot create {path}: {error.strerror}") from error
    else:
        # The umask may have taken bits from the mode; a reused one must be exactly 0700.
        os.chmod(path, 0o700)
        return
    found = os.lstat(path)
    if not stat.S_ISDIR(found.st_mode):
        raise EngineError(f"refusing {path}: it exists and is not a directory (remove it)")
    if found.st_uid != os.geteuid() or stat.S_IMODE(found.st_mode) != 0o700:
        raise EngineError(
            f"refusing {path}: owned by uid {found.st_uid} with mode "
            f"{stat.S_IMODE(found.st_mode):04o}, not ours with 0700 (remove it)"
        )


def packaged_containers_conf() -> Path:
    """The containers.conf shipped with Iguana (runc, lower ulimits, no systemd assumed)."""
    return Path(str(resources.files("iguana_fsm") / "data" / "containers.conf"))


def api_environment(overlay: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of podman processes: ours, then ``overlay`` (e.g. HOME for a private
    trust config), then the packaged containers.conf unless CONTAINERS_CONF is already set."""
    env = dict(os.environ)
    env.update(overlay or {})
    env.setdefault("CONTAINERS_CONF", str(packaged_containers_conf()))
    return env


def unmount_below(top: Path, log: Any) -> None:
    """Unmount everything podman left mounted under ``top``; EngineError if it stays mounted."""
    try:
        unmount_tree(top, log)
    except MountError as error:
        raise EngineError(f"podman storage: {error}") from error


class LaterLog:
    """A logger that keeps what it is told until the boot's own logger exists (``replay``):
    the service is spawned before Iguana has imported its logging."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        def keep(event: str, **fields: Any) -> None:
            self.events.append((level, event, fields))

        return keep

    def replay(self, log: Any) -> None:
        """Tell ``log`` what was kept, in order."""
        for level, event, fields in self.events:
            getattr(log, level)(event, **fields)
        self.events.clear()


def default_log() -> Any:
    """The engine's structlog logger, imported only when no logger is given."""
    import structlog

    return structlog.get_logger("iguana.engine")


class PodmanApiProcess:
    """``podman system service --time=0`` as a child process on a private unix socket.

    ``spawn`` binds the socket and starts the process without waiting; ``start`` spawns when
    that was not done and waits (at most ``ready_timeout`` seconds) until the service answers
    a ping; ``stop`` sends SIGTERM to the service's process group, then SIGKILL, and may be
    called twice.
    """

    def __init__(
        self,
        paths: Paths,
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        log: Any = None,
    ) -> None:
        self.paths = paths
        self._log = log if log is not None else default_log()
        self.environment = api_environment(env)
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._stand_ins: list[Path] = []
        self.spawned_at: float | None = None
        """``time.monotonic()`` when the service process was started (None: not yet)."""
        self.version = ping.UNKNOWN
        """podman's version, as its answer to the ping named it (``ping.VERSION_HEADER``)."""

    @property
    def socket_path(self) -> Path:
        """The unix socket the service listens on."""
        return socket_for(self.paths)

    @property
    def url(self) -> str:
        """The socket as a URL for podman-py and ``podman --url``."""
        return f"unix://{self.socket_path}"

    @property
    def log_path(self) -> Path:
        """Where the service's stderr goes."""
        return self.paths.run / "podman-service.log"

    @property
    def running(self) -> bool:
        """True while the service process is alive."""
        return self._process is not None and self._process.poll() is None

    def global_options(self) -> list[str]:
        """``--root``/``--runroot`` (see ``runroot_for``) for a private storage, else nothing."""
        runroot = runroot_for(self.paths)
        if self.paths.storage is None or runroot is None:
            return []
        options = ["--root", str(self.paths.storage), "--runroot", str(runroot)]
        return options + image_store_options(self.environment)

    def attach_log(self, log: Any) -> None:
        """Log to ``log`` from now on, after what a LaterLog kept."""
        if isinstance(self._log, LaterLog):
            self._log.replay(log)
        self._log = log

    def command(self) -> list[str]:
        """The full command line of the service, through the activation step (``ACTIVATE``)
        that hands podman the listening socket given as its stdin."""
        return [
            "/bin/sh",
            "-c",
            ACTIVATE,
            self.podman_binary(),
            *self.global_options(),
            "system",
            "service",
            "--time=0",
        ]

    def podman_binary(self) -> str:
        """The podman executable on PATH; EngineError with the fix when there is none."""
        found = shutil.which("podman", path=self.environment.get("PATH"))
        if found is None:
            raise EngineError(f"podman is not installed: {INSTALL_HINT}")
        # podman also finds runc outside PATH, in the usual system directories.
        runc_path = f"{self.environment.get('PATH', '')}:{RUNTIME_DIRS}"
        if self.environment["CONTAINERS_CONF"] == str(packaged_containers_conf()) and (
            shutil.which("runc", path=runc_path) is None
        ):
            raise EngineError(
                f"runc (the runtime in {packaged_containers_conf()}) is missing: {INSTALL_HINT}"
            )
        return found

    def start(self) -> None:
        """Spawn the service (unless ``spawn`` did) and wait until it answers; EngineError when
        it does not."""
        if self._process is None:
            self.spawn()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def spawn(self) -> None:
        """Bind the socket, start the service on it and return at once; ``start`` waits."""
        if self.running:
            return
        self.podman_binary()  # podman and runc are there, before anything is made
        self.paths.run.mkdir(parents=True, exist_ok=True)
        try:
            for directory in stand_ins(self.paths):
                private_directory(directory)
                self._stand_ins.append(directory)
            self._reclaim_orphan()
            self._log_handle = self.log_path.open("ab")
            with self._listening() as listener:
                # A session of its own: a Ctrl-C on the console must not take the engine down.
                self._process = subprocess.Popen(
                    self.command(),
                    stdin=listener.fileno(),
                    stdout=self._log_handle,
                    stderr=self._log_handle,
                    env={**self.environment, SOCKET_MARK: str(self.socket_path)},
                    start_new_session=True,
                )
            self.spawned_at = time.monotonic()
            self.pid_path.write_text(f"{self._process.pid}\n")
        except BaseException:
            self.stop()
            raise

    @contextlib.contextmanager
    def _listening(self) -> Iterator[socket.socket]:
        """The service's socket, listening, readable by root only; closed on leaving (the
        service keeps its own copy). Bound under a temporary name and renamed, so that the
        socket's path never names one that others could use."""
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        # no longer than the socket's own name: the path must fit in sun_path (SOCKET_MAX)
        temporary = self.socket_path.with_name(f".s{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(temporary))
            os.chmod(temporary, 0o600)
            listener.listen(128)
            os.rename(temporary, self.socket_path)
            try:
                yield listener
            except BaseException:
                # no service got it
                self.socket_path.unlink(missing_ok=True)
                raise
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()

    @property
    def pid_path(self) -> Path:
        """The running service's pid, so that a later Iguana can end an orphaned one."""
        return self.paths.run / "podman-service.pid"

    def _reclaim_orphan(self) -> None:
        """End every API process left serving our socket by an Iguana that was killed (e.g.
        before a resume): the one in the pid file, and one whose Iguana died before it could
        write that file; then unmount what it left in the storage."""
        orphans = self._orphans()
        for pid in orphans:
            self._log.warning("engine.orphan.ended", pid=pid, socket=str(self.socket_path))
            _end_group(pid, self.stop_timeout)
        if orphans and self.paths.storage is not None:
            unmount_below(self.paths.storage, self._log)

    def _orphans(self) -> list[int]:
        """Processes whose command line is a ``podman ... system service ...`` serving our
        socket: marked so in their environment (``SOCKET_MARK``), or naming our URL."""
        url = self.url.encode()
        mark = f"{SOCKET_MARK}={self.socket_path}".encode()
        found: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                if b"system" not in cmdline or b"service" not in cmdline:
                    continue
                ours = url in cmdline or mark in (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if ours:
                found.append(int(entry.name))
        return found

    def _wait_ready(self) -> None:
        """Wait for the service's answer to a ping: the request waits in the socket's queue
        until podman serves it, or fails when podman ends (the socket then has no listener)."""
        deadline = time.monotonic() + self.ready_timeout
        while True:
            process = self._process
            assert process is not None
            if self._answers(max(0.1, deadline - time.monotonic())):
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                # a refused or cut request: podman ended, or is about to
                process.wait(timeout=0.05)
            if process.poll() is not None:
                raise EngineError(
                    f"podman system service exited with code {process.returncode}: "
                    f"{self._last_log_line()} (log: {self.log_path})"
                )
            if time.monotonic() > deadline:
                raise EngineError(
                    f"podman system service did not answer on {self.socket_path} within "
                    f"{self.ready_timeout:g}s (log: {self.log_path})"
                )

    def _answers(self, timeout: float) -> bool:
        """Whether the service answers a ping; its version is kept in ``version``."""
        version = ping.ping(self.socket_path, timeout)
        if version is not None:
            self.version = version
        return version is not None

    def _last_log_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        """SIGTERM to the service's process group, SIGKILL after ``stop_timeout``; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            _end_group(process.pid, self.stop_timeout)
            process.wait()
        if process is not None:
            with contextlib.suppress(FileNotFoundError):
                self.pid_path.unlink()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        if process is not None:
            # Only once started: before that the socket's directory was not checked as ours.
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        try:
            if process is not None and self.paths.storage is not None:
                # The service leaves its overlay home bind-mounted on itself when it exits.
                unmount_below(self.paths.storage, self._log)
        finally:
            self._remove_stand_ins()

    def _remove_stand_ins(self) -> None:
        """Remove the /tmp stand-ins this service made or accepted as its own."""
        while self._stand_ins:
            directory = self._stand_ins.pop()
            # podman's runroot holds a container's /dev/shm while it runs.
            unmount_below(directory, self._log)
            shutil.rmtree(directory, ignore_errors=True)


def _end_group(pid: int, timeout: float) -> None:
    """SIGTERM to the process group led by ``pid``, SIGKILL when it is still there after
    ``timeout`` seconds; returns once the leader is gone (or is a zombie of ours)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"
