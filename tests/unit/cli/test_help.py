"""Every command's help renders, lists its options with a description, and marks the required ones."""

from __future__ import annotations

import contextlib
import io
import re

import pytest
from tollway.admin.commands import load
from tollway_cli.main import build_parser
from tollway_cli.options import flag_of

COMMANDS = load().commands()


def _help(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*argv, "--help"])
    assert exit_info.value.code == 0
    return out.getvalue()


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_every_command_renders_its_help_with_every_option_described(command: object) -> None:
    name: str = command.name  # type: ignore[attr-defined]
    group, verb = name.split(".")
    text = _help(["admin", group, verb])
    usage = text.split("\n\n", 1)[0]
    for field_name, field in command.args.model_fields.items():  # type: ignore[attr-defined]
        flag = flag_of(field_name)
        line = re.search(rf"^\s+{re.escape(flag)}(?:[ ,=].*)?$", text, re.MULTILINE)
        assert line, f"{name}: {flag} missing from help"
        rest = text[line.end() : line.end() + 200].split("\n", 1)[0] + line.group(0)
        described = re.sub(rf"{re.escape(flag)}\s*(\S+)?", "", line.group(0)).strip() or rest.strip()
        assert described, f"{name}: {flag} has no description"
        if field.is_required():
            assert re.search(rf"(?<!\[){re.escape(flag)}\b", usage), f"{name}: {flag} not shown as required"
            assert f"[{flag}" not in usage


def test_a_help_string_with_a_percent_sign_renders() -> None:
    assert "20% off" in _help(["admin", "group", "set"])


def test_admin_help_lists_every_group_verb_with_its_summary() -> None:
    text = _help(["admin"])
    for command in COMMANDS:
        assert re.search(rf"^\s+{command.group} {command.verb}\s+{re.escape(command.summary)}$", text, re.MULTILINE)


def test_group_help_lists_its_verbs() -> None:
    text = _help(["admin", "redeem"])
    for verb in ("create", "disable", "list"):
        assert f"redeem {verb}" in text


def test_every_option_has_a_description_of_its_own() -> None:
    from tollway_cli.options import help_of

    missing = [
        f"{c.name} {flag_of(n)}"
        for c in COMMANDS
        for n, f in c.args.model_fields.items()
        if not help_of(n, f) or help_of(n, f)[0] in "(≥>≤<"
    ]
    assert missing == []


def test_local_options_are_described() -> None:
    text = _help(["local"])
    assert "--port PORT" in text and "another" not in text.split("--port PORT", 1)[0][-5:]
    assert "0: any free port" in text


def test_out_says_what_it_does_with_the_secrets() -> None:
    """--out puts the secrets in the file *instead of* the screen (test_admin_run checks the behaviour)."""
    text = " ".join(_help(["admin", "redeem", "create"]).split())
    assert "instead of printing them" in text and "never overwritten" in text
