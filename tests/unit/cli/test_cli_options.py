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
    ns = parser.parse_args(["--model-map", "novalue"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        collect_args(ns, AddChannel)


def test_render_tables_and_fields() -> None:
    out = io.StringIO()
    render({"ok": True, "records": [{"a": 1, "b": "x"}, {"a": 2}]}, out)
    text = out.getvalue()
    assert "ok: True" in text and "records:" in text and "a  b" in text
