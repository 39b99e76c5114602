"""The shell, stress and nemesis tools against an in-process cluster served over HTTP."""

import asyncio
import io
import json

from scripts.cluster_client import AsyncCqlClient, request_json
from scripts.shell.cql_shell import Shell
from scripts.nemesis.runner import NemesisRun, NemesisSettings
from scripts.nemesis.workload import WorkloadSettings
from scripts.stress.runner import StressSettings, run_stress

KEYSPACE = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3};"


def new_shell(target, answers=()):
    replies = iter(answers)
    out, err = io.StringIO(), io.StringIO()
    asked = []

    def ask(prompt):
        asked.append(prompt)
        return next(replies, "")

    shell = Shell(target, out=out, err=err, ask=ask if answers else None, timeout_s=10)
    return shell, out, err, asked


async def test_the_shell_runs_statements_keeps_its_keyspace_and_describes(served_cluster):
    _, target = served_cluster
    shell, out, err, _ = new_shell(target)
    script = (KEYSPACE + "\nUSE ks;\nCREATE TABLE t (k int, c int, v text,\n PRIMARY KEY (k, c));\n"
              "INSERT INTO t (k, c, v) VALUES (1, 2, 'two');\nINSERT INTO t (k, c, v) VALUES (1, 10, 'ten');\n"
              "CONSISTENCY QUORUM\nSELECT * FROM t WHERE k = 1;\nDESCRIBE TABLES\nDESCRIBE TABLE t\n"
              "DESCRIBE KEYSPACES\n")
    failures = await asyncio.to_thread(shell.run_script, script)
    assert failures == 0, err.getvalue()
    text = out.getvalue()
    assert shell.state.keyspace == "ks" and shell.state.consistency == "QUORUM"
    assert " k |  c | v\n---+----+-----\n 1 |  2 | two\n 1 | 10 | ten\n\n(2 rows)" in text
    assert "CREATE TABLE ks.t (" in text and "PRIMARY KEY (k, c)" in text
    assert "Keyspace ks" in text


async def test_the_shell_reports_errors_and_counts_them(served_cluster):
    _, target = served_cluster
    shell, out, err, _ = new_shell(target)
    failures = await asyncio.to_thread(shell.run_script, "SELEC x;\nCONSISTENCY MAYBE\nPAGING 0\n"
                                       "DESCRIBE TABLE nowhere.none\nSOURCE '/no/such/file'\n")
    assert failures == 5
    assert "SyntaxError: code=0x2000" in err.getvalue()


async def test_tracing_prints_the_trace_and_source_runs_a_file(served_cluster, tmp_path):
    _, target = served_cluster
    script = tmp_path / "setup.cql"
    script.write_text(KEYSPACE + "\nCREATE TABLE ks.kv (k int PRIMARY KEY, v int);\n"
                      "INSERT INTO ks.kv (k, v) VALUES (5, 50);\n")
    shell, out, err, _ = new_shell(target)
    failures = await asyncio.to_thread(shell.run_script, f"SOURCE '{script}'\nTRACING ON\n"
                                       "SELECT v FROM ks.kv WHERE k = 5;")
    assert failures == 0, err.getvalue()
    text = out.getvalue()
    assert "Tracing session:" in text and " parsed " in text and " done " in text
    assert text.index("(1 rows)") < text.index("Tracing session:")


async def test_paging_shows_more_between_pages_when_interactive(served_cluster):
    """Pages follow the node's paging_state; the shell asks ---MORE--- between them."""
    _, target = served_cluster
    shell, out, err, asked = new_shell(target, answers=["", "", ""])
    pages = [{"columns": [{"name": "k", "type": "int"}], "rows": [[1], [2]], "paging_state": "p1"},
             {"columns": [{"name": "k", "type": "int"}], "rows": [[3]], "paging_state": None}]
    sent = []

    def fake_cql(query, paging_state=None):
        sent.append(paging_state)
        return pages[len(sent) - 1]

    shell._cql = fake_cql
    assert shell.execute("PAGING 2") and shell.execute("SELECT k FROM t")
    assert asked == ["---MORE---"] and sent == [None, "p1"]
    assert "(3 rows)" in out.getvalue()


async def test_the_schema_route_lists_keyspaces_and_tables(served_cluster):
    cluster, target = served_cluster
    await cluster.execute("n1", KEYSPACE)
    await cluster.execute("n1", "CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
    schema = await asyncio.to_thread(request_json, target.urls[2], "GET", "/v1/schema")
    (keyspace,) = [entry for entry in schema["keyspaces"] if entry["name"] == "ks"]
    assert keyspace["replication"]["replication_factor"] == 3
    assert [table["name"] for table in keyspace["tables"]] == ["t"]
    assert keyspace["tables"][0]["columns"][0] == {"name": "k", "type": "int", "kind": "partition_key",
                                                   "descending": False}


async def test_stress_runs_a_workload_over_every_node_without_errors(served_cluster):
    _, target = served_cluster
    out = io.StringIO()
    settings = StressSettings(workload="KeyValue", operations=300, partitions=50, read_ratio=0.5,
                              concurrency=8, consistency="QUORUM", populate=20, report_interval_s=0.2)
    document = await run_stress(settings, target.urls, out)
    assert document["errors"]["count"] == 0, document["errors"]
    assert document["writes"]["count"] + document["reads"]["count"] == 300
    assert document["reads"]["count"] > 0 and document["writes"]["p99_ms"] is not None
    assert "Summary: 300 operations" in out.getvalue()
    json.dumps(document)
    time_series = await run_stress(StressSettings(workload="TimeSeries", operations=100, partitions=5,
                                                  read_ratio=0.5, concurrency=4), target.urls, io.StringIO())
    assert time_series["errors"]["count"] == 0


async def test_a_partition_with_one_and_one_and_no_hints_gives_stale_reads(served_cluster_without_hints):
    """Partition a replica: writes at ONE on one side, reads at ONE on the other side
    read the local, older copy (every node is a replica of every key at RF 3, and a
    coordinator reads its own copy first). The checker must say INVALID."""
    cluster, target = served_cluster_without_hints
    settings = NemesisSettings(faults=("partition",), interval_s=1.5, time_limit_s=3.5, seed=3,
                               workload=WorkloadSettings(keys=4, workers=6, write_consistency="ONE",
                                                         read_consistency="ONE", request_timeout_s=5.0))
    client = AsyncCqlClient(timeout_s=5.0)
    try:
        run = NemesisRun(settings, target, io.StringIO(), client)
        verdict = await run.run()
    finally:
        await client.aclose()
    assert [fault.fault for fault in run.history.faults] == ["partition"]
    assert verdict.stale_reads > 0, verdict.lines()
    assert not verdict.valid
    assert verdict.unchecked_keys == []
