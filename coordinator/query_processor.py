"""Runs one CQL statement on a coordinator shard: parse (cached by text), analyse
against the schema, then hand it to the path that executes it (schema changes,
writes, single-partition reads, range scans).

Invariant: every client error leaves as a ``RequestError`` with its CQL name; nothing
is written unless the whole statement analysed cleanly.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from coordinator.consistency import parse_level
from coordinator.cql import statements as st
from coordinator.cql.analysis import keyspace_of, plan
from coordinator.cql.parser import parse
from coordinator.cql.plans import ReadPlan, WritePlan
from coordinator.mutation_builder import build_mutation
from coordinator.read_path import PartitionRead, ReadPath
from coordinator.reconciliation import PartitionData
from coordinator.results import column_specs, partition_rows, to_json
from coordinator.schema_changes import SchemaChanges
from coordinator.write_path import WritePath
from node.errors import Invalid
from node.schema import TableSchema
from node.schema_store import SchemaStore
from node.shard import Shard
from node.storage.ranges import ClusteringRange, ClusteringSlice

PARTITION_READS_IN_FLIGHT = 32


@dataclass
class ResultSet:
    columns: list[dict[str, str]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    paging_state: str | None = None
    keyspace: str | None = None
    trace: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"columns": self.columns, "rows": self.rows,
                                    "paging_state": self.paging_state}
        if self.keyspace is not None:
            document["keyspace"] = self.keyspace
        if self.trace is not None:
            document["trace"] = self.trace
        return document


@dataclass(frozen=True)
class QueryOptions:
    keyspace: str | None = None
    consistency: str = "ONE"
    page_size: int = 5000
    paging_state: str | None = None
    trace: bool = False
    params: Any = None


class Tracer:
    """Events of one traced query: (elapsed ms, event, details)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.events: list[dict[str, Any]] = []
        self._started = time.perf_counter()

    def add(self, event: str, **details: Any) -> None:
        if self.enabled:
            elapsed_ms = round((time.perf_counter() - self._started) * 1000, 3)
            self.events.append({"elapsed_ms": elapsed_ms, "event": event, **details})


class QueryProcessor:
    def __init__(self, shard: Shard, schema: SchemaStore, schema_changes: SchemaChanges,
                 writes: WritePath, reads: ReadPath) -> None:
        self.shard = shard
        self.schema = schema
        self.schema_changes = schema_changes
        self.writes = writes
        self.reads = reads
        self._last_timestamp_us = 0
        self.statements = 0

    def statistics(self) -> dict[str, int]:
        return {"statements": self.statements}

    # SchemaLookup for analysis
    def lookup_table(self, keyspace: str, name: str) -> TableSchema:
        return self.schema.table(keyspace, name)

    def next_timestamp_us(self) -> int:
        """The clock's microseconds, strictly increasing on this shard."""
        now = self.shard.clock.now_us()
        self._last_timestamp_us = max(now, self._last_timestamp_us + 1)
        return self._last_timestamp_us

    async def execute(self, query: str, options: QueryOptions) -> ResultSet:
        if not isinstance(query, str) or not query.strip():
            raise Invalid("query must be a non-empty string")
        self.statements += 1
        tracer = Tracer(options.trace)
        statement = parse(query)
        tracer.add("parsed", statement=type(statement).__name__)
        result = await self._dispatch(statement, options, tracer)
        if options.trace:
            tracer.add("done", rows=len(result.rows))
            result.trace = tracer.events
        return result

    async def _dispatch(self, statement: st.Statement, options: QueryOptions,
                        tracer: Tracer) -> ResultSet:
        if isinstance(statement, st.Use):
            self.schema.keyspace(statement.keyspace)
            return ResultSet(keyspace=statement.keyspace)
        if self.schema_changes.handles(statement):
            await self.schema_changes.execute(statement, options.keyspace, options.params)
            tracer.add("schema_changed", version=self.schema.version())
            return ResultSet()
        if isinstance(statement, st.Select):
            level = parse_level(options.consistency, for_write=False)
            read_plan = plan(statement, self, options.keyspace, options.params)
            assert isinstance(read_plan, ReadPlan)
            return await self._select(read_plan, level, options, tracer)
        level = parse_level(options.consistency, for_write=True)
        write_plans = plan(statement, self, options.keyspace, options.params)
        assert isinstance(write_plans, list)
        await self._write(write_plans, level, tracer)
        return ResultSet()

    async def _write(self, write_plans: list[WritePlan], level: str, tracer: Tracer) -> None:
        timestamp = self.next_timestamp_us()
        now_s = int(self.shard.clock.now_s())
        writes = [(self.schema.keyspace(p.table.keyspace), build_mutation(p, timestamp, now_s))
                  for p in write_plans]
        tracer.add("writing", mutations=len(writes), consistency=level)
        await self.writes.mutate(writes, level)

    async def _select(self, read_plan: ReadPlan, level: str, options: QueryOptions,
                      tracer: Tracer) -> ResultSet:
        if read_plan.partition_keys is None:
            raise Invalid("range scans (a SELECT without the whole partition key) arrive "
                          "with the range-scan issue; restrict the partition key with = or IN")
        now_s = self.shard.clock.now_s()
        keyspace = self.schema.keyspace(read_plan.table.keyspace)
        clustering_slice = slice_of(read_plan)
        per_partition = read_plan.per_partition_limit or 0
        limit = read_plan.limit
        row_limit = 0 if read_plan.filters or read_plan.is_count else min(
            x for x in (per_partition or 1 << 62, limit or 1 << 62))
        gate = asyncio.Semaphore(PARTITION_READS_IN_FLIGHT)

        async def read_one(key: Any) -> PartitionData | None:
            async with gate:
                request = PartitionRead(keyspace, read_plan.table, key.key, key.token,
                                        clustering_slice, row_limit if row_limit < 1 << 62 else 0)
                return await self.reads.read(request, level, now_s)

        tracer.add("reading_partitions", partitions=len(read_plan.partition_keys), consistency=level)
        partitions = await asyncio.gather(*(read_one(k) for k in read_plan.partition_keys))
        rows: list[list[Any]] = []
        for partition in partitions:
            if partition is None:
                continue
            remaining = None if limit is None else limit - len(rows)
            if remaining is not None and remaining <= 0:
                break
            rows.extend(partition_rows(read_plan, partition, now_s, remaining))
        tracer.add("reconciled", rows=len(rows))
        if read_plan.is_count:
            return ResultSet(columns=column_specs(read_plan), rows=[[len(rows)]])
        return ResultSet(columns=column_specs(read_plan), rows=to_json(read_plan, rows))


def slice_of(read_plan: ReadPlan) -> ClusteringSlice:
    """The plan's clustering ranges as the storage's slice."""
    ranges = []
    for item in read_plan.clustering_ranges:
        start, end = item.start, item.end
        ranges.append(ClusteringRange(start.prefix if start else b"", start.inclusive if start else True,
                                      end.prefix if end else b"", end.inclusive if end else True))
    return ClusteringSlice(tuple(ranges) or (ClusteringRange(),), read_plan.reversed)


__all__ = ["QueryProcessor", "QueryOptions", "ResultSet", "keyspace_of"]
