"""The replica side of a shard: applies mutations and serves single-partition reads
(data or digest) for the coordinators that send them.

A read answers with the partition's reconciled fragment stream, cut after ``limit``
live rows (``complete`` says whether it was not cut), or only with its digest (SHA-256
of the stream's wire form, 16 bytes).
Coordinators send ``now_s`` with every read so that every replica judges TTL
expiry at the same instant and equal data gives equal digests.

Invariant: nothing a peer sends can crash the shard: a malformed request or an
unknown table is answered with an ``Invalid`` error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack

from node.errors import Invalid
from node.rpc.verbs import Verb
from node.schema.store import SchemaStore
from node.storage.engine import ShardStorage
from node.readers.fragments import ClusteringRow, PartitionEnd
from node.mutation.mutation import Mutation
from node.readers.ranges import ClusteringSlice, PartitionRange

READ_BATCH_FRAGMENTS = 512


def digest_of(fragments_wire: list[Any]) -> bytes:
    return hashlib.sha256(msgpack.packb(fragments_wire, use_bin_type=True)).digest()[:16]


class ReplicaService:
    def __init__(self, storage: ShardStorage, schema: SchemaStore, clock: Any) -> None:
        self.storage = storage
        self.schema = schema
        self.clock = clock
        self.mutations_applied = 0
        self.reads_served = 0
        self.digest_reads_served = 0
        # awaited before a TRUNCATE empties a table (the composition root waits there for
        # this shard's background writes to the table)
        self.before_truncate: Callable[[str], Awaitable[None]] = _nothing_to_wait_for

    def statistics(self) -> dict[str, int]:
        return {"mutations_applied": self.mutations_applied, "reads_served": self.reads_served,
                "digest_reads_served": self.digest_reads_served}

    def register(self, messaging: Any) -> None:
        """Install the replica verbs on this shard's messaging."""
        async def on_mutation(source: Any, payload: Any) -> Any:
            return await self.apply(payload)

        async def on_read(source: Any, payload: Any) -> Any:
            return self.read_partition(payload)

        async def on_truncate(source: Any, payload: Any) -> Any:
            # {"table": id, "truncated_at_us": T}, or a bare table id (no time) from older shards
            table_id, truncated_at_us = payload, None
            if isinstance(payload, dict):
                table_id, truncated_at_us = payload.get("table"), payload.get("truncated_at_us")
                if truncated_at_us is not None and type(truncated_at_us) is not int:
                    raise Invalid("malformed truncate request")
            table = self._table(table_id)
            done_at_us = self.storage.truncated_at_us(table.id)
            if truncated_at_us is not None and done_at_us is not None and done_at_us >= truncated_at_us:
                return True  # group 0 replays its log at restart: a TRUNCATE empties once
            await self.before_truncate(table.id)
            self.storage.truncate(table.id, truncated_at_us)
            return True

        messaging.register(Verb.MUTATION, on_mutation)
        messaging.register(Verb.READ_DATA, on_read)
        messaging.register(Verb.READ_DIGEST, on_read)
        messaging.register(Verb.TRUNCATE, on_truncate)

    def _table(self, table_id: Any):
        table = self.schema.table_by_id(table_id) if isinstance(table_id, str) else None
        if table is None:
            raise Invalid(f"unknown table id {table_id!r} on this replica")
        return table

    async def apply(self, payload: Any) -> bool:
        try:
            mutation = Mutation.from_wire(payload)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError) as error:
            raise Invalid(f"malformed mutation: {error}") from None
        self._table(mutation.table_id)
        await self.storage.apply(mutation)
        self.mutations_applied += 1
        return True

    def read_partition(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise Invalid("malformed read request")
        try:
            table = self._table(payload["table"])
            key, token = bytes(payload["key"]), int(payload["token"])
            clustering_slice = ClusteringSlice.from_wire(payload["slice"])
            now_s = float(payload["now_s"])
            limit = int(payload.get("limit") or 0)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise Invalid(f"malformed read request: {error}") from None
        reader = self.storage.make_reader(table, PartitionRange.single(token, key),
                                          clustering_slice, now_s)
        out: list[Any] = []
        live_rows = 0
        complete = True
        try:
            while not reader.is_end_of_stream:
                batch = reader.read(READ_BATCH_FRAGMENTS)
                if not batch:
                    break
                for fragment in batch:
                    out.append(fragment.to_wire())
                    if isinstance(fragment, ClusteringRow) and fragment.row.is_live(now_s):
                        live_rows += 1
                        if limit and live_rows >= limit:
                            out.append(PartitionEnd().to_wire())
                            complete = False
                            raise _LimitReached
        except _LimitReached:
            pass
        finally:
            reader.close()
        if payload.get("digest"):
            self.digest_reads_served += 1
            return {"digest": digest_of(out)}
        self.reads_served += 1
        return {"fragments": out, "digest": digest_of(out), "complete": complete}


class _LimitReached(Exception):
    pass


async def _nothing_to_wait_for(table_id: str) -> None:
    return None
