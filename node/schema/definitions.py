"""Schema definitions: keyspaces, tables, columns and table options.

A ``TableSchema`` is immutable; an ALTER makes a new one with a new ``version``.
Storage, readers and coordinators all take the table's shape from here: the
partition key (serialized as Cassandra does), the clustering key (encoded so that
``bytes`` order is the table's clustering order, DESC columns inverted), and which
columns are static.

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

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise Invalid(f"Duplicate column names in table {self.keyspace}.{self.name}")
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
        return {"keyspace": self.keyspace, "name": self.name, "id": self.id,
                "version": self.version, "options": self.options.to_wire(),
                "columns": [c.to_wire() for c in self.columns]}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TableSchema:
        return cls(wire["keyspace"], wire["name"],
                   tuple(ColumnDef.from_wire(c) for c in wire["columns"]),
                   TableOptions.from_wire(wire.get("options", {})), wire["id"], wire["version"])


@dataclass(frozen=True)
class KeyspaceSchema:
    name: str
    replication: dict[str, Any]  # {"class": "SimpleStrategy", "replication_factor": 3} or NTS

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "replication": dict(self.replication)}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> KeyspaceSchema:
        return cls(wire["name"], dict(wire["replication"]))
