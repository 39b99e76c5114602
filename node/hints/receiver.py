"""The replica side of hinted handoff: the HINT_MUTATION verb applies a replayed hint
exactly as MUTATION applies a write, and counts it.

Invariant: a hint is acknowledged only after the replica applied it (commitlog and
memtable), so the coordinator may then delete it.
"""

from __future__ import annotations

from typing import Any

from node.replica.service import ReplicaService
from node.rpc.verbs import Verb


class HintReceiver:
    def __init__(self, replica: ReplicaService) -> None:
        self.replica = replica
        self.hints_applied = 0

    async def on_hint_mutation(self, source: Any, payload: Any) -> bool:
        applied = await self.replica.apply(payload)
        self.hints_applied += 1
        return applied


def register_hint_receiver(messaging: Any, replica: ReplicaService) -> HintReceiver:
    receiver = HintReceiver(replica)
    messaging.register(Verb.HINT_MUTATION, receiver.on_hint_mutation)
    return receiver
