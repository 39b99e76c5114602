"""The replay of one target's hints, as db/hints' hint_sender: sealed segments in
order, each record sent to the target's owning shard with HINT_MUTATION (a bounded
number in flight, throttled in bytes per second), a segment deleted once every
record in it is acknowledged.

At replay a hint older than its table's ``gc_grace_seconds`` is discarded (its
tombstones could resurrect data a compaction already purged; the smaller of the
table's gc_grace when the hint was written and now counts, so lowering gc_grace
never lets an old hint through), a hint of a dropped table is discarded, what a hint
holds from before its table's last TRUNCATE (timestamps at or before it) is left out
(the hint is discarded if nothing is left), and a hint whose token the target no
longer owns goes to the token's current replicas instead (hinted again for those
that are DOWN). A hint its target refuses for good (``Invalid`` while the target's
schema agrees with ours) is counted and skipped: it would be refused at every round,
and must not hold back the hints behind it. Any other failed send ends the round; the acknowledged offsets of a partly replayed segment are
remembered, so the next round resends only what is missing.

Invariant: a record leaves the disk only with its whole segment, and only after each
of the segment's records was acknowledged by a replica (or discarded by the rules
above, or skipped as corrupt).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from node.clock import Clock
from node.errors import Invalid
from node.hints.segment import decode_payload, read_records
from node.hints.statistics import HintCounters
from node.hints.store import HintStore
from node.hints.throttle import Throttle
from node.mutation.mutation import Mutation
from node.storage.truncation import mutation_after_truncation

IN_FLIGHT_MAX = 128


class HintRouting(Protocol):
    """What a sender asks of its shard about a hint's table and token."""

    def gc_grace_s(self, table_id: str) -> int | None: ...          # None: no such table

    def replicas_of(self, table_id: str, token: int) -> tuple[str, ...]: ...

    def is_alive(self, node: str) -> bool: ...

    def agrees_on_schema(self, node: str) -> bool: ...  # its schema version equals ours

    def truncated_at_us(self, table_id: str) -> int | None: ...  # the table's last TRUNCATE


Deliver = Callable[[str, list[Any]], Awaitable[Any]]       # (node, mutation wire)
# (node, mutation wire, created_us, gc_grace_s at creation or None)
Rehint = Callable[[str, list[Any], int, "int | None"], Awaitable[bool]]


class _Round:
    """The state of one segment's replay: what is in flight, whether a send failed."""

    def __init__(self) -> None:
        self.in_flight: set[asyncio.Task[None]] = set()
        self.failed = False


class HintSender:
    def __init__(self, target: str, store: HintStore, *, routing: HintRouting, deliver: Deliver,
                 rehint: Rehint, clock: Clock, throttle: Throttle, counters: HintCounters,
                 log: Any, in_flight_max: int = IN_FLIGHT_MAX) -> None:
        assert in_flight_max >= 1, "at least one hint in flight"
        self.target = target
        self.store = store
        self.routing = routing
        self.deliver = deliver
        self.rehint = rehint
        self.clock = clock
        self.throttle = throttle
        self.counters = counters
        self.log = log
        self.in_flight_max = in_flight_max
        self._acknowledged: dict[int, set[int]] = {}  # segment id -> offsets done
        self._corruption_counted: set[int] = set()

    async def replay(self) -> bool:
        """One round over every sealed segment, oldest first; True if nothing is left."""
        self.counters.replay_rounds += 1
        self.store.seal()
        sent_before = self.counters.sent
        for segment_id in self.store.sealed_ids():
            if not self.routing.is_alive(self.target):
                return False
            if not await self._replay_segment(segment_id):
                self.log.info("hints.replay_interrupted", target=self.target, segment=segment_id,
                              sent=self.counters.sent - sent_before)
                return False
            self.store.delete(segment_id)
            self._acknowledged.pop(segment_id, None)
            self._corruption_counted.discard(segment_id)
        if self.counters.sent > sent_before:
            self.log.info("hints.replayed", target=self.target, count=self.counters.sent - sent_before)
        return not self.store.sealed_ids()

    async def _replay_segment(self, segment_id: int) -> bool:
        done = self._acknowledged.setdefault(segment_id, set())
        count_corruption = segment_id not in self._corruption_counted
        self._corruption_counted.add(segment_id)

        def on_corrupt(offset: int) -> None:
            if count_corruption:
                self.counters.corrupted_records += 1
                self.log.warning("hints.corrupt_record", target=self.target, segment=segment_id,
                                 offset=offset)

        state = _Round()
        try:
            for record in read_records(self.store.read(segment_id), on_corrupt):
                if state.failed:
                    break
                if record.offset in done:
                    continue
                await self._dispatch(segment_id, record.offset, record.payload, done, state)
            while state.in_flight:
                _, state.in_flight = await asyncio.wait(state.in_flight)
        finally:
            for task in state.in_flight:
                task.cancel()
            await asyncio.gather(*state.in_flight, return_exceptions=True)
        return not state.failed

    async def _dispatch(self, segment_id: int, offset: int, payload: bytes, done: set[int],
                        state: _Round) -> None:
        def finished() -> None:
            done.add(offset)
            self.store.acknowledge(segment_id)

        try:
            created_us, wire, created_gc_grace_s = decode_payload(payload)
        except ValueError:  # checksum fine, contents not a hint: skipped (and remembered) once
            self.counters.corrupted_records += 1
            finished()
            return
        table_id, token = wire[0], wire[2]
        gc_grace_s = self.routing.gc_grace_s(table_id)
        if gc_grace_s is None:
            self.counters.discarded_unknown_table += 1
            finished()
            return
        if created_gc_grace_s is not None:
            gc_grace_s = min(gc_grace_s, created_gc_grace_s)
        if self.clock.now_s() - created_us / 1_000_000 >= gc_grace_s:
            self.counters.discarded_gc_grace += 1
            finished()
            return
        truncated_at_us = self.routing.truncated_at_us(table_id)
        if truncated_at_us is not None:
            kept_wire = _after_truncation(wire, truncated_at_us)
            if kept_wire is None:
                self.counters.discarded_truncated += 1
                finished()
                return
            wire = kept_wire
        replicas = self.routing.replicas_of(table_id, token)
        targets = [self.target] if self.target in replicas else list(replicas)
        await self.throttle.acquire(len(payload))
        while len(state.in_flight) >= self.in_flight_max:
            _, state.in_flight = await asyncio.wait(state.in_flight, return_when=asyncio.FIRST_COMPLETED)
        if state.failed:
            return
        task = asyncio.get_running_loop().create_task(
            self._send(wire, created_us, created_gc_grace_s, targets, finished, state))
        state.in_flight.add(task)

    async def _send(self, wire: list[Any], created_us: int, created_gc_grace_s: int | None,
                    targets: list[str], finished: Callable[[], None], state: _Round) -> None:
        refused: list[str] = []
        try:
            for node in targets:
                if node == self.target or self.routing.is_alive(node):
                    try:
                        await self.deliver(node, wire)
                    except Invalid as error:
                        if not self.routing.agrees_on_schema(node):
                            raise  # it may accept the hint once it has our schema
                        refused.append(node)
                        self.log.warning("hints.refused_for_good", target=self.target, node=node,
                                         table_id=wire[0], error=str(error)[:200])
                elif not await self.rehint(node, wire, created_us, created_gc_grace_s):
                    raise RuntimeError(f"no hint could be stored for {node}")
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure keeps the hint for a later round
            self.counters.send_errors += 1
            if not state.failed:
                self.log.info("hints.send_failed", target=self.target, error=str(error)[:200])
            state.failed = True
            return
        if refused:
            self.counters.discarded_invalid += 1
        if len(refused) < len(targets):
            self.counters.sent += 1
            if targets != [self.target]:
                self.counters.redirected += 1
        finished()


def _after_truncation(wire: list[Any], truncated_at_us: int) -> list[Any] | None:
    """The hint's mutation without what a TRUNCATE at ``truncated_at_us`` removed;
    None when nothing is left. A malformed one goes as it is (its target refuses it)."""
    try:
        mutation = Mutation.from_wire(wire)
        kept = mutation_after_truncation(mutation, truncated_at_us)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError):
        return wire
    if kept is None:
        return None
    return wire if kept is mutation else kept.to_wire()
