"""tollway.tasks.runtimes.PerOwner — one runtime per live owner, built once even when threads race."""

from __future__ import annotations

import threading

from tollway.tasks.runtimes import PerOwner


class Owner:
    pass


def test_one_value_per_owner_built_once_under_a_race() -> None:
    built: list[Owner] = []
    gate = threading.Barrier(8)

    def build(owner: Owner) -> tuple[Owner, int]:
        built.append(owner)
        return owner, len(built)

    runtimes: PerOwner[Owner, tuple[Owner, int]] = PerOwner(build)
    owner, other = Owner(), Owner()
    seen: list[tuple[Owner, int]] = []

    def get() -> None:
        gate.wait()
        seen.append(runtimes.get(owner))

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert built == [owner] and len(set(map(id, seen))) == 1
    assert runtimes.get(other)[0] is other and runtimes.get(owner) is seen[0]


def test_a_reused_id_of_a_dead_owner_builds_afresh() -> None:
    runtimes: PerOwner[object, object] = PerOwner(lambda owner: [owner])
    first = runtimes.get(Owner())  # the owner dies here; its id may be reused
    revived = Owner()

    value = runtimes.get(revived)

    assert value == [revived] and value is not first
