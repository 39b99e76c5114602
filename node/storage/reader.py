"""The shard reader: merges a table's memtables and SSTables over a partition range
and a clustering slice, reconciles, and yields the fragment stream (see
``fragments``) in batches.

Pull-based: ``read(max_fragments, max_bytes)`` returns the next batch; ``position``
says where the handed-out stream stands; ``push_back`` returns unconsumed read-ahead;
``close`` releases the SSTables it holds. A reader loads one partition at a time
(reconciled, within the slice) and keeps what it has not handed out, so it can stop
after any fragment and go on later from exactly there. Between calls the table may
flush or compact: at the next call the reader sees the new set of sources and
re-seeks them strictly after the last partition it loaded, keeping the cursors (and
their cached blocks) of SSTables that are still there. An open reader holds a
reference to each SSTable it reads, so compaction never deletes a file under it.

Cells of dropped columns (``TableSchema.dropped``) are left out as the partition is
loaded.

Invariant: the stream handed out never repeats and never skips a fragment of what the
sources held when its partition was loaded; within ``read`` nothing awaits, so no
source changes under an iterator.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterator

from node.readers.fragments import (
    ClusteringRow,
    Fragment,
    PartitionEnd,
    PartitionStart,
    RangeTombstoneFragment,
    StaticRow,
)
from node.storage.dropped_cells import row_without_dropped
from node.storage.memtable import Memtable
from node.mutation.mutation import RangeTombstone, Row, newer_tombstone
from node.storage.partition import Partition
from node.readers.position import (
    AFTER_END,
    AFTER_RANGE_TOMBSTONE,
    AFTER_ROW,
    AFTER_START,
    AFTER_STATIC,
    BEFORE_ALL,
    Position,
)
from node.readers.ranges import ClusteringSlice, PartitionRange
from node.mutation.reconcile import covering_deletion, merge_rows, shadow_row
from node.storage.sstable import SSTable, SSTableCursor
from node.storage.statistics import Counters

_FULL = ((b"", None),)


def _memtable_partitions(memtable: Memtable, partition_range: PartitionRange,
                         clustering_slice: ClusteringSlice) -> Iterator[Partition]:
    lower = partition_range.lower
    upper = partition_range.upper
    iterator = memtable.partitions.irange(
        None if lower is None else lower[0], None if upper is None else upper[0],
        inclusive=(True if lower is None else lower[1], True if upper is None else upper[1]))
    full = clustering_slice.intervals == _FULL
    partitions = memtable.partitions
    for position in iterator:
        data = partitions[position]
        if full:
            rows = data.sorted_rows()
        else:
            rows = []
            for low, high in clustering_slice.intervals:
                rows.extend(data.rows_between(low, high))
        yield Partition(position[0], position[1], data.tombstone, data.static_row, rows,
                        list(data.range_tombstones))


class _Source:
    __slots__ = ("iterator", "head")

    def __init__(self, iterator: Iterator[Partition]) -> None:
        self.iterator = iterator
        self.head: Partition | None = next(iterator, None)

    def advance(self) -> None:
        self.head = next(self.iterator, None)


class ShardReader:
    def __init__(self, table: Any, partition_range: PartitionRange,
                 clustering_slice: ClusteringSlice, now_s: float, counters: Counters,
                 start_after: Position | None = None) -> None:
        self._table = table
        self._range = partition_range
        self._slice = clustering_slice
        self.now_s = now_s
        self._counters = counters
        self._ahead: deque[tuple[Fragment, Position]] = deque()
        self._last_batch: list[tuple[Fragment, Position]] = []
        self._batch_start = Position()
        self._position = Position()
        self._cursors: dict[int, SSTableCursor] = {}
        self._sources: list[_Source] = []
        self._sources_version = -1
        self._memtable_versions: tuple = ()
        self._last_loaded: tuple[int, bytes] | None = None
        self._resume: Position | None = None
        self._sources_done = False
        self._closed = False
        if start_after is not None and start_after.stage != BEFORE_ALL:
            self._position = start_after
            if start_after.stage == AFTER_END:
                self._last_loaded = (start_after.token, start_after.key)
            else:
                self._resume = start_after

    # -- the public surface ------------------------------------------------------------

    @property
    def position(self) -> Position:
        return self._position

    @property
    def is_end_of_stream(self) -> bool:
        if self._ahead:
            return False
        if not self._sources_done:
            self._fill()
        return not self._ahead and self._sources_done

    def read(self, max_fragments: int = 1000, max_bytes: int = 1 << 20) -> list[Fragment]:
        assert not self._closed, "read from a closed reader"
        assert max_fragments > 0 and max_bytes > 0
        out: list[Fragment] = []
        batch: list[tuple[Fragment, Position]] = []
        self._batch_start = self._position
        size = 0
        while len(out) < max_fragments and size < max_bytes:
            if not self._ahead:
                self._fill()
                if not self._ahead:
                    break
            item = self._ahead.popleft()
            batch.append(item)
            out.append(item[0])
            size += item[0].size_bytes()
        if batch:
            self._position = batch[-1][1]
        self._last_batch = batch
        return out

    def push_back(self, fragments: list[Fragment]) -> None:
        """Give back the unconsumed tail of the last batch; the next read yields it first."""
        if not fragments:
            return
        count = len(fragments)
        tail = self._last_batch[-count:]
        assert len(tail) == count and all(a is b[0] for a, b in zip(fragments, tail)), \
            "push_back takes a suffix of the last batch, in order"
        self._ahead.extendleft(reversed(tail))
        del self._last_batch[-count:]
        self._position = self._last_batch[-1][1] if self._last_batch else self._batch_start

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for cursor in self._cursors.values():
            cursor.close()
        self._cursors.clear()
        self._sources = []

    # -- sources -----------------------------------------------------------------------

    def _sources_stale(self) -> bool:
        table = self._table
        if table.sources_version != self._sources_version:
            return True
        return tuple(m.version for m in table.memtables) != self._memtable_versions

    def _rebuild_sources(self) -> None:
        table = self._table
        if self._last_loaded is None:
            part_range = self._range
            if self._resume is not None:
                part_range = self._range.starting_at(self._resume.token, self._resume.key)
        else:
            part_range = self._range.starting_after(*self._last_loaded)
        sources = [_Source(_memtable_partitions(m, part_range, self._slice))
                   for m in table.memtables]
        cursors: dict[int, SSTableCursor] = {}
        for sstable in table.sstables:
            if not self._may_hold(sstable):
                continue
            cursor = self._cursors.pop(sstable.generation, None)
            if cursor is None:
                cursor = SSTableCursor(sstable, self._counters)
            cursors[sstable.generation] = cursor
            sources.append(_Source(cursor.partitions(part_range.lower, part_range.upper)))
        for cursor in self._cursors.values():
            cursor.close()
        self._cursors = cursors
        self._sources = sources
        self._sources_version = table.sources_version
        self._memtable_versions = tuple(m.version for m in table.memtables)

    def _may_hold(self, sstable: SSTable) -> bool:
        stats = sstable.statistics
        if stats["partitions"] == 0:
            return False
        if self._range.lower is not None and stats["max_token"] < self._range.lower[0][0]:
            return False
        if self._range.upper is not None and stats["min_token"] > self._range.upper[0][0]:
            return False
        if self._range.is_single_partition() and \
                not sstable.bloom.might_contain(self._range.lower[0][1]):  # type: ignore[index]
            return False
        return True

    def _fill(self) -> None:
        """Load the next partition that yields any fragment into ``_ahead``."""
        if self._sources_done:
            return
        if self._sources_stale() or not self._sources and self._sources_version < 0:
            self._rebuild_sources()
        while not self._ahead:
            heads = [s for s in self._sources if s.head is not None]
            if not heads:
                self._sources_done = True
                self.close_sources()
                return
            position = min(s.head.position for s in heads)  # type: ignore[union-attr]
            parts = []
            for source in heads:
                if source.head.position == position:  # type: ignore[union-attr]
                    parts.append(source.head)
                    source.advance()
            self._last_loaded = position
            fragments = self._merge(parts)
            if self._resume is not None:
                resume, self._resume = self._resume, None
                if (resume.token, resume.key) == position:
                    fragments = [f for f in fragments if self._after(f[1], resume)]
            self._ahead.extend(fragments)

    def close_sources(self) -> None:
        for cursor in self._cursors.values():
            cursor.close()
        self._cursors = {}
        self._sources = []

    def _after(self, candidate: Position, resume: Position) -> bool:
        if candidate.stage != resume.stage:
            return candidate.stage > resume.stage
        if candidate.stage == AFTER_ROW:
            if self._slice.reversed:
                return candidate.clustering < resume.clustering  # type: ignore[operator]
            return candidate.clustering > resume.clustering  # type: ignore[operator]
        if candidate.stage == AFTER_RANGE_TOMBSTONE:
            def key(pair: Any) -> tuple:
                return (pair[0], pair[1] is None, pair[1] or b"")
            if self._slice.reversed:
                return key(candidate.range_tombstone) < key(resume.range_tombstone)
            return key(candidate.range_tombstone) > key(resume.range_tombstone)
        return False

    # -- merging one partition ---------------------------------------------------------

    def _merge(self, parts: list[Partition]) -> list[tuple[Fragment, Position]]:
        now_s = self.now_s
        counters = self._counters
        dropped = self._table.schema.dropped   # cells of dropped columns are left out
        counters.partitions_read += len(parts)
        token, key = parts[0].token, parts[0].key
        tombstone = None
        static_row: Row | None = None
        range_tombstones: list[RangeTombstone] = []
        for part in parts:
            tombstone = newer_tombstone(tombstone, part.tombstone)
            if part.static_row is not None:
                static_row = merge_rows(static_row, part.static_row, now_s)
            range_tombstones.extend(part.range_tombstones)
            counters.rows_read += len(part.rows)
        if len(parts) == 1:
            rows = parts[0].rows
            if self._slice.intervals != _FULL:
                rows = [item for item in rows if self._slice.contains(item[0])]
        else:
            merged: dict[bytes, Row] = {}
            for part in parts:
                for clustering, row in part.rows:
                    if self._slice.contains(clustering):
                        merged[clustering] = merge_rows(merged.get(clustering), row, now_s)
            rows = sorted(merged.items(), key=lambda item: item[0])
        if tombstone is not None:
            limit = tombstone.timestamp_us
            range_tombstones = [rt for rt in range_tombstones
                                if rt.tombstone.timestamp_us > limit]
        out: list[tuple[Fragment, Position]] = []
        if static_row is not None and dropped:
            static_row = row_without_dropped(static_row, dropped)
        if static_row is not None:
            static_row = shadow_row(static_row, tombstone, now_s)
        pieces: list[RangeTombstone] = []
        for rt in range_tombstones:
            for start, end in self._slice.clip(rt.start, rt.end):
                pieces.append(RangeTombstone(start, end, rt.tombstone))
        pieces.sort(key=RangeTombstone.sort_key, reverse=self._slice.reversed)
        if self._slice.reversed:
            rows = rows[::-1]
        body: list[tuple[Fragment, Position]] = []
        for clustering, row in rows:
            if dropped:
                row = row_without_dropped(row, dropped)  # type: ignore[assignment]
                if row is None:
                    continue
            deletion = covering_deletion(tombstone, range_tombstones, clustering) \
                if range_tombstones else tombstone
            kept = shadow_row(row, deletion, now_s)
            if kept is not None:
                body.append((ClusteringRow(clustering, kept),
                             Position(AFTER_ROW, token, key, clustering=clustering)))
        if tombstone is None and static_row is None and not pieces and not body:
            return out
        out.append((PartitionStart(token, key, tombstone), Position(AFTER_START, token, key)))
        if static_row is not None:
            out.append((StaticRow(static_row), Position(AFTER_STATIC, token, key)))
        for piece in pieces:
            out.append((RangeTombstoneFragment(piece),
                        Position(AFTER_RANGE_TOMBSTONE, token, key,
                                 range_tombstone=(piece.start, piece.end))))
        out.extend(body)
        out.append((PartitionEnd(), Position(AFTER_END, token, key)))
        return out
