"""The applier of one member: committed entries go to the state machine one at a time,
in log order; a snapshot the leader installed replaces the state; once
``snapshot_threshold_entries`` entries are applied past the last snapshot, the state
machine's snapshot replaces them in the log.

Invariant: ``applied_index`` only grows and every index up to it was applied exactly
once since the state was last restored, in order, or came within the restored snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from node.errors import RequestError
from node.raft.config import RaftConfig
from node.raft.fsm import RaftFsm
from node.raft.messages import COMMAND, LogEntry, Snapshot
from node.raft.state_machine import StateMachine
from node.raft.waiters import Applied, ApplyWaiters


class Applier:
    def __init__(self, state_machine: StateMachine, waiters: ApplyWaiters, config: RaftConfig,
                 log: Any) -> None:
        self.state_machine = state_machine
        self.waiters = waiters
        self.config = config
        self.log = log
        self.applied_index = 0
        self.snapshots_taken = 0
        self.snapshots_restored = 0
        self._wakeup = asyncio.Event()

    async def restore(self, snapshot: Snapshot) -> None:
        """Start from a persisted snapshot (or from one the leader sent)."""
        await self.state_machine.restore(snapshot.data)
        self.applied_index = snapshot.index
        self.snapshots_restored += 1
        self.waiters.skipped_to(snapshot.index)

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self, fsm: Callable[[], RaftFsm],
                  compact: Callable[[int, bytes], bool]) -> None:
        """Apply whatever ``fsm()`` has committed, each time it is woken; ``compact``
        hands a snapshot to the FSM. Returns only by raising: a failure of the state
        machine, which stops the member."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._catch_up(fsm, compact)

    async def _catch_up(self, fsm: Callable[[], RaftFsm],
                        compact: Callable[[int, bytes], bool]) -> None:
        while True:
            raft = fsm()
            snapshot = raft.log.snapshot
            if snapshot.index > self.applied_index:
                self.log.info("raft.snapshot_restored", index=snapshot.index,
                              size_bytes=len(snapshot.data))
                await self.restore(snapshot)
                continue
            if raft.commit_index <= self.applied_index:
                return
            entry = raft.log.entry(self.applied_index + 1)
            outcome = await self._apply(entry)
            self.applied_index = entry.index
            self.waiters.applied(outcome)
            if self.applied_index - raft.log.snapshot.index >= self.config.snapshot_threshold_entries:
                data = await self.state_machine.snapshot()
                if compact(self.applied_index, data):
                    self.snapshots_taken += 1
                    self.log.info("raft.snapshot_taken", index=self.applied_index,
                                  size_bytes=len(data))

    async def _apply(self, entry: LogEntry) -> Applied:
        if entry.kind != COMMAND:
            return Applied(entry.index, entry.term)
        try:
            result = await self.state_machine.apply(entry.index, entry.command)
        except RequestError as error:
            return Applied(entry.index, entry.term, error=error)
        return Applied(entry.index, entry.term, result)
