"""Runs one CQL statement on a coordinator shard: parse (cached by text), analyse
against the schema, then hand it to the path that executes it (schema changes,
writes, single-partition reads, range scans).

Invariant: every client error leaves as a ``RequestError`` with its CQL name; nothing
is written unless the whole statement analysed cleanly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from coordinator.service.consistency import parse_level
from coordinator.cql3 import statements as st
from coordinator.cql3.analysis import plan
from coordinator.cql3.parser import parse
from coordinator.service.plans import ReadPlan, WritePlan
from coordinator.service.mutation_builder import build_mutation
from coordinator.service.range_scan import RangeScanner
from coordinator.service.read_path import ReadPath
from coordinator.service.results import column_specs, to_json
from coordinator.cql3.schema_changes import SchemaChanges
from coordinator.pager.select_path import SelectPath
from coordinator.service.write_path import WritePath
from node.errors import Invalid, RequestError
from node.schema.definitions import TableSchema
from node.schema.store import SchemaStore
from node.gms.shard import Shard


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


CATCH_UP_TIMEOUT_S = 2.0


def _names_unknown_schema(error: Invalid) -> bool:
    message = error.message if hasattr(error, "message") else str(error)
    return message.startswith("unconfigured table") or (
        message.startswith("Keyspace ") and message.endswith("does not exist"))


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
                 writes: WritePath, reads: ReadPath, scanner: RangeScanner | None = None) -> None:
        self.shard = shard
        self.schema = schema
        self.schema_changes = schema_changes
        self.writes = writes
        self.reads = reads
        self.scanner = scanner or RangeScanner(shard)
        self.selects = SelectPath(shard, schema, reads, self.scanner)
        self._last_timestamp_us = 0
        self.statements = 0
        self.schema_catch_ups = 0

    def statistics(self) -> dict[str, int]:
        return {"statements": self.statements, "schema_catch_ups": self.schema_catch_ups}

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
            read_plan = await self._plan(statement, options)
            assert isinstance(read_plan, ReadPlan)
            return await self._select(read_plan, level, options, tracer)
        level = parse_level(options.consistency, for_write=True)
        write_plans = await self._plan(statement, options)
        assert isinstance(write_plans, list)
        await self._write(write_plans, level, tracer, batch=isinstance(statement, st.Batch))
        return ResultSet()

    async def _plan(self, statement: st.Statement, options: QueryOptions) -> Any:
        """Analyse against this node's schema. A table or keyspace this node does not know
        yet may be one a committed DDL just made (the node was down, or the DDL came
        through another node): then catch up with group 0 (a read barrier) and look again,
        so a node serves a new table as soon as it can know of it."""
        try:
            return plan(statement, self, options.keyspace, options.params)
        except Invalid as error:
            if not _names_unknown_schema(error):
                raise
            before = self.schema.version()
            try:
                await self.schema_changes.group0.read_barrier(timeout_s=CATCH_UP_TIMEOUT_S)
            except RequestError:
                raise error from None
            if self.schema.version() == before:
                raise
            self.schema_catch_ups += 1
            return plan(statement, self, options.keyspace, options.params)

    async def _write(self, write_plans: list[WritePlan], level: str, tracer: Tracer,
                     batch: bool = False) -> None:
        timestamp = self.next_timestamp_us()
        now_s = int(self.shard.clock.now_s())
        writes = [(self.schema.keyspace(p.table.keyspace), build_mutation(p, timestamp, now_s))
                  for p in write_plans]
        tracer.add("writing", mutations=len(writes), consistency=level)
        await self.writes.mutate(writes, level, "UNLOGGED_BATCH" if batch else "SIMPLE")

    async def _select(self, read_plan: ReadPlan, level: str, options: QueryOptions,
                      tracer: Tracer) -> ResultSet:
        """Every SELECT is paged (``coordinator/pager/select_path.py``)."""
        page_size = options.page_size if isinstance(options.page_size, int) else 5000
        tracer.add("select", table=read_plan.table.qualified_name, consistency=level,
                   page_size=page_size,
                   range_scan=read_plan.partition_keys is None)
        rows, paging_state = await self.selects.execute(read_plan, level, page_size,
                                                        options.paging_state, tracer)
        tracer.add("page_answered", rows=len(rows), more=paging_state is not None)
        if read_plan.is_count:
            return ResultSet(columns=column_specs(read_plan), rows=rows)
        return ResultSet(columns=column_specs(read_plan), rows=to_json(read_plan, rows),
                         paging_state=paging_state)


__all__ = ["QueryProcessor", "QueryOptions", "ResultSet"]
