"""``freeze_startup_objects``: what is alive at start-up leaves the cyclic collector's generations; garbage
made afterwards is still collected."""

from __future__ import annotations

import gc
import weakref

from shared.service import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_startup_objects_are_frozen_and_later_cycles_are_still_collected() -> None:
    try:
        startup = [Node() for _ in range(1000)]
        frozen = freeze_startup_objects()
        assert frozen >= len(startup)
        assert gc.get_freeze_count() == frozen
        a, b = Node(), Node()
        a.other, b.other = b, a  # a reference cycle made after start-up: only the collector frees it
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
