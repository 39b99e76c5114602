"""The counters of one shard's hinted handoff (``shardsim_hints_*`` in /metrics).

Invariant: every counter only grows; pending amounts are computed from the stores,
never kept here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HintCounters:
    written: int = 0                  # hints in their files (and fsynced)
    sent: int = 0                     # hints acknowledged by their replica
    redirected: int = 0               # of those, sent to the token's current replicas instead
    dropped_window: int = 0           # not written: target DOWN longer than max_window_ms
    dropped_limit: int = 0            # not written: target's hints over max_bytes_per_target
    discarded_gc_grace: int = 0       # found at replay older than the table's gc_grace_seconds
    discarded_unknown_table: int = 0  # found at replay for a table that no longer exists
    discarded_invalid: int = 0        # refused for good by the target (Invalid, schemas agreeing)
    discarded_truncated: int = 0      # found at replay written before its table's last TRUNCATE
    send_errors: int = 0              # replay sends that failed (the hint stays)
    store_errors: int = 0             # hints the disk refused
    corrupted_records: int = 0        # torn or corrupt records skipped at replay
    replay_rounds: int = 0
