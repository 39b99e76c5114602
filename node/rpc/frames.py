"""The wire format of shardsim RPC: length-prefixed msgpack frames and the messages
they carry.

    frame   ::= u32 big-endian body length, msgpack body (at most 16 MiB)
    message ::= [REQUEST, id, verb, payload]
              | [ANSWER, id, status, value]        status: OK | REQUEST_ERROR | RPC_ERROR
              | [HELLO, nonce, cluster_name]       server -> client, first frame
              | [AUTH, cluster_name, [node, shard], proof, client_nonce]
              | [WELCOME, proof, [node, shard]]    server -> client, proof of the server
              | [REFUSED, reason]                  server -> client, then close

Errors cross as tagged values: a handler's ``RequestError`` as its ``to_wire()``
(status REQUEST_ERROR), an RPC-layer error as ``{"kind", "message"}`` (RPC_ERROR).

Invariant: a length prefix over the limit is rejected before any byte of its body is
buffered, so a peer can make us hold at most one frame limit of memory per connection.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from node.errors import RequestError, ServerError, from_wire
from node.rpc.errors import WIRE_RPC_ERRORS, RpcError

REQUEST, ANSWER, HELLO, AUTH, WELCOME, REFUSED = range(6)
OK, REQUEST_ERROR, RPC_ERROR = range(3)

_LENGTH = struct.Struct(">I")
HEADER_BYTES = _LENGTH.size


class FrameError(Exception):
    """The byte stream is not valid framed msgpack: the connection must close."""


def frame(body: bytes) -> bytes:
    """Prefix a packed body with its length."""
    return _LENGTH.pack(len(body)) + body


def unpack(body: bytes) -> Any:
    """Unpack one message body (maps may have non-string keys)."""
    return msgpack.unpackb(body, raw=False, strict_map_key=False)


class FrameReader:
    """Cuts a byte stream into frame bodies. Feed it bytes, then take frames."""

    __slots__ = ("_buffer", "_offset", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int) -> None:
        self._buffer = bytearray()
        self._offset = 0
        self.max_frame_bytes = max_frame_bytes

    def feed(self, data: bytes) -> None:
        if self._offset:
            del self._buffer[:self._offset]
            self._offset = 0
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """The next whole frame body, or None until more bytes arrive. Raises
        ``FrameError`` for a length over the limit."""
        buffer, offset = self._buffer, self._offset
        if len(buffer) - offset < HEADER_BYTES:
            return None
        (length,) = _LENGTH.unpack_from(buffer, offset)
        if length > self.max_frame_bytes:
            raise FrameError(f"frame of {length} bytes over the limit of {self.max_frame_bytes}")
        end = offset + HEADER_BYTES + length
        if len(buffer) < end:
            return None
        self._offset = end
        return bytes(buffer[offset + HEADER_BYTES:end])

    def buffered_bytes(self) -> int:
        return len(self._buffer) - self._offset


def encode_error(error: BaseException) -> tuple[int, Any]:
    """The ``(status, value)`` of an answer that reports ``error``. A handler bug (any
    exception that is not a ``RequestError``) becomes a ``ServerError``."""
    if isinstance(error, RequestError):
        return REQUEST_ERROR, error.to_wire()
    if isinstance(error, RpcError) and type(error).__name__ in WIRE_RPC_ERRORS:
        return RPC_ERROR, {"kind": type(error).__name__, "message": error.message}
    return REQUEST_ERROR, ServerError(f"{type(error).__name__}: {error}"[:1000]).to_wire()


def decode_answer(status: Any, value: Any) -> Any:
    """The value of an OK answer; raises the error an error answer carries."""
    if status == OK:
        return value
    if status == RPC_ERROR and isinstance(value, dict):
        kind = WIRE_RPC_ERRORS.get(value.get("kind"))  # type: ignore[arg-type]
        if kind is not None:
            raise kind(str(value.get("message", "")))
    if status in (REQUEST_ERROR, RPC_ERROR):
        raise from_wire(value)
    raise ServerError(f"malformed answer status {status!r:.50}")
