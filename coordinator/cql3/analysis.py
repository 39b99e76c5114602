"""The entry point of analysis: a parsed statement, the schema and params to a plan.

``plan`` resolves the table (statement keyspace, else the session's), binds the
parameters and hands the statement to ``selection`` or ``modification``. Schema
statements are built by ``ddl``; USE, TRUNCATE and DROP need only ``table_of`` /
the statement itself.

Invariant: analysis never executes anything; it only reads the schema it is given.
"""

from __future__ import annotations

from typing import Any, Sequence

from coordinator.cql3.binding import Binder
from coordinator.cql3.modification import plan_batch, plan_delete, plan_insert, plan_update
from coordinator.service.plans import ReadPlan, SchemaLookup, WritePlan
from coordinator.cql3.selection import plan_select
from coordinator.cql3.statements import Batch, Delete, Insert, Select, Statement, TableName, Update
from node.errors import Invalid
from node.schema.definitions import TableSchema

Params = Sequence[Any] | dict[str, Any] | None


def keyspace_of(table: TableName, session_keyspace: str | None) -> str:
    """The keyspace a statement means: its own, else the session's, else ``Invalid``."""
    keyspace = table.keyspace or session_keyspace
    if not keyspace:
        raise Invalid("No keyspace has been specified. USE a keyspace, or explicitly specify "
                      "keyspace.tablename")
    return keyspace


def table_of(table: TableName, lookup: SchemaLookup, session_keyspace: str | None) -> TableSchema:
    return lookup.lookup_table(keyspace_of(table, session_keyspace), table.name)


def plan(statement: Statement, lookup: SchemaLookup, session_keyspace: str | None,
         params: Params = None) -> ReadPlan | list[WritePlan]:
    """A ``ReadPlan`` for SELECT, a list of ``WritePlan`` for INSERT/UPDATE/DELETE/BATCH."""
    binder = Binder(statement, params)
    if isinstance(statement, Select):
        return plan_select(statement, table_of(statement.table, lookup, session_keyspace), binder)
    if isinstance(statement, Batch):
        return plan_batch(statement, lambda t: table_of(t, lookup, session_keyspace), binder)
    if isinstance(statement, Insert):
        return plan_insert(statement, table_of(statement.table, lookup, session_keyspace), binder)
    if isinstance(statement, Update):
        return plan_update(statement, table_of(statement.table, lookup, session_keyspace), binder)
    if isinstance(statement, Delete):
        return plan_delete(statement, table_of(statement.table, lookup, session_keyspace), binder)
    raise Invalid(f"{type(statement).__name__} is a schema statement; use coordinator.cql3.ddl")
