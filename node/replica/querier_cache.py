"""The querier cache of one shard: readers of paged queries parked between pages.

At the end of a page a shard reader that may be asked for the next page is saved
here under ``(query id, key)`` (the key names the reader's range within the query).
The next page looks it up: the entry leaves the cache either way, and the caller's
``validate`` decides whether it may go on (position, schema version, range); one that
does not validate is dropped and closed, and the caller reads afresh. Entries expire
``ttl_ms`` after they were saved (a background sweep and every access evict them) and
the oldest are evicted while the cache holds more than ``max_bytes`` (sizes are the
callers' estimates). As ScyllaDB's ``querier_cache``.

Invariant: every entry that leaves the cache other than by a valid lookup is closed
exactly once, so a parked reader never pins SSTables past its TTL.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from node.clock import Clock


class Closable(Protocol):
    def close(self) -> None: ...


@dataclass
class _Entry:
    value: Closable
    size_bytes: int
    expires_at: float


class QuerierCache:
    def __init__(self, clock: Clock, ttl_ms: int, max_bytes: int, log: Any = None) -> None:
        assert ttl_ms > 0 and max_bytes > 0
        self.clock = clock
        self.ttl_s = ttl_ms / 1000
        self.max_bytes = max_bytes
        self.log = log
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._sweeper: asyncio.Task[None] | None = None
        self.lookups = 0
        self.misses = 0
        self.drops = 0
        self.inserts = 0
        self.time_based_evictions = 0
        self.resource_based_evictions = 0

    def statistics(self) -> dict[str, int]:
        return {"querier_cache_lookups": self.lookups, "querier_cache_misses": self.misses,
                "querier_cache_drops": self.drops, "querier_cache_inserts": self.inserts,
                "querier_cache_time_based_evictions": self.time_based_evictions,
                "querier_cache_resource_based_evictions": self.resource_based_evictions,
                "querier_cache_population": len(self._entries),
                "querier_cache_memory_bytes": self._bytes}

    def __len__(self) -> int:
        return len(self._entries)

    def insert(self, key: Hashable, value: Closable, size_bytes: int) -> None:
        """Park ``value``; an entry already under ``key`` is replaced (and closed)."""
        self.evict_expired()
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size_bytes
            old.value.close()
        self._entries[key] = _Entry(value, size_bytes, self.clock.monotonic() + self.ttl_s)
        self._bytes += size_bytes
        self.inserts += 1
        while self._bytes > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size_bytes
            evicted.value.close()
            self.resource_based_evictions += 1

    def lookup(self, key: Hashable, validate: Callable[[Any], bool]) -> Any | None:
        """The parked value under ``key`` if it validates (it leaves the cache), else None."""
        self.evict_expired()
        self.lookups += 1
        entry = self._entries.pop(key, None)
        if entry is None:
            self.misses += 1
            return None
        self._bytes -= entry.size_bytes
        try:
            valid = validate(entry.value)
        except Exception:  # a check that cannot decide is a failed check
            valid = False
        if not valid:
            self.drops += 1
            entry.value.close()
            return None
        return entry.value

    def evict_expired(self) -> int:
        now = self.clock.monotonic()
        evicted = 0
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires_at > now:
                break
            del self._entries[key]
            self._bytes -= entry.size_bytes
            entry.value.close()
            evicted += 1
        self.time_based_evictions += evicted
        return evicted

    def start(self) -> None:
        """Sweep expired entries in the background (a quarter TTL apart)."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await self.clock.sleep(self.ttl_s / 4)
            self.evict_expired()

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
            self._sweeper = None
        while self._entries:
            _, entry = self._entries.popitem(last=False)
            entry.value.close()
        self._bytes = 0
