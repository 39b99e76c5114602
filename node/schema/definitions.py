"""Schema definitions: keyspaces, tables, columns and table options.

A ``TableSchema`` is immutable; an ALTER makes a new one with a new ``version``.
Storage, readers and coordinators all take the table's shape from here: the
partition key (serialized as Cassandra does), the clustering key (encoded so that
``bytes`` order is the table's clustering order, DESC columns inverted), and which
columns are static.

A table also keeps its dropped columns, as Cassandra's ``system_schema.dropped_columns``:
name -> (drop time in microseconds, type, kind). Cells of a dropped column written at
or before its drop time are dead data: readers, compaction and replicas leave them
out (``DroppedColumns.keeps``), even once a column of the same name is added again.

Invariant: a table's ``id`` never changes for its lifetime (DROP + CREATE makes a new
id), so files and cached readers keyed by id can never meet a different table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from node.errors import Invalid
from node.schema.types import (
    CqlType,
    decode_clustering,
    deserialize_partition_key,
    encode_clustering,
    serialize_partition_key,
    type_named,
)

PARTITION_KEY = "partition_key"
CLUSTERING = "clustering"
STATIC = "static"
REGULAR = "regular"
COLUMN_KINDS = (PARTITION_KEY, CLUSTERING, STATIC, REGULAR)


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: CqlType
    kind: str = REGULAR
    descending: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.name, "kind": self.kind,
                "descending": self.descending}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ColumnDef:
        return cls(wire["name"], type_named(wire["type"]), wire["kind"], bool(wire.get("descending")))


@dataclass(frozen=True)
class DroppedColumn:
    name: str
    dropped_at_us: int      # cells written at or before this are gone
    type: CqlType
    kind: str = REGULAR     # REGULAR or STATIC

    def to_wire(self) -> list[Any]:
        return [self.name, self.dropped_at_us, self.type.name, self.kind]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> DroppedColumn:
        name, dropped_at_us, type_name, kind = wire
        if type(dropped_at_us) is not int or kind not in (REGULAR, STATIC):
            raise ValueError(f"malformed dropped column {wire!r:.100}")
        return cls(str(name), dropped_at_us, type_named(type_name), kind)


class DroppedColumns:
    """What a table's dropped columns mean for one cell: ``keeps(name, timestamp_us)``.
    A cell is left out when its column was dropped at or after the cell's timestamp, or
    when its column was dropped and is not in the table now (whatever its timestamp: a
    replica has no type to check it against)."""

    __slots__ = ("_dropped_at", "_current")

    def __init__(self, dropped: tuple[DroppedColumn, ...], current: set[str]) -> None:
        self._dropped_at = {d.name: d.dropped_at_us for d in dropped}
        self._current = current

    def __bool__(self) -> bool:
        return bool(self._dropped_at)

    def keeps(self, name: str, timestamp_us: int) -> bool:
        dropped_at = self._dropped_at.get(name)
        if dropped_at is None:
            return True
        return timestamp_us > dropped_at and name in self._current


@dataclass(frozen=True)
class TableOptions:
    default_time_to_live: int = 0
    gc_grace_seconds: int = 864000
    compression: str | None = None  # None or "zstd"

    def to_wire(self) -> dict[str, Any]:
        return {"default_time_to_live": self.default_time_to_live,
                "gc_grace_seconds": self.gc_grace_seconds, "compression": self.compression}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TableOptions:
        return cls(int(wire.get("default_time_to_live", 0)),
                   int(wire.get("gc_grace_seconds", 864000)), wire.get("compression"))


@dataclass(frozen=True)
class TableSchema:
    keyspace: str
    name: str
    columns: tuple[ColumnDef, ...]
    options: TableOptions = field(default_factory=TableOptions)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: str = field(default_factory=lambda: str(uuid.uuid4()))
    dropped_columns: tuple[DroppedColumn, ...] = ()   # one per name, the latest drop

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise Invalid(f"Duplicate column names in table {self.keyspace}.{self.name}")
        dropped_names = [d.name for d in self.dropped_columns]
        if len(set(dropped_names)) != len(dropped_names):
            raise Invalid(f"Duplicate dropped columns in table {self.keyspace}.{self.name}")
        if not any(c.kind == PARTITION_KEY for c in self.columns):
            raise Invalid(f"Table {self.keyspace}.{self.name} has no partition key")
        if any(c.kind == STATIC for c in self.columns) and not self.clustering_columns:
            raise Invalid("Static columns are only useful (and thus allowed) if the table "
                          "has at least one clustering column")
        index = {c.name: c for c in self.columns}
        object.__setattr__(self, "_by_name", index)
        object.__setattr__(self, "_pk_types", [c.type for c in self.partition_key_columns])
        object.__setattr__(self, "_ck_types", [c.type for c in self.clustering_columns])
        object.__setattr__(self, "_ck_desc", [c.descending for c in self.clustering_columns])
        object.__setattr__(self, "_dropped", DroppedColumns(self.dropped_columns, set(names)))

    @property
    def qualified_name(self) -> str:
        return f"{self.keyspace}.{self.name}"

    @property
    def partition_key_columns(self) -> list[ColumnDef]:
        return [c for c in self.columns if c.kind == PARTITION_KEY]

    @property
    def clustering_columns(self) -> list[ColumnDef]:
        return [c for c in self.columns if c.kind == CLUSTERING]

    @property
    def static_columns(self) -> list[ColumnDef]:
        return [c for c in self.columns if c.kind == STATIC]

    @property
    def regular_columns(self) -> list[ColumnDef]:
        return [c for c in self.columns if c.kind == REGULAR]

    def column(self, name: str) -> ColumnDef:
        found = self._by_name.get(name)  # type: ignore[attr-defined]
        if found is None:
            raise Invalid(f"Undefined column name {name} in table {self.qualified_name}")
        return found

    def has_column(self, name: str) -> bool:
        return name in self._by_name  # type: ignore[attr-defined]

    @property
    def dropped(self) -> DroppedColumns:
        """Which cells the dropped columns leave out (falsy when none was dropped)."""
        return self._dropped  # type: ignore[attr-defined]

    def dropped_column(self, name: str) -> DroppedColumn | None:
        for dropped in self.dropped_columns:
            if dropped.name == name:
                return dropped
        return None

    def serialize_partition_key(self, values: list[Any]) -> bytes:
        return serialize_partition_key(self._pk_types, values)  # type: ignore[attr-defined]

    def deserialize_partition_key(self, data: bytes) -> list[Any]:
        return deserialize_partition_key(self._pk_types, data)  # type: ignore[attr-defined]

    def encode_clustering(self, values: tuple) -> bytes:
        return encode_clustering(self._ck_types, self._ck_desc, values)  # type: ignore[attr-defined]

    def decode_clustering(self, data: bytes) -> tuple:
        return decode_clustering(self._ck_types, self._ck_desc, data)  # type: ignore[attr-defined]

    def altered(self, **changes: Any) -> TableSchema:
        """A new version of this table (same id)."""
        return replace(self, version=str(uuid.uuid4()), **changes)

    def to_wire(self) -> dict[str, Any]:
        wire = {"keyspace": self.keyspace, "name": self.name, "id": self.id,
                "version": self.version, "options": self.options.to_wire(),
                "columns": [c.to_wire() for c in self.columns]}
        if self.dropped_columns:  # absent when empty: older entries keep their encoding
            wire["dropped_columns"] = [d.to_wire() for d in self.dropped_columns]
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TableSchema:
        return cls(wire["keyspace"], wire["name"],
                   tuple(ColumnDef.from_wire(c) for c in wire["columns"]),
                   TableOptions.from_wire(wire.get("options", {})), wire["id"], wire["version"],
                   tuple(DroppedColumn.from_wire(d) for d in wire.get("dropped_columns", ())))


@dataclass(frozen=True)
class KeyspaceSchema:
    name: str
    replication: dict[str, Any]  # {"class": "SimpleStrategy", "replication_factor": 3} or NTS

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "replication": dict(self.replication)}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> KeyspaceSchema:
        return cls(wire["name"], dict(wire["replication"]))
