"""The checker judges histories by the definitions in its docstring; it must flag
stale reads and lost writes, and must not flag what an unknown write explains."""

from scripts.nemesis.checker import check
from scripts.nemesis.history import FaultPeriod, History, Operation


def op(kind, key, value, status, start, end, node="n1", consistency="QUORUM", error=None):
    return Operation(kind, key, value, status, start, end, node, consistency, error)


def history_of(*operations, faults=()):
    return History(list(operations), list(faults))


def test_a_clean_history_is_valid():
    verdict = check(history_of(
        op("write", 0, 1, "ok", 0.0, 0.1), op("read", 0, 1, "ok", 0.2, 0.3),
        op("write", 0, 2, "ok", 0.4, 0.5), op("read", 0, 2, "ok", 0.6, 0.7),
        op("final_read", 0, 2, "ok", 9.0, 9.1, consistency="ALL")))
    assert verdict.valid
    assert verdict.counts["write"] == {"ok": 2, "fail": 0, "unknown": 0}
    assert (verdict.stale_reads, verdict.lost_writes, verdict.impossible_reads) == (0, 0, 0)


def test_a_read_older_than_an_acknowledged_write_is_stale():
    verdict = check(history_of(
        op("write", 0, 1, "ok", 0.0, 0.1), op("write", 0, 2, "ok", 0.2, 0.3),
        op("read", 0, 1, "ok", 0.4, 0.5, node="n3", consistency="ONE"),
        op("read", 0, None, "ok", 0.6, 0.7),
        op("final_read", 0, 2, "ok", 9.0, 9.1)))
    assert not verdict.valid
    assert verdict.stale_reads == 2
    assert "stale read of 1" in verdict.examples[0]


def test_a_read_concurrent_with_a_write_may_see_the_older_value():
    verdict = check(history_of(
        op("write", 0, 1, "ok", 0.0, 0.1), op("write", 0, 2, "ok", 0.2, 0.6),
        op("read", 0, 1, "ok", 0.5, 0.55), op("final_read", 0, 2, "ok", 9.0, 9.1)))
    assert verdict.valid


def test_an_unknown_write_may_take_effect_late_without_being_stale_or_lost():
    verdict = check(history_of(
        op("write", 0, 1, "unknown", 0.0, 2.0, error="WriteTimeout"),
        op("write", 0, 2, "ok", 2.1, 2.2), op("read", 0, 1, "ok", 3.0, 3.1),
        op("final_read", 0, 1, "ok", 9.0, 9.1)))
    assert verdict.valid, verdict.lines()


def test_acknowledged_writes_missing_from_the_final_read_are_lost():
    verdict = check(history_of(
        op("write", 0, 1, "ok", 0.0, 0.1), op("write", 0, 2, "ok", 0.2, 0.3),
        op("write", 0, 3, "ok", 0.4, 0.5), op("final_read", 0, 1, "ok", 9.0, 9.1)))
    assert not verdict.valid
    assert verdict.lost_writes == 2


def test_a_failed_write_that_becomes_visible_is_impossible():
    verdict = check(history_of(
        op("write", 0, 1, "fail", 0.0, 0.1, error="Unavailable"), op("read", 0, 1, "ok", 0.2, 0.3),
        op("read", 0, 7, "ok", 0.2, 0.3), op("final_read", 0, None, "ok", 9.0, 9.1)))
    assert verdict.impossible_reads == 2 and not verdict.valid


def test_a_key_whose_final_read_failed_is_unchecked_and_invalid():
    verdict = check(history_of(
        op("write", 3, 1, "ok", 0.0, 0.1), op("final_read", 3, None, "fail", 9.0, 9.1, error="Unavailable")))
    assert verdict.unchecked_keys == [3] and not verdict.valid


def test_history_round_trips_through_json_lines(tmp_path):
    history = history_of(op("write", 0, 1, "ok", 0.0, 0.1),
                         faults=[FaultPeriod("kill", "n2", 0.05, 0.2, {"pid": 1})])
    history.write_jsonl(tmp_path / "h.jsonl")
    again = History.read_jsonl(tmp_path / "h.jsonl")
    assert again == history
    assert check(again).counts == check(history).counts
