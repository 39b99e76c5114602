"""The SELECT path of a coordinator: every SELECT is paged.

A page asks for ``min(page_size, rows LIMIT still allows)`` rows and at most
``paging.max_page_bytes`` of them. Partition-key queries (= or IN) read their
partitions in token order, a page of one partition at a time (the single-partition
read path: digests, read repair); other queries are range scans
(``coordinator/service/range_scan.py``). The page's end becomes the paging state
(``coordinator/pager/paging_state.py``); no paging state means there is nothing after the page.
``page_size <= 0`` and ``COUNT(*)`` read every page internally and answer at once.

Invariant: concatenating the pages of a query gives each row that existed through the
scan exactly once, in the order of an unpaged read.
"""

from __future__ import annotations

import dataclasses

import random
from dataclasses import dataclass
from typing import Any

from coordinator.service.plans import ReadPlan
from coordinator.service.page_builder import PageAssembler
from coordinator.pager.paging_state import PagingCodec, PagingState
from coordinator.service.range_scan import RangeScanner, ScanContext
from coordinator.service.read_path import PartitionPageRead, ReadPath
from node.errors import Invalid
from node.schema.definitions import KeyspaceSchema
from node.readers.position import AFTER_END, Position
from node.readers.ranges import ClusteringRange, ClusteringSlice
from node.readers.stream_order import is_mid_partition

INTERNAL_PAGE_ROWS = 10000


@dataclass
class Page:
    rows: list[list[Any]]
    position: Position
    partition_rows_remaining: int | None
    has_more: bool
    replicas: dict[int, tuple[str, ...]]
    request_end: int | None = None


def slice_of(read_plan: ReadPlan) -> ClusteringSlice:
    """The plan's clustering ranges as the storage's slice."""
    ranges = []
    for item in read_plan.clustering_ranges:
        start, end = item.start, item.end
        ranges.append(ClusteringRange(start.prefix if start else b"", start.inclusive if start else True,
                                      end.prefix if end else b"", end.inclusive if end else True))
    return ClusteringSlice(tuple(ranges) or (ClusteringRange(),), read_plan.reversed)


class SelectPath:
    def __init__(self, shard: Any, schema: Any, reads: ReadPath, scanner: RangeScanner,
                 rng: random.Random | None = None) -> None:
        self.shard = shard
        self.schema = schema
        self.reads = reads
        self.scanner = scanner
        self.codec = PagingCodec(shard.config.name, shard.config.secret)
        self._random = rng or random.Random(f"{shard.node}/{shard.shard}/{shard.generation}")

    async def execute(self, plan: ReadPlan, level: str, page_size: int, paging_state: str | None,
                      tracer: Any) -> tuple[list[list[Any]], str | None]:
        """Rows of one page (every row when unpaged) and the paging state, or None."""
        state = self.codec.decode(paging_state) if paging_state is not None else None
        if state is not None and state.table_id != plan.table.id:
            raise Invalid("invalid paging state: it belongs to another table")
        query_id = state.query_id if state is not None else self._random.randbytes(16)
        position = state.position if state is not None else Position()
        limit_left = state.rows_remaining if state is not None else plan.limit
        partition_left = state.partition_rows_remaining if state is not None else plan.per_partition_limit
        replicas = dict(state.replicas) if state is not None else {}
        request_end = state.request_end if state is not None else None
        keyspace = self.schema.keyspace(plan.table.keyspace)
        max_page_bytes = self.shard.config.paging.max_page_bytes
        if plan.is_count:
            # As Cassandra (AGGREGATE_EVERYTHING): COUNT(*) counts every row; LIMIT and
            # PER PARTITION LIMIT apply to the one result row, not to what is counted.
            plan = dataclasses.replace(plan, limit=None, per_partition_limit=None)
            limit_left = partition_left = None
        if plan.is_count or page_size <= 0:
            rows, count = await self._all_pages(plan, keyspace, level, query_id, position,
                                                partition_left, limit_left, replicas, request_end,
                                                tracer)
            return ([[count]] if plan.is_count else rows), None
        wanted = page_size if limit_left is None else min(page_size, limit_left)
        if wanted <= 0:
            return [], None
        page = await self._page(plan, keyspace, level, query_id, position, partition_left,
                                wanted, max_page_bytes, replicas, request_end, tracer)
        left = None if limit_left is None else limit_left - len(page.rows)
        if not page.has_more or left == 0:
            return page.rows, None
        cookie = self.codec.encode(PagingState(plan.table.id, query_id, page.position, left,
                                               page.partition_rows_remaining, page.replicas,
                                               page.request_end))
        return page.rows, cookie

    async def _all_pages(self, plan: ReadPlan, keyspace: KeyspaceSchema, level: str,
                         query_id: bytes, position: Position, partition_left: int | None,
                         limit_left: int | None, replicas: dict[int, tuple[str, ...]],
                         request_end: int | None, tracer: Any) -> tuple[list[list[Any]], int]:
        rows: list[list[Any]] = []
        count = 0
        while True:
            wanted = INTERNAL_PAGE_ROWS if limit_left is None else min(INTERNAL_PAGE_ROWS,
                                                                        limit_left - count)
            if wanted <= 0:
                break
            page = await self._page(plan, keyspace, level, query_id, position, partition_left,
                                    wanted, self.shard.config.paging.max_page_bytes, replicas,
                                    request_end, tracer)
            count += len(page.rows)
            if not plan.is_count:
                rows.extend(page.rows)
            if not page.has_more:
                break
            position, partition_left, replicas, request_end = (
                page.position, page.partition_rows_remaining, page.replicas, page.request_end)
        return rows, count

    async def _page(self, plan: ReadPlan, keyspace: KeyspaceSchema, level: str, query_id: bytes,
                    position: Position, partition_left: int | None, wanted: int, bytes_max: int,
                    replicas: dict[int, tuple[str, ...]], request_end: int | None,
                    tracer: Any) -> Page:
        now_s = self.shard.clock.now_s()
        stateful = self.shard.config.paging.stateful
        assembler = PageAssembler(plan, now_s, position, partition_left, wanted, bytes_max)
        clustering_slice = slice_of(plan)
        if plan.partition_keys is None:
            context = ScanContext(plan, keyspace, level, now_s, clustering_slice,
                                  query_id if stateful else None, stateful, replicas, tracer,
                                  request_end)
            has_more, used, request_end = await self.scanner.read_page(context, assembler, position)
        else:
            has_more, used = await self._partitions_page(plan, keyspace, level, now_s,
                                                         clustering_slice, query_id, stateful,
                                                         assembler, replicas, tracer)
            request_end = None
        tracer.add("page", rows=len(assembler.rows), has_more=has_more,
                   rows_discarded=assembler.rows_discarded, stateful=stateful)
        return Page(assembler.rows, assembler.position, assembler.partition_rows_remaining,
                    has_more, used, request_end)

    async def _partitions_page(self, plan: ReadPlan, keyspace: KeyspaceSchema, level: str,
                               now_s: float, clustering_slice: ClusteringSlice, query_id: bytes,
                               stateful: bool, assembler: PageAssembler,
                               replicas: dict[int, tuple[str, ...]], tracer: Any
                               ) -> tuple[bool, dict[int, tuple[str, ...]]]:
        keys = plan.partition_keys
        assert keys is not None
        ring = self.shard.ring
        static_only = all(r.is_full for r in plan.clustering_ranges)
        used: dict[int, tuple[str, ...]] = {}

        def request(key: Any, limit: int) -> PartitionPageRead:
            here = assembler.position
            same = (here.token, here.key) == (key.token, key.key)
            start = here if same and is_mid_partition(here) else Position()
            vnode = ring.tokens[ring.vnode_index(key.token)]
            return PartitionPageRead(keyspace, plan.table, key.key, key.token, clustering_slice,
                                     start, limit, max(1, assembler.bytes_max - assembler.bytes),
                                     query_id if stateful else None, stateful, static_only,
                                     replicas.get(vnode, ()))

        async def read(key: Any, limit: int) -> Any:
            page = await self.reads.read_page(request(key, limit), level, now_s)
            used[ring.tokens[ring.vnode_index(key.token)]] = page.replicas
            tracer.add("partition_page", token=key.token, limit=limit, replicas=list(page.replicas),
                       complete=page.stop is None, querier_cache=page.cache)
            return page

        index = self._first_key(keys, assembler.position)
        filled_stop = None
        while index < len(keys) and not assembler.full:
            page = await read(keys[index], assembler.rows_wanted - len(assembler.rows))
            assembler.add([page.partition] if page.partition is not None else [])
            if assembler.full:
                filled_stop = page.stop
            elif page.stop is not None:
                assembler.advance(page.stop)
                index = max(index, self._first_key(keys, assembler.position))
            else:
                index += 1
        if not assembler.full:
            return False, used
        if filled_stop is not None and filled_stop == assembler.position:
            return True, used
        for key in keys[self._first_key(keys, assembler.position):]:
            if (await read(key, 0)).stop is not None:
                return True, used
        return False, used

    @staticmethod
    def _first_key(keys: Any, position: Position) -> int:
        """The index of the first key not wholly before ``position``."""
        if not position.stage:
            return 0
        for index, key in enumerate(keys):
            point = (key.token, key.key)
            if point > (position.token, position.key) or \
                    (point == (position.token, position.key) and position.stage < AFTER_END):
                return index
        return len(keys)
