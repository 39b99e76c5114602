"""The in-memory transport: every shard of a test cluster in one event loop, with the
same interface, bounds and fault hooks as TCP.

    network = MemoryNetwork(clock)
    transport = network.transport(ShardId("n1", 0), faults_of_n1)
    await transport.start()              # reachable from now on
    network.disconnect("n2")             # n2's shards vanish, as in a crash
    # restart: build new transports for n2's shards and start them

Payloads and answers go through msgpack (pack, then unpack on the other side), so
nothing that would fail on the wire passes in tests. Delivery always goes through the
event loop (``call_soon`` or a delay timer), never re-entrantly.

Invariant: a link (source shard to target shard) delivers in send order, at most
``max_in_flight`` requests at a time; an answer reaches a caller only from the very
transport the request went to (a restarted shard never answers its predecessor's calls).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import msgpack
import structlog

from node.clock import Clock, SystemClock
from node.errors import ServerError
from node.rpc.delay_line import DelayLine
from node.rpc.errors import ConnectionLost, FrameTooLarge, PeerUnreachable, TransportClosed
from node.rpc.faults import NetworkFaults
from node.rpc.frames import OK, decode_answer, encode_error, unpack
from node.rpc.timers import Timers
from node.rpc.transport import (InboundHandler, LinkStatistics, RpcLimits, ShardId, Transport,
                                TransportStatistics)


class MemoryNetwork:
    """The hub: which transport answers for which shard."""

    def __init__(self, clock: Clock | None = None, log: Any = None) -> None:
        self.clock = clock or SystemClock()
        self.log = log or structlog.get_logger()
        self.timers = Timers(self.clock)
        self._reachable: dict[ShardId, MemoryTransport] = {}

    def transport(self, me: ShardId, faults: NetworkFaults, *, limits: RpcLimits | None = None,
                  log: Any = None) -> MemoryTransport:
        return MemoryTransport(self, me, faults, limits or RpcLimits(), log)

    def lookup(self, shard: ShardId) -> MemoryTransport | None:
        return self._reachable.get(shard)

    def _register(self, transport: MemoryTransport) -> None:
        previous = self._reachable.get(transport.me)
        assert previous is None or previous._closed, f"{transport.me} is already reachable"
        self._reachable[transport.me] = transport

    def _unregister(self, transport: MemoryTransport) -> None:
        if self._reachable.get(transport.me) is transport:
            del self._reachable[transport.me]
        for other in list(self._reachable.values()):
            other._peer_vanished(transport)

    def disconnect(self, node: str) -> list[ShardId]:
        """Every shard of ``node`` vanishes at once (a crash): their transports close
        without waiting, calls to them fail with ``ConnectionLost``. Returns the shards."""
        gone = [shard for shard in self._reachable if shard.node == node]
        for shard in gone:
            self._reachable[shard]._crash()
        return gone

    async def aclose(self) -> None:
        for transport in list(self._reachable.values()):
            await transport.aclose()
        await self.timers.aclose()


class _Link:
    """One direction of traffic between two shards: its slots, order and calls."""

    def __init__(self, target: ShardId, limits: RpcLimits, timers: Timers, deliver: Any) -> None:
        self.target = target
        self.slots = asyncio.Semaphore(limits.max_in_flight)
        self.waiting = 0
        self.calls: dict[int, tuple[asyncio.Future[Any], MemoryTransport]] = {}
        self.outbound = DelayLine(timers, deliver)


class MemoryTransport(Transport):
    def __init__(self, network: MemoryNetwork, me: ShardId, faults: NetworkFaults,
                 limits: RpcLimits, log: Any) -> None:
        assert faults.node == me.node, "a shard applies its own node's faults"
        self.network = network
        self.me = me
        self.faults = faults
        self.limits = limits
        self.log = log or structlog.get_logger().bind(node=me.node, shard=me.shard)
        self._handler: InboundHandler | None = None
        self._links: dict[ShardId, _Link] = {}
        self._answer_lines: dict[ShardId, DelayLine] = {}
        self._ids = itertools.count(1)
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._packer = msgpack.Packer()
        self._started = False
        self._closed = False
        self._sent = self._received = 0

    def set_inbound_handler(self, handler: InboundHandler) -> None:
        self._handler = handler

    async def start(self) -> None:
        assert self._handler is not None, "messaging installs its handler before start"
        assert not self._closed, "a closed transport stays closed: build a new one"
        self._started = True
        self.network._register(self)

    # --- calls out ------------------------------------------------------------------

    def _link(self, target: ShardId) -> _Link:
        link = self._links.get(target)
        if link is None:
            link = self._links[target] = _Link(target, self.limits, self.network.timers,
                                               self._deliver_request)
        return link

    async def request(self, target: ShardId, verb: int, payload: Any) -> Any:
        if self._closed:
            raise TransportClosed(f"transport of {self.me} is closed")
        peer = self.network.lookup(target)
        if peer is None:
            raise PeerUnreachable(f"{target} is not reachable", target=str(target))
        link = self._link(target)
        link.waiting += 1
        try:
            await link.slots.acquire()
        finally:
            link.waiting -= 1
        try:
            body = self._pack(payload)
            if self._closed:
                raise TransportClosed(f"transport of {self.me} is closed")
            if self.network.lookup(target) is not peer:
                raise ConnectionLost(f"{target} restarted", target=str(target))
            request_id = next(self._ids)
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            link.calls[request_id] = (future, peer)
            self._sent += 1
            delay_s = self.faults.outgoing_delay_s(target.node)
            if delay_s is not None:
                link.outbound.put((peer, request_id, verb, body), delay_s)
            try:
                return await future
            finally:
                link.calls.pop(request_id, None)
        finally:
            link.slots.release()

    def _pack(self, value: Any) -> bytes:
        try:
            body = self._packer.pack(value)
        except (TypeError, ValueError, OverflowError):
            self._packer.reset()
            raise
        if len(body) > self.limits.max_frame_bytes:
            raise FrameTooLarge(f"message of {len(body)} bytes over the frame limit",
                                size_bytes=len(body))
        return body

    def _deliver_request(self, item: tuple[MemoryTransport, int, int, bytes]) -> None:
        peer, request_id, verb, body = item
        asyncio.get_running_loop().call_soon(peer._receive_request, self, request_id, verb, body)

    # --- calls in -----------------------------------------------------------------------

    def _receive_request(self, source: MemoryTransport, request_id: int, verb: int,
                         body: bytes) -> None:
        if self._closed or not self.faults.accepts_from(source.me.node):
            return
        self._received += 1
        task = asyncio.get_running_loop().create_task(self._serve(source, request_id, verb, body))
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_tasks.discard)

    async def _serve(self, source: MemoryTransport, request_id: int, verb: int, body: bytes) -> None:
        assert self._handler is not None
        try:
            answer: tuple[int, Any] = (OK, await self._handler(source.me, verb, unpack(body)))
            packed = self._pack(answer[1])
        except Exception as error:  # noqa: BLE001 - every failure answers the caller
            answer = encode_error(error)
            try:
                packed = self._pack(answer[1])
            except Exception as pack_error:  # noqa: BLE001 - details that do not pack
                answer = encode_error(ServerError(f"unpackable error: {pack_error}"))
                packed = self._pack(answer[1])
        line = self._answer_lines.get(source.me)
        if line is None:
            line = self._answer_lines[source.me] = DelayLine(self.network.timers,
                                                             self._deliver_answer)
        delay_s = self.faults.outgoing_delay_s(source.me.node)
        if delay_s is not None and not self._closed:
            line.put((source, request_id, answer[0], packed), delay_s)

    def _deliver_answer(self, item: tuple[MemoryTransport, int, int, bytes]) -> None:
        source, request_id, status, packed = item
        asyncio.get_running_loop().call_soon(source._receive_answer, self, request_id, status,
                                             packed)

    def _receive_answer(self, peer: MemoryTransport, request_id: int, status: int,
                        packed: bytes) -> None:
        if self._closed or not self.faults.accepts_from(peer.me.node):
            return
        link = self._links.get(peer.me)
        entry = link.calls.get(request_id) if link is not None else None
        if entry is None or entry[1] is not peer or entry[0].done():
            return  # the caller gave up, or the answer comes from a previous incarnation
        future = entry[0]
        try:
            future.set_result(decode_answer(status, unpack(packed)))
        except Exception as error:  # noqa: BLE001 - the remote error, delivered to the caller
            future.set_exception(error)

    # --- failures and life ----------------------------------------------------------

    def _peer_vanished(self, peer: MemoryTransport) -> None:
        link = self._links.get(peer.me)
        if link is None:
            return
        for future, target in list(link.calls.values()):
            if target is peer and not future.done():
                future.set_exception(ConnectionLost(f"connection to {peer.me} lost",
                                                    target=str(peer.me)))

    def _fail_own_calls(self) -> None:
        for link in self._links.values():
            link.outbound.clear()
            for future, _ in list(link.calls.values()):
                if not future.done():
                    future.set_exception(TransportClosed(f"transport of {self.me} is closed"))
        for line in self._answer_lines.values():
            line.clear()

    def _crash(self) -> None:
        self._closed = True
        self._fail_own_calls()
        for task in self._handler_tasks:
            task.cancel()
        self.network._unregister(self)

    def statistics(self) -> TransportStatistics:
        links = tuple(LinkStatistics(target, self.network.lookup(target) is not None,
                                     len(link.calls), link.waiting)
                      for target, link in self._links.items())
        return TransportStatistics(self.me, links, len(self._handler_tasks), self._sent,
                                   self._received, self.faults.dropped)

    async def aclose(self) -> None:
        if not self._closed:
            self._crash()
        tasks = list(self._handler_tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
