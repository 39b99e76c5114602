"""Schema statements executed by a coordinator: CREATE/DROP KEYSPACE, CREATE/DROP/ALTER
TABLE and TRUNCATE, each committed through group 0 (``node/raft/group0``).

A statement is turned into a change of schema entries by a ``build`` function that
group 0's client runs after a read barrier, against the schema every change committed
so far made; the change is proposed guarded by the state it was computed from, and if
another change won the race, ``build`` runs again on the newer schema. So ``IF NOT
EXISTS`` and ``AlreadyExists`` are decided against the committed schema, racing creates
give one table, and two ALTERs through two nodes both land. The statement answers once
the change is applied on this node (every shard of it). Without a majority within
``timeouts.ddl_ms`` it fails with ``NoQuorum`` and nothing changes.

TRUNCATE needs every node up, as in Cassandra; its committed time (Cassandra's
``truncatedAt``) empties the table on every shard of every node as each applies it, and
every write stamped at or before it that arrives later is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coordinator.cql3 import statements as st
from coordinator.cql3.analysis import keyspace_of
from coordinator.cql3.ddl import altered_table, keyspace_from, table_from
from node.errors import AlreadyExists, Invalid, Unavailable
from node.gms.shard import Shard
from node.raft.group0.commands import SchemaChange, Truncation
from node.raft.group0.service import Group0Client
from node.schema.store import SchemaStore, keyspace_key, table_key

SCHEMA_STATEMENTS = (st.CreateKeyspace, st.DropKeyspace, st.CreateTable, st.DropTable,
                     st.AlterTable, st.Truncate)
Build = Callable[[SchemaStore], SchemaChange | None]


class SchemaChanges:
    def __init__(self, shard: Shard, store: SchemaStore, group0: Group0Client) -> None:
        self.shard = shard
        self.store = store
        self.group0 = group0
        self.changes = 0

    def handles(self, statement: st.Statement) -> bool:
        return isinstance(statement, SCHEMA_STATEMENTS)

    def _change(self, store: SchemaStore, entries: dict[str, Any], description: str,
                stamp: int | None = None, truncation: Truncation | None = None) -> SchemaChange:
        if stamp is None:
            stamp = _stamp(store, list(entries), self.shard.clock.now_us())
        return SchemaChange(prev_state_id=-1, entries=entries, stamp_us=stamp,
                            description=description, truncation=truncation)

    async def execute(self, statement: st.Statement, session_keyspace: str | None, params: Any) -> None:
        build = self._builder(statement, session_keyspace)
        if await self.group0.change(build):
            self.changes += 1

    def _builder(self, statement: st.Statement, session_keyspace: str | None) -> Build:
        description = type(statement).__name__
        if isinstance(statement, st.CreateKeyspace):
            def build(store: SchemaStore) -> SchemaChange | None:
                if statement.name in store.keyspaces:
                    if statement.if_not_exists:
                        return None
                    raise AlreadyExists(f"Cannot add existing keyspace \"{statement.name}\"",
                                        keyspace=statement.name, table="")
                keyspace = keyspace_from(statement)
                return self._change(store, {keyspace_key(keyspace.name): keyspace.to_wire()},
                                    f"{description} {statement.name}")
        elif isinstance(statement, st.DropKeyspace):
            def build(store: SchemaStore) -> SchemaChange | None:
                if statement.name not in store.keyspaces:
                    if statement.if_exists:
                        return None
                    raise Invalid(f"Cannot drop non existing keyspace '{statement.name}'.")
                entries: dict[str, Any] = {keyspace_key(statement.name): None}
                for (keyspace, name) in store.tables:
                    if keyspace == statement.name:
                        entries[table_key(keyspace, name)] = None
                return self._change(store, entries, f"{description} {statement.name}")
        elif isinstance(statement, st.CreateTable):
            keyspace = keyspace_of(statement.table, session_keyspace)
            table = table_from(statement, keyspace)  # its id is drawn once, here

            def build(store: SchemaStore) -> SchemaChange | None:
                store.keyspace(keyspace)
                if (keyspace, statement.table.name) in store.tables:
                    if statement.if_not_exists:
                        return None
                    raise AlreadyExists(f"Cannot add already existing table \"{statement.table.name}\" "
                                        f"to keyspace \"{keyspace}\"", keyspace=keyspace,
                                        table=statement.table.name)
                return self._change(store, {table_key(keyspace, table.name): table.to_wire()},
                                    f"{description} {table.qualified_name}")
        elif isinstance(statement, st.DropTable):
            keyspace = keyspace_of(statement.table, session_keyspace)

            def build(store: SchemaStore) -> SchemaChange | None:
                if (keyspace, statement.table.name) not in store.tables:
                    if statement.if_exists:
                        return None
                    store.keyspace(keyspace)
                    raise Invalid(f"Cannot drop non existing table '{statement.table.name}' "
                                  f"in keyspace '{keyspace}'.")
                return self._change(store, {table_key(keyspace, statement.table.name): None},
                                    f"{description} {keyspace}.{statement.table.name}")
        elif isinstance(statement, st.AlterTable):
            keyspace = keyspace_of(statement.table, session_keyspace)

            def build(store: SchemaStore) -> SchemaChange | None:
                table = store.table(keyspace, statement.table.name)
                key = table_key(keyspace, table.name)
                stamp = _stamp(store, [key], self.shard.clock.now_us())  # also the columns' drop time
                altered = altered_table(statement, table, stamp)
                return self._change(store, {key: altered.to_wire()},
                                    f"{description} {table.qualified_name}", stamp)
        elif isinstance(statement, st.Truncate):
            build = self._truncate_builder(statement, session_keyspace)
        else:  # pragma: no cover - guarded by handles()
            raise Invalid(f"not a schema statement: {type(statement).__name__}")
        return build

    def _truncate_builder(self, statement: st.Truncate, session_keyspace: str | None) -> Build:
        keyspace = keyspace_of(statement.table, session_keyspace)
        nodes = [n.name for n in self.shard.config.nodes]
        down = [n for n in nodes if not self.shard.failure_detector.is_alive(n)]
        if down:
            raise Unavailable("Cannot perform truncate operation: not all hosts are up",
                              consistency="ALL", required=len(nodes), alive=len(nodes) - len(down))

        def build(store: SchemaStore) -> SchemaChange | None:
            table = store.table(keyspace, statement.table.name)
            # Cassandra's truncatedAt: every replica drops writes stamped at or before it
            # that arrive later (hints, late deliveries, read repair) or that it replays
            truncation = Truncation(table.id, self.shard.clock.now_us())
            return self._change(store, {}, f"TRUNCATE {table.qualified_name}", truncation=truncation)
        return build


def _stamp(store: SchemaStore, keys: list[str], now_us: int) -> int:
    newest = max((store.entries[k][0] for k in keys if k in store.entries), default=0)
    return max(now_us, newest + 1)
