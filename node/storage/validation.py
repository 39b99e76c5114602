"""Checking a mutation against its table's schema before it reaches the commitlog.

``MutationValidator`` is built once per schema version (the column look-ups it needs
are precomputed, since it runs on every write).

``check_shape`` is the schema-free half: every field has the type the engine relies on
(64-bit integer timestamps, TTLs and deletion times; bytes keys, values and bounds;
non-empty range tombstones). Commitlog replay runs it on every record, since a record
written under an older schema must still replay.

``validate`` leaves out the cells of dropped columns (``dropped_cells``) instead of
refusing the mutation: a write, read repair or hint made before a DROP COLUMN still
applies, minus the column. A column the table never had is still refused.

Invariant: a mutation that ``validate`` returns is well-shaped and has only columns of
the table, static cells only in the static row, regular cells only in clustering rows,
full clustering keys, and values that deserialize for their column's type. Anything
else raises ``node.errors.Invalid`` and nothing is written: a record that reaches the
commitlog always applies to a memtable.
"""

from __future__ import annotations

from node.errors import Invalid
from node.schema.definitions import REGULAR, STATIC, TableSchema
from node.storage.dropped_cells import mutation_without_dropped
from node.mutation.mutation import Cell, Mutation, RangeTombstone, Row, Tombstone

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


class MutationValidator:
    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self._columns = {c.name: (c.kind, c.type) for c in schema.columns}
        self._clustering_count = len(schema.clustering_columns)

    def validate(self, mutation: Mutation) -> Mutation:
        """The mutation to apply: ``mutation`` without the cells of dropped columns
        (itself when it has none). Raises ``Invalid``."""
        schema = self.schema
        if mutation.table_id != schema.id:
            raise Invalid(f"mutation for table id {mutation.table_id} applied to "
                          f"{schema.qualified_name} ({schema.id})")
        check_shape(mutation)
        mutation = mutation_without_dropped(mutation, schema.dropped)
        if not mutation.key:
            raise Invalid(f"partition key of {schema.qualified_name} must be non-empty bytes")
        if mutation.static_row is not None:
            if mutation.static_row.marker is not None:
                raise Invalid("a static row has no row marker")
            self._validate_cells(mutation.static_row, STATIC)
        for clustering, row in mutation.rows.items():
            self._validate_clustering(clustering)
            self._validate_cells(row, REGULAR)
        return mutation

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
            if cell.value is not None:
                try:
                    column_type.deserialize(cell.value)
                except Exception as exc:
                    raise Invalid(f"value for column {name} is not a valid "
                                  f"{column_type.name}") from exc


def check_shape(mutation: Mutation) -> None:
    """Raise ``Invalid`` unless every field of ``mutation`` has the type (and range)
    the memtable, the readers and the SSTable writer rely on. Needs no schema."""
    if type(mutation.key) is not bytes:
        raise Invalid("partition key must be bytes")
    _check_int(mutation.token, "mutation token")
    if type(mutation.rows) is not dict or type(mutation.range_tombstones) is not list:
        raise Invalid("mutation rows must be a dict and range tombstones a list")
    _check_tombstone(mutation.partition_tombstone, "partition tombstone")
    if mutation.static_row is not None:
        _check_row(mutation.static_row, "static row")
    for clustering, row in mutation.rows.items():
        if type(clustering) is not bytes:
            raise Invalid("clustering key must be bytes")
        _check_row(row, "row")
    for rt in mutation.range_tombstones:
        if type(rt) is not RangeTombstone:
            raise Invalid("malformed range tombstone")
        if type(rt.start) is not bytes or (rt.end is not None and type(rt.end) is not bytes):
            raise Invalid("range tombstone bounds must be bytes (end: bytes or none)")
        if rt.end is not None and not rt.start < rt.end:
            raise Invalid("range tombstone start must be before its end")
        if rt.tombstone is None:
            raise Invalid("range tombstone without a tombstone")
        _check_tombstone(rt.tombstone, "range tombstone")


def _check_row(row: Row, where: str) -> None:
    if type(row) is not Row or type(row.cells) is not dict:
        raise Invalid(f"malformed {where}")
    _check_tombstone(row.tombstone, f"{where} tombstone")
    if row.marker is not None:
        _check_cell(row.marker, "row marker")
    for name, cell in row.cells.items():
        if type(name) is not str:
            raise Invalid("column names must be strings")
        _check_cell(cell, name)


def _check_tombstone(tombstone: Tombstone | None, where: str) -> None:
    if tombstone is None:
        return
    if type(tombstone) is not Tombstone:
        raise Invalid(f"malformed {where}")
    _check_int(tombstone.timestamp_us, f"{where} timestamp")
    _check_int(tombstone.deletion_time_s, f"{where} deletion time", low=0)


def _check_cell(cell: Cell, name: str) -> None:
    if type(cell) is not Cell:
        raise Invalid(f"malformed cell for {name}")
    _check_int(cell.timestamp_us, f"timestamp of {name}")
    _check_int(cell.ttl_s, f"TTL of {name}", low=0)
    _check_int(cell.local_deletion_time_s, f"deletion time of {name}", low=0)
    if cell.value is not None and type(cell.value) is not bytes:
        raise Invalid(f"value for {name} must be serialized bytes")


def _check_int(value: object, what: str, low: int = INT64_MIN) -> None:
    """``bool`` is refused too: ``type(True) is not int``."""
    if type(value) is not int or not low <= value <= INT64_MAX:  # type: ignore[operator]
        raise Invalid(f"{what} must be an integer in [{low}, {INT64_MAX}]")
