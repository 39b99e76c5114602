"""The schema a shard knows: keyspaces and tables, persisted, versioned, mergeable.

Every definition is an entry ``key -> (timestamp_us, value or None)``; a drop leaves
a tombstone entry, so merging two shards' schemas is "newest timestamp wins" per
key, exactly like Cassandra's schema tables. The version is a digest of all entries:
two shards with the same entries have the same version, which heartbeats carry so a
node that missed a DDL while down notices and pulls.

The file is rewritten whole, to a temporary name then renamed, so a crash leaves the
old schema or the new one, never half of one.

Invariant: entries only ever move forward in timestamp; ``merge`` is commutative and
idempotent.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import structlog

from node.errors import Invalid
from node.schema.definitions import KeyspaceSchema, TableSchema

Entry = tuple[int, Any]  # (timestamp_us, wire value or None for a drop)
TableListener = Callable[[str, TableSchema], None]  # ("added"|"altered"|"dropped", table)


def keyspace_key(name: str) -> str:
    return f"keyspace:{name}"


def table_key(keyspace: str, name: str) -> str:
    return f"table:{keyspace}.{name}"


class SchemaStore:
    def __init__(self, path: Path | None, log: Any = None) -> None:
        self.path = path
        self.log = log or structlog.get_logger()
        self.entries: dict[str, Entry] = {}
        self.keyspaces: dict[str, KeyspaceSchema] = {}
        self.tables: dict[tuple[str, str], TableSchema] = {}
        self._listeners: list[TableListener] = []
        self._version = ""
        self._recompute()

    # --- reading -----------------------------------------------------------------

    def version(self) -> str:
        return self._version

    def keyspace(self, name: str) -> KeyspaceSchema:
        found = self.keyspaces.get(name)
        if found is None:
            raise Invalid(f"Keyspace {name} does not exist")
        return found

    def table(self, keyspace: str, name: str) -> TableSchema:
        self.keyspace(keyspace)
        found = self.tables.get((keyspace, name))
        if found is None:
            raise Invalid(f"unconfigured table {name}")
        return found

    def table_by_id(self, table_id: str) -> TableSchema | None:
        for table in self.tables.values():
            if table.id == table_id:
                return table
        return None

    def snapshot(self) -> dict[str, list[Any]]:
        return {key: [ts, value] for key, (ts, value) in self.entries.items()}

    def subscribe(self, listener: TableListener) -> None:
        self._listeners.append(listener)

    # --- changing ----------------------------------------------------------------

    def merge(self, incoming: dict[str, Any]) -> bool:
        """Take every entry newer than ours; persist and notify. True if anything changed.
        All or nothing: a malformed entry anywhere raises ``Invalid`` and changes nothing."""
        if not isinstance(incoming, dict):
            raise Invalid("malformed schema snapshot")
        entries = dict(self.entries)
        changed = False
        for key, pair in incoming.items():
            if not (isinstance(key, str) and isinstance(pair, (list, tuple)) and len(pair) == 2
                    and isinstance(pair[0], int) and not isinstance(pair[0], bool)
                    and (pair[1] is None or isinstance(pair[1], dict))
                    and key.startswith(("keyspace:", "table:"))):
                raise Invalid(f"malformed schema entry {key!r:.100}")
            timestamp, value = pair
            current = entries.get(key)
            if current is None or (timestamp, _order(value)) > (current[0], _order(current[1])):
                entries[key] = (timestamp, value)
                changed = True
        if not changed:
            return False
        keyspaces, tables, version = _derive(entries)  # raises Invalid before anything changes
        before = dict(self.tables)
        self.entries = entries
        self.keyspaces, self.tables, self._version = keyspaces, tables, version
        self._persist()
        self._notify(before)
        return True

    def _recompute(self) -> None:
        self.keyspaces, self.tables, self._version = _derive(self.entries)

    def _notify(self, before: dict[tuple[str, str], TableSchema]) -> None:
        events: list[tuple[str, TableSchema]] = []
        for key, table in self.tables.items():
            old = before.get(key)
            if old is None or old.id != table.id:
                if old is not None:
                    events.append(("dropped", old))
                events.append(("added", table))
            elif old.version != table.version:
                events.append(("altered", table))
        for key, old in before.items():
            if key not in self.tables:
                events.append(("dropped", old))
        for kind, table in events:
            for listener in self._listeners:
                listener(kind, table)

    # --- disk --------------------------------------------------------------------

    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            raw = msgpack.unpackb(self.path.read_bytes(), raw=False)
            self.entries = {key: (int(ts), value) for key, (ts, value) in raw.items()}
        except (ValueError, TypeError, msgpack.UnpackException) as error:
            self.log.error("schema.unreadable", path=str(self.path), error=str(error))
            raise
        self._recompute()
        self._notify({})

    def _persist(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "wb") as stream:
            stream.write(msgpack.packb(self.snapshot(), use_bin_type=True))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a power loss
        finally:
            os.close(directory)


def _derive(entries: dict[str, Entry]) -> tuple[dict[str, KeyspaceSchema],
                                                dict[tuple[str, str], TableSchema], str]:
    """Keyspaces, tables and the version digest of a set of entries; ``Invalid`` if any
    live entry does not describe a valid keyspace or table under its own key."""
    keyspaces: dict[str, KeyspaceSchema] = {}
    tables: dict[tuple[str, str], TableSchema] = {}
    try:
        for key, (_, value) in entries.items():
            if value is not None and key.startswith("keyspace:"):
                keyspace = KeyspaceSchema.from_wire(value)
                if keyspace_key(keyspace.name) != key:
                    raise ValueError(f"keyspace {keyspace.name!r} under key {key!r}")
                keyspaces[keyspace.name] = keyspace
        for key, (_, value) in entries.items():
            if value is None or not key.startswith("table:"):
                continue
            table = TableSchema.from_wire(value)
            if table_key(table.keyspace, table.name) != key:
                raise ValueError(f"table {table.qualified_name!r} under key {key!r}")
            if table.keyspace in keyspaces:
                tables[(table.keyspace, table.name)] = table
    except Invalid:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise Invalid(f"malformed schema entry: {error}") from None
    digest = hashlib.sha256(msgpack.packb(sorted(
        (key, ts, value) for key, (ts, value) in entries.items()), use_bin_type=True))
    return keyspaces, tables, digest.hexdigest()[:16]


def _order(value: Any) -> tuple[int, bytes]:
    """Tie-break of equal timestamps, the same on every shard: a drop wins, then the
    greater whole encoding (keys sorted, so it does not depend on dict order)."""
    if value is None:
        return (1, b"")
    return (0, msgpack.packb(_sorted(value), use_bin_type=True))


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return [[key, _sorted(value[key])] for key in sorted(value, key=str)]
    if isinstance(value, (list, tuple)):
        return [_sorted(item) for item in value]
    return value
