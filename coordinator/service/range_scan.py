"""Coordinator range scans with adaptive concurrency, as storage_proxy's
``query_partition_key_range_concurrent``.

The queried token range is cut into vnode ranges in ring (token) order. They are read
in rounds: round one takes 1 vnode range, and while the page is not full each next
round takes twice as many. Inside a round, adjacent vnode ranges whose common live
replicas still meet the consistency level are merged into one request (and a range
the previous page read from given replicas stays with them, so their saved readers
are found). Requests of a round run concurrently, each asking for what the page still
lacks; answers are taken in token order, and what arrives after the page is full is
discarded (counted). At CL above ONE every contacted replica sends data; pages are
reconciled (cut where the first replica stopped) and stale replicas are repaired
before the answer, as single-partition reads do. A request whose replicas stopped
before the page was full (rows filtered out, or cut by reconciliation) is continued
from where they stopped in the next round.

When the page fills, the scan peeks on (requests of limit 0) until it finds a live
row or the end of the range, so the last page of a scan is never empty.

Invariant: rows reach the page in token order, each exactly once, and the page ends
at the assembler's position with nothing after it skipped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from coordinator.service.consistency import Requirement, check_available, counts, requirement
from coordinator.service.plans import ReadPlan, TokenRange as PlanTokenRange
from coordinator.service.page_builder import PageAssembler, ReplicaPage, reconcile_pages
from coordinator.service.reconciliation import PartitionData, partitions_from_fragments, repair_mutation
from node.errors import ReadTimeout, RequestError
from node.dht.sharding import shard_of
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from node.schema.definitions import KeyspaceSchema
from node.readers.position import BEFORE_ALL, Position
from node.readers.ranges import ClusteringSlice, PartitionRange
from node.readers.stream_order import intersect, range_from

MERGED_VNODES_MAX = 256


@dataclass
class RangeScanStatistics:
    pages: int = 0
    rounds: int = 0
    vnode_requests: int = 0
    merged_vnode_ranges: int = 0
    highest_concurrency: int = 0
    rows_read: int = 0
    rows_discarded: int = 0
    peek_requests: int = 0
    read_repairs: int = 0


@dataclass(frozen=True)
class VnodePiece:
    """The part of one vnode range the scan reads; ``start`` is the position it
    resumes after (BEFORE_ALL: from the range's beginning)."""

    partition_range: PartitionRange
    vnode_token: int
    replicas: tuple[str, ...]
    start: Position = Position()


@dataclass
class _Request:
    contacts: tuple[str, ...]
    pieces: list[VnodePiece] = field(default_factory=list)

    @property
    def partition_range(self) -> PartitionRange:
        return PartitionRange(self.pieces[0].partition_range.lower, self.pieces[-1].partition_range.upper)


@dataclass(frozen=True)
class ScanContext:
    """What every request of one page shares."""

    plan: ReadPlan
    keyspace: KeyspaceSchema
    level: str
    now_s: float
    clustering_slice: ClusteringSlice
    query_id: bytes | None
    stateful: bool
    preferred: dict[int, tuple[str, ...]]
    tracer: Any
    request_end: int | None = None   # the previous page's last request ended at this vnode


def query_range(token_range: PlanTokenRange) -> PartitionRange:
    """A plan's ``token(pk)`` bounds as a partition range."""
    lower = upper = None
    if token_range.start is not None:
        token = token_range.start.token + (0 if token_range.start.inclusive else 1)
        lower = ((token, b""), True)
    if token_range.end is not None:
        token = token_range.end.token + (1 if token_range.end.inclusive else 0)
        upper = ((token, b""), False)
    return PartitionRange(lower, upper)


class RangeScanner:
    def __init__(self, shard: Any, fixed_concurrency: int | None = None) -> None:
        self.shard = shard
        self.fixed_concurrency = fixed_concurrency   # benchmarks: no doubling (the baseline)
        self.stats = RangeScanStatistics()
        self._dc_of = {n.name: n.dc for n in shard.config.nodes}

    def statistics(self) -> RangeScanStatistics:
        return self.stats

    # -- the vnode ranges of a query ---------------------------------------------------

    def vnode_pieces(self, keyspace: KeyspaceSchema, token_range: PlanTokenRange,
                     start: Position) -> list[VnodePiece]:
        """The vnode ranges of the query after ``start``, in token order."""
        ring = self.shard.ring
        replica_map = self.shard.replica_map(keyspace.replication)
        wanted = query_range(token_range)
        pieces = []
        for index, token in enumerate(ring.tokens):
            replicas = tuple(replica_map.replicas_for_token(token))
            for part in ring.vnode_range(index).unwrap():
                piece = intersect(PartitionRange.token_range(part.start, part.end), wanted)
                if piece is None:
                    continue
                resumed = range_from(piece, start)
                if resumed is None:
                    continue
                pieces.append(VnodePiece(resumed, token, replicas,
                                         start if resumed != piece else Position()))
        pieces.sort(key=lambda p: p.partition_range.lower[0])  # type: ignore[index]
        return pieces

    # -- one page ----------------------------------------------------------------------

    async def read_page(self, context: ScanContext, assembler: PageAssembler,
                        start: Position) -> tuple[bool, dict[int, tuple[str, ...]], int | None]:
        """Fill ``assembler`` from the ranges after ``start``; whether rows are left,
        the replicas used per vnode and the vnode that ends the request the page ended
        in (the next page's first round reads the same request again, so the replicas'
        saved readers, keyed by the request's range, are found)."""
        self.stats.pages += 1
        replica_map = self.shard.replica_map(context.keyspace.replication)
        need = requirement(context.level, replica_map.strategy, self.shard.settings.dc)
        pieces = self.vnode_pieces(context.keyspace, context.plan.token_range, start)
        used: dict[int, tuple[str, ...]] = {}
        concurrency = self.fixed_concurrency or 1
        round_number = 0
        filled_by: tuple[_Request, Position | None] | None = None
        while pieces and not assembler.full:
            take = concurrency
            if round_number == 0 and context.request_end is not None:
                ends = [i for i, p in enumerate(pieces[:MERGED_VNODES_MAX])
                        if p.vnode_token == context.request_end]
                take = ends[0] + 1 if ends else take
            batch, pieces = pieces[:take], pieces[take:]
            requests = self._group(batch, need, context.preferred)
            round_number += 1
            self.stats.rounds += 1
            self.stats.highest_concurrency = max(self.stats.highest_concurrency, concurrency)
            context.tracer.add("range_round", round=round_number, concurrency=concurrency,
                               requests=len(requests), ranges=[_describe(r) for r in requests])
            rows_wanted = assembler.rows_wanted - len(assembler.rows)
            bytes_left = max(1, assembler.bytes_max - assembler.bytes)
            results = await asyncio.gather(*(self._read(context, need, request, rows_wanted, bytes_left)
                                             for request in requests))
            carry: list[VnodePiece] | None = None
            read_again: list[VnodePiece] = []
            for request, (merged, stop) in zip(requests, results):
                for piece in request.pieces:
                    used[piece.vnode_token] = request.contacts
                if assembler.full or carry is not None:
                    self.stats.rows_discarded += sum(len(p.rows) for p in merged)
                    if carry is not None:
                        read_again.extend(request.pieces)
                    continue
                before = assembler.rows_discarded
                assembler.add(merged)
                self.stats.rows_discarded += assembler.rows_discarded - before
                if assembler.full:
                    filled_by = (request, stop)
                elif stop is not None:   # its replicas stopped short of the page: go on there
                    assembler.advance(stop)
                    resume = assembler.position
                    carry = [VnodePiece(rest, p.vnode_token, p.replicas,
                                        resume if rest != p.partition_range else Position())
                             for p in request.pieces
                             for rest in [range_from(p.partition_range, resume)] if rest is not None]
            if carry is not None:
                pieces = carry + read_again + pieces
            if not assembler.full and self.fixed_concurrency is None:
                concurrency = max(concurrency, take) * 2
        if not assembler.full:
            return False, used, None
        request, stop = filled_by  # type: ignore[misc]
        request_end = request.pieces[-1].vnode_token
        if stop is not None and stop == assembler.position:
            return True, used, request_end
        return await self._peek(context, need, assembler.position, used), used, request_end

    async def _peek(self, context: ScanContext, need: Requirement, position: Position,
                    used: dict[int, tuple[str, ...]]) -> bool:
        """Whether any live row is left after ``position``."""
        pieces = self.vnode_pieces(context.keyspace, context.plan.token_range, position)
        concurrency = self.fixed_concurrency or 1
        while pieces:
            batch, pieces = pieces[:concurrency], pieces[concurrency:]
            requests = self._group(batch, need, {**context.preferred, **used})
            self.stats.peek_requests += len(requests)
            results = await asyncio.gather(*(self._read(context, need, request, 0, 1)
                                             for request in requests))
            for request, (_, stop) in zip(requests, results):
                for piece in request.pieces:
                    used[piece.vnode_token] = request.contacts
                if stop is not None:
                    return True
            if self.fixed_concurrency is None:
                concurrency *= 2
        return False

    # -- requests ----------------------------------------------------------------------

    def _group(self, batch: list[VnodePiece], need: Requirement,
               preferred: dict[int, tuple[str, ...]]) -> list[_Request]:
        """Requests for the pieces of a round: adjacent pieces share one request while
        its replicas are live replicas of each and the previous page did not use others."""
        requests: list[_Request] = []
        for piece in batch:
            live = [r for r in piece.replicas if self.shard.failure_detector.is_alive(r)]
            check_available(need, live, self._dc_of)
            hint = preferred.get(piece.vnode_token)
            if requests and not piece.start.stage:
                last = requests[-1]
                if set(last.contacts) <= set(live) and (hint is None or tuple(hint) == last.contacts):
                    last.pieces.append(piece)
                    self.stats.merged_vnode_ranges += 1
                    continue
            requests.append(_Request(self._contacts(live, need, hint), [piece]))
        return requests

    def _contacts(self, live: list[str], need: Requirement, hint: tuple[str, ...] | None) -> tuple[str, ...]:
        usable = [r for r in live if counts(need, r, self._dc_of)]
        wanted = max(1, need.total)
        if hint and all(r in usable for r in hint) and len(hint) >= wanted:
            return tuple(hint[:wanted])
        usable.sort(key=lambda r: (r != self.shard.node, self._dc_of.get(r) != self.shard.settings.dc))
        return tuple(usable[:wanted])

    async def _read(self, context: ScanContext, need: Requirement, request: _Request,
                    rows_wanted: int, bytes_left: int) -> tuple[list[PartitionData], Position | None]:
        """Reconciled partitions of one request and where they stop being complete."""
        partition_range = request.partition_range
        start = request.pieces[0].start
        payload = {"table": context.plan.table.id, "version": context.plan.table.version,
                   "range": partition_range.to_wire(), "slice": context.clustering_slice.to_wire(),
                   "now_s": context.now_s, "start": start.to_wire() if start.stage != BEFORE_ALL else None,
                   "query_id": context.query_id, "stateful": context.stateful, "limit": rows_wanted,
                   "max_bytes": bytes_left,
                   "static_only": all(r.is_full for r in context.plan.clustering_ranges)}
        token = partition_range.lower[0][0] if partition_range.lower else 0
        timeout_s = self.shard.config.timeouts.range_ms / 1000
        self.stats.vnode_requests += 1

        async def ask(replica: str) -> ReplicaPage:
            target = ShardId(replica, shard_of(token, self.shard.shards_of(replica),
                                               self.shard.config.sharding_ignore_msb))
            answer = await self.shard.messaging.send(Verb.RANGE_READ, target, payload,
                                                     timeout_s=timeout_s)
            return ReplicaPage(replica, partitions_from_fragments(answer["fragments"]),
                               Position.from_wire(answer["last"]), bool(answer["exhausted"]),
                               int(answer.get("rows") or 0), answer.get("cache") or {})

        results = await asyncio.gather(*(ask(r) for r in request.contacts), return_exceptions=True)
        for item in results:
            if isinstance(item, RequestError) and not isinstance(item, ReadTimeout):
                raise item
        pages = [item for item in results if isinstance(item, ReplicaPage)]
        if len(pages) < len(request.contacts):
            raise ReadTimeout(f"Operation timed out - received only {len(pages)} responses.",
                              consistency=context.level, received=len(pages),
                              required=len(request.contacts), data_present=bool(pages))
        for page in pages:
            self.stats.rows_read += page.rows
            context.tracer.add("replica_page", replica=page.replica, range=_describe(request),
                               rows=page.rows, exhausted=page.exhausted, querier_cache=page.cache)
        if len(pages) == 1:
            page = pages[0]
            return page.partitions, None if page.exhausted else page.last
        merged, stop, versions = reconcile_pages(pages, context.now_s, context.clustering_slice.reversed)
        await self._repair(context, merged, versions, timeout_s)
        return merged, stop

    async def _repair(self, context: ScanContext, merged: list[PartitionData],
                      versions: dict[str, list[PartitionData]], timeout_s: float) -> None:
        """Blocking read repair of every partition a replica answered differently."""
        sends = []
        for replica, partitions in versions.items():
            mine = {(p.token, p.key): p for p in partitions}
            for partition in merged:
                mutation = repair_mutation(context.plan.table.id, partition,
                                           mine.get((partition.token, partition.key)))
                if mutation is None:
                    continue
                target = ShardId(replica, shard_of(partition.token, self.shard.shards_of(replica),
                                                   self.shard.config.sharding_ignore_msb))
                sends.append(self.shard.messaging.send(Verb.MUTATION, target, mutation.to_wire(),
                                                       timeout_s=timeout_s))
        if not sends:
            return
        self.stats.read_repairs += 1
        results = await asyncio.gather(*sends, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise ReadTimeout("read repair did not complete in time", consistency=context.level,
                              received=len(results) - len(failures), required=len(results))


def _describe(request: _Request) -> list[Any]:
    partition_range = request.partition_range
    lower = partition_range.lower[0][0] if partition_range.lower else None
    upper = partition_range.upper[0][0] if partition_range.upper else None
    return [lower, upper, list(request.contacts)]
