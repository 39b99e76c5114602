"""Coalesced socket writes: the frames written during one turn of the event loop go
to the socket in one call at the end of that turn.

With many requests in flight a connection writes many small frames per turn; one
syscall for all of them instead of one each is what keeps pipelined RPC near the
bare echo. A lone request waits only until the end of the current turn.

Invariant: bytes reach the socket in ``write`` order; ``flush`` (also called before a
close) leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from typing import Any


class WriteBatch:
    __slots__ = ("_socket", "_pending", "_scheduled")

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self._socket.is_closing():
            return
        self._socket.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def discard(self) -> None:
        self._pending = []
