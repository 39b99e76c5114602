"""The HTTP routes of hinted handoff: ``GET /v1/admin/hints`` (is it running, and the
pending hints and bytes per target, summed over the node's shards) and
``POST /v1/admin/hints`` (``{"enabled"?, "max_window_ms"?, "disabled_dcs"?}``,
applied on every shard of the node).

Invariant: a switch is validated before any shard applies it, so a bad body changes
nothing anywhere (400).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.hints.manager import validate_switches
from node.gms.shard import Shard


def summarize(node: str, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """One node's view from its shards' ``hints.describe`` answers (shard order)."""
    targets: dict[str, dict[str, int]] = {}
    for answer in answers:
        for target, pending in answer["targets"].items():
            total = targets.setdefault(target, {"hints": 0, "bytes": 0})
            total["hints"] += pending["hints"]
            total["bytes"] += pending["bytes"]
    return {"node": node, "enabled": all(a["enabled"] for a in answers),
            "running": any(a["enabled"] for a in answers),
            "max_window_ms": answers[0]["max_window_ms"] if answers else None,
            "disabled_dcs": answers[0]["disabled_dcs"] if answers else [],
            "replaying": sorted({t for a in answers for t in a["replaying"]}),
            "pending_hints": sum(t["hints"] for t in targets.values()),
            "pending_bytes": sum(t["bytes"] for t in targets.values()),
            "targets": dict(sorted(targets.items())), "shards": answers}


def add_hint_routes(app: web.Application, shard: Shard, read_json: Any) -> None:
    """Install the routes; ``read_json(request)`` is the API's body parser."""
    async def get_hints(request: web.Request) -> web.Response:
        answers = await shard.run_admin_on_node("hints.describe", {})
        return web.json_response(summarize(shard.node, answers))

    async def set_hints(request: web.Request) -> web.Response:
        body = await read_json(request)
        validate_switches(body)
        answers = await shard.run_admin_on_node("hints.set", body)
        return web.json_response(summarize(shard.node, answers))

    app.router.add_get("/v1/admin/hints", get_hints)
    app.router.add_post("/v1/admin/hints", set_hints)
