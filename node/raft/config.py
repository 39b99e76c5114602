"""The settings of a Raft group: timing in ticks of the injected clock, and the bounds
of messages, queues and the log.

Invariant: an append with one entry of ``max_command_bytes`` fits in
``max_message_bytes``, which is far below the RPC frame limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.rpc.transport import MAX_FRAME_BYTES

ENTRY_OVERHEAD_BYTES = 64     # an entry's term, index and kind on the wire, generously
MESSAGE_OVERHEAD_BYTES = 256  # a message's other fields


@dataclass(frozen=True)
class RaftConfig:
    tick_s: float = 0.1               # one tick of the election and heartbeat timers
    election_ticks: int = 10          # timeout drawn in [election_ticks, 2 * election_ticks)
    heartbeat_ticks: int = 2          # also: resend an unanswered append after this
    max_entries_per_message: int = 64
    max_message_bytes: int = 1024 * 1024
    max_command_bytes: int = 1024 * 1024 - 4096
    snapshot_chunk_bytes: int = 512 * 1024
    max_snapshot_bytes: int = 256 * 1024 * 1024
    max_uncommitted_entries: int = 1024
    max_pending_reads: int = 1024
    max_waiters: int = 4096           # add_entry and read_barrier calls waiting at once
    snapshot_threshold_entries: int = 1024   # snapshot once this many entries are applied
    snapshot_trailing_entries: int = 64      # kept behind a snapshot for slow followers
    send_queue_messages: int = 256    # per peer; the oldest message is dropped beyond
    send_window: int = 8              # messages in flight per peer
    send_timeout_s: float = 1.0
    default_timeout_s: float = 10.0   # add_entry and read_barrier without a timeout
    max_timeout_s: float = 60.0       # the longest a leader waits for a forwarded call

    def __post_init__(self) -> None:
        assert self.tick_s > 0, "ticks move forward"
        assert self.election_ticks > self.heartbeat_ticks >= 1, "heartbeats beat elections"
        assert self.max_entries_per_message >= 1
        assert self.max_message_bytes <= MAX_FRAME_BYTES // 2, "messages stay below the frame"
        assert (self.max_command_bytes + ENTRY_OVERHEAD_BYTES + MESSAGE_OVERHEAD_BYTES
                <= self.max_message_bytes), "one command fits one append"
        assert 0 < self.snapshot_chunk_bytes + MESSAGE_OVERHEAD_BYTES <= self.max_message_bytes
        assert self.snapshot_threshold_entries >= 1 and self.snapshot_trailing_entries >= 0
        assert self.max_uncommitted_entries >= 1 and self.max_pending_reads >= 1
        assert self.send_queue_messages >= 1 and self.send_window >= 1
        assert self.send_timeout_s > 0 and 0 < self.default_timeout_s <= self.max_timeout_s
