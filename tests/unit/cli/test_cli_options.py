from __future__ import annotations

import argparse
import io

import pytest
from tollway.admin.commands import load
from tollway.admin.commands.channels import AddChannel
from tollway_cli.main import build_parser
from tollway_cli.options import add_model_options, collect_args
from tollway_cli.output import render


def test_every_command_is_reachable_from_the_cli() -> None:
    parser = build_parser()
    for command in load().commands():
        required = [n for n, f in command.args.model_fields.items() if f.is_required()]
        argv = ["admin", command.group, command.verb]
        for name in required:
            argv += ["--" + name.replace("_", "-"), "x"]
        ns = parser.parse_args(argv)
        assert ns.command.name == command.name


def test_lists_and_maps_parse_in_both_forms() -> None:
    parser = argparse.ArgumentParser()
    add_model_options(parser, AddChannel)
    ns = parser.parse_args(
        [
            "--models",
            "a,b",
            "--models",
            "c",
            "--model-map",
            "x=y",
            "--headers",
            '{"h": "v"}',
            "--name",
            "n",
            "--base-url",
            "https://u",
        ]
    )
    args = collect_args(ns, AddChannel)
    assert args["models"] == ["a", "b", "c"] and args["model_map"] == {"x": "y"}
    assert "headers" not in args or args["headers"] == {"h": "v"}


def test_bad_map_syntax_is_a_usage_error() -> None:
    parser = argparse.ArgumentParser()
    add_model_options(parser, AddChannel)
    ns = parser.parse_args(["--model-map", "novalue", "--name", "n", "--base-url", "https://u", "--models", "m"])
    with pytest.raises(ValueError, match="--model-map: expected KEY=VALUE"):
        collect_args(ns, AddChannel)


def test_render_tables_and_fields() -> None:
    out = io.StringIO()
    render({"ok": True, "records": [{"a": 1, "b": "x"}, {"a": 2}]}, out)
    text = out.getvalue()
    assert "ok: True" in text and "records:" in text and "a  b" in text


def test_a_required_option_left_out_is_a_usage_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["admin", "redeem", "create", "--count", "3"])
    assert exit_info.value.code == 2
    assert "--value-usd" in capsys.readouterr().err


def test_times_are_sent_as_the_command_expects() -> None:
    from datetime import UTC, datetime

    from tollway.admin.commands.keys import CreateKey
    from tollway.admin.commands.usage import QueryUsage

    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    parser = build_parser()
    ns = parser.parse_args(["admin", "key", "create", "--account-id", "a", "--expires-at", "2027-01-01"])
    assert collect_args(ns, CreateKey, now=now)["expires_at"] == int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    ns = parser.parse_args(["admin", "key", "create", "--account-id", "a", "--expires-at", "30d"])
    assert collect_args(ns, CreateKey, now=now)["expires_at"] == int(now.timestamp()) + 30 * 86_400
    ns = parser.parse_args(["admin", "usage", "query", "--start", "7d", "--end", "2026-12-06T02:00:00+01:00"])
    args = collect_args(ns, QueryUsage, now=now)
    assert args["start"] == "2026-11-29T03:00:00Z" and args["end"] == "2026-12-06T01:00:00Z"
    ns = parser.parse_args(["admin", "usage", "query", "--start", "yesterday"])
    with pytest.raises(ValueError, match="--start: not a time"):
        collect_args(ns, QueryUsage, now=now)
