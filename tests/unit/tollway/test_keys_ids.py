from __future__ import annotations

import time

from tollway.ids import request_id, timestamp_ms_of
from tollway.keys import display_prefix, generate_key, hash_key, is_well_formed


def test_generated_keys_are_well_formed_and_unique() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(is_well_formed(k) and k.startswith("sk-") and len(k) == 51 for k in keys)


def test_a_typo_fails_the_checksum() -> None:
    key = generate_key()
    flipped = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]
    assert not is_well_formed(flipped)
    assert not is_well_formed(key[:-1])
    assert not is_well_formed("sk-" + "!" * 48)


def test_hash_and_prefix_never_reveal_the_key() -> None:
    key = generate_key()
    assert hash_key(key) != key and len(hash_key(key)) == 64
    prefix = display_prefix(key)
    assert len(prefix.replace("…", "")) < 15


def test_request_ids_sort_by_time_and_carry_it() -> None:
    now = int(time.time() * 1000)
    earlier, later = request_id(now - 1), request_id(now)
    assert earlier < later
    assert timestamp_ms_of(later) == now
