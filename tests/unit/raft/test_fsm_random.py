"""Raft's safety properties under random partitions, loss, duplication, reordering,
crashes and restarts, for many seeds; then liveness once the faults heal.

Every event is followed by the checks of ``SafetyChecker`` (election safety, one
entry per index and term, commits never change, leader completeness, state machine
safety, ReadIndex reads see every earlier commit) and log matching between members.
"""

import pytest

from node.raft.disk_log_store import LOG, DiskLogStore
from node.raft.records import frame
from node.storage.disk import Disk
from tests.unit.raft.fsm_cluster import run


@pytest.mark.parametrize("size", [3, 5])
def test_safety_and_liveness_over_many_seeds(size):
    for seed in range(100):
        run(seed, size, events=1500)


def test_safety_with_disk_stores_and_torn_tails_at_crashes(tmp_path):
    for seed in range(3):
        root = tmp_path / str(seed)

        def store(name):
            return DiskLogStore(root / name, Disk())

        def reopen(member, rng):
            if rng.random() < 0.5:  # a write the crash interrupted: a torn record
                torn = frame(b"x" * 40)[:rng.randrange(1, 52)]
                with open(root / member.name / LOG, "ab") as handle:
                    handle.write(torn)
            return store(member.name)

        cluster = run(seed, 3, events=1000, store_factory=store, reopen=reopen)
        assert sum(m.incarnation for m in cluster.members.values()) > 3, "members restarted"


@pytest.mark.slow
@pytest.mark.parametrize("size", [3, 5])
def test_safety_and_liveness_over_a_thousand_seeds(size):
    for seed in range(100, 1100):
        run(seed, size, events=3000)
