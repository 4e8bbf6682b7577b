"""Deterministic text and fault-spec parsing."""

from __future__ import annotations

import pytest
from tollway_local.mock.cli import build_parser, config_from_args, config_to_argv
from tollway_local.mock.config import MockConfig, Pacing
from tollway_local.mock.faults import (
    HALF,
    NO_FAULTS,
    UnknownFaultError,
    parse_faults,
    resolve_after,
    specs_from_path,
    specs_from_texts,
    split_specs,
)
from tollway_local.mock.text import VOCABULARY, completion_text, messages_seed


def test_text_is_deterministic_and_shorter_answers_are_prefixes() -> None:
    messages = [{"role": "user", "content": "tell me"}]
    full = completion_text(messages, 12)
    assert completion_text(messages, 12) == full
    assert full.startswith(completion_text(messages, 5))
    assert len(full.split(" ")) == 13  # leading space before each of the 12 words


def test_text_depends_on_messages_and_choice_but_not_on_key_order() -> None:
    a = [{"role": "user", "content": "x"}]
    assert messages_seed(a) == messages_seed([{"content": "x", "role": "user"}])
    assert completion_text(a, 20) != completion_text([{"role": "user", "content": "y"}], 20)
    assert completion_text(a, 20, choice_index=0) != completion_text(a, 20, choice_index=1)


def test_every_token_is_a_vocabulary_word_with_a_leading_space() -> None:
    assert all(word.startswith(" ") and " " not in word[1:] for word in VOCABULARY)
    assert len(set(VOCABULARY)) == 64


def test_no_specs_means_no_faults() -> None:
    assert parse_faults([]) is NO_FAULTS
    assert not parse_faults([])


def test_specs_combine() -> None:
    faults = parse_faults(["no_usage", "cut_after=3", "http500", "http429", "slow_first=200"])
    assert faults.no_usage
    assert faults.cut_after == 3
    assert faults.error == "http500"  # first error mode wins
    assert faults.slow_first_ms == 200
    assert faults.modes == ("no_usage", "cut_after=3", "http500", "http429", "slow_first=200")


def test_bare_after_modes_fire_halfway_and_an_explicit_k_beats_them() -> None:
    assert parse_faults(["cut"]).cut_after == HALF
    assert resolve_after(HALF, 9) == 4
    assert resolve_after(2, 9) == 2
    assert parse_faults(["cut", "cut_after=7"]).cut_after == 7
    assert parse_faults(["cut_after=7", "cut_after=2"]).cut_after == 2


@pytest.mark.parametrize(
    "spec", ["nope", "http500=3", "slow_first", "cut_after", "no_usage=1", "cut=3", "timeout_after=2", "cut_after=-1"]
)
def test_unknown_or_malformed_specs_are_rejected(spec: str) -> None:
    with pytest.raises(UnknownFaultError, match="known modes"):
        parse_faults([spec])


def test_specs_come_from_paths_headers_and_markers() -> None:
    assert specs_from_path("/fault/http500/v1/chat/completions") == ["http500"]
    assert specs_from_path("/x/fault/no_usage,cut_after=2/fault/slow_first=5/v1/models") == [
        "no_usage",
        "cut_after=2",
        "slow_first=5",
    ]
    assert specs_from_path("/v1/chat/completions") == []
    assert split_specs(" a , b=2 ,") == ["a", "b=2"]
    assert specs_from_texts(["hi [[fault:no_usage]] and [[fault:cut_after=3, malformed_sse]]", "plain"]) == [
        "no_usage",
        "cut_after=3",
        "malformed_sse",
    ]


def test_pacing_treats_non_positive_or_infinite_rates_as_unpaced() -> None:
    assert not Pacing.of(0, 0).paced
    assert not Pacing.of(0, float("inf")).paced
    assert Pacing.of(0, 10).delay_before(3, reasoning_tokens=2) == pytest.approx(0.5)
    assert Pacing.of(300, 0).delay_before(99) == pytest.approx(0.3)


def test_runner_arguments_round_trip_the_config() -> None:
    config = MockConfig(
        models=("a", "b"), api_key="k", latency_ms=12.5, tokens_per_s=float("inf"), default_completion_tokens=7
    )
    assert config_from_args(build_parser().parse_args(config_to_argv(config))) == config
    claude = MockConfig(anthropic_models=("claude-x",), faults=("http529", "cut_after=3"))
    assert config_from_args(build_parser().parse_args(config_to_argv(claude))) == claude


def test_config_rejects_negative_latency() -> None:
    with pytest.raises(ValueError, match="latency_ms"):
        MockConfig(latency_ms=-1)
