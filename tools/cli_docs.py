#!/usr/bin/env python3
"""Man pages and bash completion for ``iguana``, generated from its argparse definitions
(``iguana_fsm.cli.build_parser``) so that the command line is described in one place only.

    tools/cli_docs.py man DIR           iguana.1 and iguana-VERB.1 for every verb into DIR
    tools/cli_docs.py bash FILE         the bash completion script

The package build runs both (Makefile ``docs`` target); tests/unit/test_cli_docs.py checks that
every verb has a page listing every option its parser has.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP))

from iguana_fsm import __version__  # noqa: E402
from iguana_fsm.cli import build_parser  # noqa: E402
from iguana_fsm.errors import ExitCode  # noqa: E402

SOURCE_DATE = "SOURCE_DATE_EPOCH"


def verbs(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """Each verb's parser and one-line help, in the order the parser lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return {name: (sub, helps.get(name, "")) for name, sub in action.choices.items()}
    return {}


def _roff(text: str) -> str:
    """Text safe for roff: backslashes and hyphens escaped, no line starting with a dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in ".'" else line for line in text.splitlines())


def _invocation(action: argparse.Action) -> str:
    """How an option or argument is written: ``-o, --opt VALUE`` or ``FILE...``."""
    metavar = action.metavar
    if metavar is None and action.choices is not None:
        metavar = "{" + ",".join(map(str, action.choices)) + "}"
    if not action.option_strings:
        name = str(metavar or action.dest)
        return f"{name}..." if action.nargs in ("+", "*") else name
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    value = str(metavar or action.dest.upper())
    return ", ".join(f"{option} {value}" for option in action.option_strings)


def _describe(action: argparse.Action) -> str:
    """An option's help with its choices and default spelled out."""
    text = action.help or ""
    if "%(default)" in text or "%(" in text:
        text = text % {**vars(action), "prog": "iguana"}
    if action.choices is not None and action.metavar is not None:
        text += f" (one of: {', '.join(map(str, action.choices))})"
    if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
        text += f" (default: {action.default})"
    return text.strip()


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options and arguments a user can give (not the verb list)."""
    return [
        action for action in parser._actions if not isinstance(action, argparse._SubParsersAction)
    ]


def _date() -> str:
    """The page date: SOURCE_DATE_EPOCH for reproducible builds, else today."""
    import os

    epoch = os.environ.get(SOURCE_DATE)
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return when.strftime("%Y-%m-%d")


def _exit_status() -> list[str]:
    lines = [".SH EXIT STATUS"]
    for code in ExitCode:
        lines += [".TP", f".B {code.value}", _roff(code.meaning)]
    return lines


def verb_page(name: str, parser: argparse.ArgumentParser, summary: str) -> str:
    """The man page of ``iguana NAME``."""
    usage = " ".join(parser.format_usage().replace("usage: ", "", 1).split())
    title = f"iguana-{name}"
    lines = [
        f'.TH {_roff(title.upper())} 1 "{_date()}" "iguana {__version__}" "Iguana manual"',
        ".SH NAME",
        f"{title} \\- {_roff(summary)}",
        ".SH SYNOPSIS",
        f".B {_roff(usage)}",
        ".SH DESCRIPTION",
        _roff(parser.description or summary),
    ]
    if parser.epilog:
        lines += [".PP", ".nf", _roff(parser.epilog), ".fi"]
    actions = _options(parser)
    if actions:
        lines.append(".SH OPTIONS")
        for action in actions:
            lines += [".TP", f".B {_roff(_invocation(action))}", _roff(_describe(action) or ".")]
    lines += _exit_status()
    lines += [".SH SEE ALSO", "\\fBiguana\\fR(1)", ""]
    return "\n".join(lines)


def main_page(parser: argparse.ArgumentParser) -> str:
    """The man page of ``iguana`` itself: the verbs and where their pages are."""
    lines = [
        f'.TH IGUANA 1 "{_date()}" "iguana {__version__}" "Iguana manual"',
        ".SH NAME",
        f"iguana \\- {_roff(parser.description or '')}",
        ".SH SYNOPSIS",
        ".B iguana",
        "[\\-\\-version] COMMAND [OPTIONS]",
        ".SH COMMANDS",
    ]
    for name, (_, summary) in verbs(parser).items():
        lines += [".TP", f".B {name}", f"{_roff(summary)} (\\fBiguana\\-{name}\\fR(1))"]
    lines += _exit_status()
    lines += [
        ".SH SEE ALSO",
        ", ".join(f"\\fBiguana\\-{name}\\fR(1)" for name in verbs(parser)) + ", \\fBdracut\\fR(8)",
        "",
    ]
    return "\n".join(lines)


def write_man(directory: Path) -> list[Path]:
    """Write iguana.1 and one page per verb into ``directory``; the files written."""
    parser = build_parser()
    directory.mkdir(parents=True, exist_ok=True)
    pages = {"iguana.1": main_page(parser)}
    for name, (sub, summary) in verbs(parser).items():
        pages[f"iguana-{name}.1"] = verb_page(name, sub, summary)
    written = []
    for file_name, text in pages.items():
        path = directory / file_name
        path.write_text(text)
        written.append(path)
    return written


def bash_completion() -> str:
    """A bash completion script: verbs, each verb's options, choices and file arguments."""
    parser = build_parser()
    cases = []
    for name, (sub, _) in verbs(parser).items():
        words = []
        values = []
        for action in sub._actions:
            words += action.option_strings
            if action.option_strings and action.nargs != 0:
                pattern = "|".join(action.option_strings)
                if action.choices is not None:
                    choice = " ".join(map(str, action.choices))
                    values.append(
                        f'            {pattern}) COMPREPLY=($(compgen -W "{choice}" '
                        f'-- "$cur")); return ;;'
                    )
                else:
                    values.append(
                        f'            {pattern}) COMPREPLY=($(compgen -f -- "$cur")); return ;;'
                    )
        files = any(not action.option_strings for action in sub._actions)
        rest = 'COMPREPLY=($(compgen -f -- "$cur"))' if files else "COMPREPLY=()"
        cases.append(
            f"        {name})\n"
            f'            case "$prev" in\n'
            + "".join(f"{line}\n" for line in values)
            + "            esac\n"
            f"            if [[ $cur == -* ]]; then\n"
            f'                COMPREPLY=($(compgen -W "{" ".join(words)}" -- "$cur"))\n'
            f"            else\n"
            f"                {rest}\n"
            f"            fi\n"
            f"            ;;\n"
        )
    verb_names = " ".join(verbs(parser))
    return (
        "# bash completion for iguana; generated by tools/cli_docs.py from the argparse "
        "definitions\n"
        "# shellcheck shell=bash disable=SC2207\n"
        "_iguana() {\n"
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} verb='' i\n"
        "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "        if [[ ${COMP_WORDS[i]} != -* ]]; then\n"
        "            verb=${COMP_WORDS[i]}\n"
        "            break\n"
        "        fi\n"
        "    done\n"
        '    case "$verb" in\n'
        "        '')\n"
        f'            COMPREPLY=($(compgen -W "{verb_names} --version --help" -- "$cur"))\n'
        "            ;;\n" + "".join(cases) + "    esac\n"
        "}\n"
        "complete -F _iguana iguana\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``man DIR`` or ``bash FILE``."""
    cli = argparse.ArgumentParser(prog="tools/cli_docs.py", description=__doc__)
    sub = cli.add_subparsers(dest="what", required=True)
    sub.add_parser("man").add_argument("directory", type=Path)
    sub.add_parser("bash").add_argument("file", type=Path)
    args = cli.parse_args(argv)
    if args.what == "man":
        write_man(args.directory)
    else:
        args.file.parent.mkdir(parents=True, exist_ok=True)
        args.file.write_text(bash_completion())
    return 0


if __name__ == "__main__":
    sys.exit(main())
