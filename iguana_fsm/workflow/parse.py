"""YAML text into a Workflow, keeping the line and column of every node on the way.

This is the only module that sees untyped YAML. It composes the text into nodes (which carry
their position and keep duplicate keys, unlike ``yaml.safe_load``), then walks them along the
tables of ``grammar.py``. It never stops at the first problem: every problem is collected, and
only a text without any becomes a ``Workflow``.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from iguana_fsm.errors import WorkflowInvalid
from iguana_fsm.workflow import grammar
from iguana_fsm.workflow.grammar import Key
from iguana_fsm.workflow.model import Condition, Container, Job, Service, Volume, Workflow
from iguana_fsm.workflow.plan import find_cycles
from iguana_fsm.workflow.problem import Problem
from iguana_fsm.workflow.reference import parse_reference, reference_problem

# libyaml when present: several times faster, and it bounds nesting instead of recursing
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONSTRUCTOR = SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_JOB_ID = re.compile(grammar.JOB_ID)
_ENV_NAME = re.compile(grammar.ENV_NAME)
_VOLUME_NAME = re.compile(grammar.VOLUME_NAME)
_CONDITION = re.compile(grammar.CONDITION_PATTERN)
_CONDITION_NAME = re.compile(r"(success|failure|always)\(")
_CONTAINERS_SOURCE = "rd.iguana.containers"

Position = tuple[int, int]
Entries = dict[str, tuple[ScalarNode, Node]]


def _at(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _join(path: str, key: str) -> str:
    # a key with spaces or control characters is quoted so that a problem stays one line
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
    return repr(text if len(text) <= 40 else text[:37] + "...")


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
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                self.problem(key, path, f"a key must be a plain name, not {_describe(key)}")
                continue
            if key.tag == _TAG + "merge":
                self.problem(key, _join(path, "<<"), "YAML merge keys (<<) are not supported")
                continue
            name = str(key.value)
            if name in entries:
                first = _at(entries[name][0])[0]
                self.problem(key, _join(path, name), f"duplicate key (first at line {first})")
                continue
            entries[name] = (key, value)
            self.positions[_join(path, name)] = _at(key)
        return entries

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
        self, entry: tuple[ScalarNode, Node], path: str, job_env: dict[str, str]
    ) -> Container:
        key, node = entry
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
            services.append(Service(id=name, container=self.container(entry, here, job_env)))
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
            if volume.target in targets:
                self.problem(
                    item,
                    here,
                    f"{volume.target} is already mounted by item {targets[volume.target]}",
                )
            targets.setdefault(volume.target, index)
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
        needs: list[str] = []
        for item, here in items:
            need = self.scalar(item, here, "a job id")
            if need is None:
                continue
            if need in needs:
                self.problem(item, here, f"{need!r} is listed twice")
                continue
            needs.append(need)
            self.needs.append((job_id, need, item, here))
        return needs

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
        if isinstance(node, ScalarNode) and node.tag == _TAG + "bool":
            return bool(_CONSTRUCTOR.construct_yaml_bool(node))
        self.problem(node, path, f"expected true or false, found {_describe(node)}")
        return False

    def minutes(self, node: Node, path: str) -> float | None:
        value: float | None = None
        if isinstance(node, ScalarNode) and node.tag in (_TAG + "int", _TAG + "float"):
            try:
                if node.tag == _TAG + "int":
                    value = float(_CONSTRUCTOR.construct_yaml_int(node))
                else:
                    value = float(_CONSTRUCTOR.construct_yaml_float(node))
            except (ValueError, OverflowError):
                value = None
        if value is None or not 0 < value < float("inf"):
            self.problem(
                node, path, f"expected a positive number of minutes, found {_describe(node)}"
            )
            return None
        return value

    def check_needs(self, job_ids: list[str]) -> None:
        """Report needs naming no job, and needs that go round in a cycle."""
        known = set(job_ids)
        graph: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
        first_needs: dict[str, tuple[Node, str]] = {}
        for job_id, need, node, path in self.needs:
            first_needs.setdefault(job_id, (node, path.split("[", 1)[0]))
            if need not in known:
                guess = _near(need, job_ids)
                hint = f"; did you mean {guess!r}?" if guess else ""
                self.problem(node, path, f"needs unknown job {need!r}{hint}")
            elif job_id in graph:
                graph[job_id].append(need)
        for cycle in find_cycles(graph):
            node, path = first_needs[cycle[0]]
            self.problem(node, path, f"needs form a cycle: {' -> '.join(cycle)}")


def parse_volume(text: str) -> Volume | str:
    """A volume from ``name:/path``, ``/host:/path`` or ``/path`` (+ ``:ro``/``:rw``), or why not.

    The target cannot be one Iguana mounts itself (``grammar.RESERVED_TARGETS``). Only the text
    is checked here; podman checks that a host path exists when the job starts.
    """
    parts = text.split(":")
    if "" in parts:
        return "a part between ':' is empty"
    read_only = False
    if len(parts) > 1 and parts[-1] in grammar.VOLUME_MODES:
        read_only = parts.pop() == "ro"
    elif len(parts) == 3:
        return f"mode {parts[2]!r} must be ro or rw"
    if len(parts) > 2:
        return "expected SOURCE:TARGET[:ro|rw] with at most three parts"
    target = parts[-1]
    if not target.startswith("/"):
        return f"target {target!r} must be an absolute path"
    reserved = grammar.RESERVED_TARGETS.get(posixpath.normpath("/" + target.lstrip("/")))
    if reserved is not None:
        return reserved
    source = parts[0] if len(parts) == 2 else None
    if source is not None and not source.startswith("/") and not _VOLUME_NAME.fullmatch(source):
        return f"source {source!r} must be an absolute host path or a volume name"
    return Volume(source=source, target=target, read_only=read_only)


def _yaml_problem(source: str, text: str, error: yaml.YAMLError) -> Problem:
    if isinstance(error, yaml.reader.ReaderError):
        before = text[: error.position]
        line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
        char = error.character if isinstance(error.character, int) else ord(error.character)
        return Problem(source, line, col, "", f"YAML: character U+{char:04X} is not allowed")
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


def _decode(data: str | bytes, source: str) -> str | Problem:
    if isinstance(data, str):
        try:
            # a lone surrogate cannot reach libyaml, which reads UTF-8
            data.encode("utf-8")
        except UnicodeEncodeError as error:
            before = data[: error.start]
            line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
            char = ord(data[error.start])
            return Problem(source, line, col, "", f"YAML: character U+{char:04X} is not allowed")
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        prefix = data[: error.start]
        line = prefix.count(b"\n") + 1
        col = len(prefix) - prefix.rfind(b"\n")
        return Problem(source, line, col, "", f"not UTF-8 text (byte 0x{data[error.start]:02x})")


def compose(data: str | bytes, source: str) -> tuple[Node | None, list[Problem]]:
    """The YAML node tree of a single-document text, or the problem that stops YAML reading it."""
    text = _decode(data, source)
    if isinstance(text, Problem):
        return None, [text]
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as error:
        return None, [_yaml_problem(source, text, error)]
    except RecursionError:
        return None, [Problem(source, 1, 1, "", "YAML: nested too deeply")]
    if root is None:
        return None, [Problem(source, 1, 1, "jobs", "the file is empty; a workflow needs jobs")]
    return root, []


def parse(data: str | bytes, source: str) -> tuple[Workflow | None, list[Problem]]:
    """The workflow in ``data`` and every problem found; the workflow is None unless none."""
    root, problems = compose(data, source)
    if root is None:
        return None, problems
    walk = _Walk(source)
    workflow = walk.workflow(root)
    return workflow, sorted(walk.problems, key=lambda problem: (problem.line, problem.col))


def load_workflow(data: str | bytes, source: str) -> Workflow:
    """The workflow in ``data``; WorkflowInvalid holds every problem when there is any."""
    workflow, problems = parse(data, source)
    if workflow is None:
        raise WorkflowInvalid(list(problems))
    return workflow


def _job_id(image: str, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "-", parse_reference(image).name)
    base = name if _JOB_ID.fullmatch(name) else f"job-{name}"
    job_id, number = base, 1
    while job_id in taken:
        number += 1
        job_id = f"{base}-{number}"
    taken.add(job_id)
    return job_id


def workflow_from_containers(images: Sequence[str]) -> Workflow:
    """The workflow ``rd.iguana.containers=a,b`` stands for: one job per image, in order.

    Job ids are the images' last path components, made unique with ``-2``, ``-3``...
    """
    problems = [
        Problem(_CONTAINERS_SOURCE, 0, 0, f"containers[{index}]", f"invalid image {image!r}: {why}")
        for index, image in enumerate(images)
        if (why := reference_problem(image)) is not None
    ]
    if not images:
        problems.append(Problem(_CONTAINERS_SOURCE, 0, 0, "", "no container images given"))
    if problems:
        raise WorkflowInvalid(list(problems))
    taken: set[str] = set()
    jobs = tuple(
        Job(id=_job_id(image, taken), container=Container(image=image)) for image in images
    )
    return Workflow(jobs=jobs, source=_CONTAINERS_SOURCE)
