"""The command line is parsed by the named verb's parser alone (``build_parser(verb)``), which
must read that verb's arguments, print its help and refuse its errors exactly as the whole
command line does (issue 17: building every verb's parser was most of ``status``'s own
time)."""

from __future__ import annotations

import contextlib
import io

import pytest

from iguana_fsm import cli

SAMPLES = {
    "run": ["run", "--dry-run", "--workflow", "w.yaml", "--sandbox", "/tmp/box"],
    "status": ["status", "--json", "--wait", "--timeout", "5", "--sandbox", "/tmp/box"],
    "logs": ["logs", "--sandbox", "/tmp/box"],
    "resume": ["resume", "--sandbox", "/tmp/box"],
    "validate": ["validate", "a.yaml", "b.yaml"],
    "verify": ["verify", "--sandbox", "/tmp/box"],
    "schema": ["schema"],
    "diagram": ["diagram", "--format", "dot"],
}


def parsed(verb: str | None, argv: list[str]) -> tuple[int | None, str, str, dict[str, object]]:
    """What ``build_parser(verb)`` makes of ``argv``: its exit (None when it parsed), what it
    printed on stdout and stderr, and the parsed arguments."""
    out, err = io.StringIO(), io.StringIO()
    code, values = None, {}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            values = vars(cli.build_parser(verb).parse_args(argv))
        except SystemExit as stop:
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue(), values


def test_every_verb_has_a_sample() -> None:
    """The samples cover every verb the command line has."""
    assert set(SAMPLES) == set(cli.VERBS)


@pytest.mark.parametrize("verb", sorted(SAMPLES))
def test_the_verbs_parser_alone_reads_as_the_whole(verb: str) -> None:
    """A verb's arguments, its ``--help`` and an unknown option give the same result, output
    and exit code from the verb's parser alone as from the whole command line."""
    for argv in (SAMPLES[verb], [verb, "--help"], [verb, "--no-such-option"]):
        assert parsed(verb, argv) == parsed(None, argv), argv


def test_main_builds_only_the_named_verb(monkeypatch: pytest.MonkeyPatch) -> None:
    """``iguana schema`` builds the schema verb's parser alone; ``iguana --version`` and a name
    that is no verb build the whole command line."""
    built: list[str | None] = []
    whole = cli.build_parser

    def spy(verb: str | None = None) -> object:
        built.append(verb)
        return whole(verb)

    monkeypatch.setattr(cli, "build_parser", spy)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["schema"]) == 0
        with pytest.raises(SystemExit):
            cli.main(["--version"])
        with pytest.raises(SystemExit):
            cli.main(["statu"])
    assert built == ["schema", None, None]
