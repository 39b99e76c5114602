"""``GET /v1/schema``: the keyspaces and tables this node knows, read-only.

It answers from the serving shard's ``SchemaStore`` (every shard of a node converges
on the same schema): ``{"version", "keyspaces": [{"name", "replication", "tables":
[TableSchema.to_wire(), ...]}]}``, sorted by name. The shell's DESCRIBE reads it.

Invariant: this route never changes the schema.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.schema.store import SchemaStore


def describe_schema(schema: SchemaStore) -> dict[str, Any]:
    keyspaces = []
    for name in sorted(schema.keyspaces):
        tables = [table.to_wire() for (keyspace, _), table in sorted(schema.tables.items())
                  if keyspace == name]
        keyspaces.append({**schema.keyspaces[name].to_wire(), "tables": tables})
    return {"version": schema.version(), "keyspaces": keyspaces}


def register_schema_route(app: web.Application, schema: SchemaStore) -> None:
    async def get_schema(request: web.Request) -> web.Response:
        return web.json_response(describe_schema(schema))

    app.router.add_get("/v1/schema", get_schema)
