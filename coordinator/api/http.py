"""The HTTP API of a node (aiohttp), served by every shard of the node on the same
port with SO_REUSEPORT, so the kernel spreads connections over the shards.

Routes: ``GET /v1/status``, ``GET|POST|DELETE /v1/admin/faults``, and whatever the
coordinator's query layer registers (``POST /v1/cql``, ``GET /metrics``, ...).
Errors are JSON ``{"error": {"name", "code", "message", ...details}}`` with the HTTP
status of their kind; a request body over 16 MiB gets 413; nothing a client sends
can crash the shard.

Invariant: every handler either answers or raises a ``RequestError``; any other
exception becomes a 500 ``ServerError`` and a log line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import structlog
from aiohttp import web

from coordinator.api.hints import add_hint_routes
from coordinator.api.metrics import render
from coordinator.cql3.query_processor import QueryOptions, QueryProcessor
from coordinator.api.schema import register_schema_route
from node.errors import Invalid, RequestError, ServerError
from node.gms.shard import Shard

MAX_BODY_BYTES = 16 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOG_KEY = web.AppKey("log", object)


def error_response(error: RequestError) -> web.Response:
    return web.json_response({"error": error.to_json()}, status=error.http_status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as error:
        return error_response(error)
    except web.HTTPRequestEntityTooLarge:
        return error_response(_too_large())
    except web.HTTPException:
        raise
    except Exception as error:  # never let a client's request kill the shard
        request.app[LOG_KEY].exception("http.unhandled", path=request.path)
        return error_response(ServerError(f"internal error: {type(error).__name__}: {error}"))


def _too_large() -> RequestError:
    error = Invalid(f"request body exceeds {MAX_BODY_BYTES} bytes")
    error.http_status = 413
    return error


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or Invalid (400) / 413 for bodies over the limit."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large()
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, bad UTF-8, huge numbers
        raise Invalid(f"malformed JSON body: {str(error)[:200]}") from None


def validate_faults(body: Any) -> dict[str, Any]:
    """The shape is checked by each shard's ``NetworkFaults.apply`` (Invalid -> 400)."""
    if not isinstance(body, dict):
        raise Invalid("faults must be a JSON object like {\"partition\": [\"n2\"]}")
    if "disk_fail_writes" in body and not isinstance(body["disk_fail_writes"], bool):
        raise Invalid("disk_fail_writes must be true or false")
    return body


def _table_target(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or set(body) - {"keyspace", "table"}:
        raise Invalid("expected {\"keyspace\"?: ..., \"table\"?: ...}")
    if "table" in body and "keyspace" not in body:
        raise Invalid("a table is named together with its keyspace")
    for key in ("keyspace", "table"):
        if key in body and not isinstance(body[key], str):
            raise Invalid(f"{key} must be a string")
    return body


def parse_cql_request(body: Any) -> tuple[QueryOptions, str]:
    """``{"query", "params"?, "keyspace"?, "consistency"?, "page_size"?, "paging_state"?,
    "trace"?}`` checked field by field."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object with a \"query\"")
    known = {"query", "params", "keyspace", "consistency", "page_size", "paging_state", "trace"}
    unknown = set(body) - known
    if unknown:
        raise Invalid(f"unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise Invalid("\"query\" must be a non-empty string")
    params = body.get("params")
    if params is not None and not isinstance(params, (list, dict)):
        raise Invalid("\"params\" must be a list (or an object for named markers)")
    keyspace = body.get("keyspace")
    if keyspace is not None and not isinstance(keyspace, str):
        raise Invalid("\"keyspace\" must be a string")
    consistency = body.get("consistency", "ONE")
    if not isinstance(consistency, str):
        raise Invalid("\"consistency\" must be a string like \"QUORUM\"")
    page_size = body.get("page_size", 5000)
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise Invalid("\"page_size\" must be an integer")
    paging_state = body.get("paging_state")
    if paging_state is not None and not isinstance(paging_state, str):
        raise Invalid("\"paging_state\" must be a string or null")
    trace = body.get("trace", False)
    if not isinstance(trace, bool):
        raise Invalid("\"trace\" must be true or false")
    return QueryOptions(keyspace=keyspace, consistency=consistency, page_size=page_size,
                        paging_state=paging_state, trace=trace, params=params), query


class HttpApi:
    """The aiohttp application of one shard."""

    def __init__(self, shard: Shard, processor: QueryProcessor | None = None, log: Any = None) -> None:
        self.shard = shard
        self.processor = processor
        self.log = log or structlog.get_logger().bind(node=shard.node, shard=shard.shard)
        self.app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_BODY_BYTES)
        self.app[LOG_KEY] = self.log
        self.app.router.add_get("/v1/status", self.status)
        self.app.router.add_get("/v1/admin/faults", self.get_faults)
        self.app.router.add_post("/v1/admin/faults", self.set_faults)
        self.app.router.add_delete("/v1/admin/faults", self.clear_faults)
        self.app.router.add_post("/v1/cql", self.cql)
        self.app.router.add_get("/metrics", self.metrics)
        self.app.router.add_post("/v1/admin/flush", self.flush)
        self.app.router.add_post("/v1/admin/compact", self.compact)
        if processor is not None:  # read-only schema for DESCRIBE (coordinator/api/schema.py)
            register_schema_route(self.app, processor.schema)
        add_hint_routes(self.app, shard, read_json)
        self._runner: web.AppRunner | None = None

    async def status(self, request: web.Request) -> web.Response:
        shard = self.shard
        detector = shard.failure_detector
        nodes = []
        for settings in shard.config.nodes:
            endpoint = detector.endpoints.get(settings.name)
            nodes.append({
                "name": settings.name, "dc": settings.dc, "rack": settings.rack,
                "state": "UP" if detector.is_alive(settings.name) else "DOWN",
                "shards": shard.shards_of(settings.name),
                "tokens": len(shard.ring.tokens_of(settings.name)),
                "http": settings.http_url,
                # the last version heard from the node ("unknown" before its first heartbeat)
                "schema_version": (shard.schema_version() if settings.name == shard.node
                                   else (endpoint.schema_version if endpoint else None) or "unknown"),
            })
        await self._add_load(nodes)
        keyspace = request.query.get("keyspace")
        if keyspace is not None and self.processor is not None:
            replication = self.processor.schema.keyspace(keyspace).replication
            ownership = shard.replica_map(replication).effective_ownership()
            for entry in nodes:
                entry["ownership"] = round(ownership.get(entry["name"], 0.0), 6)
        return web.json_response({"cluster": shard.config.name, "node": shard.node,
                                  "shard": shard.shard, "nodes": nodes})

    async def _add_load(self, nodes: list[dict[str, Any]]) -> None:
        """Bytes on disk of every live node, asked of its shards (null if unknown). The
        short deadline keeps a status answer fast while a paused node still looks UP."""
        async def load_of(entry: dict[str, Any]) -> None:
            entry["load"] = None
            if entry["state"] != "UP":
                return
            try:
                answers = await self.shard.run_admin_on_node("storage.load", {}, timeout_s=0.3,
                                                             node=entry["name"])
                entry["load"] = sum(int(a) for a in answers)
            except Exception:  # a slow peer leaves its load unknown, nothing more
                pass

        await asyncio.gather(*(load_of(entry) for entry in nodes))

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.shard.describe_faults())

    async def set_faults(self, request: web.Request) -> web.Response:
        body = validate_faults(await read_json(request))
        answers = await self.shard.run_admin_on_node("faults.set", body)
        self.log.info("faults.set", faults=body)
        return web.json_response(answers[self.shard.shard])

    async def clear_faults(self, request: web.Request) -> web.Response:
        answers = await self.shard.run_admin_on_node("faults.clear", {})
        self.log.info("faults.cleared")
        return web.json_response(answers[self.shard.shard])

    async def cql(self, request: web.Request) -> web.Response:
        if self.processor is None:
            raise ServerError("this node serves no queries")
        body = await read_json(request)
        options, query = parse_cql_request(body)
        result = await self.processor.execute(query, options)
        document = result.to_json()
        if "application/msgpack" in request.headers.get("Accept", ""):
            return web.Response(body=msgpack.packb(document, use_bin_type=True),
                                content_type="application/msgpack")
        return web.json_response(document)

    async def metrics(self, request: web.Request) -> web.Response:
        answers = await self.shard.run_admin_on_node("metrics.snapshot", {})
        snapshots = [({"node": self.shard.node, "shard": str(index)}, snapshot)
                     for index, snapshot in enumerate(answers)]
        return web.Response(text=render(snapshots), content_type="text/plain")

    async def flush(self, request: web.Request) -> web.Response:
        body = await read_json(request) or {}
        answers = await self.shard.run_admin_on_node("storage.flush", _table_target(body), timeout_s=120)
        return web.json_response({"flushed": answers})

    async def compact(self, request: web.Request) -> web.Response:
        body = await read_json(request) or {}
        answers = await self.shard.run_admin_on_node("storage.compact", _table_target(body), timeout_s=600)
        return web.json_response({"compacted": answers})

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_port=True, backlog=1024)
        await site.start()

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
