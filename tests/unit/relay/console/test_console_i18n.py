"""The console's strings: every English string has its Simplified Chinese twin (and no more), and every
string the pages ask for exists, so no page shows a bare key in either language."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[4] / "functions" / "relay" / "relay" / "console" / "static"
_KEY = re.compile(r'(?:^\s*|[{,]\s*)([a-z_][a-z0-9_]*)\s*:\s*"', re.MULTILINE)


def _languages() -> dict[str, set[str]]:
    text = (STATIC / "i18n.js").read_text(encoding="utf-8")
    english, chinese = text.split('"zh-CN": {', 1)
    return {"en": set(_KEY.findall(english)), "zh-CN": set(_KEY.findall(chinese))}


def test_both_languages_have_the_same_strings() -> None:
    found = _languages()
    assert len(found["en"]) > 100
    assert found["en"] == found["zh-CN"], found["en"] ^ found["zh-CN"]


def test_every_string_a_page_asks_for_exists() -> None:
    app = (STATIC / "app.js").read_text(encoding="utf-8")
    asked = set(re.findall(r'\bt\("([a-z_][a-z0-9_]*)"', app))
    assert {"markup_note", "markup_title"} <= asked
    assert asked - _languages()["en"] == set()
