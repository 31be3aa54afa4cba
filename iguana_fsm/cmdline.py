"""The kernel command line: ``rd.iguana.*`` options into a frozen BootConfig.

Words are split exactly as the kernel's ``next_arg`` (lib/cmdline.c) splits them, on bytes:

- white space is what the kernel's ``isspace`` says: space, tab, line feed, vertical tab, form
  feed, carriage return and the byte 0xa0 (its ctype table is Latin-1). Nothing else separates
  words: U+2028 or U+3000 are letters to the kernel, so they are to Iguana (a word can then not
  carry a second option that dracut and the kernel would not see);
- a double quote toggles quoting anywhere in a word; a quote opening the word, one opening the
  value after the first ``=``, and the last byte when it is a quote closing either are removed.
  Backslashes are not special;
- a word that is ``--`` once unquoted (so ``"--"`` too) ends the kernel's parameters: what
  follows belongs to init, and Iguana ignores it.

Each word is decoded as UTF-8 after splitting (a byte that is not UTF-8 becomes U+FFFD).

The sources are dracut's (``getcmdline`` in dracut-lib.sh), so that Iguana and the initrd's
shell hooks read the same options: ``/etc/cmdline.d/*.conf`` (in name order), ``/etc/cmdline``,
then ``/proc/cmdline``. For an option that takes one value the last occurrence wins, as with
dracut's ``getarg``, so the running kernel's command line wins; list options accumulate. A
``--`` in the configuration files is ignored (it means nothing to dracut there).

Flags differ from dracut's ``getargbool`` on purpose: dracut reads anything but ``0``, ``no``
and ``off`` as true (``rd.iguana.debug=false`` is true to it); Iguana reads ``1 yes true on``
(or no value) as true, ``0 no false off`` as false, in any case, and refuses anything else with
a message, so that a typo is never silently true. Only Iguana reads its flags.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from iguana_fsm.errors import UsageError
from iguana_fsm.memory.budget import cmdline_size
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
    # memory (iguana_fsm/memory/budget.py): bytes kept back, and a cap on the images' budget
    memory_reserve: int | None = None
    memory_limit: int | None = None
    # size= of the tmpfs on container storage and /var/tmp (read by the podman module's setup)
    storage_size: str | None = None
    tmp_size: str | None = None
    # rd.iguana.* words that no option knows; logged with a suggestion, never fatal
    unknown: tuple[str, ...] = ()
    # the console (iguana_fsm/console.py): the kernel's `quiet`, dracut's `rd.debug`
    quiet: bool = False
    dracut_debug: bool = False


KERNEL_SPACE = frozenset(b" \t\n\v\f\r\xa0")
"""The bytes the kernel's ``isspace`` is true for (lib/ctype.c)."""
_QUOTE = ord('"')
_EQUALS = ord("=")


@dataclass(frozen=True)
class Param:
    """One word of the command line: as written, and as the kernel hands it on."""

    raw: bytes
    key: bytes
    value: bytes | None

    @property
    def is_end(self) -> bool:
        """``--`` (also quoted): the kernel's end of parameters; what follows is init's."""
        return self.key == b"--" and self.value is None


def _as_bytes(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        return text
    # surrogateescape: bytes that were not UTF-8 when read come back as they were
    return text.encode("utf-8", "surrogateescape")


def _param(word: bytes) -> Param:
    """A word cut at its first ``=`` (not at its first byte) with the kernel's quotes removed."""
    quoted = word[:1] == b'"'
    body = word[1:] if quoted else word
    equals = next((i for i, byte in enumerate(body) if byte == _EQUALS and i > 0), 0)
    end = len(body)
    value_start = equals + 1
    if equals and body[value_start : value_start + 1] == b'"':
        value_start += 1
        if body.endswith(b'"'):
            end -= 1
    if quoted and body.endswith(b'"') and end == len(body):
        end -= 1
    if not equals:
        return Param(word, body[:end], None)
    return Param(word, body[:equals], body[value_start:end] if value_start < end else b"")


def kernel_params(text: str | bytes, *, stop: bool = True) -> list[Param]:
    """The words of a command line as the kernel's ``next_arg`` cuts them; with ``stop``, none
    from a ``--`` on (the kernel's end of parameters), else every word, ``--`` too."""
    data = _as_bytes(text)
    params: list[Param] = []
    index, size = 0, len(data)
    while True:
        while index < size and data[index] in KERNEL_SPACE:
            index += 1
        if index >= size:
            return params
        start = index
        in_quote = False
        while index < size and (in_quote or data[index] not in KERNEL_SPACE):
            if data[index] == _QUOTE:
                in_quote = not in_quote
            index += 1
        param = _param(data[start:index])
        if stop and param.is_end:
            return params
        params.append(param)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def split_words(text: str | bytes) -> list[str]:
    """The words of a command line as the kernel splits them, quotes still in place."""
    return [_text(param.raw) for param in kernel_params(text, stop=False)]


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


def _needed(name: str, value: str | None) -> str:
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
        items.extend(_items(_needed(name, value)))
        fields[attr] = tuple(items)

    return setter


def _env(fields: dict[str, object], name: str, value: str | None) -> None:
    """``NAME=VALUE``; quotes around VALUE alone go too (``rd.iguana.env=A="b c"``)."""
    var, sep, val = _needed(name, value).partition("=")
    if val.startswith('"'):
        val = val[1:-1] if len(val) > 1 and val.endswith('"') else val[1:]
    if not sep or not re.fullmatch(ENV_NAME, var):
        raise UsageError(f"kernel command line: {PREFIX}{name}={value}: expected NAME=VALUE")
    env = dict(fields.get("env", {}))  # type: ignore[call-overload]
    env[var] = val
    fields["env"] = env


def _fetch_timeout(fields: dict[str, object], name: str, value: str | None) -> None:
    """``ATTEMPT`` or ``ATTEMPT,DEADLINE`` in seconds."""
    parts = _needed(name, value).split(",")
    if len(parts) > 2:
        raise UsageError(f"kernel command line: {PREFIX}{name}={value}: expected ATTEMPT[,TOTAL]")
    fields["fetch_timeout"] = _seconds(name, parts[0])
    if len(parts) == 2:
        fields["fetch_deadline"] = _seconds(name, parts[1])


def _tmpfs_size(name: str, value: str | None) -> str:
    """A ``size=`` tmpfs(5) takes: NUMBER with an optional k, m, g or %."""
    if not re.fullmatch(r"[0-9]+[kKmMgG%]?", value or ""):
        raise UsageError(
            f"kernel command line: {PREFIX}{name}={value}: expected a tmpfs size (NUMBER[k|m|g|%])"
        )
    return str(value)


OPTIONS: dict[str, Setter] = {
    "control_url": _scalar("control_url", _needed),
    "containers": _list("containers"),
    "debug": _scalar("debug", _flag),
    "env": _env,
    "insecure": _scalar("insecure", _flag),
    "ca": _scalar("ca", _needed),
    "control_digest": _scalar("control_digest", _needed),
    "registries": _list("registries"),
    "fetch_timeout": _fetch_timeout,
    "fallback": _scalar("fallback", _flag),
    "net_timeout": _scalar("net_timeout", _seconds),
    "kexec_cmdline": _scalar("kexec_cmdline", _needed),
    "reboot_delay": _scalar("reboot_delay", _seconds),
    "report": _scalar("report", _needed),
    "images": _scalar("images", _needed),
    "memory_reserve": _scalar("memory_reserve", cmdline_size),
    "memory_limit": _scalar("memory_limit", cmdline_size),
    "storage_size": _scalar("storage_size", _tmpfs_size),
    "tmp_size": _scalar("tmp_size", _tmpfs_size),
}


def parse_cmdline(text: str, errors: list[str] | None = None) -> BootConfig:
    """The BootConfig a command line asks for; UsageError names a bad option and its value.

    With ``errors`` given, a bad option is skipped and its message appended instead, so that a
    boot can record the problem while keeping the options that were fine (debug, report).
    """
    fields: dict[str, object] = {}
    unknown: list[str] = []
    for param in kernel_params(text):
        key = _text(param.key)
        value = None if param.value is None else _text(param.value)
        if not key.startswith(PREFIX):
            _console_word(fields, key, value)
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


def _console_word(fields: dict[str, object], key: str, value: str | None) -> None:
    """``quiet`` (the kernel takes it with any value) and ``rd.debug`` read as dracut's
    ``getargbool 0 rd.debug`` does (false only for 0, no, off), so that Iguana's console agrees
    with dracut's about debugging."""
    if key == "quiet":
        fields["quiet"] = True
    elif key == "rd.debug":
        fields["dracut_debug"] = value is None or value not in ("0", "no", "off")


def redact_cmdline(text: str) -> str:
    """``text`` with the value of every ``rd.iguana.env=NAME=VALUE`` shown as ``***``: what a
    checkpoint may keep of a command line that can carry secrets."""
    words = []
    for param in kernel_params(text, stop=False):
        word = _text(param.raw)
        if _text(param.key) == PREFIX + "env" and param.value is not None:
            word = f"{PREFIX}env={_text(param.value).partition('=')[0]}=***"
        words.append(word)
    return " ".join(words)


def suggest(name: str) -> str | None:
    """The known option an unknown ``rd.iguana.`` name most likely meant."""
    close = difflib.get_close_matches(name, OPTIONS, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_warnings(config: BootConfig) -> list[str]:
    """One line for each ``rd.iguana.`` option no one knows, with the likely meant one: what the
    boot logs and keeps in the checkpoint's warnings, and what the dry run prints."""
    lines = []
    for name in config.unknown:
        hint = suggest(name)
        shown = f"{PREFIX}{name}" if name.isprintable() else repr(PREFIX + name)
        lines.append(
            f"unknown kernel option {shown}, ignored"
            + (f"; did you mean {PREFIX}{hint}?" if hint else "")
        )
    return lines


def _configured(etc: Path) -> list[bytes]:
    """The words of dracut's ``/etc/cmdline.d/*.conf`` and ``/etc/cmdline``, without ``--``."""
    files = [*sorted(etc.glob("cmdline.d/*.conf")), etc / "cmdline"]
    words: list[bytes] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue  # absent, as dracut's getcmdline skips it
        words.extend(param.raw for param in kernel_params(data, stop=False) if not param.is_end)
    return words


def read_cmdline_text(path: Path = Path("/proc/cmdline"), etc: Path | None = None) -> str:
    """The command line dracut's ``getarg`` reads: with ``etc`` (``/etc`` in the initrd), the
    words of its configuration files first, then the running kernel's ``path``."""
    try:
        data = path.read_bytes().strip(bytes(KERNEL_SPACE))
    except OSError as error:
        raise UsageError(f"{path}: cannot read the kernel command line: {error.strerror}") from None
    words = [*_configured(etc), data] if etc is not None else [data]
    return b" ".join(word for word in words if word).decode("utf-8", "surrogateescape")


def read_cmdline(path: Path = Path("/proc/cmdline"), etc: Path | None = None) -> BootConfig:
    """The BootConfig of the running kernel (and of dracut's files under ``etc``)."""
    return parse_cmdline(read_cmdline_text(path, etc))
