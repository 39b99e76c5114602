"""The querier cache: lookups validate, entries expire and are evicted by memory."""

from node.clock import ManualClock
from node.replica.querier_cache import QuerierCache


class Reader:
    def __init__(self, name):
        self.name = name
        self.closed = 0

    def close(self):
        self.closed += 1


def test_a_valid_lookup_takes_the_entry_and_a_failed_one_drops_it():
    cache = QuerierCache(ManualClock(), ttl_ms=10_000, max_bytes=1000)
    first, second = Reader("a"), Reader("b")
    cache.insert(("q", 1), first, 10)
    cache.insert(("q", 2), second, 10)
    assert cache.lookup(("q", 1), lambda r: True) is first and first.closed == 0
    assert cache.lookup(("q", 1), lambda r: True) is None
    assert cache.lookup(("q", 2), lambda r: False) is None and second.closed == 1
    stats = cache.statistics()
    assert (stats["querier_cache_lookups"], stats["querier_cache_misses"],
            stats["querier_cache_drops"], stats["querier_cache_population"]) == (3, 1, 1, 0)


def test_entries_expire_after_the_ttl_and_are_closed_once():
    clock = ManualClock()
    cache = QuerierCache(clock, ttl_ms=1000, max_bytes=1000)
    old = Reader("old")
    cache.insert("old", old, 1)
    clock.advance(0.6)
    young = Reader("young")
    cache.insert("young", young, 1)
    clock.advance(0.5)
    assert cache.evict_expired() == 1 and old.closed == 1 and young.closed == 0
    assert cache.lookup("young", lambda r: True) is young
    assert cache.statistics()["querier_cache_time_based_evictions"] == 1


def test_the_oldest_entries_go_when_memory_runs_over():
    cache = QuerierCache(ManualClock(), ttl_ms=1000, max_bytes=100)
    readers = [Reader(i) for i in range(5)]
    for index, reader in enumerate(readers):
        cache.insert(index, reader, 40)
    assert [r.closed for r in readers] == [1, 1, 1, 0, 0]
    assert cache.statistics()["querier_cache_resource_based_evictions"] == 3
    assert cache.statistics()["querier_cache_memory_bytes"] == 80


async def test_aclose_closes_what_is_parked():
    cache = QuerierCache(ManualClock(), ttl_ms=1000, max_bytes=100)
    cache.start()
    reader = Reader("x")
    cache.insert("x", reader, 1)
    await cache.aclose()
    assert reader.closed == 1 and len(cache) == 0
