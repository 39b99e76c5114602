"""A seed gives one schedule; the report is one self-contained page showing faults."""

import re

import pytest

from scripts.nemesis.checker import check
from scripts.nemesis.history import FaultPeriod, History, Operation
from scripts.nemesis.metrics import MetricsTracker, parse_prometheus
from scripts.nemesis.report import render_report
from scripts.nemesis.schedule import parse_faults, plan_schedule


def test_one_seed_gives_one_schedule_alternating_faults_and_quiet_periods():
    first = plan_schedule(["kill", "partition"], ["n1", "n2", "n3"], 5.0, 60.0, seed=1)
    assert first == plan_schedule(["kill", "partition"], ["n3", "n1", "n2"], 5.0, 60.0, seed=1)
    assert [(p.start_s, p.end_s) for p in first] == [(5.0 + 10 * i, 10.0 + 10 * i) for i in range(6)]
    assert {p.fault for p in first} <= {"kill", "partition"}
    assert {p.node for p in first} <= {"n1", "n2", "n3"}
    others = [plan_schedule(["kill", "partition"], ["n1", "n2", "n3"], 5.0, 60.0, seed=s) for s in range(2, 8)]
    assert any(other != first for other in others)
    assert plan_schedule([], ["n1"], 5.0, 60.0, seed=1) == []


def test_fault_names_are_checked():
    assert parse_faults("kill, partition,kill") == ["kill", "partition"]
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults("kill,meteor")


def test_the_report_is_self_contained_and_shades_every_fault_period():
    history = History(
        [Operation("write", 0, 1, "ok", 0.5, 0.52, "n1", "QUORUM"),
         Operation("read", 0, 1, "unknown", 6.0, 8.0, "n2", "QUORUM", "ReadTimeout"),
         Operation("final_read", 0, 1, "ok", 20.0, 20.1, "n1", "ALL")],
        [FaultPeriod("kill", "n2", 5.0, 10.0), FaultPeriod("partition", "n3", 15.0, 18.0)])
    page = render_report(history, check(history), {"seed": 1})
    assert page.startswith("<!DOCTYPE html>") and "valid" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "no external asset"
    assert page.count('class="fault"') == 2 * 2  # two faults, on both charts
    assert "kill n2" in page and "partition n3" in page
    assert "<svg" in page and "<script" not in page


def test_metrics_totals_survive_a_restarted_node():
    text = ('# TYPE shardsim_coordinator_read_repairs counter\n'
            'shardsim_coordinator_read_repairs{node="n1",shard="0"} 5\n'
            'shardsim_hints_written{node="n1",shard="0"} 2\n'
            'shardsim_storage_reads{node="n1",shard="0"} 9\n')
    series = parse_prometheus(text)
    assert series[("shardsim_coordinator_read_repairs", '{node="n1",shard="0"}')] == 5.0

    class FakeClient:
        def __init__(self, texts):
            self.texts = iter(texts)

        async def get_text(self, url, path, timeout_s=None):
            return next(self.texts)

    import asyncio

    restarted = text.replace("} 5", "} 1").replace("} 2", "} 0")
    later = text.replace("} 5", "} 4").replace("} 2", "} 3")
    tracker = MetricsTracker(FakeClient([text, restarted, later]), ["http://n1"])
    for _ in range(3):
        asyncio.run(tracker.sample())
    assert tracker.report() == {"read repairs": 1 + 3, "hints written": 0 + 3}
