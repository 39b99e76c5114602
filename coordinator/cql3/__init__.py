"""The CQL-like language: parse text to statements, analyse them against the schema.

    parse(text) -> Statement                                   (cached by text)
    plan(statement, lookup, session_keyspace, params) -> ReadPlan | list[WritePlan]
    keyspace_from(CreateKeyspace) -> KeyspaceSchema
    table_from(CreateTable, session_keyspace) -> TableSchema
    altered_table(AlterTable, TableSchema, now_us) -> TableSchema
"""

from coordinator.cql3.analysis import keyspace_of, plan, table_of
from coordinator.cql3.ddl import altered_table, keyspace_from, table_from
from coordinator.cql3.parser import parse

__all__ = ["altered_table", "keyspace_from", "keyspace_of", "parse", "plan", "table_from",
           "table_of"]
