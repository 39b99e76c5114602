"""The seam between messaging and the network: the interface every transport
implements (TCP for real processes, in-memory for tests), and the names it speaks in.

A transport carries requests ``(verb number, payload)`` to a peer shard and brings back
the answer; on the other side it hands each request to the one ``InboundHandler`` that
messaging installed, one task per request. It applies the node's ``NetworkFaults`` on
the way. It does not know verbs, handlers or timeouts: the caller's deadline cancels
``request`` (``MessagingService.send`` wraps it), and the transport cleans up after
a cancelled request.

Invariant: requests on one connection (one source shard to one target shard) are
delivered in the order they were sent, at most ``RpcLimits.max_in_flight`` at a time;
callers beyond that wait (backpressure), they are never queued without bound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple


class ShardId(NamedTuple):
    """One shard of the cluster: node name and shard index. Packs as ``[node, shard]``."""

    node: str
    shard: int

    def __str__(self) -> str:
        return f"{self.node}/{self.shard}"


InboundHandler = Callable[[ShardId, int, Any], Awaitable[Any]]
"""``handler(source, verb_number, payload) -> answer``; raises to answer an error."""

MAX_FRAME_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class RpcLimits:
    """The bounds of a transport; one object so that they are set together."""

    max_in_flight: int = 512              # requests per connection, each direction
    max_frame_bytes: int = MAX_FRAME_BYTES
    connect_timeout_s: float = 2.0
    handshake_timeout_s: float = 5.0      # server side: time for a client to prove itself
    backoff_initial_s: float = 0.05       # after a failed connect, doubling ...
    backoff_max_s: float = 1.0            # ... up to this

    def __post_init__(self) -> None:
        assert self.max_in_flight >= 1, "at least one request in flight"
        assert 1024 <= self.max_frame_bytes <= MAX_FRAME_BYTES, "frame limit within bounds"
        assert 0 < self.backoff_initial_s <= self.backoff_max_s, "backoff bounds ordered"


@dataclass(frozen=True)
class LinkStatistics:
    """A snapshot of one outgoing connection."""

    target: ShardId
    connected: bool
    in_flight: int      # requests sent, answer not yet arrived
    waiting: int        # callers waiting for an in-flight slot (backpressure)


@dataclass(frozen=True)
class TransportStatistics:
    me: ShardId
    links: tuple[LinkStatistics, ...]
    handlers_running: int
    requests_sent: int
    requests_received: int
    messages_dropped: int   # by fault hooks


class Transport:
    """The interface. ``start`` makes the shard reachable, ``aclose`` stops everything
    and waits for it."""

    me: ShardId

    def set_inbound_handler(self, handler: InboundHandler) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    async def request(self, target: ShardId, verb: int, payload: Any) -> Any:
        """Send one request and wait for its answer. Raises ``RequestError`` (remote
        handler), ``UnknownVerb``, ``PeerUnreachable``, ``TransportClosed``,
        ``FrameTooLarge``. Never times out by itself: cancel it."""
        raise NotImplementedError

    def statistics(self) -> TransportStatistics:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError
