"""The validator: YAML nodes into a Workflow, or every problem placed at line and column.

This is the only module that sees untyped YAML. ``yaml_nodes`` composes the text into nodes
(which carry their position and keep duplicate keys, unlike ``yaml.safe_load``); this module
walks them along the tables of ``grammar.py``. It never stops at the first problem: every
problem is collected (up to ``PROBLEM_LIMIT`` shown), and only a text without any becomes a
``Workflow``.

Scalars are read so that YAML 1.1 (PyYAML) and YAML 1.2 (editors, the JSON Schema) agree:
a boolean is a plain ``true``/``false`` or one of YAML 1.1's words (``yes``, ``on``, ...; the
schema lists them as text values), numbers are YAML 1.2 core numbers (``1_000`` and ``1:30``
are text in YAML 1.2, so they are refused), and quoted text is never a boolean or number. Merge keys
(``<<: *base``, YAML 1.1's merge type, which PyYAML, go-yaml and the YAML language server read)
merge the named mappings; keys written in the mapping itself win.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from iguana_fsm.errors import WorkflowInvalid
from iguana_fsm.workflow import grammar, readiness
from iguana_fsm.workflow.grammar import Key
from iguana_fsm.workflow.model import Condition, Container, Job, Service, Volume, Workflow
from iguana_fsm.workflow.plan import find_cycles
from iguana_fsm.workflow.problem import Problem, show
from iguana_fsm.workflow.reference import reference_problem
from iguana_fsm.workflow.volumes import clean_target, parse_volume
from iguana_fsm.workflow.yaml_nodes import compose

__all__ = ["load_workflow", "parse", "parse_volume", "validate"]

_TAG = "tag:yaml.org,2002:"
PROBLEM_LIMIT = 200
"""Most problems reported for one file; a last line says how many more there are."""
SUGGESTION_LIMIT = 20
"""Most unknown needs that get a did-you-mean (each is a search over every job id)."""
CYCLE_SHOWN = 8
"""Most jobs of a cycle named in its problem; the rest are counted."""
MAX_MINUTES = grammar.MAX_MINUTES
_TRUE = frozenset(grammar.TRUE_WORDS)
_FALSE = frozenset(grammar.FALSE_WORDS)
_NUMBER = re.compile(
    r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
)
"""YAML 1.2 core schema numbers (int and float, without .inf and .nan)."""
_JOB_ID = re.compile(grammar.JOB_ID)
_ENV_NAME = re.compile(grammar.ENV_NAME)
_CONDITION = re.compile(grammar.CONDITION_PATTERN)
_CONDITION_NAME = re.compile(r"(success|failure|always)\(")

SHOWN_TEXT = 40
"""Keys and values up to this length are quoted in problems; longer ones (and keys holding ``:``
or ``$``, the shape of passwd and shadow lines) only by their length."""

Position = tuple[int, int]
Entries = dict[str, tuple[ScalarNode, Node]]


def _at(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _join(path: str, key: str) -> str:
    # a key with spaces or control characters is quoted so that a problem stays one line; a
    # long one is not quoted at all: line and column find it, and a file that is no workflow
    # (a file:// URL naming /etc/shadow) must not reach the log through its problems
    if len(key) > SHOWN_TEXT or ":" in key or "$" in key:
        shown = f"<a key of {len(key)} characters>"
    else:
        shown = key if key and key.isprintable() and " " not in key else repr(key)
    return f"{path}.{shown}" if path else shown


def _near(word: str, choices: Sequence[str]) -> str | None:
    """The choice ``word`` most likely meant, ignoring case and ``_`` for ``-``."""
    folded = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.replace("_", "-").lower(), list(folded), 1, 0.6)
    return folded[close[0]] if close else None


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _TAG + "null":
        return "nothing"
    text = str(node.value)
    shown = repr(text) if len(text) <= SHOWN_TEXT else f"a text of {len(text)} characters"
    quoted = isinstance(node, ScalarNode) and node.style in ("'", '"')
    return f"the quoted text {shown}" if quoted else shown


def _elide(cycle: list[str]) -> str:
    """``a -> b -> ... -> a`` naming at most CYCLE_SHOWN jobs, each shown on one line."""
    names = [show(job_id) for job_id in cycle]
    if len(names) > CYCLE_SHOWN + 1:
        hidden = len(names) - CYCLE_SHOWN - 1
        names = [*names[: CYCLE_SHOWN - 1], f"... ({hidden} more)", names[-2], names[-1]]
    return " -> ".join(names)


@dataclass
class _Walk:
    """The state of one walk over a document: its problems and the positions seen."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    # (job id, need, node of the need, key path) for the cross-job checks at the end
    needs: list[tuple[str, str, Node, str]] = field(default_factory=list)

    def problem(self, where: Node | Position, path: str, message: str) -> None:
        line, col = _at(where) if isinstance(where, Node) else where
        self.problems.append(Problem(self.source, line, col, path, message))

    def mapping(self, node: Node, path: str) -> Entries | None:
        """The entries of a mapping node, reporting non-mappings and duplicate keys."""
        if not isinstance(node, MappingNode):
            self.problem(node, path, f"expected a mapping (key: value), found {_describe(node)}")
            return None
        entries: Entries = {}
        merged: list[Node] = []
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                self.problem(key, path, f"a key must be a plain name, not {_describe(key)}")
                continue
            if key.tag == _TAG + "merge":
                merged.extend(self.merge_sources(value, _join(path, "<<")))
                continue
            name = str(key.value)
            if name in entries:
                first = _at(entries[name][0])[0]
                self.problem(key, _join(path, name), f"duplicate key (first at line {first})")
                continue
            entries[name] = (key, value)
            self.positions[_join(path, name)] = _at(key)
        for source in merged:
            # the first source to name a key wins, and the mapping's own keys win over all
            for name, entry in (self.mapping(source, path) or {}).items():
                entries.setdefault(name, entry)
        return entries

    def merge_sources(self, node: Node, path: str) -> list[Node]:
        """The mappings a merge key (``<<``) names: one mapping or a list of them."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        if all(isinstance(source, MappingNode) for source in sources):
            return list(sources)
        self.problem(node, path, "a merge key (<<) takes a mapping or a list of mappings")
        return []

    def known(self, entries: Entries, keys: Sequence[Key], path: str, anchor: Node) -> None:
        """Report unknown keys (with a did-you-mean) and missing required ones."""
        names = [key.name for key in keys]
        for name, (key_node, _) in entries.items():
            if name in names:
                continue
            guess = _near(name, names)
            hint = f"; did you mean {guess!r}?" if guess else f"; known keys: {', '.join(names)}"
            self.problem(key_node, _join(path, name), f"unknown key{hint}")
        for key in keys:
            if key.required and key.name not in entries:
                self.problem(anchor, _join(path, key.name), "required key is missing")

    def sequence(self, node: Node, path: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.problem(node, path, f"expected a list (- item), found {_describe(node)}")
            return None
        for index, item in enumerate(node.value):
            self.positions[f"{path}[{index}]"] = _at(item)
        return list(node.value)

    def scalar(self, node: Node, path: str, what: str) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag == _TAG + "null":
            self.problem(node, path, f"expected {what}, found {_describe(node)}")
            return None
        return str(node.value)

    # --- the language -------------------------------------------------------------------------

    def workflow(self, root: Node) -> Workflow | None:
        entries = self.mapping(root, "")
        if entries is None:
            return None
        self.known(entries, grammar.WORKFLOW_KEYS, "", root)
        name = description = None
        if "name" in entries:
            name = self.scalar(entries["name"][1], "name", "text")
        if "description" in entries:
            description = self.scalar(entries["description"][1], "description", "text")
        env = self.env(entries["env"][1], "env") if "env" in entries else {}
        public: frozenset[str] = frozenset()
        if "public-env" in entries:
            public = self.env_names(entries["public-env"][1], "public-env")
        jobs: tuple[Job, ...] = ()
        if "jobs" in entries:
            jobs = self.jobs(entries["jobs"][1], "jobs")
        self.check_needs([job.id for job in jobs])
        if self.problems:
            return None
        return Workflow(
            jobs=jobs,
            name=name,
            description=description,
            env=env,
            public_env=public,
            source=self.source,
            positions=self.positions,
        )

    def env(self, node: Node, path: str) -> dict[str, str]:
        entries = self.mapping(node, path)
        env: dict[str, str] = {}
        for name, (key, value) in (entries or {}).items():
            here = _join(path, name)
            if not _ENV_NAME.fullmatch(name):
                self.problem(key, here, "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
            if not isinstance(value, ScalarNode):
                self.problem(value, here, f"expected a text value, found {_describe(value)}")
                continue
            env[name] = "" if value.tag == _TAG + "null" else str(value.value)
        return env

    def env_names(self, node: Node, path: str) -> frozenset[str]:
        names: set[str] = set()
        for index, item in enumerate(self.sequence(node, path) or ()):
            here = f"{path}[{index}]"
            name = self.scalar(item, here, "a variable name")
            if name is not None and not _ENV_NAME.fullmatch(name):
                self.problem(item, here, f"{name!r} is not a valid variable name")
            names.add(name or "")
        return frozenset(names - {""})

    def jobs(self, node: Node, path: str) -> tuple[Job, ...]:
        entries = self.mapping(node, path)
        if entries is None:
            return ()
        if not entries:
            self.problem(node, path, "a workflow needs at least one job")
            return ()
        return tuple(
            self.job(name, key, value, _join(path, name)) for name, (key, value) in entries.items()
        )

    def job(self, job_id: str, key: ScalarNode, node: Node, path: str) -> Job:
        if not _JOB_ID.fullmatch(job_id):
            self.problem(key, path, "a job id must match [A-Za-z_][A-Za-z0-9_-]*")
        entries = self.mapping(node, path) or {}
        if isinstance(node, MappingNode):
            self.known(entries, grammar.JOB_KEYS, path, key)
        job_env = self.env(entries["env"][1], _join(path, "env")) if "env" in entries else {}
        container = Container(image="")
        if "container" in entries:
            container = self.container(entries["container"], _join(path, "container"), job_env)
        services: list[Service] = []
        if "services" in entries:
            services = self.services(entries["services"][1], _join(path, "services"), job_env)
        needs: list[str] = []
        if "needs" in entries:
            needs = self.job_needs(job_id, entries["needs"][1], _join(path, "needs"))
        condition = Condition.SUCCESS
        if "if" in entries:
            condition = self.condition(entries["if"][1], _join(path, "if"))
        continue_on_error = False
        if "continue-on-error" in entries:
            continue_on_error = self.boolean(
                entries["continue-on-error"][1], _join(path, "continue-on-error")
            )
        timeout = None
        if "timeout-minutes" in entries:
            timeout = self.minutes(entries["timeout-minutes"][1], _join(path, "timeout-minutes"))
        return Job(
            id=job_id,
            container=container,
            services=tuple(services),
            needs=tuple(needs),
            condition=condition,
            continue_on_error=continue_on_error,
            timeout_minutes=timeout,
            env=job_env,
            line=_at(key)[0],
        )

    def container(
        self,
        entry: tuple[ScalarNode, Node],
        path: str,
        job_env: dict[str, str],
        entries: Entries | None = None,
    ) -> Container:
        key, node = entry
        if entries is None:
            entries = self.mapping(node, path)
            if entries is None:
                return Container(image="")
            self.known(entries, grammar.CONTAINER_KEYS, path, key)
        image = ""
        if "image" in entries:
            image = self.image(entries["image"][1], _join(path, "image"))
        env = self.env(entries["env"][1], _join(path, "env")) if "env" in entries else {}
        volumes: tuple[Volume, ...] = ()
        if "volumes" in entries:
            volumes = self.volumes(entries["volumes"][1], _join(path, "volumes"))
        return Container(image=image, env={**job_env, **env}, volumes=volumes)

    def services(self, node: Node, path: str, job_env: dict[str, str]) -> list[Service]:
        services: list[Service] = []
        for name, entry in (self.mapping(node, path) or {}).items():
            here = _join(path, name)
            if not _JOB_ID.fullmatch(name):
                self.problem(entry[0], here, "a service id must match [A-Za-z_][A-Za-z0-9_-]*")
            services.append(readiness.service(self, name, entry, here, job_env))
        return services

    def image(self, node: Node, path: str) -> str:
        text = self.scalar(node, path, "an image reference")
        if text is None:
            return ""
        why = reference_problem(text)
        if why is not None:
            self.problem(node, path, f"invalid image reference {text!r}: {why}")
        return text

    def volumes(self, node: Node, path: str) -> tuple[Volume, ...]:
        volumes: list[Volume] = []
        targets: dict[str, int] = {}
        for index, item in enumerate(self.sequence(node, path) or ()):
            here = f"{path}[{index}]"
            text = self.scalar(item, here, "a volume (name:/path, /host:/path or /path)")
            if text is None:
                continue
            volume = parse_volume(text)
            if isinstance(volume, str):
                self.problem(item, here, f"invalid volume {text!r}: {volume}")
                continue
            target = clean_target(volume.target)
            if target in targets:
                self.problem(item, here, f"{target!r} is already mounted by item {targets[target]}")
            targets.setdefault(target, index)
            volumes.append(volume)
        return tuple(volumes)

    def job_needs(self, job_id: str, node: Node, path: str) -> list[str]:
        items: list[tuple[Node, str]] = []
        if isinstance(node, SequenceNode):
            items = [(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
            self.positions.update((here, _at(item)) for item, here in items)
        elif isinstance(node, ScalarNode) and node.tag != _TAG + "null":
            items = [(node, path)]
        else:
            self.problem(
                node, path, f"expected a job id or a list of them, found {_describe(node)}"
            )
        needs: dict[str, None] = {}
        for item, here in items:
            need = self.scalar(item, here, "a job id")
            if need is None:
                continue
            if need in needs:
                self.problem(item, here, f"{need!r} is listed twice")
                continue
            needs[need] = None
            self.needs.append((job_id, need, item, here))
        return list(needs)

    def condition(self, node: Node, path: str) -> Condition:
        text = self.scalar(node, path, "success(), failure() or always()")
        if text is None:
            return Condition.SUCCESS
        name = _CONDITION_NAME.search(text)
        if _CONDITION.match(text) is None or name is None:
            self.problem(
                node,
                path,
                f"{text!r} is not a condition; use success(), failure() or always() "
                "(optionally as ${{ ... }})",
            )
            return Condition.SUCCESS
        return Condition(name.group(1))

    def boolean(self, node: Node, path: str) -> bool:
        plain = isinstance(node, ScalarNode) and not node.style
        if plain and (node.value in _TRUE or node.value in _FALSE):
            return bool(node.value in _TRUE)
        hint = ""
        if isinstance(node, ScalarNode) and (node.value in _TRUE or node.value in _FALSE):
            hint = "; write it without quotes"
        self.problem(node, path, f"expected true or false, found {_describe(node)}{hint}")
        return False

    def minutes(self, node: Node, path: str) -> float | None:
        value: float | None = None
        plain = isinstance(node, ScalarNode) and not node.style
        text = str(node.value) if isinstance(node, ScalarNode) else ""
        if plain and _NUMBER.fullmatch(text):
            base = {"0o": 8, "0x": 16}.get(text[:2])
            value = float(int(text[2:], base)) if base else float(text)
        if value is None or not 0 < value <= MAX_MINUTES:
            hint = "; write it without quotes" if _NUMBER.fullmatch(text) and not plain else ""
            self.problem(
                node,
                path,
                f"expected a number of minutes above 0 and at most {MAX_MINUTES:.0f}, "
                f"found {_describe(node)}{hint}",
            )
            return None
        return value

    def check_needs(self, job_ids: list[str]) -> None:
        """Report needs naming no job, and needs that go round in a cycle."""
        graph: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
        first_needs: dict[str, tuple[Node, str]] = {}
        guesses = 0
        for job_id, need, node, path in self.needs:
            first_needs.setdefault(job_id, (node, path.split("[", 1)[0]))
            if need not in graph:
                guesses += 1
                guess = _near(need, job_ids) if guesses <= SUGGESTION_LIMIT else None
                hint = f"; did you mean {guess!r}?" if guess else ""
                self.problem(node, path, f"needs unknown job {need!r}{hint}")
            else:
                graph[job_id].append(need)
        for cycle in find_cycles(graph):
            node, path = first_needs[cycle[0]]
            self.problem(node, path, f"needs form a cycle: {_elide(cycle)}")


def parse(data: str | bytes, source: str) -> tuple[Workflow | None, list[Problem]]:
    """The workflow in ``data`` and every problem found; the workflow is None unless none."""
    root, problems = compose(data, source)
    if root is None:
        return None, problems
    walk = _Walk(source)
    workflow = walk.workflow(root)
    problems = sorted(walk.problems, key=lambda problem: (problem.line, problem.col))
    if len(problems) > PROBLEM_LIMIT:
        more = len(problems) - PROBLEM_LIMIT
        problems = [
            *problems[:PROBLEM_LIMIT],
            Problem(source, 0, 0, "", f"{more} more problems not shown"),
        ]
    return workflow, problems


def validate(text: str | bytes, source: str) -> list[Problem]:
    """Every problem of the workflow in ``text``, in file order; empty when it is valid."""
    return parse(text, source)[1]


def load_workflow(data: str | bytes, source: str) -> Workflow:
    """The workflow in ``data``; WorkflowInvalid holds every problem when there is any."""
    workflow, problems = parse(data, source)
    if workflow is None:
        raise WorkflowInvalid(list(problems))
    return workflow
