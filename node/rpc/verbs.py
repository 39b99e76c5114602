"""The RPC verbs: each a number that crosses the wire and a name for logs.

Invariant: a number is never reused or renumbered. A retired verb keeps its number
(commented out here), so that mixed versions of shards never misread each other. New
fields in a verb's payload are optional with a default.
"""

from __future__ import annotations

import enum


class Verb(enum.IntEnum):
    ECHO = 1            # answers its payload: tests and ``shardsim bench rpc``
    HEARTBEAT = 2       # failure detector: local state in, peer state out
    MUTATION = 3        # apply a mutation on a replica
    READ_DATA = 4       # a single-partition read, full data
    READ_DIGEST = 5     # a single-partition read, digest only
    RANGE_READ = 6      # a page of a token range (multishard reader on the replica)
    SCHEMA_PULL = 7     # fetch the peer's schema
    SCHEMA_PUSH = 8     # send our schema to a peer
    HINT_MUTATION = 9   # a replayed hint
    ADMIN = 10          # node-wide admin operations fanned out to the node's shards
    TRUNCATE = 11       # empty a table on one shard (TRUNCATE runs it on every shard)
    SHARD_CURSOR_READ = 12    # a multishard reader pulls a batch from a sibling shard's reader
    SHARD_CURSOR_FINISH = 13  # page end: push back unconsumed fragments, save or close the reader
    RAFT_APPEND_ENTRIES = 14  # raft, one-way: a leader's entries or heartbeat
    RAFT_APPEND_REPLY = 15    # raft, one-way: a follower's answer to an append
    RAFT_VOTE = 16            # raft, one-way: a (pre-)vote request
    RAFT_VOTE_REPLY = 17      # raft, one-way: a (pre-)vote answer
    RAFT_INSTALL_SNAPSHOT = 18  # raft, one-way: a chunk of the leader's snapshot
    RAFT_SNAPSHOT_REPLY = 19  # raft, one-way: a follower's answer to a snapshot chunk
    RAFT_READ_BARRIER = 20    # raft: a follower asks the leader for a safe read index
    RAFT_ADD_ENTRY = 21       # raft: a follower forwards a command to the leader
    GROUP0_BARRIER = 22       # a coordinator shard asks its node's group 0 member for a read barrier
    GROUP0_PROPOSE = 23       # a coordinator shard hands a schema change to its node's member


def verb_name(number: int) -> str:
    """The name of a verb number, or ``verb#N`` for a number this version does not know."""
    try:
        return Verb(number).name
    except ValueError:
        return f"verb#{number}"
