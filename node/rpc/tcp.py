"""The TCP transport of a shard: it listens on the shard's RPC port and keeps one
multiplexed connection to each peer shard it calls.

    transport = TcpTransport(ShardId("n1", 0), "127.0.0.1", 7041, peers, "shardsim",
                             secret, faults=faults, clock=clock, log=log)
    await transport.start()        # listening; ``transport.port`` is the bound port

Built on ``asyncio.Protocol`` rather than streams: pipelined, the bare Protocol echo
is ~1.3x the streams one on this machine (see DESIGN.md, "What things cost"), and
``shardsim bench rpc`` measures this transport against the bare Protocol echo.
The calling side lives in ``tcp_client.py``, the answering side in ``tcp_server.py``.

Invariant: after ``aclose`` returns, nothing of this transport runs: the listener,
every connection, every connect attempt and every handler task are closed and
awaited, and every waiting caller got ``TransportClosed``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from node.clock import Clock, SystemClock
from node.rpc.errors import TransportClosed
from node.rpc.faults import NetworkFaults
from node.rpc.tcp_client import OutgoingConnection
from node.rpc.tcp_server import ServerProtocol
from node.rpc.timers import Timers
from node.rpc.transport import (InboundHandler, RpcLimits, ShardId, Transport,
                                TransportStatistics)


class TcpTransport(Transport):
    def __init__(self, me: ShardId, listen_host: str, listen_port: int,
                 peers: dict[ShardId, tuple[str, int]], cluster_name: str, secret: bytes, *,
                 faults: NetworkFaults, clock: Clock | None = None, log: Any = None,
                 limits: RpcLimits | None = None, max_in_flight: int | None = None) -> None:
        assert faults.node == me.node, "a shard applies its own node's faults"
        assert secret, "a cluster secret is required"
        limits = limits or RpcLimits()
        if max_in_flight is not None:
            limits = RpcLimits(**{**limits.__dict__, "max_in_flight": max_in_flight})
        self.me = ShardId(*me)
        self.listen_host = listen_host
        self.port = listen_port
        self.peers: dict[ShardId, tuple[str, int]] = {ShardId(*k): v for k, v in peers.items()}
        self.cluster_name = cluster_name
        self.secret = secret
        self.faults = faults
        self.limits = limits
        self.timers = Timers(clock or SystemClock())
        self.log = log or structlog.get_logger().bind(node=me.node, shard=me.shard)
        self.handler: InboundHandler | None = None
        self.closed = False
        self.server_connections: set[ServerProtocol] = set()
        self.requests_sent = 0
        self.requests_received = 0
        self._outgoing: dict[ShardId, OutgoingConnection] = {}
        self._server: asyncio.AbstractServer | None = None

    def set_inbound_handler(self, handler: InboundHandler) -> None:
        self.handler = handler

    def set_peer(self, shard: ShardId, address: tuple[str, int]) -> None:
        """Learn or change a peer's address; an open connection stays until it breaks."""
        self.peers[ShardId(*shard)] = address

    async def start(self) -> None:
        assert self.handler is not None, "messaging installs its handler before start"
        assert self._server is None and not self.closed, "start once"
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: ServerProtocol(self), self.listen_host,
                                                self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        self.log.info("rpc.listening", host=self.listen_host, port=self.port)

    async def request(self, target: ShardId, verb: int, payload: Any) -> Any:
        connection = self._outgoing.get(target)
        if connection is None:
            if self.closed:
                raise TransportClosed(f"transport of {self.me} is closed")
            connection = self._outgoing[target] = OutgoingConnection(self, ShardId(*target))
        return await connection.request(verb, payload)

    def statistics(self) -> TransportStatistics:
        links = tuple(connection.statistics() for connection in self._outgoing.values())
        handlers = sum(len(connection.tasks) for connection in self.server_connections)
        return TransportStatistics(self.me, links, handlers, self.requests_sent,
                                   self.requests_received, self.faults.dropped)

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._server is not None:
            self._server.close()
        tasks = []
        for connection in list(self.server_connections):
            tasks.extend(connection.tasks)
            connection.close()
            for task in connection.tasks:
                task.cancel()
        for outgoing in self._outgoing.values():
            await outgoing.aclose()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        await self.timers.aclose()
        await asyncio.sleep(0)  # let the loop deliver connection_lost of what we closed
        self.log.info("rpc.closed")
