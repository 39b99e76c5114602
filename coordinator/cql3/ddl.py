"""Schema statements to schema objects: keyspaces, tables, and ALTER TABLE.

``keyspace_from`` validates replication as Cassandra does (through the ring's
strategies: unknown class or bad factor is ``ConfigError``); ``table_from`` builds a
``TableSchema`` from CREATE TABLE (column kinds, clustering order and DESC flags,
options); ``altered_table`` applies an ALTER to an existing ``TableSchema``.
Existence (IF [NOT] EXISTS, AlreadyExists) is the schema store's business, not here.

Invariant: every schema built here is valid on its own: known types, one primary key,
clustering order naming clustering columns in order, options within range.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from coordinator.cql3.binding import MAX_TTL_SECONDS
from coordinator.cql3.statements import AlterTable, ColumnSpec, CreateKeyspace, CreateTable
from node.errors import ConfigError, Invalid
from node.locator.replication import strategy_from_options
from node.schema.definitions import (
    CLUSTERING,
    PARTITION_KEY,
    REGULAR,
    STATIC,
    ColumnDef,
    DroppedColumn,
    KeyspaceSchema,
    TableOptions,
    TableSchema,
)
from node.schema.types import type_named

# Accepted for compatibility with Cassandra schemas, and ignored.
IGNORED_TABLE_OPTIONS = frozenset({
    "comment", "compaction", "caching", "bloom_filter_fp_chance", "speculative_retry",
    "read_repair_chance", "dclocal_read_repair_chance", "crc_check_chance",
    "memtable_flush_period_in_ms", "min_index_interval", "max_index_interval",
    "additional_write_policy", "cdc", "extensions", "read_repair",
})

_COMPRESSORS = {"zstdcompressor", "lz4compressor", "snappycompressor", "deflatecompressor"}


def keyspace_from(statement: CreateKeyspace) -> KeyspaceSchema:
    """The keyspace; its replication in the canonical form of ``node.locator.replication``."""
    options = dict(statement.replication)
    for key, value in options.items():
        if not isinstance(key, str):
            raise ConfigError(f"Invalid replication option {key!r}: keys are strings")
        if isinstance(value, bool) or value is None:
            raise ConfigError(f"Invalid value {value!r} for replication option {key}")
    strategy = strategy_from_options(options)
    return KeyspaceSchema(statement.name, strategy.options())


def table_from(statement: CreateTable, session_keyspace: str | None) -> TableSchema:
    """The table of CREATE TABLE, in its own keyspace or else the session's."""
    keyspace = statement.table.keyspace or session_keyspace
    if not keyspace:
        raise Invalid("No keyspace has been specified. USE a keyspace, or explicitly specify "
                      "keyspace.tablename")
    specs = statement.columns
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise Invalid(f"Multiple definition of identifier {duplicates[0]}")
    partition, clustering = _primary_key(statement)
    for name in partition + clustering:
        if name not in names:
            raise Invalid(f"Unknown definition {name} referenced in PRIMARY KEY")
    key_names = partition + clustering
    if len(set(key_names)) != len(key_names):
        raise Invalid("Duplicate definition in PRIMARY KEY")
    descending = _clustering_order(statement.clustering_order, clustering)
    by_name = {spec.name: spec for spec in specs}
    columns = [_key_column(by_name[n], PARTITION_KEY, False) for n in partition]
    columns += [_key_column(by_name[n], CLUSTERING, descending.get(n, False)) for n in clustering]
    columns += [_column(spec) for spec in specs if spec.name not in key_names]
    options = options_from(statement.options, TableOptions())
    return TableSchema(keyspace, statement.table.name, tuple(columns), options)


def altered_table(statement: AlterTable, table: TableSchema, now_us: int) -> TableSchema:
    """The new version of ``table`` after one ALTER TABLE (same id). A DROP records each
    column's drop time (``now_us``, the change's timestamp), type and kind; an ADD of a
    dropped name must keep its type and kind, as in Cassandra."""
    if statement.add:
        columns = list(table.columns)
        for spec in statement.add:
            if table.has_column(spec.name) or spec.name in [c.name for c in columns]:
                raise Invalid(f"Invalid column name {spec.name} because it conflicts with an "
                              "existing column")
            column = _column(spec)
            _check_re_add(column, table.dropped_column(spec.name))
            columns.append(column)
        return table.altered(columns=tuple(columns))
    if statement.drop:
        dropped: dict[str, DroppedColumn] = {}
        for name in statement.drop:
            if not table.has_column(name):
                raise Invalid(f"Column {name} was not found in table {table.qualified_name}")
            column = table.column(name)
            if column.kind in (PARTITION_KEY, CLUSTERING):
                raise Invalid(f"Cannot drop PRIMARY KEY part {name}")
            dropped[name] = DroppedColumn(name, now_us, column.type, column.kind)
        kept = tuple(d for d in table.dropped_columns if d.name not in dropped)
        return table.altered(columns=tuple(c for c in table.columns if c.name not in dropped),
                             dropped_columns=kept + tuple(dropped.values()))
    return table.altered(options=options_from(statement.options, table.options))


def _check_re_add(column: ColumnDef, dropped: DroppedColumn | None) -> None:
    """Cassandra's rule: a dropped column comes back only with its type and kind (a
    replica that has not seen the re-add yet would read new bytes with the old type)."""
    if dropped is None:
        return
    if dropped.kind != column.kind:
        raise Invalid(f"Cannot re-add previously dropped column '{column.name}' of kind "
                      f"{column.kind.upper()}, incompatible with previous kind {dropped.kind.upper()}")
    if dropped.type.name != column.type.name:
        raise Invalid(f"Cannot re-add previously dropped column '{column.name}' of type "
                      f"{column.type.name}, incompatible with previous type {dropped.type.name}")


def options_from(options: tuple[tuple[str, Any], ...], base: TableOptions) -> TableOptions:
    """``base`` with the CQL table options applied."""
    changes: dict[str, Any] = {}
    for name, value in options:
        if name in changes:
            raise Invalid(f"Multiple definitions for property {name}")
        if name == "default_time_to_live":
            changes[name] = _seconds(value, name, MAX_TTL_SECONDS)
        elif name == "gc_grace_seconds":
            changes[name] = _seconds(value, name, 2**31 - 1)
        elif name == "compression":
            changes[name] = _compression(value)
        elif name not in IGNORED_TABLE_OPTIONS:
            raise Invalid(f"Unknown property '{name}'")
    return dataclasses.replace(base, **changes)


def _primary_key(statement: CreateTable) -> tuple[tuple[str, ...], tuple[str, ...]]:
    inline = [spec.name for spec in statement.columns if spec.primary_key]
    if statement.partition_key and inline:
        raise Invalid("Multiple PRIMARY KEY specifications are not allowed")
    if len(inline) > 1:
        raise Invalid("Multiple PRIMARY KEY specifications are not allowed")
    if inline:
        return (inline[0],), ()
    if not statement.partition_key:
        raise Invalid("No PRIMARY KEY specifed (exactly one required)")
    return statement.partition_key, statement.clustering_key


def _clustering_order(order: tuple[tuple[str, bool], ...], clustering: tuple[str, ...]
                      ) -> dict[str, bool]:
    for position, (name, _) in enumerate(order):
        if name not in clustering:
            raise Invalid("Only clustering key columns can be defined in CLUSTERING ORDER "
                          f"directive: {name}")
        if clustering[position] != name:
            raise Invalid("The order of columns in the CLUSTERING ORDER directive must be the "
                          "one of the clustering key")
    return dict(order)


def _key_column(spec: ColumnSpec, kind: str, descending: bool) -> ColumnDef:
    if spec.static:
        raise Invalid(f"Static column {spec.name} cannot be part of the PRIMARY KEY")
    return ColumnDef(spec.name, type_named(spec.type_name), kind, descending)


def _column(spec: ColumnSpec) -> ColumnDef:
    return ColumnDef(spec.name, type_named(spec.type_name), STATIC if spec.static else REGULAR)


def _seconds(value: Any, name: str, maximum: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"Invalid value for {name}: {value!r} is not an integer")
    if value < 0:
        raise Invalid(f"{name} must be greater than or equal to 0 (got {value})")
    if value > maximum:
        raise Invalid(f"{name} must be less than or equal to {maximum} (got {value})")
    return value


def _compression(value: Any) -> str | None:
    """``{'class': 'ZstdCompressor'}`` -> "zstd"; ``{'sstable_compression': ''}`` or
    ``{'enabled': 'false'}`` -> None. Other Cassandra compressors map to zstd, the one
    shardsim has."""
    if not isinstance(value, tuple):
        raise ConfigError("compression must be a map")
    options = {str(k).lower(): v for k, v in value}
    if str(options.get("enabled", "true")).lower() == "false":
        return None
    chosen = options.get("class", options.get("sstable_compression"))
    if chosen is None:
        raise ConfigError("Missing sub-option 'class' for the 'compression' option.")
    if chosen == "":
        return None
    short = str(chosen).rsplit(".", 1)[-1].lower()
    if short not in _COMPRESSORS:
        raise ConfigError(f"Could not create Compression for type {chosen}")
    return "zstd"
