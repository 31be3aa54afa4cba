"""Wait for the network before a workflow or images come over it, with a deadline.

dracut brings the network up (``ip=dhcp``, ``rd.neednet=1``) in its initqueue, but neither init
guarantees that it is up when Iguana starts: a DHCP answer can come late, and a systemd initrd
orders ``iguana.service`` only after what was queued. So the locate stage waits here for three
things, in this order, and each round looks at all of them again:

1. an interface other than ``lo`` that is up and has an address (IPv4, or IPv6 other than
   link-local);
2. a default route (IPv4 or IPv6);
3. the host of the workflow URL resolving to an address (an IP literal always does).

``rd.iguana.net_timeout=SECONDS`` (default 60) bounds the wait. When it runs out, a LocateError
(exit code 3) names what was still missing; the boot records it like any failed state, so the
report device gets the record and no boot hangs on a dead network.
"""

from __future__ import annotations

import array
import fcntl
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from iguana_fsm.cmdline import BootConfig
from iguana_fsm.errors import LocateError

POLL_SECONDS = 0.5
SIOCGIFADDR = 0x8915
SIOCGIFFLAGS = 0x8913
IFF_UP = 0x1


@dataclass(frozen=True)
class NetState:
    """One look at the network: interfaces with an address (name -> addresses), the interfaces
    that carry a default route, and whether the wanted host resolves (None: nothing to resolve)."""

    addresses: dict[str, list[str]]
    default_routes: list[str]
    resolved: list[str] | None

    def missing(self, host: str | None) -> list[str]:
        """What is not there yet, in words for the log and the error message."""
        missing: list[str] = []
        if not self.addresses:
            missing.append("an interface (not lo) that is up and has an address")
        if not self.default_routes:
            missing.append("a default route")
        if host is not None and not self.resolved:
            missing.append(f"the control URL's host {host} resolving to an address")
        return missing


class Probe(Protocol):
    """Where the network facts come from (the running kernel, or a test's files)."""

    def addresses(self) -> dict[str, list[str]]:
        """Up interfaces other than lo, with their global addresses (only those with one)."""

    def default_routes(self) -> list[str]:
        """Interfaces that carry an IPv4 or IPv6 default route."""

    def resolve(self, host: str) -> list[str]:
        """The addresses ``host`` resolves to (empty when it does not)."""


def parse_route_v4(text: str) -> list[str]:
    """Interfaces with a default route in ``/proc/net/route`` (destination and mask 0, up)."""
    found: list[str] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, destination, flags, mask = fields[0], fields[1], fields[3], fields[7]
        if destination == "00000000" and mask == "00000000" and int(flags, 16) & 0x1:
            found.append(iface)
    return found


def parse_route_v6(text: str) -> list[str]:
    """Interfaces with a default route in ``/proc/net/ipv6_route`` (::/0, not via lo)."""
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        if fields[0] == "0" * 32 and fields[1] == "00" and fields[9] != "lo":
            found.append(fields[9])
    return found


def parse_if_inet6(text: str) -> dict[str, list[str]]:
    """Global IPv6 addresses by interface from ``/proc/net/if_inet6`` (no lo, no link-local)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[5] == "lo" or int(fields[3], 16) & 0x20:
            continue
        address = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(fields[0]))
        found.setdefault(fields[5], []).append(address)
    return found


@dataclass(frozen=True)
class LinuxProbe:
    """The running kernel's view: ``/sys/class/net``, ``/proc/net`` and interface ioctls."""

    sys: Path = Path("/sys")
    proc: Path = Path("/proc")

    def _read(self, path: Path) -> str:
        try:
            return path.read_text(encoding="ascii", errors="replace")
        except OSError:
            return ""

    def addresses(self) -> dict[str, list[str]]:
        """Up interfaces other than lo with an IPv4 or global IPv6 address."""
        v6 = parse_if_inet6(self._read(self.proc / "net" / "if_inet6"))
        found: dict[str, list[str]] = {}
        try:
            names = sorted(entry.name for entry in (self.sys / "class" / "net").iterdir())
        except OSError:
            names = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for name in names:
                if name == "lo" or not _is_up(sock, name):
                    continue
                addresses = [a for a in [_ipv4_address(sock, name)] if a] + v6.get(name, [])
                if addresses:
                    found[name] = addresses
        return found

    def default_routes(self) -> list[str]:
        """Interfaces with a default route, IPv4 first."""
        v4 = parse_route_v4(self._read(self.proc / "net" / "route"))
        return v4 + parse_route_v6(self._read(self.proc / "net" / "ipv6_route"))

    def resolve(self, host: str) -> list[str]:
        """The addresses the system resolver gives for ``host``."""
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return []
        return sorted({str(info[4][0]) for info in infos})


def _ifreq(name: str) -> array.array[int]:
    return array.array("B", struct.pack("256s", name.encode()[:15]))


def _is_up(sock: socket.socket, name: str) -> bool:
    request = _ifreq(name)
    try:
        fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request)
    except OSError:
        return False
    (flags,) = struct.unpack_from("H", request, 16)
    return bool(flags & IFF_UP)


def _ipv4_address(sock: socket.socket, name: str) -> str | None:
    request = _ifreq(name)
    try:
        fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
    except OSError:
        return None  # EADDRNOTAVAIL: no IPv4 address (yet)
    return socket.inet_ntoa(bytes(request[20:24]))


def needs_network(config: BootConfig, source: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether the workflow source needs the network, and the host that must resolve: an
    http(s) control URL (its host), or ``rd.iguana.containers`` without an offline image
    source (``rd.iguana.images``: then the images need no network)."""
    if source["kind"] == "url":
        return True, urlsplit(str(source["value"])).hostname
    if source["kind"] == "containers" and not config.images:
        return True, None
    return False, None


def wait_if_needed(config: BootConfig, source: dict[str, Any], log: Any) -> None:
    """The locate stage's wait: only for a source that needs the network."""
    needed, host = needs_network(config, source)
    if needed:
        wait_for_network(host, config.net_timeout, log)


def _uptime() -> float | None:
    """Seconds since the kernel started, for the boot's figures."""
    try:
        return float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def look(probe: Probe, host: str | None) -> NetState:
    """One look at everything the wait needs."""
    addresses = probe.addresses()
    routes = probe.default_routes()
    resolved = probe.resolve(host) if host is not None and addresses and routes else None
    return NetState(addresses, routes, resolved if host is not None else None)


def wait_for_network(
    host: str | None,
    timeout: float,
    log: Any,
    *,
    probe: Probe | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> NetState:
    """Wait until the network is up (see the module); LocateError when ``timeout`` runs out."""
    probe = probe or LinuxProbe()
    started = clock()
    state = look(probe, host)
    missing = state.missing(host)
    if missing:
        log.info("network.waiting", host=host, timeout=timeout, missing=missing)
    while missing:
        if clock() - started >= timeout:
            log.error("network.timeout", host=host, timeout=timeout, missing=missing)
            seen = ", ".join(sorted(state.addresses)) or "none"
            raise LocateError(
                f"network not up after {timeout:g}s (rd.iguana.net_timeout={timeout:g}); waited "
                f"for {'; '.join(missing)} (interfaces with an address: {seen}); fix: check the "
                "link and the DHCP server, the ip= and rd.neednet=1 options and that the initrd "
                "has a network module, or raise rd.iguana.net_timeout=SECONDS"
            )
        sleep(POLL_SECONDS)
        state = look(probe, host)
        missing = state.missing(host)
    log.info(
        "network.up",
        seconds=round(clock() - started, 2),
        addresses=state.addresses,
        default_route=state.default_routes,
        host=host,
        resolved=state.resolved,
        uptime=_uptime(),
    )
    return state
