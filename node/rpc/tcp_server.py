"""The answering side of TCP RPC: one accepted connection from one peer shard.

The server speaks first (HELLO with a nonce); until the client has proven membership
(AUTH) nothing else is accepted, frames are limited to 64 KiB, and the client has
``handshake_timeout_s``. Then each request's handler starts at once (``eager.py``)
and, if it must wait, goes on as its own task, at most ``max_in_flight`` waiting
handlers per connection: at the limit the connection stops
reading (TCP backpressure reaches the caller), it never queues without bound.

Invariant: whatever a peer sends (garbage, a wrong secret, an oversized frame, a
malformed request) costs at most this one connection: it is logged and closed, and
the shard goes on serving everyone else. A handler's failure costs only its answer.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgpack

from node.errors import ServerError
from node.rpc.delay_line import DelayLine
from node.rpc.eager import start_eagerly
from node.rpc.frames import (ANSWER, AUTH, HELLO, OK, REFUSED, REQUEST, WELCOME, FrameError,
                             FrameReader, encode_error, frame, unpack)
from node.rpc.handshake import client_proof, new_nonce, proofs_match, server_proof
from node.rpc.timers import Cancellable
from node.rpc.transport import ShardId
from node.rpc.verbs import verb_name
from node.rpc.write_batch import WriteBatch

if TYPE_CHECKING:
    from node.rpc.tcp import TcpTransport

HANDSHAKE_FRAME_BYTES = 64 * 1024


class Refused(Exception):
    """This connection must be closed; the message says why (for the log)."""


class ServerProtocol(asyncio.Protocol):
    def __init__(self, owner: TcpTransport) -> None:
        self.owner = owner
        self.source: ShardId | None = None
        self.reader = FrameReader(HANDSHAKE_FRAME_BYTES)
        self.packer = msgpack.Packer()
        self.tasks: set[asyncio.Task[None]] = set()
        self.peer_address = "?"
        self._nonce = new_nonce()
        self._socket: asyncio.Transport | None = None
        self._batch: WriteBatch | None = None
        self._handshake_timer: Cancellable | None = None
        self._reading_paused = False
        self._closed = False
        self.outbound = DelayLine(owner.timers, self._write)

    # --- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._socket = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        self._batch = WriteBatch(transport)
        peer = transport.get_extra_info("peername")
        self.peer_address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.owner.server_connections.add(self)
        self._handshake_timer = self.owner.timers.call_later(
            self.owner.limits.handshake_timeout_s, self._handshake_expired)
        self._write(frame(self.packer.pack([HELLO, self._nonce, self.owner.cluster_name])))

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        self._process()

    def connection_lost(self, error: Exception | None) -> None:
        self._closed = True
        self.outbound.clear()
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        for task in self.tasks:
            task.cancel()
        self.owner.server_connections.discard(self)
        if self.source is not None and not self.owner.closed:
            self.owner.log.info("rpc.peer_disconnected", source=str(self.source),
                                reason=str(error) if error else "closed by peer")

    # --- frames ------------------------------------------------------------------------

    def _process(self) -> None:
        limit = self.owner.limits.max_in_flight
        try:
            while not self._closed and len(self.tasks) < limit:
                body = self.reader.next_frame()
                if body is None:
                    break
                self._handle(unpack(body))
        except (Refused, FrameError) as error:
            self._refuse(str(error))
            return
        except (ValueError, TypeError, IndexError, KeyError, msgpack.UnpackException) as error:
            self._refuse(f"malformed message: {type(error).__name__}: {error}"[:300])
            return
        socket = self._socket
        if socket is None or self._closed:
            return
        if len(self.tasks) >= limit and not self._reading_paused:
            self._reading_paused = True
            socket.pause_reading()
        elif len(self.tasks) < limit and self._reading_paused:
            self._reading_paused = False
            socket.resume_reading()

    def _handle(self, message: Any) -> None:
        if not isinstance(message, list) or not message:
            raise Refused("a message is a non-empty array")
        kind = message[0]
        if self.source is None:
            if kind != AUTH:
                raise Refused("the first message must prove membership")
            self._authenticate(message)
        elif kind == REQUEST:
            _, request_id, verb, payload = message
            if type(request_id) is not int or type(verb) is not int:
                raise Refused("request id and verb must be integers")
            if not self.owner.faults.accepts_from(self.source.node):
                return
            self.owner.requests_received += 1
            task = start_eagerly(asyncio.get_running_loop(), self._serve(request_id, verb, payload))
            if task is not None:  # the handler waits: it holds an in-flight place meanwhile
                self.tasks.add(task)
                task.add_done_callback(self._served)
        else:
            raise Refused(f"unexpected message kind {kind!r:.20}")

    def _authenticate(self, message: list[Any]) -> None:
        _, cluster_name, shard, proof, client_nonce = message
        if cluster_name != self.owner.cluster_name:
            self._send_refusal("wrong cluster name")
            raise Refused(f"wrong cluster name {cluster_name!r:.100}")
        if (not isinstance(shard, list) or len(shard) != 2 or not isinstance(shard[0], str)
                or type(shard[1]) is not int or not isinstance(client_nonce, bytes)):
            raise Refused("malformed membership proof")
        source = ShardId(shard[0], shard[1])
        expected = client_proof(self.owner.secret, self._nonce, self.owner.cluster_name, source)
        if not proofs_match(expected, proof):
            self._send_refusal("membership proof failed")
            raise Refused(f"membership proof of {source} failed (wrong secret?)")
        self.source = source
        self.reader.max_frame_bytes = self.owner.limits.max_frame_bytes
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        reply = server_proof(self.owner.secret, client_nonce, self.owner.cluster_name, self.owner.me)
        self._write(frame(self.packer.pack([WELCOME, reply, list(self.owner.me)])))
        self.owner.log.info("rpc.peer_accepted", source=str(source), address=self.peer_address)

    async def _serve(self, request_id: int, verb: int, payload: Any) -> None:
        assert self.source is not None and self.owner.handler is not None
        try:
            answer = await self.owner.handler(self.source, verb, payload)
            body = self.packer.pack([ANSWER, request_id, OK, answer])
        except Exception as error:  # noqa: BLE001 - every failure answers the caller
            self.packer.reset()
            body = self._error_answer(request_id, error)
        if len(body) > self.owner.limits.max_frame_bytes:
            self.owner.log.warning("rpc.answer_too_large", verb=verb_name(verb), size_bytes=len(body))
            body = self._error_answer(request_id, ServerError("answer over the frame limit",
                                                              size_bytes=len(body)))
        delay_s = self.owner.faults.outgoing_delay_s(self.source.node)
        if delay_s is not None:
            self.outbound.put(frame(body), delay_s)

    def _error_answer(self, request_id: int, error: BaseException) -> bytes:
        status, value = encode_error(error)
        try:
            return self.packer.pack([ANSWER, request_id, status, value])
        except Exception as pack_error:  # noqa: BLE001 - error details that do not pack
            self.packer.reset()
            status, value = encode_error(ServerError(f"unpackable error: {pack_error}"[:300]))
            return self.packer.pack([ANSWER, request_id, status, value])

    def _served(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if self._reading_paused or self.reader.buffered_bytes():
            self._process()

    # --- closing -----------------------------------------------------------------------

    def _send_refusal(self, reason: str) -> None:
        self._write(frame(self.packer.pack([REFUSED, reason])))

    def _refuse(self, reason: str) -> None:
        self.owner.log.warning("rpc.connection_refused", address=self.peer_address,
                               source=str(self.source) if self.source else None, reason=reason)
        self.close()

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self.source is None and not self._closed:
            self._refuse("no membership proof in time")

    def _write(self, data: bytes) -> None:
        if self._batch is not None and not self._closed:
            self._batch.write(data)

    def close(self) -> None:
        """Close after what is already written (a refusal reaches the peer)."""
        if self._socket is not None and not self._closed:
            if self._batch is not None:
                self._batch.flush()
            self._closed = True
            self._socket.close()
