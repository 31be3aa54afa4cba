"""The kernel command line: ``rd.iguana.*`` options into a frozen BootConfig.

Words are split the way the kernel's own ``next_arg`` splits them: a double quote toggles quoting
anywhere in a word, and the quotes around a whole word or a whole value are removed. Backslashes
are not special. Everything after a lone ``--`` belongs to init and is ignored. For an option that
takes one value the last occurrence wins, as with dracut's ``getarg``; list options accumulate.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from iguana_fsm.errors import UsageError
from iguana_fsm.workflow.grammar import ENV_NAME

PREFIX = "rd.iguana."


@dataclass(frozen=True)
class BootConfig:
    """What the kernel command line asks of Iguana. Defaults are a plain, safe boot."""

    control_url: str | None = None
    containers: tuple[str, ...] = ()
    debug: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    # trust (fetch and image policy)
    insecure: bool = False
    ca: str | None = None
    control_digest: str | None = None
    registries: tuple[str, ...] = ()
    fetch_timeout: float | None = None
    fetch_deadline: float | None = None
    fallback: bool = False
    # seconds the locate stage waits for the network (iguana_fsm/netwait.py)
    net_timeout: float = 60.0
    # hand-off
    kexec_cmdline: str | None = None
    reboot_delay: float = 30.0
    # initrd integration
    report: str | None = None
    images: str | None = None
    # rd.iguana.* words that no option knows; logged with a suggestion, never fatal
    unknown: tuple[str, ...] = ()


def split_words(text: str) -> list[str]:
    """Split a command line into words as the kernel does; quotes are removed later."""
    words: list[str] = []
    current: list[str] = []
    in_quote = False
    started = False
    for char in text:
        if char.isspace() and not in_quote:
            if started:
                words.append("".join(current))
                current, started = [], False
            continue
        started = True
        if char == '"':
            in_quote = not in_quote
        current.append(char)
    if started:
        words.append("".join(current))
    return words


def _unquote(word: str) -> tuple[str, str | None]:
    """Split a word at its first ``=`` and strip the quotes the kernel strips."""
    quoted = word.startswith('"')
    if quoted:
        word = word[1:]
    key, sep, value = word.partition("=")
    if not sep:
        if quoted and key.endswith('"'):
            key = key[:-1]
        return key, None
    if value.startswith('"'):
        value = value[1:]
        if value.endswith('"'):
            value = value[:-1]
    elif quoted and value.endswith('"'):
        value = value[:-1]
    return key, value


def _flag(name: str, value: str | None) -> bool:
    if value is None or value.lower() in ("1", "yes", "true", "on", ""):
        return True
    if value.lower() in ("0", "no", "false", "off"):
        return False
    raise UsageError(f"kernel command line: {PREFIX}{name}={value}: expected 1 or 0")


def _seconds(name: str, value: str | None) -> float:
    try:
        seconds = float(value or "")
    except ValueError:
        seconds = -1.0
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"kernel command line: {PREFIX}{name}={value}: expected seconds > 0")
    return seconds


def _text(name: str, value: str | None) -> str:
    if not value:
        raise UsageError(f"kernel command line: {PREFIX}{name} needs a value")
    return value


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


Setter = Callable[[dict[str, object], str, "str | None"], None]


def _scalar(attr: str, convert: Callable[[str, str | None], object]) -> Setter:
    def setter(fields: dict[str, object], name: str, value: str | None) -> None:
        fields[attr] = convert(name, value)

    return setter


def _list(attr: str) -> Setter:
    def setter(fields: dict[str, object], name: str, value: str | None) -> None:
        items = list(fields.get(attr, ()))  # type: ignore[call-overload]
        items.extend(_items(_text(name, value)))
        fields[attr] = tuple(items)

    return setter


def _env(fields: dict[str, object], name: str, value: str | None) -> None:
    """``NAME=VALUE``; quotes around VALUE alone go too (``rd.iguana.env=A="b c"``)."""
    var, sep, val = _text(name, value).partition("=")
    if val.startswith('"'):
        val = val[1:-1] if len(val) > 1 and val.endswith('"') else val[1:]
    if not sep or not re.fullmatch(ENV_NAME, var):
        raise UsageError(f"kernel command line: {PREFIX}{name}={value}: expected NAME=VALUE")
    env = dict(fields.get("env", {}))  # type: ignore[call-overload]
    env[var] = val
    fields["env"] = env


def _fetch_timeout(fields: dict[str, object], name: str, value: str | None) -> None:
    """``ATTEMPT`` or ``ATTEMPT,DEADLINE`` in seconds."""
    parts = _text(name, value).split(",")
    if len(parts) > 2:
        raise UsageError(f"kernel command line: {PREFIX}{name}={value}: expected ATTEMPT[,TOTAL]")
    fields["fetch_timeout"] = _seconds(name, parts[0])
    if len(parts) == 2:
        fields["fetch_deadline"] = _seconds(name, parts[1])


OPTIONS: dict[str, Setter] = {
    "control_url": _scalar("control_url", _text),
    "containers": _list("containers"),
    "debug": _scalar("debug", _flag),
    "env": _env,
    "insecure": _scalar("insecure", _flag),
    "ca": _scalar("ca", _text),
    "control_digest": _scalar("control_digest", _text),
    "registries": _list("registries"),
    "fetch_timeout": _fetch_timeout,
    "fallback": _scalar("fallback", _flag),
    "net_timeout": _scalar("net_timeout", _seconds),
    "kexec_cmdline": _scalar("kexec_cmdline", _text),
    "reboot_delay": _scalar("reboot_delay", _seconds),
    "report": _scalar("report", _text),
    "images": _scalar("images", _text),
}


def parse_cmdline(text: str, errors: list[str] | None = None) -> BootConfig:
    """The BootConfig a command line asks for; UsageError names a bad option and its value.

    With ``errors`` given, a bad option is skipped and its message appended instead, so that a
    boot can record the problem while keeping the options that were fine (debug, report).
    """
    fields: dict[str, object] = {}
    unknown: list[str] = []
    for word in split_words(text):
        if word == "--":
            break
        key, value = _unquote(word)
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX) :]
        setter = OPTIONS.get(name)
        if setter is None:
            unknown.append(name)
            continue
        try:
            setter(fields, name, value)
        except UsageError as error:
            if errors is None:
                raise
            errors.append(str(error))
    return BootConfig(unknown=tuple(unknown), **fields)  # type: ignore[arg-type]


def redact_cmdline(text: str) -> str:
    """``text`` with the value of every ``rd.iguana.env=NAME=VALUE`` shown as ``***``: what a
    checkpoint may keep of a command line that can carry secrets."""
    words = []
    for word in split_words(text):
        key, value = _unquote(word)
        if key == PREFIX + "env" and value is not None:
            word = f"{key}={value.partition('=')[0]}=***"
        words.append(word)
    return " ".join(words)


def suggest(name: str) -> str | None:
    """The known option an unknown ``rd.iguana.`` name most likely meant."""
    close = difflib.get_close_matches(name, OPTIONS, n=1, cutoff=0.6)
    return close[0] if close else None


def read_cmdline_text(path: Path = Path("/proc/cmdline")) -> str:
    """The running kernel's command line."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError as error:
        raise UsageError(f"{path}: cannot read the kernel command line: {error.strerror}") from None


def read_cmdline(path: Path = Path("/proc/cmdline")) -> BootConfig:
    """The BootConfig of the running kernel."""
    return parse_cmdline(read_cmdline_text(path))
