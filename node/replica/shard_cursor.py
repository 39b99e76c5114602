"""The shard side of paged reads: shard cursors that a multishard reader pulls from,
parked in this shard's querier cache between pages.

A ``ShardCursor`` is this shard's resumable reader for one request of one query: the
storage's ``ShardReader`` (or, resuming in the middle of a partition without a saved
reader, a reader of that partition's rest followed by one of the range after it),
preceded by fragments to hand out first: read-ahead given back from older batches and
the header (start, static row, range tombstones) of a partition that continues from
the previous page, which a resumed stream must repeat so the coordinator can build
that partition's rows. Pushed-back fragments of the last storage batch go back into
the storage reader (``ShardReader.push_back``); older ones stay in the cursor.

``ShardCursorService`` serves two verbs to multishard readers on any shard of this
node: ``SHARD_CURSOR_READ`` (open on the first call: look the cursor up in the
querier cache and validate it, or make a fresh one; then hand out one batch) and
``SHARD_CURSOR_FINISH`` (push back what was not consumed; save the cursor in the
querier cache, or close it). Open cursors between the two are held here, bounded in
number, and closed if their multishard reader never finishes.

Invariant: a cursor hands out the fragments after its start position exactly once
across pages (repeated headers of a continued partition aside), whichever of a saved
or a fresh reader serves them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from node.errors import Invalid, Overloaded
from node.replica.querier_cache import QuerierCache
from node.dht.sharding import shard_of
from node.rpc.verbs import Verb
from node.schema.store import SchemaStore
from node.storage.engine import ShardStorage
from node.readers.fragments import (ClusteringRow, Fragment, PartitionEnd, PartitionStart,
                                    RangeTombstoneFragment, StaticRow)
from node.mutation.mutation import RangeTombstone
from node.readers.position import AFTER_END, BEFORE_ALL, Position
from node.readers.ranges import ClusteringSlice, PartitionRange
from node.readers.stream_order import is_after, is_mid_partition, remaining_slice

OPEN_CURSORS_MAX = 4096
CURSOR_BASE_BYTES = 16 * 1024   # what a parked reader costs beyond its buffered fragments


def _position_of(fragment: Fragment, partition: tuple[int, bytes]) -> Position:
    token, key = partition
    if isinstance(fragment, PartitionStart):
        return Position(1, fragment.token, fragment.key)
    if isinstance(fragment, StaticRow):
        return Position(2, token, key)
    if isinstance(fragment, RangeTombstoneFragment):
        rt = fragment.range_tombstone
        return Position(3, token, key, range_tombstone=(rt.start, rt.end))
    if isinstance(fragment, ClusteringRow):
        return Position(4, token, key, clustering=fragment.clustering)
    return Position(AFTER_END, token, key)


class ShardCursor:
    """This shard's resumable reader of one query's request range."""

    def __init__(self, readers: list[Any], start: Position, request_key: Any,
                 partition_range: PartitionRange, clustering_slice: ClusteringSlice,
                 table_version: str, table_id: str) -> None:
        self._readers = readers
        self._reader_index = 0
        self._pending: deque[Fragment] = deque()
        self.position = start                 # last fragment consumed (headers aside)
        self.request_key = request_key
        self.range = partition_range
        self.slice = clustering_slice
        self.table_version = table_version
        self.table_id = table_id
        self._partition: tuple[int, bytes] = (start.token, start.key)
        self._header: list[Fragment] = []     # header of the partition being read
        self._in_partition = False
        self._history: list[tuple[Fragment, int]] = []   # handed out this page: (fragment, source)
        self._last_storage_batch: tuple[int, list[Fragment]] = (-1, [])
        self._pushed_into_storage = 0          # fragments given back to a storage reader
        self.table_state: Any = None           # the table's write state when parked
        self._page_state = self._state()
        self._closed = False

    # -- page life ------------------------------------------------------------------

    def _state(self) -> tuple:
        return (self.position, self._partition, list(self._header), self._in_partition)

    def begin_page(self, start: Position, now_s: float) -> None:
        """A saved cursor goes on: repeat the header of a partition it stands inside."""
        for reader in self._readers:
            reader.now_s = now_s
        if self._in_partition and not self._pending_has_start():
            resume_at = self.position
            if (start.token, start.key) == self._partition \
                    and is_after(start, self.position, self.slice.reversed):
                resume_at = start
            header = _clip_header(self._header, remaining_slice(self.slice, resume_at))
            self._pending.extendleft(reversed(header))
        self._history = []
        self._last_storage_batch = (-1, [])
        self._page_state = self._state()

    def _pending_has_start(self) -> bool:
        return bool(self._pending) and isinstance(self._pending[0], PartitionStart)

    def read(self, max_fragments: int, max_bytes: int) -> tuple[list[Fragment], bool]:
        """The next batch and whether the cursor is at its end."""
        assert not self._closed
        out: list[Fragment] = []
        if self._pending:
            size = 0
            while self._pending and len(out) < max_fragments and size < max_bytes:
                fragment = self._pending.popleft()
                out.append(fragment)
                size += fragment.size_bytes()
            self._consume(out, -1)
            return out, False
        while self._reader_index < len(self._readers):
            reader = self._readers[self._reader_index]
            batch = reader.read(max_fragments, max_bytes)
            short = len(batch) < max_fragments and sum(f.size_bytes() for f in batch) < max_bytes
            source = self._reader_index
            if short:   # the reader ran dry: it is at its end
                self._reader_index += 1
            if batch:
                self._pushed_into_storage = max(0, self._pushed_into_storage - len(batch))
                self._consume(batch, source)
                self._last_storage_batch = (source, batch)
                return batch, self._reader_index >= len(self._readers)
        return out, True

    def _consume(self, batch: list[Fragment], source: int) -> None:
        for fragment in batch:
            self._history.append((fragment, source))
            self._track(fragment)

    def _track(self, fragment: Fragment) -> None:
        if isinstance(fragment, PartitionStart):
            self._partition = (fragment.token, fragment.key)
            self._header = [fragment]
            self._in_partition = True
        elif isinstance(fragment, (StaticRow, RangeTombstoneFragment)):
            self._header.append(fragment)
        elif isinstance(fragment, PartitionEnd):
            self._in_partition = False
            self._header = []
        position = _position_of(fragment, self._partition)
        if is_after(position, self.position, self.slice.reversed):
            self.position = position

    def push_back(self, count: int) -> None:
        """Give back the last ``count`` fragments handed out this page."""
        if count <= 0:
            return
        count = min(count, len(self._history))
        given_back = self._history[-count:]
        del self._history[-count:]
        source, batch = self._last_storage_batch
        tail = 0   # how many of ``given_back`` are a suffix of the reader's last batch
        while tail < min(len(given_back), len(batch)) \
                and given_back[-1 - tail][0] is batch[-1 - tail] and given_back[-1 - tail][1] == source:
            tail += 1
        if tail:
            self._readers[source].push_back(batch[len(batch) - tail:])
            self._pushed_into_storage += tail
            self._last_storage_batch = (source, batch[:len(batch) - tail])
            self._reader_index = min(self._reader_index, source)
            given_back = given_back[:len(given_back) - tail]
        self._pending.extendleft(reversed([f for f, _ in given_back]))
        # replay what stays consumed from the page's starting state
        self.position, self._partition, header, self._in_partition = self._page_state
        self._header = list(header)
        for fragment, _ in self._history:
            self._track(fragment)

    def holds_loaded_data(self) -> bool:
        """Whether fragments loaded before now would be handed out next (a partition
        being read, or read-ahead given back): they predate writes made since."""
        return bool(self._pending) or self._in_partition or self._pushed_into_storage > 0

    def size_bytes(self) -> int:
        return CURSOR_BASE_BYTES + sum(f.size_bytes() for f in self._pending)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for reader in self._readers:
                reader.close()
            self._pending.clear()


def _clip_header(header: list[Fragment], clustering_slice: ClusteringSlice) -> list[Fragment]:
    out: list[Fragment] = []
    pieces: list[RangeTombstone] = []
    for fragment in header:
        if isinstance(fragment, RangeTombstoneFragment):
            rt = fragment.range_tombstone
            pieces.extend(RangeTombstone(start, end, rt.tombstone)
                          for start, end in clustering_slice.clip(rt.start, rt.end))
        else:
            out.append(fragment)
    pieces.sort(key=RangeTombstone.sort_key, reverse=clustering_slice.reversed)
    return out + [RangeTombstoneFragment(piece) for piece in pieces]


@dataclass
class _OpenCursor:
    cursor: ShardCursor
    query_id: bytes | None
    now_s: float
    expires_at: float


class ShardCursorService:
    """The SHARD_CURSOR_READ / SHARD_CURSOR_FINISH verbs of one shard."""

    def __init__(self, storage: ShardStorage, schema: SchemaStore, cache: QuerierCache,
                 clock: Any, shard: int, shards: int, ignore_msb: int, open_timeout_s: float) -> None:
        self.storage = storage
        self.schema = schema
        self.cache = cache
        self.clock = clock
        self.shard = shard
        self.shards = shards
        self.ignore_msb = ignore_msb
        self.open_timeout_s = open_timeout_s
        self._open: dict[Any, _OpenCursor] = {}
        self.abandoned_cursors = 0

    def statistics(self) -> dict[str, int]:
        return {"shard_cursors_open": len(self._open),
                "shard_cursors_abandoned": self.abandoned_cursors}

    def register(self, messaging: Any) -> None:
        async def on_read(source: Any, payload: Any) -> Any:
            return self.read(payload)

        async def on_finish(source: Any, payload: Any) -> Any:
            return self.finish(payload)

        messaging.register(Verb.SHARD_CURSOR_READ, on_read)
        messaging.register(Verb.SHARD_CURSOR_FINISH, on_finish)

    # -- verbs ----------------------------------------------------------------------

    def read(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or "id" not in payload:
            raise Invalid("malformed shard cursor read")
        cursor_id = _hashable(payload["id"])
        cache_state = None
        opened = self._open.get(cursor_id)
        if opened is None:
            if "open" not in payload:
                raise Invalid("unknown shard cursor (it expired or its shard restarted)")
            opened, cache_state = self._open_cursor(payload["open"])
            self._sweep_open()
            if len(self._open) >= OPEN_CURSORS_MAX:
                opened.cursor.close()
                raise Overloaded("too many open shard cursors on this shard")
            self._open[cursor_id] = opened
        try:
            max_fragments = max(1, int(payload.get("max_fragments") or 256))
            max_bytes = max(1, int(payload.get("max_bytes") or (1 << 20)))
        except (TypeError, ValueError):
            raise Invalid("malformed shard cursor limits") from None
        opened.expires_at = self.clock.monotonic() + self.open_timeout_s
        batch, end = opened.cursor.read(max_fragments, max_bytes)
        now_s = opened.now_s
        wires, sizes, live = [], [], []
        for fragment in batch:
            wires.append(fragment.to_wire())
            sizes.append(fragment.size_bytes())
            live.append(isinstance(fragment, (ClusteringRow, StaticRow))
                        and fragment.row.is_live(now_s))
        answer: dict[str, Any] = {"fragments": wires, "sizes": sizes, "live": live, "end": end}
        if cache_state is not None:
            answer["cache"] = cache_state
        return answer

    def finish(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or "id" not in payload:
            raise Invalid("malformed shard cursor finish")
        opened = self._open.pop(_hashable(payload["id"]), None)
        if opened is None:
            return {"saved": False}
        cursor = opened.cursor
        try:
            cursor.push_back(int(payload.get("push_back") or 0))
        except Exception:
            cursor.close()
            raise
        if payload.get("save") and opened.query_id is not None:
            cursor.table_state = self._table_state(cursor.table_id)
            self.cache.insert((opened.query_id, cursor.request_key), cursor, cursor.size_bytes())
            return {"saved": True}
        cursor.close()
        return {"saved": False}

    # -- opening ----------------------------------------------------------------------

    def _open_cursor(self, spec: Any) -> tuple[_OpenCursor, str]:
        try:
            table = self.schema.table_by_id(spec["table"]) if isinstance(spec["table"], str) else None
            partition_range = PartitionRange.from_wire(spec["range"])
            clustering_slice = ClusteringSlice.from_wire(spec["slice"])
            now_s = float(spec["now_s"])
            start = Position.from_wire(spec["start"]) if spec.get("start") else Position()
            query_id = spec.get("query_id")
            query_id = bytes(query_id) if query_id is not None else None
            stateful = bool(spec.get("stateful")) and query_id is not None
            version = str(spec.get("version") or "")
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise Invalid(f"malformed shard cursor request: {error}") from None
        if table is None:
            raise Invalid(f"unknown table id {spec.get('table')!r} on this replica")
        if version and version != table.version:
            stateful = False   # the coordinator and this replica disagree on the schema: read afresh
        request_key = _hashable(partition_range.to_wire()[1])   # the range's end
        expires_at = self.clock.monotonic() + self.open_timeout_s
        if stateful:
            def validate(cursor: ShardCursor) -> bool:
                if cursor.holds_loaded_data() and cursor.table_state != self._table_state(table.id):
                    return False   # written since: what the reader loaded may be stale
                return _resumable(cursor, start, partition_range, clustering_slice, table.version)

            cursor = self.cache.lookup((query_id, request_key), validate)
            if cursor is not None:
                cursor.begin_page(start, now_s)
                return _OpenCursor(cursor, query_id, now_s, expires_at), "hit"
        cursor = self._fresh_cursor(table, partition_range, clustering_slice, now_s, start,
                                    request_key)
        return _OpenCursor(cursor, query_id, now_s, expires_at), "miss" if stateful else "stateless"

    def _fresh_cursor(self, table: Any, partition_range: PartitionRange,
                      clustering_slice: ClusteringSlice, now_s: float, start: Position,
                      request_key: Any) -> ShardCursor:
        make = self.storage.make_reader
        if start.stage == BEFORE_ALL:
            readers = [make(table, partition_range, clustering_slice, now_s)]
        elif not is_mid_partition(start):
            readers = [make(table, partition_range, clustering_slice, now_s, start_after=start)]
        else:
            after = Position(AFTER_END, start.token, start.key)
            readers = []
            if shard_of(start.token, self.shards, self.ignore_msb) == self.shard \
                    and partition_range.contains((start.token, start.key)):
                readers.append(make(table, PartitionRange.single(start.token, start.key),
                                    remaining_slice(clustering_slice, start), now_s))
            readers.append(make(table, partition_range, clustering_slice, now_s, start_after=after))
        return ShardCursor(readers, start, request_key, partition_range, clustering_slice,
                           table.version, table.id)

    def _table_state(self, table_id: str) -> Any:
        """Changes whenever the table on this shard is written, flushed or compacted."""
        table = self.storage.tables.get(table_id)
        if table is None:
            return None
        return (table.sources_version, tuple(m.version for m in table.memtables))

    def _sweep_open(self) -> None:
        now = self.clock.monotonic()
        for cursor_id in [i for i, o in self._open.items() if o.expires_at <= now]:
            self._open.pop(cursor_id).cursor.close()
            self.abandoned_cursors += 1

    def close_all(self) -> None:
        for opened in self._open.values():
            opened.cursor.close()
        self._open.clear()


def _resumable(cursor: ShardCursor, start: Position, partition_range: PartitionRange,
               clustering_slice: ClusteringSlice, table_version: str) -> bool:
    """A saved cursor may serve a page that starts at ``start`` over ``partition_range``."""
    if cursor.table_version != table_version or cursor.slice != clustering_slice:
        return False
    if cursor.range.upper != partition_range.upper:
        return False
    if start.stage == BEFORE_ALL:
        return cursor.position.stage == BEFORE_ALL and cursor.range.lower == partition_range.lower
    return not is_after(cursor.position, start, clustering_slice.reversed)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, bytearray):
        return bytes(value)
    return value

