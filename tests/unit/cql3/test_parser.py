"""Every statement kind parses to the right dataclass; syntax errors carry line/column."""

import math
import uuid

import pytest

from coordinator.cql3 import statements as st
from coordinator.cql3.parser import parse, parse_uncached
from node.errors import CqlSyntaxError, Invalid

T = st.TableName(None, "t")


@pytest.mark.parametrize("text, expected", [
    ("USE ks", st.Use("ks")),
    ('use "MyKs";', st.Use("MyKs")),
    ("TRUNCATE t", st.Truncate(T)),
    ("truncate table ks.t", st.Truncate(st.TableName("ks", "t"))),
    ("DROP TABLE IF EXISTS ks.t", st.DropTable(st.TableName("ks", "t"), True)),
    ("drop columnfamily t", st.DropTable(T, False)),
    ("DROP KEYSPACE ks", st.DropKeyspace("ks", False)),
    ("drop keyspace if exists KS", st.DropKeyspace("ks", True)),
    ("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}",
     st.CreateKeyspace("ks", False, (("class", "SimpleStrategy"), ("replication_factor", 3)))),
    ("create keyspace if not exists ks with replication = {'class': 'NetworkTopologyStrategy', "
     "'DC1': 2, 'dc2': '1'} and durable_writes = false",
     st.CreateKeyspace("ks", True, (("class", "NetworkTopologyStrategy"), ("DC1", 2),
                                    ("dc2", "1")), False)),
    ("ALTER TABLE t ADD v int", st.AlterTable(T, add=(st.ColumnSpec("v", "int"),))),
    ("alter table t add (a text, s int static)",
     st.AlterTable(T, add=(st.ColumnSpec("a", "text"), st.ColumnSpec("s", "int", True)))),
    ("ALTER TABLE t DROP v", st.AlterTable(T, drop=("v",))),
    ("alter table t drop (a, b)", st.AlterTable(T, drop=("a", "b"))),
    ("ALTER TABLE t WITH gc_grace_seconds = 10 AND default_time_to_live = 5",
     st.AlterTable(T, options=(("gc_grace_seconds", 10), ("default_time_to_live", 5)))),
    ("INSERT INTO t (k, v) VALUES (1, 'a')", st.Insert(T, ("k", "v"), (1, "a"))),
    ("insert into t (k, v) values (1, 2) using ttl 10 and timestamp 99",
     st.Insert(T, ("k", "v"), (1, 2), ttl=10, timestamp=99)),
    ("UPDATE t USING TIMESTAMP 5 SET v = 1, w = null WHERE k = 2",
     st.Update(T, (("v", 1), ("w", None)), (st.Relation("k", "=", 2),), timestamp=5)),
    ("DELETE FROM t WHERE k = 1", st.Delete(T, (), (st.Relation("k", "=", 1),))),
    ("delete a, b from t using timestamp 3 where k = 1 and c > 3",
     st.Delete(T, ("a", "b"), (st.Relation("k", "=", 1), st.Relation("c", ">", 3)), timestamp=3)),
    ("SELECT * FROM t", st.Select(T, None)),
    ("select count(*) from t", st.Select(T, (st.Selector("count"),))),
    ("select COUNT(1) AS n from t", st.Select(T, (st.Selector("count", (), "n"),))),
    ("SELECT k, token(k), ttl(v) AS t1, WRITETIME(v) FROM t WHERE k IN (1, 2) AND c >= 3 "
     "AND c < 9 ORDER BY c DESC PER PARTITION LIMIT 2 LIMIT 10 ALLOW FILTERING",
     st.Select(T, (st.Selector("column", ("k",)), st.Selector("token", ("k",)),
                   st.Selector("ttl", ("v",), "t1"), st.Selector("writetime", ("v",))),
               (st.Relation("k", "IN", (1, 2)), st.Relation("c", ">=", 3),
                st.Relation("c", "<", 9)),
               (("c", True),), 10, 2, True)),
    ("select * from t where token(k) > -5 and token(k) <= 5",
     st.Select(T, None, (st.TokenRelation(("k",), ">", -5), st.TokenRelation(("k",), "<=", 5)))),
    ("select * from t where k in ()", st.Select(T, None, (st.Relation("k", "IN", ()),))),
])
def test_statement_parses_to_dataclass(text, expected):
    assert parse_uncached(text) == expected


def test_create_table_composite_key_clustering_order_and_options():
    statement = parse(
        "CREATE TABLE IF NOT EXISTS ks.t (a int, b text, c timestamp, d uuid, s blob STATIC, "
        "v double, PRIMARY KEY ((a, b), c, d)) WITH CLUSTERING ORDER BY (c DESC, d ASC) "
        "AND compression = {'class': 'ZstdCompressor'} AND gc_grace_seconds = 0")
    assert isinstance(statement, st.CreateTable)
    assert statement.if_not_exists
    assert statement.table == st.TableName("ks", "t")
    assert statement.partition_key == ("a", "b")
    assert statement.clustering_key == ("c", "d")
    assert statement.clustering_order == (("c", True), ("d", False))
    assert statement.columns[4] == st.ColumnSpec("s", "blob", static=True)
    assert dict(statement.options) == {"compression": (("class", "ZstdCompressor"),),
                                       "gc_grace_seconds": 0}


def test_create_table_inline_primary_key():
    statement = parse("create table t (k int primary key, v text)")
    assert statement.columns[0] == st.ColumnSpec("k", "int", primary_key=True)
    assert statement.partition_key == ()


def test_batch_parses_statements_and_markers_across_them():
    statement = parse("BEGIN UNLOGGED BATCH USING TIMESTAMP 7 "
                      "INSERT INTO t (k, v) VALUES (?, ?); UPDATE t SET v = ? WHERE k = ?; "
                      "DELETE FROM t WHERE k = ? APPLY BATCH;")
    assert isinstance(statement, st.Batch)
    assert [type(s) for s in statement.statements] == [st.Insert, st.Update, st.Delete]
    assert not statement.logged and statement.timestamp == 7
    assert statement.bind_count == 5
    assert statement.statements[2].where[0].value == st.BindMarker(4)


def test_logged_batch_is_accepted_and_marked():
    statement = parse("begin batch insert into t (k) values (1) apply batch")
    assert isinstance(statement, st.Batch) and not statement.logged
    logged = parse("begin logged batch insert into t (k) values (1) apply batch")
    assert logged.logged


@pytest.mark.parametrize("literal, value", [
    ("42", 42), ("-42", -42), ("3.5", 3.5), ("-1.5e3", -1500.0), ("2E-2", 0.02),
    ("'it''s'", "it's"), ("$$a 'quoted' $$", "a 'quoted' "), ("0xCAFE", b"\xca\xfe"),
    ("0x", b""), ("true", True), ("FALSE", False), ("null", None),
    ("Infinity", math.inf), ("-infinity", -math.inf),
    ("123e4567-e89b-12d3-a456-426614174000", uuid.UUID("123e4567-e89b-12d3-a456-426614174000")),
])
def test_literals(literal, value):
    statement = parse_uncached(f"INSERT INTO t (v) VALUES ({literal})")
    assert statement.values == (value,)
    assert type(statement.values[0]) is type(value)


def test_nan_literal():
    (value,) = parse_uncached("insert into t (v) values (NaN)").values
    assert math.isnan(value)


def test_identifiers_quoted_keep_case_unquoted_lower():
    statement = parse_uncached('SELECT "MixedCase", Lower, "with ""quote""" FROM "Ks"."Tab"')
    assert [s.columns[0] for s in statement.selectors] == ["MixedCase", "lower", 'with "quote"']
    assert statement.table == st.TableName("Ks", "Tab")


def test_unreserved_keywords_are_column_names():
    statement = parse_uncached("select key, ttl, timestamp, count, token, writetime from t "
                               "where key = 1")
    assert [s.columns[0] for s in statement.selectors] == [
        "key", "ttl", "timestamp", "count", "token", "writetime"]
    assert statement.where[0].column == "key"


def test_comments_case_and_trailing_semicolon():
    text = ("/* block\n comment */ sElEcT * -- line comment\n"
            "FrOm t // another\n WHERE k = 1 ;")
    assert parse_uncached(text) == st.Select(T, None, (st.Relation("k", "=", 1),))


def test_positional_and_named_markers_are_numbered_in_text_order():
    statement = parse_uncached("select * from t where k = ? and c IN ? and d = :dee limit ?")
    assert statement.bind_count == 4
    assert statement.bind_names == (None, None, "dee", None)
    assert statement.where[1] == st.Relation("c", "IN", st.BindMarker(1))
    assert statement.where[2].value == st.BindMarker(2, "dee")
    assert statement.limit == st.BindMarker(3)


def test_parse_is_cached_by_text():
    parse.cache_clear()
    first = parse("select * from cached_t")
    assert parse("select * from cached_t") is first
    assert parse.cache_info().hits == 1


@pytest.mark.parametrize("text, line, column, fragment", [
    ("SELECT * FORM t", 1, 9, "no viable alternative at input 'FORM'"),
    ("SELECT * FROM", 1, 13, "mismatched input '<EOF>'"),
    ("select *\nfrom t\nwhere k == 1", 3, 9, "no viable alternative at input '='"),
    ("select # from t", 1, 7, "no viable alternative at character '#'"),
    ("insert into t (k) values (0x123)", 1, 26, "invalid hex blob"),
    ("", 1, 0, "mismatched input '<EOF>'"),
    ("select * from t; select * from t", 1, 17, "no viable alternative at input 'select'"),
])
def test_syntax_errors_give_line_and_column(text, line, column, fragment):
    with pytest.raises(CqlSyntaxError) as caught:
        parse_uncached(text)
    error = caught.value
    assert error.name == "SyntaxError" and error.code == 0x2000
    assert (error.details["line"], error.details["column"]) == (line, column)
    assert fragment in error.message
    assert error.message.startswith(f"line {line}:{column} ")


@pytest.mark.parametrize("text, fragment", [
    ("INSERT INTO t (k) VALUES (1) IF NOT EXISTS", "lightweight transactions are not supported"),
    ("UPDATE t SET v = 1 WHERE k = 1 IF v = 2", "lightweight transactions are not supported"),
    ("DELETE FROM t WHERE k = 1 IF EXISTS", "lightweight transactions are not supported"),
    ("INSERT INTO t (k, v) VALUES (1)", "Unmatched column names/values"),
    ("DELETE FROM t USING TTL 4 WHERE k = 1", "TTL"),
    ("BEGIN BATCH USING TTL 4 INSERT INTO t (k) VALUES (1) APPLY BATCH", "TTL"),
    ("CREATE TABLE t (k int PRIMARY KEY) WITH COMPACT STORAGE", "COMPACT STORAGE"),
    ("CREATE KEYSPACE ks WITH durable_writes = true", "replication"),
    ("insert into t (k) values (1) using ttl 1 and ttl 2", "Duplicate USING TTL"),
])
def test_refused_constructs_are_invalid(text, fragment):
    with pytest.raises(Invalid) as caught:
        parse_uncached(text)
    assert fragment in caught.value.message
