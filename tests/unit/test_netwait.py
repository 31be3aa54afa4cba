"""The network wait of the locate stage: which sources need it, the /proc/net formats the kernel
documents (proc(5): /proc/net/route, ipv6_route, if_inet6), and the deadline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from iguana_fsm.cmdline import BootConfig, parse_cmdline
from iguana_fsm.errors import LocateError
from iguana_fsm.netwait import (
    LinuxProbe,
    look,
    needs_network,
    parse_if_inet6,
    parse_route_v4,
    parse_route_v6,
    wait_for_network,
)

# /proc/net/route: little-endian hex; 10.0.2.2 is the gateway, flags 0003 = UP|GATEWAY.
ROUTE_V4 = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
)
ROUTE_V4_NO_DEFAULT = ROUTE_V4.splitlines(keepends=True)[0] + ROUTE_V4.splitlines(keepends=True)[2]
# ipv6_route: dest, dest prefix, src, src prefix, next hop, metric, refcnt, use, flags, iface.
ROUTE_V6 = (
    "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth1\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n"
)
# if_inet6: address, index, prefix length, scope, flags, name (scope 20 = link-local).
IF_INET6 = (
    "00000000000000000000000000000001 01 80 10 80 lo\n"
    "fe80000000000000505400fffe123456 02 40 20 80 eth0\n"
    "20010db8000000000000000000000005 03 40 00 00 eth1\n"
)


@dataclass
class Timeline:
    """A probe whose answers change at given (fake) times, with the clock and sleep the wait
    uses: a unit test of the wait's decisions, not of the kernel."""

    addresses_at: float = 0.0
    route_at: float = 0.0
    resolves_at: float = 0.0
    now: float = 0.0
    resolved: list[str] = field(default_factory=list)

    def addresses(self) -> dict[str, list[str]]:
        return {"eth0": ["10.0.2.15"]} if self.now >= self.addresses_at else {}

    def default_routes(self) -> list[str]:
        return ["eth0"] if self.now >= self.route_at else []

    def resolve(self, host: str) -> list[str]:
        self.resolved.append(host)
        return ["10.0.2.100"] if self.now >= self.resolves_at else []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Log:
    """Collects the events the wait logs."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    error = info


def test_route_v4_default() -> None:
    """Only an up route with destination and mask 0.0.0.0 is a default route."""
    assert parse_route_v4(ROUTE_V4) == ["eth0"]
    assert parse_route_v4(ROUTE_V4_NO_DEFAULT) == []


def test_route_v6_default() -> None:
    """::/0 is the IPv6 default route; lo's unreachable ::/0 entry is not one."""
    assert parse_route_v6(ROUTE_V6) == ["eth1"]


def test_if_inet6_global_addresses() -> None:
    """Loopback and link-local (scope 0x20) addresses do not count; global ones do."""
    assert parse_if_inet6(IF_INET6) == {"eth1": ["2001:db8::5"]}


@pytest.mark.parametrize(
    ("cmdline", "source", "expected"),
    [
        ("", {"kind": "url", "value": "https://10.0.2.100/c.yaml"}, (True, "10.0.2.100")),
        ("", {"kind": "url", "value": "http://deploy.example:8080/c"}, (True, "deploy.example")),
        ("", {"kind": "containers", "value": ["r.example/a:1"]}, (True, None)),
        (
            "rd.iguana.images=LABEL=x",
            {"kind": "containers", "value": ["r.example/a"]},
            (False, None),
        ),
        ("", {"kind": "file", "value": "/run/iguana/images/c.yaml"}, (False, None)),
        ("", {"kind": "bundled", "value": "/etc/iguana/control.yaml"}, (False, None)),
    ],
)
def test_which_sources_need_the_network(
    cmdline: str, source: dict[str, Any], expected: tuple[bool, str | None]
) -> None:
    """An http(s) URL needs the network and its host; containers without an offline image
    source need the network; files and the bundled workflow do not."""
    assert needs_network(parse_cmdline(cmdline), source) == expected


def test_default_and_option() -> None:
    """The wait is 60 s unless rd.iguana.net_timeout says otherwise; 0 is refused."""
    assert BootConfig().net_timeout == 60.0
    assert parse_cmdline("rd.iguana.net_timeout=7.5").net_timeout == 7.5
    errors: list[str] = []
    parse_cmdline("rd.iguana.net_timeout=0", errors)
    assert errors == ["kernel command line: rd.iguana.net_timeout=0: expected seconds > 0"]


def test_waits_until_all_three_are_there() -> None:
    """The wait returns once an address, a default route and the host's resolution are all
    there, and logs network.up after network.waiting."""
    timeline = Timeline(addresses_at=2.0, route_at=3.0, resolves_at=4.0)
    log = Log()

    state = wait_for_network(
        "10.0.2.100", 10.0, log, probe=timeline, clock=timeline.clock, sleep=timeline.sleep
    )

    assert 4.0 <= timeline.now < 5.0
    assert state.resolved == ["10.0.2.100"]
    assert [event for event, _ in log.events] == ["network.waiting", "network.up"]
    assert log.events[1][1]["default_route"] == ["eth0"]


def test_no_resolving_before_an_address_and_a_route() -> None:
    """The resolver is not asked while there is no address or no route (it would only time out)."""
    timeline = Timeline(addresses_at=1.0, route_at=2.0)

    wait_for_network(
        "h.example", 5.0, Log(), probe=timeline, clock=timeline.clock, sleep=timeline.sleep
    )

    assert timeline.resolved == ["h.example"]


@pytest.mark.parametrize(
    ("timeline", "words"),
    [
        (Timeline(addresses_at=99), "an interface (not lo) that is up and has an address"),
        (Timeline(route_at=99), "a default route"),
        (Timeline(resolves_at=99), "the control URL's host 10.0.2.100 resolving to an address"),
    ],
)
def test_gives_up_naming_what_is_missing(timeline: Timeline, words: str) -> None:
    """At the deadline the wait raises LocateError (exit code 3) naming the missing part and the
    option that raises the deadline, and logs network.timeout."""
    log = Log()

    with pytest.raises(LocateError) as raised:
        wait_for_network(
            "10.0.2.100", 3.0, log, probe=timeline, clock=timeline.clock, sleep=timeline.sleep
        )

    assert raised.value.exit_code == 3
    message = str(raised.value)
    assert message.startswith("network not up after 3s (rd.iguana.net_timeout=3); waited for ")
    assert words in message and "raise rd.iguana.net_timeout=SECONDS" in message
    assert 3.0 <= timeline.now < 3.6
    assert log.events[-1][0] == "network.timeout"


def test_no_host_needs_no_resolving() -> None:
    """With no host to resolve (containers), an address and a route are enough."""
    timeline = Timeline(resolves_at=99)

    state = wait_for_network(
        None, 1.0, Log(), probe=timeline, clock=timeline.clock, sleep=timeline.sleep
    )

    assert state.resolved is None and timeline.resolved == []
    assert look(timeline, None).missing(None) == []


def test_linux_probe_sees_loopback_only_as_no_network(tmp_path: Any) -> None:
    """The real probe on a sysfs that lists only lo finds no interface with an address, and
    resolves an IP literal to itself."""
    (tmp_path / "class" / "net" / "lo").mkdir(parents=True)
    probe = LinuxProbe(sys=tmp_path, proc=tmp_path)

    assert probe.addresses() == {}
    assert probe.default_routes() == []
    assert probe.resolve("10.0.2.100") == ["10.0.2.100"]
