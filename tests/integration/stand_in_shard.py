"""A stand-in shard process for testing the supervisor and the launcher without node.server.shard_process.

Same command line as ``python -m node.server.shard_process`` and the same ``GET /v1/status`` shape:
it serves HTTP on the node's port (SO_REUSEPORT, shared by the node's shards), holds
its RPC port, and calls a peer UP while the peer's HTTP port answered within the
failure detector timeout. ``POST/DELETE /v1/admin/faults`` with ``{"partition": [...]}``
stops (resumes) probing those peers, on this shard only. Exits 0 on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from node.config import load_config  # noqa: E402


async def serve(config, node: str, shard: int) -> int:
    me = config.node(node)
    heartbeat_s = config.failure_detector.heartbeat_ms / 1000
    timeout_s = config.failure_detector.timeout_ms / 1000
    last_answer = {peer.name: float("-inf") for peer in config.nodes}
    partitioned: set[str] = set()

    async def status(request):
        now = time.monotonic()
        nodes = [{"name": peer.name, "dc": peer.dc, "rack": peer.rack, "shards": peer.shards,
                  "tokens": config.num_tokens,
                  "state": "UP" if peer.name == node or (peer.name not in partitioned
                                                       and now - last_answer[peer.name] <= timeout_s)
                  else "DOWN"} for peer in config.nodes]
        return web.json_response({"node": node, "shard": shard, "nodes": nodes})

    async def ping(request):
        return web.json_response({"node": node})

    async def set_faults(request):
        body = await request.json()
        partitioned.update(body.get("partition", []))
        return web.json_response({"partition": sorted(partitioned)})

    async def get_faults(request):
        return web.json_response({"partition": sorted(partitioned)})

    async def clear_faults(request):
        partitioned.clear()
        return web.json_response({"partition": []})

    async def probe(session, peer):
        while True:
            if peer.name not in partitioned:
                try:
                    async with session.get(f"{peer.http_url}/v1/ping") as response:
                        if response.status == 200:
                            last_answer[peer.name] = time.monotonic()
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
            await asyncio.sleep(heartbeat_s)

    rpc = socket.socket()
    rpc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio servers do
    rpc.bind(me.rpc_address(shard))
    rpc.listen()
    app = web.Application()
    app.add_routes([web.get("/v1/status", status), web.get("/v1/ping", ping),
                    web.post("/v1/admin/faults", set_faults), web.get("/v1/admin/faults", get_faults),
                    web.delete("/v1/admin/faults", clear_faults)])
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, me.host, me.http_port, reuse_port=True).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=heartbeat_s)) as session:
        probes = [asyncio.ensure_future(probe(session, peer)) for peer in config.nodes
                  if peer.name != node]
        await stop.wait()
        for task in probes:
            task.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
    await runner.cleanup()
    rpc.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--data-dir")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    config = load_config(args.config, args.set)
    if args.data_dir:
        config = replace(config, data_dir=args.data_dir)
    return asyncio.run(serve(config, args.node, args.shard))


if __name__ == "__main__":
    sys.exit(main())
