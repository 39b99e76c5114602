"""Calls waiting for the applier: ``add_entry`` waits for its ``(index, term)`` to be
applied, a read barrier or a forwarded command waits for an index to be applied.

Invariant: every waiter is resolved exactly once: by the entry at its index (its
``Applied`` outcome, or ``EntryDropped`` if that entry has another term), by a snapshot
that skipped it, by a failure of the member, or by its caller giving up (discard).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from node.errors import RequestError
from node.raft.errors import EntryDropped, OutcomeUnknown, TooManyPending


@dataclass(frozen=True)
class Applied:
    """The outcome of applying one entry: the state machine's result or its error."""

    index: int
    term: int
    result: Any = None
    error: RequestError | None = None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class ApplyWaiters:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._by_index: dict[int, list[tuple[int | None, asyncio.Future[Applied | None]]]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def check_room(self) -> None:
        """Raise ``TooManyPending`` if no call may wait now: asked before proposing,
        so that a refused call never leaves an entry behind."""
        if self._count >= self.capacity:
            raise TooManyPending("too many calls waiting for raft", limit=self.capacity)

    def wait_for(self, index: int, term: int | None = None) -> asyncio.Future[Applied | None]:
        """A future for the entry at ``index``: its ``Applied`` outcome if ``term`` is
        given; None (just "applied up to here") otherwise."""
        self.check_room()
        future: asyncio.Future[Applied | None] = asyncio.get_running_loop().create_future()
        self._by_index.setdefault(index, []).append((term, future))
        self._count += 1
        return future

    def discard(self, index: int, future: asyncio.Future[Any]) -> None:
        """The caller gave up (a timeout): forget its waiter."""
        waiting = self._by_index.get(index)
        if waiting is None:
            return
        kept = [(term, other) for term, other in waiting if other is not future]
        self._count -= len(waiting) - len(kept)
        if kept:
            self._by_index[index] = kept
        else:
            del self._by_index[index]
        if not future.done():
            future.cancel()

    def applied(self, outcome: Applied) -> None:
        for term, future in self._pop(outcome.index):
            if term is None:
                future.set_result(None)
            elif term == outcome.term:
                future.set_result(outcome)
            else:
                future.set_exception(EntryDropped(
                    f"entry {outcome.index} of term {term} was replaced by one of term "
                    f"{outcome.term}: it is never applied", index=outcome.index))

    def skipped_to(self, index: int) -> None:
        """A snapshot up to ``index`` replaced the entries up to there."""
        for waiting_index in sorted(i for i in self._by_index if i <= index):
            for term, future in self._pop(waiting_index):
                if term is None:
                    future.set_result(None)
                else:
                    future.set_exception(OutcomeUnknown(
                        f"entry {waiting_index} came within a snapshot: its outcome is "
                        f"unknown here", index=waiting_index))

    def fail_all(self, error: Exception) -> None:
        for index in list(self._by_index):
            for _, future in self._pop(index):
                future.set_exception(error)

    def _pop(self, index: int) -> list[tuple[int | None, asyncio.Future[Applied | None]]]:
        waiting = self._by_index.pop(index, [])
        self._count -= len(waiting)
        return [(term, future) for term, future in waiting if not future.done()]
