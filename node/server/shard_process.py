"""The composition root of a shard: builds its storage, transport, clock and services
once and hands them down. ``python -m node.server.shard_process --config C --node N --shard I`` runs
one shard process (the supervisor, ``python -m node``, starts one per shard).

``build_shard`` is also what in-process test clusters call, with an in-memory
transport and a manual clock, so tests run the same wiring as real processes.

Invariant: this is the only module of ``node`` that imports ``coordinator``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import signal
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import structlog

from coordinator.api.http import HttpApi
from coordinator.api.metrics import MetricsRegistry
from node.replica.multishard import MultishardQueryService
from coordinator.cql3.query_processor import QueryProcessor
from coordinator.service.read_path import ReadPath
from coordinator.cql3.schema_changes import SchemaChanges
from coordinator.service.write_path import WritePath
from node.clock import Clock, SystemClock
from node.config import ClusterConfig, load_config
from node.errors import ShardsimError
from node.hints import HintsManager, register_hint_receiver
from node.logsetup import configure_process_logging
from node.replica.querier_cache import QuerierCache
from node.replica.shard_cursor import ShardCursorService
from node.replica.service import ReplicaService
from node.rpc.faults import NetworkFaults
from node.rpc.messaging import MessagingService
from node.rpc.transport import ShardId
from node.schema.definitions import TableSchema
from node.server.node_identity import check_node_identity
from node.raft.config import RaftConfig
from node.raft.disk_log_store import DiskLogStore
from node.raft.group0.service import MEMBER_SHARD, Group0Client, Group0Member
from node.raft.group0.state_machine import Group0StateMachine
from node.raft.server import RaftServer
from node.schema.store import SchemaStore
from node.raft.group0.schema_sync import SchemaSync
from node.gms.shard import Shard
from node.storage.engine import ShardStorage
from node.storage.settings import StorageSettings


GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)


def storage_settings(config: ClusterConfig) -> StorageSettings:
    return StorageSettings(commitlog_sync=config.commitlog.sync,
                           commitlog_sync_period_ms=config.commitlog.sync_period_ms,
                           commitlog_segment_bytes=config.commitlog.segment_bytes,
                           memtable_flush_bytes=config.memtable.flush_bytes,
                           memtable_memory_limit_bytes=config.memtable.max_memory_bytes)


@dataclass
class ShardRuntime:
    """Everything one shard runs; ``aclose`` stops it all, newest first."""

    shard: Shard
    storage: ShardStorage
    schema: SchemaStore
    schema_sync: SchemaSync
    group0: Group0Client
    replica: ReplicaService
    writes: WritePath
    reads: ReadPath
    processor: QueryProcessor
    metrics: MetricsRegistry
    http: HttpApi
    hints: HintsManager | None = None
    querier_cache: QuerierCache | None = None
    cursors: ShardCursorService | None = None
    raft: RaftServer | None = None          # group 0's member: shard 0 only

    async def start(self) -> None:
        """Start the background work (the transport's listener is the caller's)."""
        self.shard.start()
        if self.raft is not None:
            await self.raft.start()
        self.schema_sync.start()
        if self.hints is not None:
            self.hints.start()
        if self.querier_cache is not None:
            self.querier_cache.start()

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.raft is not None:
            await self.raft.aclose()
        await self.schema_sync.aclose()
        await self.shard.aclose()
        await self.writes.aclose()
        if self.hints is not None:
            await self.hints.aclose()
        if self.cursors is not None:
            self.cursors.close_all()
        if self.querier_cache is not None:
            await self.querier_cache.aclose()
        await self.shard.messaging.aclose()
        await self.storage.aclose()


def _storage_admin(runtime: ShardRuntime) -> None:
    shard, storage, schema = runtime.shard, runtime.storage, runtime.schema

    def tables_of(body: dict[str, Any]) -> list[str | None]:
        if "table" in body:
            return [schema.table(body["keyspace"], body["table"]).id]
        if "keyspace" in body:
            schema.keyspace(body["keyspace"])
            return [t.id for (ks, _), t in schema.tables.items() if ks == body["keyspace"]]
        return [None]

    async def flush(body: dict[str, Any]) -> int:
        for table_id in tables_of(body):
            await storage.flush(table_id)
        return storage.statistics().sstable_count

    async def compact(body: dict[str, Any]) -> int:
        for table_id in tables_of(body):
            await storage.compact(table_id)
        return storage.statistics().sstable_count

    async def load(body: dict[str, Any]) -> int:
        return storage.disk_bytes()

    async def metrics_snapshot(body: dict[str, Any]) -> dict[str, Any]:
        return runtime.metrics.snapshot()

    shard.admin_handlers.update({"storage.flush": flush, "storage.compact": compact,
                                 "storage.load": load, "metrics.snapshot": metrics_snapshot})


def _schema_to_storage(schema: SchemaStore, storage: ShardStorage) -> None:
    def on_change(kind: str, table: TableSchema) -> None:
        if kind == "added":
            storage.add_table(table)
        elif kind == "altered":
            storage.alter_table(table)
        elif kind == "dropped":
            storage.drop_table(table.id)

    schema.subscribe(on_change)


async def build_shard(config: ClusterConfig, node: str, shard_index: int, *, clock: Clock,
                      transport: Any, faults: NetworkFaults, data_dir: Path,
                      generation: int | None = None) -> ShardRuntime:
    """Wire one shard over ``transport``. ``data_dir`` is the node's folder; the shard
    keeps its files in ``shard<i>/`` below it. The caller starts the transport's
    listener, then ``runtime.start()``."""
    log = structlog.get_logger().bind(node=node, shard=shard_index)
    shard_dir = data_dir / f"shard{shard_index}"
    schema = SchemaStore(shard_dir / "schema.msgpack", log=log)
    schema.load()
    storage = ShardStorage(shard_dir, storage_settings(config), clock, log)
    await storage.open(schema.tables.values())
    _schema_to_storage(schema, storage)
    messaging = MessagingService(ShardId(node, shard_index), transport, clock=clock, log=log)
    shard = Shard(config=config, node=node, shard=shard_index, clock=clock, messaging=messaging,
                  faults=faults, data_dir=data_dir,
                  generation=generation if generation is not None else clock.now_us() // 1_000_000,
                  log=log)
    shard.disk_fault_switch = storage.set_disk_fail_writes
    replica = ReplicaService(storage, schema, clock)
    replica.register(messaging)
    schema_sync = SchemaSync(shard, schema)
    group0 = Group0Client(messaging, schema, clock, config.timeouts.ddl_ms / 1000,
                          wait_local=schema_sync.wait_state, live_peers=lambda: [n.name for n in config.nodes
                                              if shard.failure_detector.is_alive(n.name)], log=log)
    raft = _group0_member(config, node, shard_index, shard_dir, messaging, schema, schema_sync,
                          storage, clock, log)
    hint_receiver = register_hint_receiver(messaging, replica)
    hints = HintsManager(shard, schema, log=log, truncated_at_us=storage.truncated_at_us)
    hints.open()
    shard.admin_handlers.update(hints.admin_handlers())
    writes = WritePath(shard, hints=hints)
    replica.before_truncate = writes.wait_background_of
    reads = ReadPath(shard)
    processor = QueryProcessor(shard, schema, SchemaChanges(shard, schema, group0), writes, reads)
    metrics = MetricsRegistry()
    metrics.register("storage", storage.statistics)
    metrics.register("replica", replica.statistics)
    metrics.register("coordinator", lambda: {**asdict(writes.statistics()), **asdict(reads.statistics()),
                                             **processor.statistics()})
    metrics.register("gossip", shard.failure_detector.statistics)
    metrics.register("schema", lambda: {**schema_sync.statistics(), "group0_changes": group0.changes,
                                        "group0_guard_retries": group0.guard_retries})
    if raft is not None:
        metrics.register("group0", raft.statistics)
    metrics.register("hints", lambda: {**hints.statistics(), "received": hint_receiver.hints_applied})
    querier_cache, cursors = _paged_reads(config, shard, storage, schema, clock, log, metrics)
    metrics.register("range_scan", processor.scanner.statistics)
    http = HttpApi(shard, processor, log=log)
    runtime = ShardRuntime(shard, storage, schema, schema_sync, group0, replica, writes, reads,
                           processor, metrics, http, hints, querier_cache, cursors, raft)
    _storage_admin(runtime)
    return runtime


def _group0_member(config: ClusterConfig, node: str, shard_index: int, shard_dir: Path,
                   messaging: MessagingService, schema: SchemaStore, schema_sync: SchemaSync,
                   storage: ShardStorage, clock: Clock, log: Any) -> RaftServer | None:
    """Shard 0's group 0 member, whose state machine is the schema; None elsewhere."""
    if shard_index != MEMBER_SHARD:
        return None
    settings = config.group0
    raft_config = RaftConfig(tick_s=settings.tick_ms / 1000, election_ticks=settings.election_ticks,
                             heartbeat_ticks=settings.heartbeat_ticks,
                             snapshot_threshold_entries=settings.snapshot_entries,
                             default_timeout_s=config.timeouts.ddl_ms / 1000,
                             max_timeout_s=max(60.0, config.timeouts.ddl_ms / 1000))
    machine = Group0StateMachine(schema, schema_sync.distribute, log=log)
    # Seeded by names, so a simulation run replays the same elections.
    rng = random.Random(f"{config.name}/{node}/group0")
    raft = RaftServer(me=node, members=[n.name for n in config.nodes], messaging=messaging,
                      store=DiskLogStore(shard_dir / "raft", storage.disk), state_machine=machine,
                      clock=clock, rng=rng, config=raft_config, shard=MEMBER_SHARD, log=log)
    Group0Member(raft, messaging, lambda: machine.state.state_id)
    return raft


def _paged_reads(config: ClusterConfig, shard: Shard, storage: ShardStorage, schema: SchemaStore,
                 clock: Clock, log: Any, metrics: MetricsRegistry
                 ) -> tuple[QuerierCache, ShardCursorService]:
    """The replica side of range scans and paging: querier cache, shard cursors,
    multishard reader (RANGE_READ)."""
    querier_cache = QuerierCache(clock, config.paging.querier_ttl_ms,
                                 config.paging.querier_cache_bytes, log=log)
    cursors = ShardCursorService(storage, schema, querier_cache, clock, shard.shard,
                                 shard.identity.shards, config.sharding_ignore_msb,
                                 open_timeout_s=config.timeouts.range_ms / 1000)
    cursors.register(shard.messaging)
    multishard = MultishardQueryService(shard)
    multishard.register(shard.messaging)
    # rendered as shardsim_querier_cache_*, shardsim_multishard_query_*, shardsim_shard_cursors_*
    metrics.register("", lambda: {**querier_cache.statistics(), **multishard.statistics(),
                                  **cursors.statistics()})
    return querier_cache, cursors


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m node.server.shard_process", description="run one shard")
    parser.add_argument("--config", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--data-dir", help="overrides data_dir of the config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    return parser.parse_args(argv)


async def _serve(config: ClusterConfig, node: str, shard_index: int) -> int:
    from node.rpc.secret import load_or_create_secret
    from node.rpc.tcp import TcpTransport

    settings = config.node(node)
    data_dir = config.data_path()
    node_dir = data_dir / node
    clock = SystemClock()
    log = structlog.get_logger().bind(node=node, shard=shard_index)
    secret = config.secret.encode() if config.secret else load_or_create_secret(data_dir)
    faults = NetworkFaults(node)
    peers = {ShardId(n.name, index): n.rpc_address(index)
             for n in config.nodes for index in range(n.shards)}
    host, port = settings.rpc_address(shard_index)
    transport = TcpTransport(ShardId(node, shard_index), host, port, peers, config.name, secret,
                             faults=faults, clock=clock, log=log)
    runtime = await build_shard(config, node, shard_index, clock=clock, transport=transport,
                                faults=faults, data_dir=node_dir)
    await transport.start()
    # Everything built so far lives as long as the process: keep it out of the
    # collector's scans, and collect young objects less often (a request allocates
    # thousands), so full collections over large memtables stay rare.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    await runtime.start()
    await runtime.http.start(settings.host, settings.http_port)
    log.info("shard.started", rpc_port=port, http_port=settings.http_port, pid=os.getpid())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shard.stopping")
    await runtime.aclose()
    log.info("shard.stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args.config, args.set)
        if args.data_dir:
            config = replace(config, data_dir=str(Path(args.data_dir).resolve()))
        check_node_identity(config.data_path() / args.node, args.node, config.node(args.node).shards)
    except ShardsimError as error:
        print(f"shard: error: {error}", file=sys.stderr)
        return 2
    configure_process_logging(config.data_path() / args.node / "node.log", args.node, args.shard)
    try:
        import uvloop
        return uvloop.run(_serve(config, args.node, args.shard))
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.run(_serve(config, args.node, args.shard))


if __name__ == "__main__":
    sys.exit(main())
