"""The errors of the RPC layer: what ``MessagingService.send`` raises besides the
remote handler's own ``RequestError``.

    ShardsimError                       (node/errors.py)
     ├─ RequestError ...                a remote handler raised it: re-raised as itself
     └─ RpcError                        the RPC layer failed; the request's fate is unknown
         ├─ RpcTimeout                  no answer within ``timeout_s`` (it may have run)
         ├─ PeerUnreachable             no connection: refused, backing off, unknown address
         │   ├─ ConnectionLost          the connection broke while the request was in flight
         │   └─ HandshakeFailed         the peer refused our membership proof or failed its own
         ├─ TransportClosed             closed by us (``aclose``): this side is shutting down
         ├─ UnknownVerb                 the peer has no handler for the verb
         └─ FrameTooLarge               the request would exceed the frame limit; not sent

Three different failures stay three different errors: closed by us (TransportClosed),
broken by the peer (PeerUnreachable and its children), too slow (RpcTimeout).
Lower-layer errors (OSError, msgpack) are converted at the boundary with ``raise ...
from exc``.
"""

from __future__ import annotations

from typing import Any

from node.errors import ShardsimError


class RpcError(ShardsimError):
    """The RPC layer could not deliver a request or its answer."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class RpcTimeout(RpcError):
    """No answer arrived within the call's timeout."""


class PeerUnreachable(RpcError):
    """The peer shard could not be reached."""


class ConnectionLost(PeerUnreachable):
    """The connection to the peer broke before the answer arrived."""


class HandshakeFailed(PeerUnreachable):
    """The membership handshake failed (wrong cluster name or secret)."""


class TransportClosed(RpcError):
    """This side closed its transport; no more calls go out."""


class UnknownVerb(RpcError):
    """The peer has no handler registered for the verb."""


class FrameTooLarge(RpcError):
    """A message packed to more than the frame limit; it was not sent."""


# Errors of the RPC layer itself that cross the wire (an answer with status RPC_ERROR).
WIRE_RPC_ERRORS: dict[str, type[RpcError]] = {"UnknownVerb": UnknownVerb}
