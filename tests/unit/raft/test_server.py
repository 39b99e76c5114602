"""RaftServer over the in-memory transport on a manual clock: elections, commits,
forwarding, partitions (full and partial), restarts, snapshots and read barriers."""

import asyncio

import pytest

from node.errors import AlreadyExists
from node.raft.config import RaftConfig
from node.raft.errors import CommandTooLarge, NoQuorum, RaftClosed, RaftFailed
from node.raft.fsm import Role
from tests.unit.raft.server_harness import CONFIG, RaftGroup, command


@pytest.fixture
async def group(tmp_path):
    built = RaftGroup(tmp_path)
    yield built
    await built.aclose()


def followers(group, leader):
    return [name for name in group.names if name != leader and name in group.servers]


async def test_three_members_elect_one_leader_and_commit_entries(group):
    await group.start()
    leader = await group.wait_for_leader()
    assert group.leaders() == [leader]
    server = group.servers[leader]
    assert await group.complete(server.add_entry(command("set", "a", 1))) is None
    assert await group.complete(server.add_entry(command("set", "a", 2))) == 1
    await group.run_until(lambda: all(m.data == {"a": 2} for m in group.machines.values()))
    applied = {tuple(machine.applied) for machine in group.machines.values()}
    assert len(applied) == 1, "every member applied the same indexes in the same order"


async def test_a_follower_forwards_a_command_and_answers_once_it_applied_it(group):
    await group.start()
    leader = await group.wait_for_leader()
    follower = followers(group, leader)[0]
    machine = group.machines[follower]

    async def propose_then_look():
        result = await group.servers[follower].add_entry(command("set", "k", "v"))
        return result, dict(machine.data)

    result, seen = await group.complete(propose_then_look())
    assert result is None and seen == {"k": "v"}
    with pytest.raises(AlreadyExists):
        await group.complete(group.servers[follower].add_entry(command("create", "k", "w")))
    assert machine.data == {"k": "v"}


async def test_a_command_arriving_before_any_leader_waits_for_the_election(group):
    await group.start()
    assert group.leader() is None
    result = await group.complete(group.servers["n2"].add_entry(command("set", "x", 1)))
    assert result is None and group.leader() is not None
    assert group.machines["n2"].data == {"x": 1}


async def test_without_a_majority_no_leader_is_elected_and_a_command_times_out(group):
    await group.start("n1")
    with pytest.raises(NoQuorum) as raised:
        await group.complete(group.servers["n1"].add_entry(command("set", "x", 1),
                                                           timeout_s=3.0))
    assert raised.value.uncertain is False
    assert group.servers["n1"].term == 0, "pre-votes never raise the term alone"
    assert group.machines["n1"].data == {}


async def test_a_partitioned_leader_cannot_commit_and_steps_down(group):
    await group.start()
    old = await group.wait_for_leader()
    await group.complete(group.servers[old].add_entry(command("set", "before", 1)))
    group.isolate(old)
    started = group.clock.monotonic()
    with pytest.raises(NoQuorum) as raised:
        await group.complete(group.servers[old].add_entry(command("set", "lost", 1),
                                                          timeout_s=2.0))
    assert raised.value.uncertain is True
    assert group.clock.monotonic() - started == pytest.approx(2.0, abs=0.2)
    await group.run_until(lambda: group.servers[old].role is not Role.LEADER,
                          max_seconds=2 * CONFIG.election_ticks * CONFIG.tick_s)
    new = await group.wait_for_leader()
    assert new != old
    await group.complete(group.servers[new].add_entry(command("set", "after", 2)))
    group.heal()
    await group.run_until(lambda: all(m.data == {"before": 1, "after": 2}
                                      for m in group.machines.values()))
    assert group.servers[old].role is Role.FOLLOWER and group.leader() == new


async def test_a_partial_partition_still_commits_without_endless_elections(group):
    await group.start()
    leader = await group.wait_for_leader()
    await group.complete(group.servers[leader].add_entry(command("set", "a", 1)))
    await group.run_until(lambda: all(m.data == {"a": 1} for m in group.machines.values()))
    cut_off, bridge = followers(group, leader)
    group.cut(leader, cut_off)       # the bridge still sees both
    term = group.servers[leader].term
    elections = group.events("raft.election_started")
    await group.advance(20.0)
    assert group.leader() == leader and group.servers[leader].term == term
    assert {server.term for server in group.servers.values()} == {term}
    assert group.events("raft.election_started") == elections
    assert await group.complete(group.servers[leader].add_entry(command("set", "a", 2))) == 1
    assert await group.complete(group.servers[bridge].add_entry(command("set", "a", 3))) == 2
    assert group.machines[bridge].data == {"a": 3}
    assert group.machines[cut_off].data == {"a": 1}, "the leader's messages are cut"
    group.heal()
    await group.run_until(lambda: group.machines[cut_off].data == {"a": 3})


async def test_a_restarted_member_keeps_its_term_and_vote(group):
    await group.start()
    leader = await group.wait_for_leader()
    await group.complete(group.servers[leader].add_entry(command("set", "a", 1)))
    voter = next(name for name in followers(group, leader)
                 if group.servers[name].fsm.voted_for is not None)
    before = (group.servers[voter].term, group.servers[voter].fsm.voted_for)
    await group.crash(voter)
    restarted = await group.restart(voter)
    assert (restarted.term, restarted.fsm.voted_for) == before
    await group.run_until(lambda: group.machines[voter].data == {"a": 1})


async def test_a_lagging_member_catches_up_through_a_snapshot(tmp_path):
    config = RaftConfig(tick_s=0.1, election_ticks=10, heartbeat_ticks=2, send_timeout_s=0.5,
                        snapshot_threshold_entries=5, snapshot_trailing_entries=0)
    group = RaftGroup(tmp_path, config=config)
    try:
        await group.start()
        leader = await group.wait_for_leader()
        lagging = followers(group, leader)[0]
        await group.crash(lagging)
        for number in range(20):
            await group.complete(group.servers[leader].add_entry(command("set", f"k{number}", number)))
        assert group.servers[leader].statistics().snapshot_index > 0
        await group.restart(lagging)
        expected = group.machines[leader].data
        await group.run_until(lambda: group.machines[lagging].data == expected)
        statistics = group.servers[lagging].statistics()
        assert statistics.snapshots_restored >= 1
        assert group.machines[lagging].applied == [] or min(group.machines[lagging].applied) > 1
    finally:
        await group.aclose()


async def test_a_read_barrier_on_a_follower_sees_every_earlier_commit(group):
    await group.start()
    leader = await group.wait_for_leader()
    follower = followers(group, leader)[0]
    group.cut(leader, follower)   # the follower misses the write ...
    await group.complete(group.servers[leader].add_entry(command("set", "a", 1)))
    assert group.machines[follower].data == {}
    group.heal()                  # ... and a read barrier waits until it has it

    async def barrier_then_look():
        index = await group.servers[follower].read_barrier()
        return index, dict(group.machines[follower].data)

    index, seen = await group.complete(barrier_then_look())
    assert seen == {"a": 1} and index >= 2
    assert await group.complete(group.servers[leader].read_barrier()) >= index


async def test_a_read_barrier_without_a_majority_fails(group):
    await group.start()
    leader = await group.wait_for_leader()
    group.isolate(leader)
    with pytest.raises(NoQuorum):
        await group.complete(group.servers[leader].read_barrier(timeout_s=0.5))


async def test_a_storage_failure_stops_only_that_member(group):
    await group.start()
    leader = await group.wait_for_leader()
    broken = followers(group, leader)[0]
    group.disks[broken].fail_data_writes = True
    await group.complete(group.servers[leader].add_entry(command("set", "a", 1)))
    await group.run_until(lambda: any(fields.get("cause") == "storage"
                                      for fields in group.log.named("raft.member_failed")))
    with pytest.raises(RaftFailed):
        await group.complete(group.servers[broken].add_entry(command("set", "b", 1)))
    assert await group.complete(group.servers[leader].add_entry(command("set", "a", 2))) == 1


async def test_closing_a_member_fails_its_waiting_calls_and_big_commands_are_refused(group):
    await group.start()
    leader = await group.wait_for_leader()
    with pytest.raises(CommandTooLarge):
        await group.servers[leader].add_entry(b"x" * (CONFIG.max_command_bytes + 1))
    group.isolate(leader)
    waiting = asyncio.ensure_future(group.servers[leader].add_entry(command("set", "a", 1)))
    await group.advance(0.5)
    assert not waiting.done()
    await group.crash(leader)
    with pytest.raises(RaftClosed):
        await waiting
