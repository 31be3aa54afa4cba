"""Service readiness rules in the workflow (``ready:`` with one of command, port or file, and
``timeout-seconds``; ``stop-grace-seconds``): parsed into the model, refused with their key path
when wrong, described by the JSON Schema, and handed to the engine by the services stage."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from iguana_fsm.workflow.model import READY_TIMEOUT_SECONDS, STOP_GRACE_SECONDS, Readiness
from iguana_fsm.workflow.schema import build_schema
from iguana_fsm.workflow.validator import load_workflow, validate
from tests.unit.boot_harness import Boot

HEAD = "jobs:\n  a:\n    container: {image: registry.example/a:1}\n    services:\n"
GOOD = (
    HEAD
    + "      web:\n        image: registry.example/w:1\n"
    + "        ready: {port: 8080, timeout-seconds: 30}\n        stop-grace-seconds: 2.5\n"
    + "      db:\n        image: registry.example/d:1\n        ready: {file: /iguana/db-up}\n"
    + "      sh:\n        image: registry.example/d:1\n        ready: {command: test -e /up}\n"
    + "      plain:\n        image: registry.example/p:1\n"
)
SCHEMA = jsonschema.Draft7Validator(build_schema())


def problems(service: str) -> list[str]:
    """The problems of a workflow whose one service has the lines ``service``."""
    text = HEAD + "      s:\n        image: registry.example/s:1\n" + service
    return [f"{p.key_path}: {p.message}" for p in validate(text, "w.yaml")]


class TestLanguage:
    def test_rules_and_defaults_are_parsed(self) -> None:
        """Each rule lands in its field; without ready or a grace, the documented defaults."""
        services = {s.id: s for s in load_workflow(GOOD, "w.yaml").jobs[0].services}
        assert services["web"].ready == Readiness(port=8080, timeout=30.0)
        assert services["web"].stop_grace == 2.5
        assert services["db"].ready == Readiness(file="/iguana/db-up")
        assert services["sh"].ready.rule == "command test -e /up"
        assert services["plain"].ready == Readiness() and services["plain"].ready.rule is None
        assert services["plain"].ready.timeout == READY_TIMEOUT_SECONDS == 120.0
        assert services["plain"].stop_grace == STOP_GRACE_SECONDS == 10.0

    @pytest.mark.parametrize(
        ("lines", "expected"),
        [
            (
                "        ready: {timeout-seconds: 5}\n",
                "jobs.a.services.s.ready: give exactly one of command, port or file (found: none)",
            ),
            (
                "        ready: {port: 1, file: /iguana/x}\n",
                "jobs.a.services.s.ready: give exactly one of command, port or file "
                "(found: port, file)",
            ),
            (
                "        ready: {port: 70000}\n",
                "jobs.a.services.s.ready.port: expected a TCP port from 1 to 65535, found 70000",
            ),
            (
                "        ready: {file: /iguana/../etc/shadow}\n",
                "jobs.a.services.s.ready.file: expected a path under /iguana/ without '..', "
                "found /iguana/../etc/shadow",
            ),
            (
                '        ready: {port: 80, timeout-seconds: "5"}\n',
                "jobs.a.services.s.ready.timeout-seconds: expected a number of seconds above 0 "
                "and at most 86400, found the quoted text 5; write it without quotes",
            ),
            (
                "        stop-grace-seconds: 0\n",
                "jobs.a.services.s.stop-grace-seconds: expected a number of seconds above 0 and "
                "at most 86400, found 0",
            ),
            (
                "        ready: {port: 80, wait: 3}\n",
                "jobs.a.services.s.ready.wait: unknown key; known keys: command, port, file, "
                "timeout-seconds",
            ),
        ],
    )
    def test_wrong_rules_are_refused_with_their_key_path(self, lines: str, expected: str) -> None:
        """Each wrong rule is one problem naming its key."""
        assert expected in problems(lines)

    def test_the_job_container_takes_no_rule(self) -> None:
        """ready: belongs to services only."""
        text = HEAD.replace("    services:\n", "").replace(
            "{image: registry.example/a:1}", "{image: registry.example/a:1, ready: {port: 1}}"
        )
        messages = [p.message for p in validate(text, "w.yaml")]
        assert any(m.startswith("unknown key") for m in messages)

    def test_the_schema_agrees(self) -> None:
        """The JSON Schema accepts the good rules and refuses a port out of range, a string
        timeout and an unknown key in ready."""
        assert list(SCHEMA.iter_errors(yaml.safe_load(GOOD))) == []
        for bad in ("{port: 70000}", '{port: 80, timeout-seconds: "5"}', "{port: 80, wait: 3}"):
            text = HEAD + f"      s:\n        image: registry.example/s:1\n        ready: {bad}\n"
            assert list(SCHEMA.iter_errors(yaml.safe_load(text))), bad


class TestStage:
    def test_the_engine_gets_each_rule_and_grace(self, tmp_path: Path) -> None:
        """The services stage hands each service its rule (a file as the host sees it), its
        timeout, and on the way out its stop grace."""
        boot = Boot(tmp_path, GOOD)
        assert boot.run() == 0
        given = {name.rsplit("-", 1)[-1]: value for name, value in boot.engine.readiness.items()}
        assert given["web"] == (30.0, Readiness(port=8080, timeout=30.0))
        assert given["db"] == (120.0, Readiness(file=str(boot.paths.iguana / "db-up")))
        assert given["plain"] == (120.0, Readiness())
        assert sorted(boot.engine.graces.values()) == [2.5, 10.0, 10.0, 10.0]
