"""Checking a mutation against its table's schema before it reaches the commitlog.

Invariant: a mutation that passes ``validate_mutation`` has only columns of the table,
static cells only in the static row, regular cells only in clustering rows, full
clustering keys, and values that deserialize for their column's type. Anything else
raises ``node.errors.Invalid`` and nothing is written.
"""

from __future__ import annotations

from node.errors import Invalid
from node.schema import REGULAR, STATIC, TableSchema
from node.storage.mutation import Cell, Mutation, Row


def validate_mutation(schema: TableSchema, mutation: Mutation) -> None:
    if mutation.table_id != schema.id:
        raise Invalid(f"mutation for table id {mutation.table_id} applied to "
                      f"{schema.qualified_name} ({schema.id})")
    if not isinstance(mutation.key, bytes) or not mutation.key:
        raise Invalid(f"partition key of {schema.qualified_name} must be non-empty bytes")
    if not isinstance(mutation.token, int):
        raise Invalid("mutation token must be an integer")
    clustering_count = len(schema.clustering_columns)
    if mutation.static_row is not None:
        if mutation.static_row.marker is not None:
            raise Invalid("a static row has no row marker")
        _validate_cells(schema, mutation.static_row, STATIC)
    for clustering, row in mutation.rows.items():
        if not isinstance(clustering, bytes):
            raise Invalid("clustering key must be bytes")
        try:
            values = schema.decode_clustering(clustering)
            exact = schema.encode_clustering(values) == clustering
        except Exception as exc:  # malformed bytes from a client or a peer
            raise Invalid(f"malformed clustering key for {schema.qualified_name}") from exc
        if len(values) != clustering_count or not exact:
            raise Invalid(f"clustering key of {schema.qualified_name} must have all "
                          f"{clustering_count} clustering columns")
        if row.marker is not None:
            _validate_cell(row.marker, "row marker")
        _validate_cells(schema, row, REGULAR)


def _validate_cells(schema: TableSchema, row: Row, kind: str) -> None:
    for name, cell in row.cells.items():
        column = schema.column(name)  # raises Invalid for an unknown column
        if column.kind != kind:
            where = "the static row" if kind == STATIC else "a clustering row"
            raise Invalid(f"column {name} ({column.kind}) cannot be written in {where}")
        _validate_cell(cell, name)
        if cell.value is not None:
            try:
                column.type.deserialize(cell.value)
            except Exception as exc:
                raise Invalid(f"value for column {name} is not a valid "
                              f"{column.type.name}") from exc


def _validate_cell(cell: Cell, name: str) -> None:
    if not isinstance(cell.timestamp_us, int) or cell.ttl_s < 0:
        raise Invalid(f"bad timestamp or TTL for {name}")
    if cell.value is not None and not isinstance(cell.value, bytes):
        raise Invalid(f"value for {name} must be serialized bytes")
