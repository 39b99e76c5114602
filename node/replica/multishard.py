"""The multishard reader: one token-ordered page of a range, read across every shard
of this node (ScyllaDB's ``multishard_combining_reader`` and multishard mutation query).

A replica node serves a ``RANGE_READ`` on one of its shards. That shard walks the
range's shard chunks (``shard_chunks``) in token order and, for each chunk, hands out
the fragments of the owning shard's cursor (``node/replica/shard_cursor.py``, reached over
the ``SHARD_CURSOR_READ`` verb, which a shard sends to itself without a copy) up to
the chunk's end. When it must wait for a shard, it also reads ahead on the next
shards in chunk order; that read-ahead concurrency starts at 1 and doubles up to the
shard count. It stops exactly after the ``limit``-th live row (or once ``max_bytes``
of rows are out), then peeks on to learn whether any live row is left, so a caller
never asks for a page that turns out empty. At the end, every cursor gets back what
was read but not consumed (``SHARD_CURSOR_FINISH``) and is parked in its own shard's
querier cache (stateful paging) or closed (stateless).

A page resumed after position P hands out only fragments after P, except the header
of P's partition (start, static row, range tombstones), which it repeats so that the
partition's rows can be built; a continued partition never counts as a static-only row.

Invariant: the answer is the range's fragment stream after P in token order, cut
right after the limit-th live row; nothing is handed out twice across pages.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from node.errors import Invalid, ReadTimeout, RequestError
from node.replica.service import digest_of
from node.dht.sharding import shard_chunks
from node.dht.token import TOKEN_MAX, TOKEN_MIN
from node.rpc.errors import RpcError
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from node.readers.fragments import CLUSTERING_ROW, PARTITION_END, PARTITION_START, STATIC_ROW
from node.readers.position import AFTER_RANGE_TOMBSTONE, Position
from node.readers.ranges import ClusteringSlice, PartitionRange
from node.readers.stream_order import is_after, is_mid_partition, wire_position

FETCH_FRAGMENTS_MAX = 1024
PEEK_FRAGMENTS = 16


@dataclass
class MultishardStatistics:
    pages: int = 0
    unpopped_fragments: int = 0
    unpopped_bytes: int = 0
    failed_reader_stops: int = 0
    failed_reader_saves: int = 0

    def as_metrics(self) -> dict[str, int]:
        return {"multishard_query_pages": self.pages,
                "multishard_query_unpopped_fragments": self.unpopped_fragments,
                "multishard_query_unpopped_bytes": self.unpopped_bytes,
                "multishard_query_failed_reader_stops": self.failed_reader_stops,
                "multishard_query_failed_reader_saves": self.failed_reader_saves}


@dataclass(frozen=True)
class RangeRequest:
    """A ``RANGE_READ`` payload, checked."""

    table_id: str
    version: str
    partition_range: PartitionRange
    clustering_slice: ClusteringSlice
    now_s: float
    start: Position
    query_id: bytes | None
    stateful: bool
    limit: int            # live rows to hand out; 0: only learn whether any is left
    max_bytes: int
    static_only: bool     # a partition with a live static row and no live row counts as one
    digest: bool

    @classmethod
    def from_wire(cls, payload: Any) -> RangeRequest:
        if not isinstance(payload, dict):
            raise Invalid("malformed range read")
        try:
            query_id = payload.get("query_id")
            return cls(str(payload["table"]), str(payload.get("version") or ""),
                       PartitionRange.from_wire(payload["range"]),
                       ClusteringSlice.from_wire(payload["slice"]), float(payload["now_s"]),
                       Position.from_wire(payload["start"]) if payload.get("start") else Position(),
                       bytes(query_id) if query_id is not None else None,
                       bool(payload.get("stateful")), max(0, int(payload.get("limit") or 0)),
                       max(1, int(payload.get("max_bytes") or (1 << 20))),
                       bool(payload.get("static_only")), bool(payload.get("digest")))
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise Invalid(f"malformed range read: {error}") from None

    def cursor_spec(self) -> dict[str, Any]:
        return {"table": self.table_id, "version": self.version,
                "range": self.partition_range.to_wire(), "slice": self.clustering_slice.to_wire(),
                "now_s": self.now_s, "start": self.start.to_wire() if self.start.stage else None,
                "query_id": self.query_id, "stateful": self.stateful}


def token_bounds(partition_range: PartitionRange) -> tuple[int, int]:
    """``(start, end]`` tokens that hold every partition of the range."""
    start, end = TOKEN_MIN, TOKEN_MAX
    if partition_range.lower is not None:
        start = max(TOKEN_MIN, partition_range.lower[0][0] - 1)
    if partition_range.upper is not None:
        (token, key), inclusive = partition_range.upper
        end = min(TOKEN_MAX, token if inclusive or key else token - 1)
    return start, max(start, end)


@dataclass
class _ShardState:
    buffer: deque = field(default_factory=deque)   # (wire, size, live, position)
    partition: tuple[int, bytes] = (0, b"")
    opened: bool = False
    ended: bool = False
    peeked: int = 0          # fragments popped while peeking: given back at the end
    fetch: asyncio.Task | None = None
    cache: str | None = None


class MultishardReader:
    """One page of one range request on this node."""

    def __init__(self, messaging: Any, node: str, shards: int, ignore_msb: int,
                 request: RangeRequest, stats: MultishardStatistics, timeout_s: float,
                 cursor_id: str) -> None:
        self.messaging = messaging
        self.node = node
        self.request = request
        self.stats = stats
        self.timeout_s = timeout_s
        self.cursor_id = cursor_id
        start, end = token_bounds(request.partition_range)
        self.chunks = _LazyChunks(start, end, shards, ignore_msb)
        self.shards = shards
        self.states = {s: _ShardState() for s in range(shards)}
        self.concurrency = 1
        self.highest_concurrency = 1
        self.out: list[Any] = []
        self.rows = 0
        self.bytes = 0
        self.last = request.start
        self._reversed = request.clustering_slice.reversed
        self._continued = is_mid_partition(request.start)
        self._partition_rows = 0
        self._partition_static_live = False
        self._partition_is_continued = False

    async def run(self) -> dict[str, Any]:
        request = self.request
        self.stats.pages += 1
        has_more = False
        walked = False
        try:
            has_more = await self._walk()
            walked = True
        finally:
            # Only a reader that may still have rows for a later page is worth parking:
            # an exhausted one would only fill the querier cache until its TTL.
            await self._finish(save=walked and has_more and request.stateful
                               and request.query_id is not None)
        answer: dict[str, Any] = {"last": self.last.to_wire(), "exhausted": not has_more,
                                  "rows": self.rows, "bytes": self.bytes,
                                  "cache": {str(s): st.cache for s, st in self.states.items()
                                            if st.cache is not None}}
        if request.digest:
            answer["digest"] = digest_of(self.out)
        else:
            answer["fragments"] = self.out
        return answer

    # -- the walk ---------------------------------------------------------------------

    async def _walk(self) -> bool:
        """Hand out fragments up to the limit, then peek; True if a live row is left."""
        request = self.request
        peeking = request.limit == 0
        chunk_index = 0
        while True:
            chunk = self.chunks.get(chunk_index)
            if chunk is None:
                break
            state = self.states[chunk.shard]
            if not state.buffer:
                if state.ended:
                    chunk_index += 1
                    continue
                await self._fetch(chunk.shard, chunk_index, peeking)
                continue
            wire, size, live, position = state.buffer[0]
            if position.token > chunk.end:
                chunk_index += 1
                continue
            state.buffer.popleft()
            if peeking:
                state.peeked += 1
            if not self._passes(wire, position):
                continue
            counts = self._track(wire, size, live, position)
            if peeking:
                if counts:
                    return True
                continue
            self.out.append(wire)
            self.last = position if is_after(position, self.last, self._reversed) else self.last
            if counts:
                self.rows += 1
                self.bytes += size
                if self.rows >= request.limit or self.bytes >= request.max_bytes:
                    peeking = True
        return False

    def _passes(self, wire: list[Any], position: Position) -> bool:
        start = self.request.start
        if is_after(position, start, self._reversed):
            return True
        return (self._continued and position.token == start.token and position.key == start.key
                and position.stage <= AFTER_RANGE_TOMBSTONE)

    def _track(self, wire: list[Any], size: int, live: bool, position: Position) -> bool:
        """Follow the partition being handed out; True if the fragment completes a row
        that counts against the limit."""
        kind = wire[0]
        if kind == PARTITION_START:
            start = self.request.start
            self._partition_rows = 0
            self._partition_static_live = False
            self._partition_is_continued = self._continued and (wire[1], wire[2]) == (start.token, start.key)
            return False
        if kind == STATIC_ROW:
            self._partition_static_live = live
            return False
        if kind == CLUSTERING_ROW:
            if live:
                self._partition_rows += 1
            return live
        if kind == PARTITION_END:
            return (self.request.static_only and self._partition_rows == 0
                    and self._partition_static_live and not self._partition_is_continued)
        return False

    # -- fetching with read-ahead -------------------------------------------------------

    async def _fetch(self, shard: int, chunk_index: int, peeking: bool) -> None:
        wanted = [shard]
        for chunk in self.chunks.following(chunk_index, self.shards * 2):
            if len(wanted) >= self.concurrency:
                break
            other = self.states[chunk.shard]
            if chunk.shard not in wanted and not other.buffer and not other.ended \
                    and other.fetch is None:
                wanted.append(chunk.shard)
        for index in wanted:
            state = self.states[index]
            if state.fetch is None:
                state.fetch = asyncio.get_running_loop().create_task(self._read_batch(index, peeking))
        task = self.states[shard].fetch
        assert task is not None
        try:
            await task
        finally:
            self.states[shard].fetch = None
        self.concurrency = min(self.shards, self.concurrency * 2)
        self.highest_concurrency = max(self.highest_concurrency, self.concurrency)

    async def _read_batch(self, shard: int, peeking: bool) -> None:
        state = self.states[shard]
        rows_left = max(1, self.request.limit - self.rows)
        payload: dict[str, Any] = {
            "id": f"{self.cursor_id}/{shard}",
            "max_fragments": PEEK_FRAGMENTS if peeking else min(FETCH_FRAGMENTS_MAX, 3 * rows_left + 8),
            "max_bytes": max(4096, self.request.max_bytes - self.bytes)}
        if not state.opened:
            payload["open"] = self.request.cursor_spec()
        answer = await self.messaging.send(Verb.SHARD_CURSOR_READ, ShardId(self.node, shard),
                                           payload, timeout_s=self.timeout_s)
        state.opened = True
        if "cache" in answer:
            state.cache = answer["cache"]
        partition = state.partition
        for wire, size, live in zip(answer["fragments"], answer["sizes"], answer["live"]):
            if wire[0] == PARTITION_START:
                partition = (wire[1], wire[2])
            state.buffer.append((wire, size, live, wire_position(wire, *partition)))
        state.partition = partition
        state.ended = bool(answer["end"])

    # -- page end ---------------------------------------------------------------------

    async def _finish(self, save: bool) -> None:
        for state in self.states.values():
            if state.fetch is not None:
                try:
                    await state.fetch
                except Exception:  # the page is over: a late read-ahead failure only loses it
                    pass
                state.fetch = None
        calls = []
        for shard, state in self.states.items():
            if not state.opened:
                continue
            unconsumed = len(state.buffer) + state.peeked
            self.stats.unpopped_fragments += unconsumed
            self.stats.unpopped_bytes += sum(item[1] for item in state.buffer)
            worth_saving = save and (not state.ended or unconsumed > 0)
            calls.append(self._finish_one(shard, unconsumed, worth_saving))
        await asyncio.gather(*calls)

    async def _finish_one(self, shard: int, unconsumed: int, save: bool) -> None:
        try:
            await self.messaging.send(Verb.SHARD_CURSOR_FINISH, ShardId(self.node, shard),
                                      {"id": f"{self.cursor_id}/{shard}", "push_back": unconsumed,
                                       "save": save}, timeout_s=self.timeout_s)
        except (RequestError, RpcError):
            if save:
                self.stats.failed_reader_saves += 1
            else:
                self.stats.failed_reader_stops += 1


class _LazyChunks:
    """The shard chunks of ``(start, end]`` in token order, cut one span at a time as the
    walk reaches them (a full-ring range has thousands; a page needs a few)."""

    def __init__(self, start: int, end: int, shards: int, ignore_msb: int) -> None:
        self._next_start = start
        self._end = end
        self._shards = shards
        self._ignore_msb = ignore_msb
        self._span = 1 << (64 - ignore_msb)
        self._chunks: list[Any] = []

    def get(self, index: int) -> Any:
        while index >= len(self._chunks) and self._next_start < self._end:
            unsigned = self._next_start + 1 + (1 << 63)
            span_end = ((unsigned >> (64 - self._ignore_msb)) + 1) * self._span - 1 - (1 << 63)
            stop = min(self._end, span_end)
            self._chunks.extend(shard_chunks(self._next_start, stop, self._shards, self._ignore_msb))
            self._next_start = stop
        return self._chunks[index] if index < len(self._chunks) else None

    def following(self, index: int, count: int) -> list[Any]:
        out = []
        for offset in range(1, count + 1):
            chunk = self.get(index + offset)
            if chunk is None:
                break
            out.append(chunk)
        return out


class MultishardQueryService:
    """Serves ``RANGE_READ`` on one shard with a multishard reader per request."""

    def __init__(self, shard: Any) -> None:
        self.shard = shard
        self.stats = MultishardStatistics()
        self._ids = itertools.count()
        self.highest_read_ahead = 0

    def statistics(self) -> dict[str, int]:
        return {**self.stats.as_metrics(),
                "multishard_query_highest_read_ahead_concurrency": self.highest_read_ahead}

    def register(self, messaging: Any) -> None:
        async def on_range_read(source: Any, payload: Any) -> Any:
            return await self.read(RangeRequest.from_wire(payload))

        messaging.register(Verb.RANGE_READ, on_range_read)

    async def read(self, request: RangeRequest) -> dict[str, Any]:
        shard = self.shard
        cursor_id = f"{shard.node}:{shard.shard}:{shard.generation}:{next(self._ids)}"
        timeout_s = shard.config.timeouts.range_ms / 1000
        reader = MultishardReader(shard.messaging, shard.node, shard.identity.shards,
                                  shard.config.sharding_ignore_msb, request, self.stats,
                                  timeout_s, cursor_id)
        try:
            answer = await reader.run()
        except RpcError as error:
            raise ReadTimeout(f"a shard of {shard.node} did not answer: {error}",
                              consistency="ONE", received=0, required=1,
                              data_present=False) from error
        self.highest_read_ahead = max(self.highest_read_ahead, reader.highest_concurrency)
        return answer


__all__ = ["MultishardQueryService", "MultishardReader", "RangeRequest", "token_bounds"]
