"""The messaging service of one shard: verbs registered by number, requests sent to
peer shards with a timeout, requests from peers dispatched to their handlers.

    service.register(Verb.ECHO, handler)     # handler(source: ShardId, payload) -> answer
    answer = await service.send(Verb.ECHO, ShardId("n2", 1), payload, timeout_s=2.0)

``send`` returns the remote handler's answer or raises: the handler's ``RequestError``
as itself, ``RpcTimeout``, ``PeerUnreachable``, ``TransportClosed``, ``UnknownVerb``
(see ``node/rpc/errors.py``). Sending to oneself runs the handler directly, with the
same errors and timeout, and hands the payload over without copying it: callers must
not mutate a payload after sending it.

Invariant: a handler failure never kills a connection or the service: a
``RequestError`` goes back to the caller, anything else goes back as ``ServerError``
and is logged here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from node.clock import Clock, SystemClock
from node.errors import RequestError, ServerError
from node.rpc.errors import RpcError, RpcTimeout, TransportClosed, UnknownVerb
from node.rpc.timers import Timers
from node.rpc.transport import ShardId, Transport
from node.rpc.verbs import verb_name

Handler = Callable[[ShardId, Any], Awaitable[Any]]


class MessagingService:
    def __init__(self, me: ShardId, transport: Transport, *, clock: Clock | None = None,
                 log: Any = None) -> None:
        assert transport.me == me, "the transport speaks for this shard"
        self.me = me
        self.transport = transport
        self.clock = clock or SystemClock()
        self.log = log or structlog.get_logger().bind(node=me.node, shard=me.shard)
        self._timers = Timers(self.clock)
        self._handlers: dict[int, Handler] = {}
        self._closed = False
        transport.set_inbound_handler(self._dispatch)

    def register(self, verb: int, handler: Handler) -> None:
        """Install the handler of a verb; one handler per verb."""
        number = int(verb)
        assert number not in self._handlers, f"verb {verb_name(number)} registered twice"
        self._handlers[number] = handler

    def unregister(self, verb: int) -> None:
        self._handlers.pop(int(verb), None)

    async def send(self, verb: int, target: ShardId, payload: Any, timeout_s: float) -> Any:
        """Send a request to ``target`` and wait at most ``timeout_s`` for its answer."""
        if self._closed:
            raise TransportClosed("messaging is closed", target=str(target))
        try:
            async with self._timers.deadline(timeout_s):
                if target == self.me:
                    return await self._call_locally(int(verb), payload)
                return await self.transport.request(target, int(verb), payload)
        except TimeoutError as error:
            raise RpcTimeout(f"{verb_name(int(verb))} to {target} got no answer in {timeout_s:g} s",
                             verb=verb_name(int(verb)), target=str(target),
                             timeout_s=timeout_s) from error

    async def _call_locally(self, verb: int, payload: Any) -> Any:
        try:
            return await self._dispatch(self.me, verb, payload)
        except (RequestError, RpcError):
            raise
        except Exception as error:  # noqa: BLE001 - a handler bug answers ServerError, as remotely
            raise ServerError(f"{type(error).__name__}: {error}"[:1000]) from error

    async def _dispatch(self, source: ShardId, verb: int, payload: Any) -> Any:
        """Run the handler of ``verb`` for a request from ``source`` (the transport's
        inbound handler)."""
        handler = self._handlers.get(verb)
        if handler is None:
            self.log.warning("rpc.unknown_verb", verb=verb_name(verb), source=str(source))
            raise UnknownVerb(f"no handler for {verb_name(verb)} on {self.me}")
        try:
            return await handler(source, payload)
        except RequestError:
            raise
        except Exception:
            self.log.exception("rpc.handler_failed", verb=verb_name(verb), source=str(source))
            raise

    async def aclose(self) -> None:
        """Stop sending, close the transport (it waits for running handlers)."""
        self._closed = True
        await self.transport.aclose()
        await self._timers.aclose()
