"""The Raft FSM in chosen situations: elections with pre-vote, leader stickiness,
check-quorum, the commit rule for earlier terms, conflicting suffixes, ReadIndex,
snapshot transfer in chunks, and a restart that keeps term and vote."""

import random

import pytest

from node.raft.config import RaftConfig
from node.raft.errors import CommandTooLarge, NotLeader, TooManyPending
from node.raft.fsm import PersistedState, RaftFsm, Role
from node.raft.log_store import MemoryLogStore
from node.raft.messages import (COMMAND, NOOP, AppendEntries, AppendReply, InstallSnapshot,
                                LogEntry, VoteReply, VoteRequest)
from tests.unit.raft.fsm_cluster import SIM_CONFIG, FsmCluster

CONFIG = RaftConfig(election_ticks=10, heartbeat_ticks=2)


def fsm(me="n1", members=("n1", "n2", "n3"), state=PersistedState(), config=CONFIG, seed=0):
    return RaftFsm(me, members, state, config, random.Random(seed))


def elect(cluster: FsmCluster) -> str:
    cluster.run_until(lambda: cluster.leader() is not None)
    leader = cluster.leader()
    assert leader is not None
    return leader.name


def ticks_until_campaign(member: RaftFsm) -> int:
    for ticks in range(1, 100):
        member.tick()
        if member.role is not Role.FOLLOWER:
            return ticks
    raise AssertionError("never campaigned")


def test_a_single_member_elects_itself_and_commits_at_once():
    member = fsm(members=("n1",))
    ticks_until_campaign(member)
    assert member.role is Role.LEADER and member.term == 1
    index, term = member.propose(b"x")
    assert (index, term) == (2, 1) and member.commit_index == 2
    ready = member.take_ready()
    assert ready.hard_state_changed and (ready.term, ready.vote) == (1, "n1")
    assert [(e.index, e.kind) for e in ready.entries] == [(1, NOOP), (2, COMMAND)]


def test_election_timeouts_are_randomized_within_one_to_two_timeouts():
    waits = {ticks_until_campaign(fsm(seed=seed)) for seed in range(40)}
    assert min(waits) >= CONFIG.election_ticks and max(waits) < 2 * CONFIG.election_ticks
    assert len(waits) > 3


def test_pre_vote_changes_no_term_until_a_majority_would_vote():
    member = fsm()
    ticks_until_campaign(member)
    ready = member.take_ready()
    assert member.role is Role.PRE_CANDIDATE and member.term == 0
    assert not ready.hard_state_changed
    requests = [message for _, message in ready.messages]
    assert requests == [VoteRequest(1, 0, 0, pre_vote=True)] * 2
    member.step("n2", VoteReply(1, True, pre_vote=True))
    assert member.role is Role.CANDIDATE and member.term == 1 and member.voted_for == "n1"
    ready = member.take_ready()
    assert ready.hard_state_changed
    assert [m for _, m in ready.messages] == [VoteRequest(1, 0, 0, pre_vote=False)] * 2
    member.step("n3", VoteReply(1, True))
    assert member.role is Role.LEADER


def test_an_isolated_member_never_raises_its_term():
    cluster = FsmCluster(1, 3, config=SIM_CONFIG)
    leader = elect(cluster)
    isolated = next(name for name in cluster.names if name != leader)
    term = cluster.members[leader].fsm.term
    cluster.cut.update(frozenset((isolated, other)) for other in cluster.names if other != isolated)
    for _ in range(200):
        cluster.run_round()
    assert cluster.members[isolated].fsm.term == term
    assert cluster.members[isolated].fsm.role is Role.PRE_CANDIDATE
    cluster.cut.clear()
    for _ in range(20):
        cluster.run_round()
    assert cluster.leader().name == leader and cluster.leader().fsm.term == term


def test_a_follower_that_hears_from_its_leader_refuses_votes_and_keeps_its_term():
    follower = fsm("n2")
    follower.step("n1", AppendEntries(3, 0, 0, (), 0))
    follower.take_ready()
    for pre_vote in (True, False):
        follower.step("n3", VoteRequest(4, 10, 3, pre_vote=pre_vote))
        (target, reply), = follower.take_ready().messages
        assert target == "n3" and reply == VoteReply(3, False, pre_vote)
    assert follower.term == 3 and follower.voted_for is None and follower.leader == "n1"


def test_once_the_leader_is_silent_for_an_election_timeout_a_follower_votes():
    follower = fsm("n2")
    follower.step("n1", AppendEntries(3, 0, 0, (), 0))
    for _ in range(CONFIG.election_ticks):
        follower.tick()  # its own timeout is longer or equal: it may pre-vote itself
    follower.take_ready()
    follower.step("n3", VoteRequest(4, 10, 3, pre_vote=False))
    assert follower.term == 4 and follower.voted_for == "n3"
    assert follower.take_ready().messages[-1] == ("n3", VoteReply(4, True))


def test_a_leader_steps_down_when_no_majority_answered_for_an_election_timeout():
    cluster = FsmCluster(2, 3, config=SIM_CONFIG)
    leader = cluster.members[elect(cluster)]
    term = leader.fsm.term
    cluster.cut.update(frozenset((leader.name, other)) for other in cluster.names
                       if other != leader.name)
    steps = cluster.run_until(lambda: leader.fsm.role is not Role.LEADER, rounds_max=100)
    assert steps <= 2 * SIM_CONFIG.election_ticks
    assert leader.fsm.term == term  # stepping down changes no term


def test_a_leader_with_a_majority_keeps_leading_under_a_partial_partition():
    cluster = FsmCluster(3, 3, config=SIM_CONFIG)
    leader = cluster.members[elect(cluster)]
    term = leader.fsm.term
    a, b = [name for name in cluster.names if name != leader.name]
    # a's log is as good as any, so only the lease of b stops a from winning b's vote.
    cluster.run_until(lambda: all(m.fsm.log.last_index == leader.fsm.log.last_index
                                  for m in cluster.members.values()))
    cluster.cut.add(frozenset((leader.name, a)))   # a sees only b; b sees both
    for _ in range(300):
        cluster.run_round()
    assert cluster.leader() is leader and leader.fsm.term == term
    assert {m.fsm.term for m in cluster.members.values()} == {term}
    assert cluster.propose(leader)
    target = leader.fsm.log.last_index
    cluster.run_until(lambda: leader.fsm.commit_index >= target)


def test_an_entry_of_an_earlier_term_is_not_committed_by_counting_replicas():
    # Raft §5.4.2, figure 8: n1 leads term 4 with an entry of term 2 that n2 also holds.
    entries = (LogEntry(1, 1), LogEntry(2, 2))
    leader = fsm("n1", state=PersistedState(3, None, None, entries))
    ticks_until_campaign(leader)
    leader.step("n2", VoteReply(4, True, pre_vote=True))
    leader.step("n2", VoteReply(4, True))
    assert leader.role is Role.LEADER and leader.log.last_index == 3
    leader.step("n2", AppendReply(4, True, match_index=2))
    assert leader.commit_index == 0, "index 2 is on a majority but of term 2"
    leader.step("n2", AppendReply(4, True, match_index=3))
    assert leader.commit_index == 3


def test_a_follower_replaces_a_conflicting_suffix_and_reports_its_match():
    entries = (LogEntry(1, 1), LogEntry(1, 2), LogEntry(2, 3), LogEntry(2, 4))
    follower = fsm("n2", state=PersistedState(2, None, None, entries))
    follower.step("n1", AppendEntries(3, 2, 1, (LogEntry(3, 3), LogEntry(3, 4), LogEntry(3, 5)), 4))
    ready = follower.take_ready()
    assert ready.entries_from == 3 and [e.term for e in ready.entries] == [3, 3, 3]
    assert ready.messages == [("n1", AppendReply(3, True, match_index=5))]
    assert follower.commit_index == 4
    follower.step("n1", AppendEntries(3, 7, 3, (), 5))
    assert follower.take_ready().messages == [
        ("n1", AppendReply(3, False, rejected_index=7, last_index=5))]


def test_proposals_are_refused_by_followers_and_bounded_on_the_leader():
    follower = fsm("n2")
    follower.step("n1", AppendEntries(1, 0, 0, (), 0))
    with pytest.raises(NotLeader) as raised:
        follower.propose(b"x")
    assert raised.value.leader == "n1"
    leader = fsm(members=("n1",), config=RaftConfig(max_uncommitted_entries=2,
                                                    max_command_bytes=100,
                                                    max_message_bytes=4096,
                                                    snapshot_chunk_bytes=1024))
    ticks_until_campaign(leader)
    with pytest.raises(CommandTooLarge):
        leader.propose(b"x" * 101)
    three = fsm(config=RaftConfig(max_uncommitted_entries=2))
    ticks_until_campaign(three)
    three.step("n2", VoteReply(1, True, pre_vote=True))
    three.step("n2", VoteReply(1, True))
    three.propose(b"a")   # after the leader's no-op: two uncommitted
    with pytest.raises(TooManyPending):
        three.propose(b"b")


def test_a_read_waits_for_the_leaders_first_commit_and_a_majority_heartbeat():
    leader = fsm()
    ticks_until_campaign(leader)
    leader.step("n2", VoteReply(1, True, pre_vote=True))
    leader.step("n2", VoteReply(1, True))
    leader.take_ready()
    leader.start_read(7)
    assert leader.take_ready().reads_done == []
    leader.step("n2", AppendReply(1, True, match_index=1))   # the no-op commits
    ready = leader.take_ready()
    assert ready.reads_done == [] and leader.commit_index == 1
    rounds = {m.read_seq for target, m in ready.messages if isinstance(m, AppendEntries)}
    assert rounds == {1}
    leader.step("n3", AppendReply(1, True, match_index=1, read_seq=0))
    assert leader.take_ready().reads_done == [], "an answer to an older round confirms nothing"
    leader.step("n3", AppendReply(1, True, match_index=1, read_seq=1))
    assert leader.take_ready().reads_done == [(7, 1)]


def test_pending_reads_fail_when_the_leader_steps_down():
    leader = fsm()
    ticks_until_campaign(leader)
    leader.step("n2", VoteReply(1, True, pre_vote=True))
    leader.step("n2", VoteReply(1, True))
    leader.start_read(1)
    leader.step("n3", AppendEntries(2, 0, 0, (), 0))
    ready = leader.take_ready()
    assert ready.reads_failed == [1] and leader.role is Role.FOLLOWER
    with pytest.raises(NotLeader):
        leader.start_read(2)


def test_a_lagging_follower_gets_the_snapshot_in_chunks():
    config = RaftConfig(election_ticks=6, heartbeat_ticks=2, snapshot_chunk_bytes=10,
                        snapshot_threshold_entries=4, snapshot_trailing_entries=0)
    cluster = FsmCluster(4, 3, config=config)
    leader = cluster.members[elect(cluster)]
    lagging = next(m for m in cluster.members.values() if m is not leader)
    cluster.crash(lagging)
    for _ in range(12):
        assert cluster.propose(leader)
        cluster.run_round()
    assert leader.fsm.log.snapshot.index > 0
    chunks = []
    original = cluster.after_input

    def record(member):
        chunks.extend(m for _, t, m in cluster.in_flight if isinstance(m, InstallSnapshot))
        original(member)

    cluster.start(lagging)
    cluster.after_input = record
    cluster.run_until(lambda: lagging.applied == leader.applied)
    assert lagging.fsm.log.snapshot.index > 0 and lagging.state == leader.state
    assert len({chunk.offset for chunk in chunks}) > 1, "the snapshot came in several chunks"


def test_a_restarted_member_keeps_its_term_and_vote():
    store = MemoryLogStore()
    member = fsm("n2")
    member.step("n1", VoteRequest(5, 0, 0))
    store.persist(member.take_ready())
    restarted = fsm("n2", state=store.load())
    assert (restarted.term, restarted.voted_for) == (5, "n1")
    restarted.step("n3", VoteRequest(5, 9, 4))
    assert restarted.take_ready().messages == [("n3", VoteReply(5, False))]
