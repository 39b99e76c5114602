"""The coordinator's single-partition read path, as storage_proxy's read executors.

The level's ``total`` replicas are contacted among the live ones (this node first,
then the rest in ring order): one data request and digest requests to the others.
If every digest matches the data, that is the answer. Otherwise full data is read
from every contacted replica, reconciled (last write wins per cell, tombstones win
ties), and the difference is written back to each stale replica (blocking read
repair) before the answer. Too few live replicas: ``Unavailable`` before anything is
sent; too few answers by ``timeouts.read_ms``: ``ReadTimeout``.

Invariant: an answer at level L reflects every write acknowledged at a level W with
``W + L > RF``, and after a read at ALL every contacted replica holds the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from coordinator.service.consistency import check_available, counts, requirement
from coordinator.service.page_builder import ReplicaPage, reconcile_pages
from coordinator.service.reconciliation import PartitionData, partitions_from_fragments, repair_mutation
from node.errors import ReadTimeout, RequestError
from node.dht.sharding import shard_of
from node.rpc.transport import ShardId
from node.replica.service import digest_of
from node.rpc.verbs import Verb
from node.schema.definitions import KeyspaceSchema, TableSchema
from node.gms.shard import Shard
from node.readers.position import Position
from node.readers.ranges import ClusteringSlice, PartitionRange


# An extra replica is asked when answers take longer than this share of the read
# timeout (Cassandra's speculative_retry, as a fixed share rather than a percentile).
SPECULATE_AFTER_SHARE = 0.1
# A first page whose partition fits in it (and in this many fragments) is read with the
# plain data and digest verbs; a larger one goes through the shard cursors.
WHOLE_FRAGMENTS_MAX = 64


@dataclass
class ReadStatistics:
    reads: int = 0
    read_unavailables: int = 0
    read_timeouts: int = 0
    digest_mismatches: int = 0
    read_repairs: int = 0
    read_repair_mutations: int = 0
    speculative_retries: int = 0
    replica_failovers: int = 0
    whole_partition_reads: int = 0   # first pages served without a shard cursor


@dataclass(frozen=True)
class PartitionRead:
    keyspace: KeyspaceSchema
    table: TableSchema
    key: bytes
    token: int
    clustering_slice: ClusteringSlice
    limit: int = 0  # live rows; 0 = all


@dataclass(frozen=True)
class PartitionPageRead:
    """One page of one partition, after ``start`` (paged reads, RANGE_READ verb)."""

    keyspace: KeyspaceSchema
    table: TableSchema
    key: bytes
    token: int
    clustering_slice: ClusteringSlice
    start: Position
    limit: int              # live rows; 0: only learn whether any is left
    max_bytes: int
    query_id: bytes | None
    stateful: bool
    static_only: bool
    preferred: tuple[str, ...] = ()   # the replicas of the previous page


@dataclass
class PartitionPage:
    partition: PartitionData | None
    stop: Position | None     # complete up to here; None: the partition was read to its end
    replicas: tuple[str, ...]
    cache: dict[str, Any]


class ReadPath:
    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.stats = ReadStatistics()
        self._dc_of = {n.name: n.dc for n in shard.config.nodes}

    def statistics(self) -> ReadStatistics:
        return self.stats

    def _target(self, node: str, token: int) -> ShardId:
        return ShardId(node, shard_of(token, self.shard.shards_of(node),
                                      self.shard.config.sharding_ignore_msb))

    def _contact_order(self, replicas: tuple[str, ...], need: Any) -> list[str]:
        live = [r for r in replicas if self.shard.failure_detector.is_alive(r)]
        usable = [r for r in live if counts(need, r, self._dc_of)]
        usable.sort(key=lambda r: (r != self.shard.node, self._dc_of.get(r) != self.shard.settings.dc))
        return usable

    def _available_order(self, token: int, keyspace: KeyspaceSchema,
                         level: str) -> tuple[list[str], Any]:
        """The live replicas of ``token`` to contact, in order, and the level's need;
        ``Unavailable`` before anything is sent when too few are alive."""
        replica_map = self.shard.replica_map(keyspace.replication)
        replicas = replica_map.replicas_for_token(token)
        need = requirement(level, replica_map.strategy, self.shard.settings.dc)
        live = [r for r in replicas if self.shard.failure_detector.is_alive(r)]
        try:
            check_available(need, live, self._dc_of)
        except RequestError:
            self.stats.read_unavailables += 1
            raise
        self.stats.reads += 1
        return self._contact_order(replicas, need), need

    async def read_page(self, request: PartitionPageRead, level: str, now_s: float) -> PartitionPage:
        """One page of a partition at ``level``: a data request and digest requests, and
        on a mismatch full data from every contacted replica, reconciled (cut where the
        first replica stopped) and repaired before the answer."""
        order, need = self._available_order(request.token, request.keyspace, level)
        preferred = [r for r in request.preferred if r in order]
        contacts = (preferred + [r for r in order if r not in preferred])[:max(1, need.total)]
        if not request.start.stage and request.limit > 0:
            whole = await self._read_whole(request, contacts, order, need, level, now_s)
            if whole is not None:
                return whole
        payload = {"table": request.table.id, "version": request.table.version,
                   "range": PartitionRange.single(request.token, request.key).to_wire(),
                   "slice": request.clustering_slice.to_wire(), "now_s": now_s,
                   "start": request.start.to_wire() if request.start.stage else None,
                   "query_id": request.query_id, "stateful": request.stateful,
                   "limit": request.limit, "max_bytes": request.max_bytes,
                   "static_only": request.static_only}
        timeout_s = self.shard.config.timeouts.read_ms / 1000
        token = request.token

        async def ask(replica: str, want_data: bool) -> Any:
            answer = await self.shard.messaging.send(Verb.RANGE_READ, self._target(replica, token),
                                                     dict(payload, digest=not want_data),
                                                     timeout_s=timeout_s)
            if want_data and isinstance(answer, dict):
                answer["digest"] = digest_of(answer.get("fragments") or [])
            return answer

        ordered = contacts + [r for r in order if r not in contacts]
        answers, data_replica = await self._collect(ordered, len(contacts), ask, level, timeout_s,
                                                    with_digests=True)
        contacts = list(answers)
        data = answers[data_replica]
        cache = {f"{replica}/{shard}": state for replica, answer in answers.items()
                 for shard, state in (answer.get("cache") or {}).items()}
        if all(answer["digest"] == data["digest"] for answer in answers.values()):
            return PartitionPage(self._single(data["fragments"]),
                                 None if data["exhausted"] else Position.from_wire(data["last"]),
                                 tuple(contacts), cache)
        self.stats.digest_mismatches += 1
        full, _ = await self._collect(contacts, len(contacts), ask, level, timeout_s,
                                      with_digests=False)
        pages = [ReplicaPage(replica, partitions_from_fragments(answer["fragments"]),
                             Position.from_wire(answer["last"]), bool(answer["exhausted"]))
                 for replica, answer in full.items()]
        merged, stop, versions = reconcile_pages(pages, now_s, request.clustering_slice.reversed)
        if merged:
            single_versions = {replica: (parts[0] if parts else None)
                               for replica, parts in versions.items()}
            read = PartitionRead(request.keyspace, request.table, request.key, request.token,
                                 request.clustering_slice)
            await self._repair(read, merged[0], single_versions, timeout_s, level, need.total)
        return PartitionPage(merged[0] if merged else None, stop, tuple(contacts), cache)

    async def _read_whole(self, request: PartitionPageRead, contacts: list[str], order: list[str],
                          need: Any, level: str, now_s: float) -> PartitionPage | None:
        """The first page of a partition that fits in it, through the plain data and
        digest verbs: no shard cursor is opened, so nothing is parked. None when the
        partition is larger than the page (or larger than ``WHOLE_FRAGMENTS_MAX``
        fragments) or the replicas disagree: the cursor path then does the page,
        with reconciliation and read repair."""
        timeout_s = self.shard.config.timeouts.read_ms / 1000
        payload = {"table": request.table.id, "key": request.key, "token": request.token,
                   "slice": request.clustering_slice.to_wire(), "now_s": now_s,
                   "limit": request.limit + 1}

        async def ask(replica: str, want_data: bool) -> Any:
            verb = Verb.READ_DATA if want_data else Verb.READ_DIGEST
            return await self.shard.messaging.send(verb, self._target(replica, request.token),
                                                   dict(payload, digest=not want_data),
                                                   timeout_s=timeout_s)

        ordered = contacts + [r for r in order if r not in contacts]
        answers, data_replica = await self._collect(ordered, len(contacts), ask, level, timeout_s,
                                                    with_digests=True)
        data = answers[data_replica]
        fragments = data.get("fragments") or []
        if not data.get("complete") or len(fragments) > WHOLE_FRAGMENTS_MAX:
            return None
        if any(answer["digest"] != data["digest"] for answer in answers.values()):
            return None
        self.stats.whole_partition_reads += 1
        return PartitionPage(self._single(fragments), None, tuple(answers), {})

    @staticmethod
    def _single(fragments: list[Any]) -> PartitionData | None:
        partitions = partitions_from_fragments(fragments)
        return partitions[0] if partitions else None

    async def _collect(self, candidates: list[str], required: int,
                       ask: Callable[[str, bool], Awaitable[Any]], level: str, timeout_s: float,
                       with_digests: bool) -> tuple[dict[str, Any], str]:
        """Answers of ``required`` replicas taken from ``candidates`` in order, and which
        one sent data. With ``with_digests`` the first asks for data and the others for
        digests; otherwise every one sends data. A replica that fails (it was still
        seen UP but is gone) is replaced at once by the next candidate, and one
        speculative extra request goes out if answers are slow (as Cassandra's
        speculative retry), so one bad replica does not cost the whole timeout.
        ``ReadTimeout`` when ``required`` answers are not in by ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        spares = list(candidates[required:])
        running: dict[asyncio.Task[Any], tuple[str, bool]] = {}
        answers: dict[str, Any] = {}
        data_replica: str | None = None
        client_error: RequestError | None = None

        def launch(replica: str, want_data: bool) -> None:
            running[asyncio.ensure_future(ask(replica, want_data))] = (replica, want_data)

        for index, replica in enumerate(candidates[:required]):
            launch(replica, not with_digests or index == 0)
        speculated = False
        try:
            while len(answers) < required or (with_digests and data_replica is None):
                remaining = deadline - loop.time()
                if remaining <= 0 or not running:
                    break
                wait_s = remaining if speculated or not spares else min(remaining, timeout_s * SPECULATE_AFTER_SHARE)
                done, _ = await asyncio.wait(set(running), timeout=wait_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    if spares and not speculated:
                        speculated = True
                        self.stats.speculative_retries += 1
                        # The slow one may be the data replica: the extra request
                        # asks for data unless data has already arrived.
                        launch(spares.pop(0), not with_digests or data_replica is None)
                    continue
                for task in done:
                    replica, wanted_data = running.pop(task)
                    error = task.exception()
                    answer = None if error is not None else task.result()
                    if isinstance(answer, dict) and "digest" in answer:
                        answers[replica] = answer
                        if wanted_data and data_replica is None:
                            data_replica = replica
                        continue
                    if isinstance(error, RequestError) and not isinstance(error, ReadTimeout):
                        client_error = error
                    if spares:
                        self.stats.replica_failovers += 1
                        needs_data = wanted_data or (with_digests and data_replica is None
                                                     and not any(d for _, d in running.values()))
                        launch(spares.pop(0), needs_data or not with_digests)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if len(answers) >= required and (data_replica is not None or not with_digests):
            return answers, data_replica or next(iter(answers))
        if client_error is not None:
            raise client_error
        self.stats.read_timeouts += 1
        got = len(answers)
        raise ReadTimeout(f"Operation timed out - received only {got} responses.",
                          consistency=level, received=got, required=required,
                          data_present=data_replica is not None)

    async def _repair(self, request: PartitionRead, merged: PartitionData,
                      versions: dict[str, PartitionData | None], timeout_s: float,
                      level: str, required: int) -> None:
        """Blocking read repair: write each stale replica's difference, wait for acks."""
        sends = []
        for replica, version in versions.items():
            mutation = repair_mutation(request.table.id, merged, version)
            if mutation is None:
                continue
            self.stats.read_repair_mutations += 1
            sends.append(self.shard.messaging.send(Verb.MUTATION, self._target(replica, request.token),
                                                   mutation.to_wire(), timeout_s=timeout_s))
        if not sends:
            return
        self.stats.read_repairs += 1
        results = await asyncio.gather(*sends, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise ReadTimeout("read repair did not complete in time", consistency=level,
                              received=max(0, required - len(failures)), required=required)
