"""The operator tools against a real cluster of processes, as a user runs them:
``shardsim cql -e``, ``shardsim stress run``, and one fault run of kill and partition
at QUORUM/QUORUM that must end valid with no acknowledged write lost, even with hints
disabled. (The stale reads a ONE/ONE partition gives are checked in-process, in
tests/unit/tools.) This is the suite's one long test: its fault run lasts 30 s.
"""

import json

import pytest

pytestmark = pytest.mark.integration

SETTINGS = ("hints.enabled=false", "failure_detector.timeout_ms=1500")


def test_shell_stress_and_a_quorum_fault_run_against_launched_processes(launch_cluster, tmp_path):
    cluster = launch_cluster(nodes=3, shards=2, settings=SETTINGS)

    result = cluster.shardsim("cql", "-e", "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                              "'replication_factor': 3}; USE ks; CREATE TABLE t (k int PRIMARY KEY, v text);"
                              "INSERT INTO t (k, v) VALUES (1, 'one'); SELECT * FROM t WHERE k = 1;"
                              "DESCRIBE TABLE t")
    assert " 1 | one" in result.stdout and "(1 rows)" in result.stdout
    assert "CREATE TABLE ks.t (" in result.stdout
    failed = cluster.shardsim("cql", "-e", "SELECT * FROM nowhere.t WHERE k = 1", check=False)
    assert failed.returncode == 2 and "Invalid" in failed.stderr

    summary_path = tmp_path / "stress.json"
    stress = cluster.shardsim("stress", "run", "KeyValue", "-n", "2k", "-p", "200", "-r", ".5", "-c", "16",
                              "--json", str(summary_path))
    summary = json.loads(summary_path.read_text())
    assert summary["errors"]["count"] == 0, stress.stdout
    assert summary["writes"]["count"] + summary["reads"]["count"] == 2000
    assert "Writes" in stress.stdout and "Summary: 2000 operations" in stress.stdout

    out_dir = tmp_path / "run"
    run = cluster.shardsim("nemesis", "run", "--faults", "kill,partition", "--time-limit", "30",
                           "--interval", "5", "--seed", "3", "--out", str(out_dir), check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.rstrip().endswith("valid")
    verdict = json.loads((out_dir / "verdict.json").read_text())
    assert verdict["valid"] and verdict["lost_writes"] == 0 and verdict["stale_reads"] == 0
    assert verdict["counts"]["write"]["ok"] > 0 and verdict["counts"]["read"]["ok"] > 0
    history = [json.loads(line) for line in (out_dir / "history.jsonl").read_text().splitlines()]
    faults = [entry for entry in history if entry["kind"] == "fault"]
    assert {fault["fault"] for fault in faults} == {"kill", "partition"}
    assert all(fault["end_s"] > fault["start_s"] for fault in faults)
    report = (out_dir / "report.html").read_text()
    assert report.count('class="fault"') == 2 * len(faults)
    assert cluster.sees("n1", {"n1": "UP", "n2": "UP", "n3": "UP"}), "the run heals every fault"
