"""Hinted handoff, as ScyllaDB's db/hints: mutations a coordinator could not deliver,
kept on its shard's disk and handed over when the target is back.

Public surface: ``HintsManager`` (one per shard: ``accepts``, ``store``, ``start``,
``aclose``, ``statistics``, admin handlers) and ``register_hint_receiver`` (the
replica side of the HINT_MUTATION verb). Below it: ``EndpointManager`` (one per
target: its ``HintStore`` of segments and its ``HintSender``), ``segment`` (the
record framing) and ``Throttle``.
"""

from node.hints.manager import HintsManager
from node.hints.receiver import register_hint_receiver

__all__ = ["HintsManager", "register_hint_receiver"]
