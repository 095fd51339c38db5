"""The ingest's short-lived caches of connections and secrets."""

from __future__ import annotations

import pytest

from shared.adapters.caching import TtlCache
from shared.errors import ConnectionNotFound


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_value_is_loaded_once_per_ttl() -> None:
    clock = Clock()
    cache = TtlCache(60, now=clock)
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert cache.get("k", load) == 1
    clock.t = 59
    assert cache.get("k", load) == 1
    clock.t = 61
    assert cache.get("k", load) == 2


def test_not_found_is_cached_too_and_raised_each_time() -> None:
    clock = Clock()
    cache = TtlCache(60, now=clock)
    calls: list[int] = []

    def load() -> int:
        calls.append(1)
        raise ConnectionNotFound("c1")

    for _ in range(3):
        with pytest.raises(ConnectionNotFound):
            cache.get("k", load)
    assert len(calls) == 1


def test_forget_and_a_zero_ttl_load_again() -> None:
    cache = TtlCache(60, now=Clock())
    assert cache.get("k", lambda: 1) == 1
    cache.forget("k")
    assert cache.get("k", lambda: 2) == 2
    uncached = TtlCache(0, now=Clock())
    assert uncached.get("k", lambda: 1) == 1
    assert uncached.get("k", lambda: 2) == 2
