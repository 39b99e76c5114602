"""The parsed statements of the CQL-like language, one frozen dataclass per kind.

A statement is what the text says, before any schema is consulted: names are already
normalized (unquoted identifiers lower-cased, quoted ones kept), literal values are
Python primitives (int, float, str, bytes for ``0x`` blobs, bool, None, ``uuid.UUID``)
and every ``?`` or ``:name`` is a ``BindMarker`` numbered in the order it appears.

Invariant: statements are immutable and shared (``parse`` caches them by text), so
nothing may hold a mutable container inside one: sequences are tuples, maps are
tuples of ``(key, value)`` pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BindMarker:
    """A ``?`` (``name`` None) or ``:name`` placeholder; ``index`` counts from 0 in text order."""

    index: int
    name: str | None = None


# A term is a literal Python value or a BindMarker.
Term = Any


@dataclass(frozen=True)
class TableName:
    keyspace: str | None
    name: str


@dataclass(frozen=True, kw_only=True)
class Statement:
    """Common to every statement: how many bind markers it holds, and their names."""

    bind_count: int = 0
    bind_names: tuple[str | None, ...] = ()


# ---------------------------------------------------------------- schema statements


@dataclass(frozen=True)
class CreateKeyspace(Statement):
    name: str
    if_not_exists: bool
    replication: tuple[tuple[str, Any], ...]
    durable_writes: bool = True


@dataclass(frozen=True)
class DropKeyspace(Statement):
    name: str
    if_exists: bool


@dataclass(frozen=True)
class ColumnSpec:
    """A column as declared: ``name type [STATIC] [PRIMARY KEY]``."""

    name: str
    type_name: str
    static: bool = False
    primary_key: bool = False


@dataclass(frozen=True)
class CreateTable(Statement):
    table: TableName
    if_not_exists: bool
    columns: tuple[ColumnSpec, ...]
    partition_key: tuple[str, ...]      # empty when declared inline (``k int PRIMARY KEY``)
    clustering_key: tuple[str, ...]
    clustering_order: tuple[tuple[str, bool], ...] = ()   # (column, descending)
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class DropTable(Statement):
    table: TableName
    if_exists: bool


@dataclass(frozen=True)
class AlterTable(Statement):
    """Exactly one of: ``add`` columns, ``drop`` columns, ``options``."""

    table: TableName
    add: tuple[ColumnSpec, ...] = ()
    drop: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Truncate(Statement):
    table: TableName


@dataclass(frozen=True)
class Use(Statement):
    keyspace: str


# ---------------------------------------------------------------- data statements


@dataclass(frozen=True)
class Relation:
    """``column op value``; op is one of = < <= > >= != IN. For IN, ``value`` is a tuple
    of terms or one BindMarker standing for a whole list."""

    column: str
    operator: str
    value: Term


@dataclass(frozen=True)
class TokenRelation:
    """``token(c1, c2) op value``."""

    columns: tuple[str, ...]
    operator: str
    value: Term


@dataclass(frozen=True)
class Selector:
    """kind: "column", "token", "ttl", "writetime" or "count" (``COUNT(*)``)."""

    kind: str
    columns: tuple[str, ...] = ()
    alias: str | None = None


@dataclass(frozen=True)
class Select(Statement):
    table: TableName
    selectors: tuple[Selector, ...] | None   # None is ``*``
    where: tuple[Relation | TokenRelation, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()   # (column, descending)
    limit: Term = None
    per_partition_limit: Term = None
    allow_filtering: bool = False


@dataclass(frozen=True)
class Insert(Statement):
    table: TableName
    columns: tuple[str, ...]
    values: tuple[Term, ...]
    ttl: Term = None
    timestamp: Term = None


@dataclass(frozen=True)
class Update(Statement):
    table: TableName
    assignments: tuple[tuple[str, Term], ...]
    where: tuple[Relation | TokenRelation, ...]
    ttl: Term = None
    timestamp: Term = None


@dataclass(frozen=True)
class Delete(Statement):
    table: TableName
    columns: tuple[str, ...]   # empty: the whole row, partition or slice
    where: tuple[Relation | TokenRelation, ...]
    timestamp: Term = None


@dataclass(frozen=True)
class Batch(Statement):
    """``logged`` is what the text said; shardsim runs every batch as unlogged."""

    statements: tuple[Insert | Update | Delete, ...]
    logged: bool = False
    timestamp: Term = None


DATA_STATEMENTS = (Select, Insert, Update, Delete, Batch)
SCHEMA_STATEMENTS = (CreateKeyspace, DropKeyspace, CreateTable, DropTable, AlterTable, Truncate)

__all__ = [
    "AlterTable", "Batch", "BindMarker", "ColumnSpec", "CreateKeyspace", "CreateTable",
    "DATA_STATEMENTS", "Delete", "DropKeyspace", "DropTable", "Insert", "Relation",
    "SCHEMA_STATEMENTS", "Select", "Selector", "Statement", "TableName", "Term",
    "TokenRelation", "Truncate", "Update", "Use",
]
