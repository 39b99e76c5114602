"""Schema statements executed by a coordinator: CREATE/DROP KEYSPACE, CREATE/DROP/ALTER
TABLE and TRUNCATE.

A change is a set of schema entries stamped with this coordinator's clock (strictly
after the entry it replaces); it is merged locally and pushed to every shard of every
live node before the statement returns. A node that was down pulls it later, when
its heartbeats show a different schema version (``node.gms.schema_sync``). TRUNCATE needs
every node up, as in Cassandra, and empties the table on every shard, recording its
time there so that no older write comes back later.

Invariant: IF [NOT] EXISTS and AlreadyExists are decided here, against this shard's
schema, before anything is pushed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from coordinator.cql3 import statements as st
from coordinator.cql3.analysis import keyspace_of
from coordinator.cql3.ddl import altered_table, keyspace_from, table_from
from node.errors import AlreadyExists, Invalid, Unavailable
from node.rpc.transport import ShardId
from node.rpc.verbs import Verb
from node.schema.store import SchemaStore, keyspace_key, table_key
from node.gms.schema_sync import SchemaSync
from node.gms.shard import Shard

SCHEMA_STATEMENTS = (st.CreateKeyspace, st.DropKeyspace, st.CreateTable, st.DropTable,
                     st.AlterTable, st.Truncate)
PUSH_TIMEOUT_S = 10.0


class SchemaChanges:
    def __init__(self, shard: Shard, store: SchemaStore, sync: SchemaSync) -> None:
        self.shard = shard
        self.store = store
        self.sync = sync
        self.changes = 0

    def handles(self, statement: st.Statement) -> bool:
        return isinstance(statement, SCHEMA_STATEMENTS)

    def _stamp(self, keys: list[str]) -> int:
        now = self.shard.clock.now_us()
        newest = max((self.store.entries[k][0] for k in keys if k in self.store.entries), default=0)
        return max(now, newest + 1)

    async def _apply(self, entries: dict[str, Any], stamp: int | None = None) -> None:
        stamp = self._stamp(list(entries)) if stamp is None else stamp
        stamped = {key: [stamp, value] for key, value in entries.items()}
        await self.sync.push_everywhere(stamped, PUSH_TIMEOUT_S)
        self.changes += 1

    async def execute(self, statement: st.Statement, session_keyspace: str | None, params: Any) -> None:
        if isinstance(statement, st.CreateKeyspace):
            if statement.name in self.store.keyspaces:
                if statement.if_not_exists:
                    return
                raise AlreadyExists(f"Cannot add existing keyspace \"{statement.name}\"",
                                    keyspace=statement.name, table="")
            keyspace = keyspace_from(statement)
            await self._apply({keyspace_key(keyspace.name): keyspace.to_wire()})
        elif isinstance(statement, st.DropKeyspace):
            if statement.name not in self.store.keyspaces:
                if statement.if_exists:
                    return
                raise Invalid(f"Cannot drop non existing keyspace '{statement.name}'.")
            entries: dict[str, Any] = {keyspace_key(statement.name): None}
            for (keyspace, name) in self.store.tables:
                if keyspace == statement.name:
                    entries[table_key(keyspace, name)] = None
            await self._apply(entries)
        elif isinstance(statement, st.CreateTable):
            keyspace = keyspace_of(statement.table, session_keyspace)
            self.store.keyspace(keyspace)
            if (keyspace, statement.table.name) in self.store.tables:
                if statement.if_not_exists:
                    return
                raise AlreadyExists(f"Cannot add already existing table \"{statement.table.name}\" "
                                    f"to keyspace \"{keyspace}\"", keyspace=keyspace,
                                    table=statement.table.name)
            table = table_from(statement, keyspace)
            await self._apply({table_key(keyspace, table.name): table.to_wire()})
        elif isinstance(statement, st.DropTable):
            keyspace = keyspace_of(statement.table, session_keyspace)
            if (keyspace, statement.table.name) not in self.store.tables:
                if statement.if_exists:
                    return
                self.store.keyspace(keyspace)
                raise Invalid(f"Cannot drop non existing table '{statement.table.name}' "
                              f"in keyspace '{keyspace}'.")
            await self._apply({table_key(keyspace, statement.table.name): None})
        elif isinstance(statement, st.AlterTable):
            keyspace = keyspace_of(statement.table, session_keyspace)
            table = self.store.table(keyspace, statement.table.name)
            key = table_key(keyspace, table.name)
            stamp = self._stamp([key])  # also the drop time of the columns it drops
            altered = altered_table(statement, table, stamp)
            await self._apply({key: altered.to_wire()}, stamp)
        elif isinstance(statement, st.Truncate):
            await self._truncate(statement, session_keyspace)
        else:  # pragma: no cover - guarded by handles()
            raise Invalid(f"not a schema statement: {type(statement).__name__}")

    async def _truncate(self, statement: st.Truncate, session_keyspace: str | None) -> None:
        keyspace = keyspace_of(statement.table, session_keyspace)
        table = self.store.table(keyspace, statement.table.name)
        nodes = [n.name for n in self.shard.config.nodes]
        down = [n for n in nodes if not self.shard.failure_detector.is_alive(n)]
        if down:
            raise Unavailable("Cannot perform truncate operation: not all hosts are up",
                              consistency="ALL", required=len(nodes), alive=len(nodes) - len(down))
        # Cassandra's truncatedAt: every replica drops writes stamped at or before it that
        # arrive later (hints, late deliveries, read repair) or that its commitlog replays
        request = {"table": table.id, "truncated_at_us": self.shard.clock.now_us()}
        sends = [self.shard.messaging.send(Verb.TRUNCATE, ShardId(node, index), request,
                                           timeout_s=PUSH_TIMEOUT_S)
                 for node in nodes for index in range(self.shard.shards_of(node))]
        await asyncio.gather(*sends)
