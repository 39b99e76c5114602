"""Checking a mutation against its table's schema before it reaches the commitlog.

``MutationValidator`` is built once per schema version (the column look-ups it needs
are precomputed, since it runs on every write).

Invariant: a mutation that passes ``validate`` has only columns of the table, static
cells only in the static row, regular cells only in clustering rows, full clustering
keys, and values that deserialize for their column's type. Anything else raises
``node.errors.Invalid`` and nothing is written.
"""

from __future__ import annotations

from node.errors import Invalid
from node.schema import REGULAR, STATIC, TableSchema
from node.storage.mutation import Cell, Mutation, Row


class MutationValidator:
    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self._columns = {c.name: (c.kind, c.type) for c in schema.columns}
        self._clustering_count = len(schema.clustering_columns)

    def validate(self, mutation: Mutation) -> None:
        schema = self.schema
        if mutation.table_id != schema.id:
            raise Invalid(f"mutation for table id {mutation.table_id} applied to "
                          f"{schema.qualified_name} ({schema.id})")
        if type(mutation.key) is not bytes or not mutation.key:
            raise Invalid(f"partition key of {schema.qualified_name} must be non-empty bytes")
        if type(mutation.token) is not int:
            raise Invalid("mutation token must be an integer")
        if mutation.static_row is not None:
            if mutation.static_row.marker is not None:
                raise Invalid("a static row has no row marker")
            self._validate_cells(mutation.static_row, STATIC)
        for clustering, row in mutation.rows.items():
            self._validate_clustering(clustering)
            if row.marker is not None:
                _validate_cell(row.marker, "row marker")
            self._validate_cells(row, REGULAR)

    def _validate_clustering(self, clustering: bytes) -> None:
        schema = self.schema
        if type(clustering) is not bytes:
            raise Invalid("clustering key must be bytes")
        try:
            values = schema.decode_clustering(clustering)
            exact = len(values) == self._clustering_count and \
                schema.encode_clustering(values) == clustering
        except Exception as exc:  # malformed bytes from a client or a peer
            raise Invalid(f"malformed clustering key for {schema.qualified_name}") from exc
        if not exact:
            raise Invalid(f"clustering key of {schema.qualified_name} must have all "
                          f"{self._clustering_count} clustering columns")

    def _validate_cells(self, row: Row, kind: str) -> None:
        columns = self._columns
        for name, cell in row.cells.items():
            found = columns.get(name)
            if found is None:
                raise Invalid(f"Undefined column name {name} in table "
                              f"{self.schema.qualified_name}")
            column_kind, column_type = found
            if column_kind != kind:
                where = "the static row" if kind == STATIC else "a clustering row"
                raise Invalid(f"column {name} ({column_kind}) cannot be written in {where}")
            _validate_cell(cell, name)
            if cell.value is not None:
                try:
                    column_type.deserialize(cell.value)
                except Exception as exc:
                    raise Invalid(f"value for column {name} is not a valid "
                                  f"{column_type.name}") from exc


def validate_mutation(schema: TableSchema, mutation: Mutation) -> None:
    """One-off validation (tests, tools); the engine keeps a validator per table."""
    MutationValidator(schema).validate(mutation)


def _validate_cell(cell: Cell, name: str) -> None:
    if type(cell.timestamp_us) is not int or cell.ttl_s < 0:
        raise Invalid(f"bad timestamp or TTL for {name}")
    if cell.value is not None and type(cell.value) is not bytes:
        raise Invalid(f"value for {name} must be serialized bytes")
