"""The man pages and the bash completion are generated from the argparse definitions: every
verb has a page naming every option its parser accepts, and bash completes verbs, options and
option values the parser knows."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest

from iguana_fsm.cli import build_parser
from tools import cli_docs

VERBS = cli_docs.verbs(build_parser())


def _plain(page: Path) -> str:
    """The page as man renders it (roff escapes resolved)."""
    result = subprocess.run(
        ["man", "-l", str(page)],
        capture_output=True,
        text=True,
        check=True,
        env={"MANWIDTH": "200", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    return result.stdout.replace("\u2010", "-").replace("\u2212", "-")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated pages."""
    directory = tmp_path_factory.mktemp("man")
    cli_docs.write_man(directory)
    return directory


def test_parser_has_verbs() -> None:
    """The introspection finds the verbs (an empty list would make the other tests vacuous)."""
    assert {"run", "status", "resume", "validate"} <= set(VERBS)


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_page_lists_every_option(pages: Path, verb: str) -> None:
    """iguana-VERB.1 exists, renders with man, and names every option string and positional
    argument of the verb's parser."""
    parser, summary = VERBS[verb]
    text = _plain(pages / f"iguana-{verb}.1")
    assert f"iguana-{verb} - {summary}" in " ".join(text.split())
    for action in parser._actions:
        for option in action.option_strings:
            assert option in text, f"{option} missing from iguana-{verb}.1"
        if not action.option_strings and action.metavar:
            assert str(action.metavar) in text


def test_main_page_names_every_verb(pages: Path) -> None:
    """iguana.1 lists every verb with a pointer to its page, and no page exists for a verb
    the parser lacks."""
    text = _plain(pages / "iguana.1")
    for verb in VERBS:
        assert f"iguana-{verb}(1)" in text
    assert sorted(path.name for path in pages.iterdir()) == sorted(
        ["iguana.1", *(f"iguana-{verb}.1" for verb in VERBS)]
    )


def _complete(script: Path, *words: str) -> list[str]:
    """What bash's completion function offers for the command line ``words`` (the last one is
    the word being completed)."""
    line = " ".join(repr(word) if word else "''" for word in words)
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
        "_iguana\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_bash_completion(tmp_path: Path) -> None:
    """bash completes the verbs, each verb's options and the choices of an option with
    choices, all as the parser defines them."""
    script = tmp_path / "iguana"
    script.write_text(cli_docs.bash_completion())
    assert set(_complete(script, "iguana", "")) >= set(VERBS)
    for verb, (parser, _) in VERBS.items():
        offered = set(_complete(script, "iguana", verb, "-"))
        for action in parser._actions:
            assert set(action.option_strings) <= offered, verb
            if action.option_strings and action.choices is not None:
                values = _complete(script, "iguana", verb, action.option_strings[0], "")
                assert values == [str(choice) for choice in action.choices]
    assert isinstance(VERBS["run"][0], argparse.ArgumentParser)
