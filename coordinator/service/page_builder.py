"""Building one page of result rows from replica answers, and reconciling the pages
several replicas answered for the same range.

``reconcile_pages``: each replica's page is its stream after the start position, cut
after its own limit; the merged stream is only known up to the earliest point where a
replica stopped (Cassandra's short-read rule), so every version is cut there before
merging, and the page goes on from there. ``PageAssembler`` turns reconciled
partitions into rows: it applies PER PARTITION LIMIT across pages (the cookie carries
what is left of it), stops at the row or byte budget of the page, and keeps the
position of the last row consumed, which becomes the paging state.

Invariant: the assembler's ``position`` is such that every row after it, and none
before, is still to be returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordinator.service.plans import ReadPlan
from coordinator.service.reconciliation import PartitionData, merge
from coordinator.service.results import selected_rows
from node.readers.position import AFTER_END, AFTER_ROW, Position
from node.readers.stream_order import is_after, is_mid_partition


@dataclass
class ReplicaPage:
    """One replica's answer to one page request."""

    replica: str
    partitions: list[PartitionData]
    last: Position
    exhausted: bool
    rows: int = 0
    cache: dict[str, Any] = field(default_factory=dict)


def truncate(partitions: list[PartitionData], stop: Position,
             reversed_order: bool) -> list[PartitionData]:
    """The partitions (and rows) at or before ``stop``."""
    out = []
    for partition in partitions:
        if (partition.token, partition.key) > (stop.token, stop.key):
            break
        if (partition.token, partition.key) == (stop.token, stop.key) and stop.stage < AFTER_END:
            kept = PartitionData(partition.token, partition.key, partition.tombstone,
                                 partition.static_row, {}, list(partition.range_tombstones))
            if stop.stage == AFTER_ROW:
                for clustering, row in partition.rows.items():
                    if clustering == stop.clustering or \
                            (clustering > stop.clustering) == reversed_order:  # type: ignore[operator]
                        kept.rows[clustering] = row
            out.append(kept)
            break
        out.append(partition)
    return out


def reconcile_pages(pages: list[ReplicaPage], now_s: float, reversed_order: bool
                    ) -> tuple[list[PartitionData], Position | None, dict[str, list[PartitionData]]]:
    """Merged partitions, the point they are complete up to (None: every replica
    reached its end) and each replica's version cut at that point."""
    stop: Position | None = None
    for page in pages:
        if not page.exhausted and (stop is None or is_after(stop, page.last, reversed_order)):
            stop = page.last
    versions = {page.replica: (page.partitions if stop is None
                               else truncate(page.partitions, stop, reversed_order))
                for page in pages}
    by_key: dict[tuple[int, bytes], list[PartitionData]] = {}
    for partitions in versions.values():
        for partition in partitions:
            by_key.setdefault((partition.token, partition.key), []).append(partition)
    merged = [merge(by_key[key], now_s) for key in sorted(by_key)]
    return merged, stop, versions


class PageAssembler:
    """Rows of one page, from reconciled partitions in stream order."""

    def __init__(self, plan: ReadPlan, now_s: float, position: Position,
                 partition_rows_remaining: int | None, rows_wanted: int, bytes_max: int) -> None:
        assert rows_wanted > 0 and bytes_max > 0
        self.plan = plan
        self.now_s = now_s
        self.position = position
        self.rows: list[list[Any]] = []
        self.bytes = 0
        self.rows_wanted = rows_wanted
        self.bytes_max = bytes_max
        self.full = False
        self.rows_discarded = 0
        self._partition = (position.token, position.key) if position.stage else None
        self._partition_remaining = (partition_rows_remaining if is_mid_partition(position)
                                     else plan.per_partition_limit)

    @property
    def partition_rows_remaining(self) -> int | None:
        """What PER PARTITION LIMIT still allows in the partition of ``position``."""
        if self._partition == (self.position.token, self.position.key) \
                and self.position.stage < AFTER_END:
            return self._partition_remaining
        return self.plan.per_partition_limit

    def add(self, partitions: list[PartitionData]) -> None:
        for partition in partitions:
            if self.full:
                self.rows_discarded += len(partition.rows)
                continue
            self._add_partition(partition)

    def _add_partition(self, partition: PartitionData) -> None:
        key = (partition.token, partition.key)
        if (key < (self.position.token, self.position.key) and self.position.stage) or \
                (key == (self.position.token, self.position.key) and self.position.stage == AFTER_END):
            return
        continued = is_mid_partition(self.position) and key == (self.position.token, self.position.key)
        if not continued:
            self._partition = key
            self._partition_remaining = self.plan.per_partition_limit
        reversed_order = self.plan.reversed
        for clustering, values, size in selected_rows(self.plan, partition, self.now_s,
                                                      static_only_allowed=not continued):
            if clustering is not None:
                row_position = Position(AFTER_ROW, partition.token, partition.key, clustering=clustering)
                if not is_after(row_position, self.position, reversed_order):
                    continue
            else:
                row_position = Position(AFTER_END, partition.token, partition.key)
            if self._partition_remaining is not None and self._partition_remaining <= 0:
                self.position = Position(AFTER_END, partition.token, partition.key)
                return
            self.rows.append(values)
            self.bytes += size
            self.position = row_position
            if self._partition_remaining is not None:
                self._partition_remaining -= 1
                if self._partition_remaining <= 0:
                    self.position = Position(AFTER_END, partition.token, partition.key)
            if len(self.rows) >= self.rows_wanted or self.bytes >= self.bytes_max:
                self.full = True
                return

    def advance(self, stop: Position) -> None:
        """Every row up to ``stop`` was seen: the page goes on after it."""
        if not self.full and is_after(stop, self.position, self.plan.reversed):
            self.position = stop
