"""The calling side of TCP RPC: one multiplexed connection to one peer shard, opened
lazily, reconnected after loss, with exponential backoff after failed attempts.

A call takes an in-flight slot (waiting for one is the backpressure), writes
``[REQUEST, id, verb, payload]`` and waits for the answer with that id. A call that
is cancelled (its deadline passed) releases its slot and forgets its id; a late
answer is discarded.

Invariant: one live connection per target at a time, and a caller never waits on a
connect attempt longer than its own deadline (the attempt itself is bounded by
``connect_timeout_s`` and owned by the connection, not by the caller).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

import msgpack

from node.rpc.delay_line import DelayLine
from node.rpc.errors import (ConnectionLost, FrameTooLarge, HandshakeFailed, PeerUnreachable,
                             TransportClosed)
from node.rpc.frames import (ANSWER, AUTH, HELLO, REFUSED, REQUEST, WELCOME, FrameError,
                             FrameReader, decode_answer, frame, unpack)
from node.rpc.handshake import client_proof, new_nonce, proofs_match, server_proof
from node.rpc.transport import LinkStatistics, ShardId
from node.rpc.write_batch import WriteBatch

if TYPE_CHECKING:
    from node.rpc.tcp import TcpTransport


class OutgoingConnection:
    """Everything this shard keeps about its connection to one target shard."""

    def __init__(self, owner: TcpTransport, target: ShardId) -> None:
        self.owner = owner
        self.target = target
        self.slots = asyncio.Semaphore(owner.limits.max_in_flight)
        self.waiting = 0
        self.protocol: ClientProtocol | None = None
        self._connecting: asyncio.Future[ClientProtocol] | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._backoff_s = 0.0
        self._retry_at = float("-inf")

    async def request(self, verb: int, payload: Any) -> Any:
        protocol = self.protocol
        if protocol is None or protocol.lost:
            protocol = await self._wait_connected()
        self.waiting += 1
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
        try:
            if protocol.lost:  # broke while we waited for a slot
                raise ConnectionLost(f"connection to {self.target} lost", target=str(self.target))
            return await protocol.call(verb, payload)
        finally:
            self.slots.release()

    async def _wait_connected(self) -> ClientProtocol:
        if self.owner.closed:
            raise TransportClosed(f"transport of {self.owner.me} is closed")
        if self._connecting is None:
            now = self.owner.timers.clock.monotonic()
            if now < self._retry_at:
                raise PeerUnreachable(f"{self.target} unreachable, next attempt in "
                                      f"{self._retry_at - now:.3f} s", target=str(self.target))
            loop = asyncio.get_running_loop()
            self._connecting = loop.create_future()
            self._connecting.add_done_callback(_retrieve)
            self._connect_task = loop.create_task(self._connect(self._connecting))
        return await asyncio.shield(self._connecting)

    async def _connect(self, outcome: asyncio.Future[ClientProtocol]) -> None:
        owner, log = self.owner, self.owner.log
        address = owner.peers.get(self.target)
        protocol: ClientProtocol | None = None
        try:
            if address is None:
                raise PeerUnreachable(f"no address known for {self.target}")
            async with owner.timers.deadline(owner.limits.connect_timeout_s):
                loop = asyncio.get_running_loop()
                _, protocol = await loop.create_connection(lambda: ClientProtocol(self), *address)
                await protocol.handshake_done
        except (OSError, TimeoutError, PeerUnreachable) as error:
            if protocol is not None:
                protocol.abort()
            self._backoff_s = min(max(self._backoff_s * 2, owner.limits.backoff_initial_s),
                                  owner.limits.backoff_max_s)
            self._retry_at = owner.timers.clock.monotonic() + self._backoff_s
            reason = "connect timed out" if isinstance(error, TimeoutError) else str(error)
            log.warning("rpc.connect_failed", target=str(self.target), address=address,
                        reason=reason, retry_in_s=self._backoff_s)
            self._connecting = None
            if not isinstance(error, PeerUnreachable):
                failure = PeerUnreachable(f"cannot connect to {self.target} at {address}: {reason}",
                                          target=str(self.target))
                failure.__cause__ = error
                error = failure
            outcome.set_exception(error)
            return
        except asyncio.CancelledError:
            if protocol is not None:
                protocol.abort()
            self._connecting = None
            outcome.set_exception(TransportClosed(f"transport of {owner.me} is closed"))
            raise
        self._backoff_s = 0.0
        self._retry_at = float("-inf")
        self.protocol = protocol
        self._connecting = None
        log.info("rpc.connected", target=str(self.target), address=address)
        outcome.set_result(protocol)

    def protocol_lost(self, protocol: ClientProtocol, reason: str) -> None:
        if self.protocol is protocol:
            self.protocol = None
            if not self.owner.closed:
                self.owner.log.warning("rpc.connection_lost", target=str(self.target), reason=reason)

    def statistics(self) -> LinkStatistics:
        protocol = self.protocol
        connected = protocol is not None and not protocol.lost
        return LinkStatistics(self.target, connected, len(protocol.calls) if connected else 0,
                              self.waiting)

    async def aclose(self) -> None:
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
            await asyncio.gather(self._connect_task, return_exceptions=True)
        if self.protocol is not None:
            self.protocol.close_by_us()


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a connect failure nobody awaited is not an unhandled error


class ClientProtocol(asyncio.Protocol):
    """The socket side of one outgoing connection: handshake, then calls and answers."""

    def __init__(self, link: OutgoingConnection) -> None:
        owner = link.owner
        self.link = link
        self.owner = owner
        self.target = link.target
        self.reader = FrameReader(owner.limits.max_frame_bytes)
        self.packer = msgpack.Packer()
        self.handshake_done: asyncio.Future[ClientProtocol] = asyncio.get_running_loop().create_future()
        self.handshake_done.add_done_callback(_retrieve)
        self.calls: dict[int, asyncio.Future[Any]] = {}
        self.lost = False
        self._closed_by_us = False
        self._ids = itertools.count(1)
        self._nonce = new_nonce()
        self._socket: asyncio.Transport | None = None
        self._batch: WriteBatch | None = None
        self.outbound = DelayLine(owner.timers, self._write)

    # --- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._socket = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        self._batch = WriteBatch(transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (body := self.reader.next_frame()) is not None:
                self._handle(unpack(body))
        except HandshakeFailed as error:
            self._fail("rpc.handshake_failed", error)
        except (FrameError, ValueError, TypeError, IndexError, KeyError,
                msgpack.UnpackException) as error:
            self._fail("rpc.protocol_error", HandshakeFailed(f"protocol error from {self.target}: {error}"))

    def connection_lost(self, error: Exception | None) -> None:
        self.lost = True
        self.outbound.clear()
        if self._closed_by_us:
            failure: Exception = TransportClosed(f"transport of {self.owner.me} is closed")
        else:
            failure = ConnectionLost(f"connection to {self.target} lost", target=str(self.target))
        if not self.handshake_done.done():
            self.handshake_done.set_exception(failure)
        for future in self.calls.values():
            if not future.done():
                future.set_exception(failure)
        self.calls.clear()
        self.link.protocol_lost(self, str(error) if error else "closed by peer")

    # --- messages ----------------------------------------------------------------------

    def _handle(self, message: Any) -> None:
        kind = message[0]
        if kind == ANSWER and self.handshake_done.done():
            _, request_id, status, value = message
            future = self.calls.pop(request_id, None)
            if future is None or future.done():
                return  # the caller gave up
            if not self.owner.faults.accepts_from(self.target.node):
                self.calls[request_id] = future  # lost in the partition: the caller times out
                return
            try:
                future.set_result(decode_answer(status, value))
            except Exception as error:  # noqa: BLE001 - the remote error, for the caller
                future.set_exception(error)
        elif kind == HELLO and not self.handshake_done.done():
            _, nonce, cluster_name = message
            if cluster_name != self.owner.cluster_name:
                raise HandshakeFailed(f"{self.target} belongs to cluster {cluster_name!r:.100}")
            proof = client_proof(self.owner.secret, nonce, self.owner.cluster_name, self.owner.me)
            self._write(frame(self.packer.pack(
                [AUTH, self.owner.cluster_name, list(self.owner.me), proof, self._nonce])))
        elif kind == WELCOME and not self.handshake_done.done():
            _, proof, (node, shard) = message
            expected = server_proof(self.owner.secret, self._nonce, self.owner.cluster_name,
                                    self.target)
            if (node, shard) != tuple(self.target) or not proofs_match(expected, proof):
                raise HandshakeFailed(f"{self.target} did not prove membership of the cluster")
            self.handshake_done.set_result(self)
        elif kind == REFUSED:
            raise HandshakeFailed(f"{self.target} refused the connection: {message[1]!s:.200}")
        else:
            raise ValueError(f"unexpected message kind {kind!r:.20}")

    def _fail(self, event: str, error: HandshakeFailed) -> None:
        if not self.handshake_done.done():
            self.handshake_done.set_exception(error)
        self.owner.log.warning(event, target=str(self.target), reason=str(error))
        self.abort()

    async def call(self, verb: int, payload: Any) -> Any:
        request_id = next(self._ids)
        try:
            body = self.packer.pack([REQUEST, request_id, verb, payload])
        except (TypeError, ValueError, OverflowError):
            self.packer.reset()
            raise
        if len(body) > self.owner.limits.max_frame_bytes:
            raise FrameTooLarge(f"request of {len(body)} bytes over the frame limit",
                                size_bytes=len(body))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.calls[request_id] = future
        self.owner.requests_sent += 1
        delay_s = self.owner.faults.outgoing_delay_s(self.target.node)
        if delay_s is not None:
            self.outbound.put(frame(body), delay_s)
        try:
            return await future
        finally:
            self.calls.pop(request_id, None)

    def _write(self, data: bytes) -> None:
        if self._batch is not None and not self.lost:
            self._batch.write(data)

    def abort(self) -> None:
        if self._socket is not None:
            self._socket.abort()

    def close_by_us(self) -> None:
        self._closed_by_us = True
        self.abort()
