"""Network fault hooks of one node, shared by its shards' transports: partition,
delay with jitter, and drop with a probability, per peer node.

The admin endpoint sets them with the JSON body it receives::

    {"partition": ["n2"], "delay_ms": {"n3": 50}, "delay_jitter_ms": {"n3": 10},
     "drop_probability": {"n3": 0.1}, "seed": 7}

``apply`` replaces each section present in the body and leaves the others as they are
(``disk_fail_writes`` belongs to storage and is ignored here); ``describe`` answers in
the same shape; ``clear`` removes every fault.

What each hook does, seen from this node:
- partition [n2]: drops every message it sends to n2 and every message it receives
  from n2 (requests and answers), so a partition set on one side cuts both ways.
- delay_ms {n3: 50}: each message this node *sends* to n3 (requests and answers) waits
  50 ms plus a uniform jitter in [-jitter, +jitter], never reordering a connection.
  A round trip to n3 is thus slowed once by one side's setting.
- drop_probability {n3: 0.1}: each message this node sends to n3 is lost with that
  probability, drawn from a ``random.Random`` seeded at construction (or by "seed").
A lost request or answer means the caller times out, as on a real network. Traffic
between shards of the same node is never partitioned.

Invariant: every random choice comes from ``self.rng``, so one seed replays one run.
"""

from __future__ import annotations

import random
from typing import Any

from node.errors import Invalid

_KEYS = {"partition", "delay_ms", "delay_jitter_ms", "drop_probability", "seed", "disk_fail_writes"}


class NetworkFaults:
    """The network faults one node applies; read by its transports on every message."""

    def __init__(self, node: str, seed: int = 0) -> None:
        self.node = node
        self.seed = seed
        self.rng = random.Random(seed)
        self.partitioned: frozenset[str] = frozenset()
        self.delay_ms: dict[str, float] = {}
        self.delay_jitter_ms: dict[str, float] = {}
        self.drop_probability: dict[str, float] = {}
        self.dropped = 0  # messages lost to these hooks, for statistics

    # --- what transports ask ----------------------------------------------------

    def outgoing_delay_s(self, target_node: str) -> float | None:
        """The delay of a message this node sends to ``target_node``; None: drop it."""
        if target_node in self.partitioned:
            self.dropped += 1
            return None
        probability = self.drop_probability.get(target_node)
        if probability and self.rng.random() < probability:
            self.dropped += 1
            return None
        delay_ms = self.delay_ms.get(target_node)
        if not delay_ms:
            return 0.0
        jitter_ms = self.delay_jitter_ms.get(target_node, 0.0)
        if jitter_ms:
            delay_ms += self.rng.uniform(-jitter_ms, jitter_ms)
        return max(0.0, delay_ms) / 1000

    def accepts_from(self, source_node: str) -> bool:
        """False if a message from ``source_node`` must be dropped on arrival."""
        if source_node in self.partitioned:
            self.dropped += 1
            return False
        return True

    # --- what the admin endpoint calls --------------------------------------------

    def apply(self, body: dict[str, Any]) -> None:
        """Set the sections present in ``body``; raises ``Invalid`` and changes nothing
        if any part is malformed."""
        if not isinstance(body, dict):
            raise Invalid("faults must be a JSON object")
        unknown = sorted(set(body) - _KEYS)
        if unknown:
            raise Invalid(f"unknown fault keys: {', '.join(unknown)}", keys=unknown)
        partition = self.partitioned
        if "partition" in body:
            names = body["partition"]
            if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
                raise Invalid("partition must be a list of node names")
            if self.node in names:
                raise Invalid(f"node {self.node} cannot be partitioned from itself")
            partition = frozenset(names)
        delay = _per_node(body, "delay_ms", self.delay_ms, 0.0, 600_000.0)
        jitter = _per_node(body, "delay_jitter_ms", self.delay_jitter_ms, 0.0, 600_000.0)
        drop = _per_node(body, "drop_probability", self.drop_probability, 0.0, 1.0)
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise Invalid("seed must be an integer")
        self.partitioned, self.delay_ms, self.delay_jitter_ms = partition, delay, jitter
        self.drop_probability = drop
        if seed is not None:
            self.seed = seed
            self.rng.seed(seed)

    def clear(self) -> None:
        self.partitioned = frozenset()
        self.delay_ms, self.delay_jitter_ms, self.drop_probability = {}, {}, {}

    def describe(self) -> dict[str, Any]:
        return {"partition": sorted(self.partitioned), "delay_ms": dict(self.delay_ms),
                "delay_jitter_ms": dict(self.delay_jitter_ms),
                "drop_probability": dict(self.drop_probability)}

    def is_clear(self) -> bool:
        return not (self.partitioned or self.delay_ms or self.drop_probability)


def _per_node(body: dict[str, Any], key: str, current: dict[str, float], low: float,
              high: float) -> dict[str, float]:
    if key not in body:
        return current
    value = body[key]
    if not isinstance(value, dict):
        raise Invalid(f"{key} must be an object of node name to number")
    result: dict[str, float] = {}
    for node, number in value.items():
        if (not isinstance(node, str) or isinstance(number, bool)
                or not isinstance(number, int | float) or not low <= number <= high):
            raise Invalid(f"{key}.{node} must be a number in [{low:g}, {high:g}]")
        if number:
            result[node] = float(number)
    return result
