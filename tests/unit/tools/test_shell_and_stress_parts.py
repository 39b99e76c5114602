"""Pure parts of the shell and stress tools: statement splitting, tables, DESCRIBE
text, counts and durations."""

import argparse

import pytest

from scripts.shell import formatting as fmt
from scripts.shell.line_input import StatementSplitter, split_statements
from scripts.stress.runner import parse_count, parse_duration_s, parse_ratio, replication_literal
from scripts.stress.report import LiveReporter, StressStatistics, summary_document, summary_lines


def test_statements_end_at_semicolons_outside_strings_and_comments():
    splitter = StatementSplitter()
    assert splitter.feed("SELECT * FROM t") == [] and splitter.pending
    assert splitter.feed("  WHERE k = 'a;b''c'; INSERT INTO t (k) VALUES (1) -- done; not yet") == [
        "SELECT * FROM t\n  WHERE k = 'a;b''c'"]
    assert splitter.pending
    assert splitter.feed(";") == ["INSERT INTO t (k) VALUES (1)"]
    assert not splitter.pending
    assert split_statements('/* a; */ USE "we;ird";\nSELECT 1 // x;\n') == ['USE "we;ird"', "SELECT 1"]


def test_tables_align_every_column():
    lines = fmt.table_lines(["k", "value"], [[1, "a"], [100, None], [7, "long text"]])
    assert lines[0] == "   k | value"
    assert lines[1] == "-----+-----------"
    assert lines[2:] == ["   1 | a", " 100 | null", "   7 | long text"]
    assert len({line.index("|") for line in lines if "|" in line}) == 1


def test_describe_rebuilds_cql_from_the_schema_document():
    table = {"keyspace": "ks", "name": "t", "options": {"default_time_to_live": 0, "gc_grace_seconds": 10},
             "columns": [{"name": "k", "type": "int", "kind": "partition_key"},
                         {"name": "c", "type": "text", "kind": "clustering", "descending": True},
                         {"name": "s", "type": "int", "kind": "static"},
                         {"name": "v", "type": "blob", "kind": "regular"}]}
    text = fmt.table_cql(table)
    assert "PRIMARY KEY (k, c)" in text and "s int static" in text
    assert "CLUSTERING ORDER BY (c DESC)" in text and "gc_grace_seconds = 10" in text
    schema = {"keyspaces": [{"name": "ks", "replication": {"class": "SimpleStrategy",
                                                           "replication_factor": 3}, "tables": [table]}]}
    assert fmt.find_table(schema, "ks.t", None) is table
    assert fmt.find_table(schema, "t", "ks") is table and fmt.find_table(schema, "t", "other") is None
    assert fmt.keyspace_cql(schema["keyspaces"][0]) == (
        "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3};")


def test_counts_durations_and_ratios_parse_like_tlp_stress():
    assert parse_count("20k") == 20_000 and parse_count("1m") == 1_000_000 and parse_count("500") == 500
    assert parse_duration_s("1m30s") == 90.0 and parse_duration_s("2h") == 7200.0
    assert parse_duration_s("45") == 45.0 and parse_duration_s("500ms") == 0.5
    assert parse_ratio(".5") == 0.5
    for bad, parser in (("ten", parse_count), ("0", parse_count), ("1x", parse_duration_s),
                        ("1.5", parse_ratio)):
        with pytest.raises(argparse.ArgumentTypeError):
            parser(bad)
    assert "'replication_factor': 2" in replication_literal("2")


def test_live_lines_repeat_their_header_every_ten_lines_and_the_summary_has_percentiles():
    import io

    out = io.StringIO()
    statistics = StressStatistics()
    reporter = LiveReporter(out)
    for second in range(12):
        statistics.record_ok("write", 1000 * (second + 1))
        statistics.record_ok("read", 500)
        reporter.report(statistics, 1.0)
    statistics.record_error("read", "ReadTimeout", "slow")
    lines = out.getvalue().splitlines()
    assert len(lines) == 12 + 2 * 2 and lines[0].split() == ["Writes", "|", "Reads", "|", "Errors"]
    assert lines[12] == lines[0]
    document = summary_document(statistics, 2.0, {"workload": "KeyValue"})
    assert document["writes"]["count"] == 12 and document["reads"]["count"] == 12
    assert document["writes"]["max_ms"] == pytest.approx(12.0, rel=0.01)
    assert document["errors"] == {"count": 1, "by_name": {"ReadTimeout": 1}, "first": "read: ReadTimeout: slow"}
    text = "\n".join(summary_lines(document))
    assert "p999 ms" in text and "Writes" in text and "ReadTimeout: 1" in text
