"""Calls waiting for the applier: each resolved once, by its entry, a snapshot, a
failure or its own caller; and bounded."""

import pytest

from node.errors import AlreadyExists
from node.raft.errors import EntryDropped, OutcomeUnknown, RaftClosed, TooManyPending
from node.raft.waiters import Applied, ApplyWaiters


async def test_an_entry_resolves_its_term_and_any_index_waiter_and_drops_other_terms():
    waiters = ApplyWaiters(10)
    mine, other_term, any_term = (waiters.wait_for(5, 2), waiters.wait_for(5, 1),
                                  waiters.wait_for(5))
    waiters.applied(Applied(5, 2, "result"))
    assert mine.result().unwrap() == "result" and any_term.result() is None
    with pytest.raises(EntryDropped):
        other_term.result()
    assert len(waiters) == 0


async def test_a_snapshot_resolves_index_waiters_and_leaves_term_waiters_unknown():
    waiters = ApplyWaiters(10)
    term_waiter, index_waiter, later = (waiters.wait_for(3, 1), waiters.wait_for(4),
                                        waiters.wait_for(9, 1))
    waiters.skipped_to(6)
    assert index_waiter.result() is None
    with pytest.raises(OutcomeUnknown):
        term_waiter.result()
    assert not later.done() and len(waiters) == 1
    waiters.fail_all(RaftClosed("closed"))
    with pytest.raises(RaftClosed):
        later.result()


async def test_waiters_are_bounded_and_a_discarded_one_frees_its_place():
    waiters = ApplyWaiters(2)
    first = waiters.wait_for(1, 1)
    waiters.wait_for(2)
    with pytest.raises(TooManyPending):
        waiters.wait_for(3)
    waiters.discard(1, first)
    assert first.cancelled() and len(waiters) == 1
    waiters.wait_for(3)
    waiters.applied(Applied(1, 1))   # nobody waits at 1 any more: nothing to resolve


async def test_an_error_outcome_is_raised_by_unwrap():
    outcome = Applied(1, 1, error=AlreadyExists("t exists"))
    with pytest.raises(AlreadyExists):
        outcome.unwrap()
