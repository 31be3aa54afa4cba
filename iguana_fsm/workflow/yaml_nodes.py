"""Workflow text into YAML nodes that carry their line and column, with a bounded cost.

libyaml composes the nodes (``yaml.compose`` keeps duplicate keys and positions, unlike
``yaml.safe_load``). Before it does, one pass over libyaml's event stream counts the nodes the
document stands for *with every alias expanded* (an alias counts as the whole node it names,
as YAML 1.2's "alias nodes" are read by any consumer that walks them). A document over
``NODE_LIMIT`` is refused before anything is built, so that the cost of validating is bounded
by a constant, whatever the text: an "alias bomb" that is a few kilobytes of text and billions
of nodes once expanded stops after ``NODE_LIMIT`` events.

Problems of the text itself (not UTF-8, a character YAML forbids, a syntax error) are placed at
line and column in characters: libyaml's reader reports a byte offset, its parser a character
mark, and both are converted here.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
)
from yaml.nodes import Node

from iguana_fsm.workflow.problem import Problem

# libyaml when present: several times faster, and it bounds nesting instead of recursing
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

NODE_LIMIT = 150_000
"""Most YAML nodes a workflow may have, aliases expanded. A 10,000-job workflow whose jobs
each name an image and need the job before is 100,000; real workflows have hundreds."""


def _line_col(text: str, index: int) -> tuple[int, int]:
    """Line and column (from 1) of the character at ``index``."""
    before = text[:index]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def _reader_problem(source: str, text: str, error: yaml.reader.ReaderError) -> Problem:
    # libyaml's reader counts bytes of the UTF-8 text, the pure-Python one characters
    index = error.position
    if _LOADER is not yaml.SafeLoader:
        index = len(text.encode("utf-8")[: error.position].decode("utf-8", "ignore"))
    line, col = _line_col(text, index)
    char = error.character if isinstance(error.character, int) else ord(error.character)
    return Problem(source, line, col, "", f"YAML: character U+{char:04X} is not allowed")


def _yaml_problem(source: str, text: str, error: yaml.YAMLError) -> Problem:
    if isinstance(error, yaml.reader.ReaderError):
        return _reader_problem(source, text, error)
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = str(getattr(error, "problem", None) or str(error).splitlines()[0])
    context = getattr(error, "context", None)
    message = f"YAML: {problem}" + (f" ({context})" if context else "")
    if mark is not None and text[mark.index : mark.index + 1] == "\t":
        message = "YAML: a tab cannot indent YAML; use spaces"
    elif problem.startswith("but found another document"):
        message = "YAML: a workflow is a single document; remove the second one (---)"
    return Problem(source, line, col, "", message)


def decode(data: str | bytes, source: str) -> str | Problem:
    """The text of ``data`` (UTF-8, an optional byte order mark), or where it is not text."""
    if isinstance(data, str):
        try:
            # a lone surrogate cannot reach libyaml, which reads UTF-8
            data.encode("utf-8")
        except UnicodeEncodeError as error:
            line, col = _line_col(data, error.start)
            char = ord(data[error.start])
            return Problem(source, line, col, "", f"YAML: character U+{char:04X} is not allowed")
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        prefix = data[: error.start]
        line = prefix.count(b"\n") + 1
        # columns count characters: the valid UTF-8 before the bad byte on its line
        col = len(prefix[prefix.rfind(b"\n") + 1 :].decode("utf-8", "ignore")) + 1
        return Problem(source, line, col, "", f"not UTF-8 text (byte 0x{data[error.start]:02x})")


class RecursiveAlias(yaml.YAMLError):
    """An alias names a node that contains it: a document of infinite size."""

    def __init__(self, anchor: str, mark: object) -> None:
        super().__init__(f"alias *{anchor} is inside the node it names (a recursive alias)")
        self.problem = str(self)
        self.problem_mark = mark


def expanded_size(text: str, limit: int = NODE_LIMIT) -> int:
    """The number of nodes of ``text`` with aliases expanded, counting up to ``limit + 1``.

    One pass over the events: the size of an anchored node is the count at its end minus the
    count before it started, and an alias adds that size. YAMLError when the text is not YAML,
    RecursiveAlias when an alias is inside the node it names (libyaml builds such a loop).
    """
    total = 0
    sizes: dict[str, int] = {}  # anchor: size of the node it names now
    still_open: set[str] = set()  # anchors naming a collection not yet ended
    open_nodes: list[tuple[str | None, int]] = []
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, ScalarEvent):
            total += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
                still_open.discard(event.anchor)
        elif isinstance(event, AliasEvent):
            name = event.anchor or ""
            if name in still_open:
                raise RecursiveAlias(name, event.start_mark)
            total += sizes.get(name, 1)
        elif isinstance(event, CollectionStartEvent):
            # from here on the anchor names this node, as libyaml's composer registers it
            open_nodes.append((event.anchor, total))
            if event.anchor is not None:
                still_open.add(event.anchor)
                sizes.pop(event.anchor, None)
            total += 1
        elif isinstance(event, CollectionEndEvent):
            anchor, before = open_nodes.pop()
            # unless an inner node took the name over meanwhile
            if anchor is not None and anchor in still_open and anchor not in sizes:
                sizes[anchor] = total - before
                still_open.discard(anchor)
        if total > limit:
            break
    return total


def compose(data: str | bytes, source: str) -> tuple[Node | None, list[Problem]]:
    """The YAML node tree of a single-document text, or the problem that stops reading it."""
    text = decode(data, source)
    if isinstance(text, Problem):
        return None, [text]
    try:
        size = expanded_size(text)
        if size > NODE_LIMIT:
            return None, [
                Problem(
                    source,
                    1,
                    1,
                    "",
                    f"YAML: more than {NODE_LIMIT} nodes once aliases are expanded; "
                    "a workflow is far smaller",
                )
            ]
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as error:
        return None, [_yaml_problem(source, text, error)]
    except RecursionError:
        return None, [Problem(source, 1, 1, "", "YAML: nested too deeply")]
    if root is None:
        return None, [Problem(source, 1, 1, "jobs", "the file is empty; a workflow needs jobs")]
    return root, []


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a document is composed and walked: its passes
    over the growing tree of nodes made validation superlinear in the file's size (1.6-1.9x the
    time per job at 10,000 jobs as at 1,000; bench/bench_validate_shapes.py). Nothing made
    here needs it: reference counting frees the tree."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
