"""SELECT analysis: partition keys, token ranges, clustering ranges, selectors, errors."""

import pytest

from coordinator.cql3 import parse, plan
from coordinator.service.plans import ClusteringBound, ClusteringRange, TokenBound, TokenRange
from node.errors import Invalid
from node.dht.token import token_of


def read(schema, text, params=None):
    return plan(parse(text), schema, "ks", params)


def test_single_partition_with_equal(schema):
    result = read(schema, "SELECT * FROM kv WHERE k = 5")
    (key,) = result.partition_keys
    assert key.values == (5,) and key.key == b"\x00\x00\x00\x05" and key.token == token_of(key.key)
    assert [s.name for s in result.selectors] == ["k", "b", "f", "n", "v"]
    assert result.clustering_ranges == (ClusteringRange(),)


def test_in_expands_cartesian_product_deduplicated_in_token_order(schema):
    result = read(schema, "SELECT * FROM comp WHERE a IN (1, 2, 1) AND b IN ('x', 'y')")
    keys = result.partition_keys
    assert len(keys) == 4
    assert {k.values for k in keys} == {(1, "x"), (1, "y"), (2, "x"), (2, "y")}
    assert [k.token for k in keys] == sorted(k.token for k in keys)
    table = schema.tables["comp"]
    assert keys[0].key == table.serialize_partition_key(list(keys[0].values))


def test_in_with_bound_list(schema):
    result = read(schema, "SELECT * FROM kv WHERE k IN ?", [[3, 4]])
    assert sorted(k.values for k in result.partition_keys) == [(3,), (4,)]


def test_token_range(schema):
    result = read(schema, "SELECT * FROM kv WHERE token(k) > ? AND token(k) <= 100", [-7])
    assert result.partition_keys is None
    assert result.token_range == TokenRange(TokenBound(-7, False), TokenBound(100, True))
    assert result.token_range.contains(100) and not result.token_range.contains(-7)


def test_no_where_is_a_full_range_scan(schema):
    result = read(schema, "SELECT k FROM kv LIMIT 5")
    assert result.partition_keys is None and result.token_range == TokenRange()
    assert result.limit == 5


def test_clustering_slice_on_desc_column_is_in_byte_order(schema):
    table = schema.tables["wide"]
    result = read(schema, "SELECT * FROM wide WHERE k = 1 AND c1 > 3 AND c1 <= 8")
    (clustering_range,) = result.clustering_ranges
    # c1 DESC: larger values come first, so the upper value bound is the start.
    assert clustering_range == ClusteringRange(ClusteringBound(table.encode_clustering((8,)), True),
                                               ClusteringBound(table.encode_clustering((3,)), False))
    for c1, inside in [(9, False), (8, True), (5, True), (3, False), (2, False)]:
        assert clustering_range.contains(table.encode_clustering((c1, "z"))) is inside


def test_clustering_prefix_equal_then_slice(schema):
    table = schema.tables["wide"]
    result = read(schema, "SELECT * FROM wide WHERE k = 1 AND c1 = 1 AND c2 > 'm'")
    (clustering_range,) = result.clustering_ranges
    assert clustering_range.start == ClusteringBound(table.encode_clustering((1, "m")), False)
    assert clustering_range.end == ClusteringBound(table.encode_clustering((1,)), True)
    assert clustering_range.contains(table.encode_clustering((1, "n")))
    assert not clustering_range.contains(table.encode_clustering((1, "m")))
    assert not clustering_range.contains(table.encode_clustering((0, "z")))
    assert not clustering_range.contains(table.encode_clustering((2, "z")))


def test_clustering_in_gives_sorted_point_ranges(schema):
    table = schema.tables["wide"]
    result = read(schema, "SELECT * FROM wide WHERE k = 1 AND c1 IN (1, 5, 1)")
    starts = [r.start.prefix for r in result.clustering_ranges]
    assert starts == [table.encode_clustering((5,)), table.encode_clustering((1,))]
    assert all(r.start == r.end and r.start.inclusive for r in result.clustering_ranges)


def test_selectors_names_and_types(schema):
    result = read(schema, "SELECT token(k), ttl(v), writetime(s) AS w, v FROM wide WHERE k = 1")
    assert [(s.kind, s.name, s.type.name) for s in result.selectors] == [
        ("token", "system.token(k)", "bigint"), ("ttl", "ttl(v)", "int"),
        ("writetime", "w", "bigint"), ("column", "v", "text")]
    assert result.columns == ("v", "s")


def test_count(schema):
    result = read(schema, "SELECT COUNT(*) FROM kv")
    assert result.is_count and result.selectors[0].type.name == "bigint"


def test_order_by_reverses_relative_to_clustering_order(schema):
    assert read(schema, "SELECT * FROM wide WHERE k = 1 ORDER BY c1 ASC").reversed
    assert not read(schema, "SELECT * FROM wide WHERE k = 1 ORDER BY c1 DESC, c2 ASC").reversed
    assert read(schema, "SELECT * FROM wide WHERE k IN (1, 2) ORDER BY c1 ASC, c2 DESC").reversed


def test_allow_filtering_makes_filters(schema):
    result = read(schema, "SELECT * FROM kv WHERE v = 'a' AND n > 3 AND n <= 9 ALLOW FILTERING")
    assert [(f.column, f.operator, f.values) for f in result.filters] == [
        ("v", "=", ("a",)), ("n", ">", (3,)), ("n", "<=", (9,))]
    assert result.filters[1].matches(4) and not result.filters[1].matches(3)
    assert not result.filters[0].matches(None)


def test_clustering_column_skipping_needs_filtering_and_becomes_a_filter(schema):
    result = read(schema, "SELECT * FROM wide WHERE k = 1 AND c2 = 'x' ALLOW FILTERING")
    assert [(f.column, f.operator) for f in result.filters] == [("c2", "=")]
    assert result.clustering_ranges == (ClusteringRange(),)


def test_per_partition_limit_and_limit_markers(schema):
    result = read(schema, "SELECT * FROM wide PER PARTITION LIMIT ? LIMIT ?", [2, 10])
    assert (result.per_partition_limit, result.limit) == (2, 10)


def test_named_markers_bound_by_dict(schema):
    result = read(schema, "SELECT * FROM comp WHERE a = :a AND b = :b", {"a": 1, "b": "x"})
    assert result.partition_keys[0].values == (1, "x")


@pytest.mark.parametrize("text, params, fragment", [
    ("SELECT * FROM nope", None, "unconfigured table nope"),
    ("SELECT * FROM other.kv", None, "Keyspace other does not exist"),
    ("SELECT x FROM kv", None, "Undefined column name x"),
    ("SELECT * FROM kv WHERE x = 1", None, "Undefined column name x"),
    ("SELECT * FROM kv WHERE k = 'a'", None, 'Invalid STRING constant (a) for "k" of type int'),
    ("SELECT * FROM kv WHERE k = 1.5", None, "Invalid FLOAT constant"),
    ("SELECT * FROM kv WHERE k = 99999999999", None, "Invalid INTEGER constant"),
    ("SELECT * FROM kv WHERE k = ?", ["a"], "Invalid value 'a' for type int"),
    ("SELECT * FROM kv WHERE k = ?", [], "There were 1 markers(?) in CQL but 0 bound variables"),
    ("SELECT * FROM kv WHERE v = 'a'", None, "ALLOW FILTERING"),
    ("SELECT * FROM wide WHERE c1 = 1", None, "ALLOW FILTERING"),
    ("SELECT * FROM comp WHERE a = 1", None, "Partition key parts: b must be restricted"),
    ("SELECT * FROM kv WHERE k > 1", None, "Only EQ and IN relation are supported"),
    ("SELECT * FROM kv WHERE k = 1 AND k = 2", None, "cannot be restricted by more than one"),
    ("SELECT * FROM kv WHERE k = null", None, "Invalid null value in condition for column k"),
    ("SELECT * FROM wide WHERE k = 1 AND c2 = 'x'", None,
     'PRIMARY KEY column "c2" cannot be restricted as preceding column "c1" is not restricted'),
    ("SELECT * FROM wide WHERE k = 1 AND c1 > 1 AND c2 = 'x'", None,
     'Clustering column "c2" cannot be restricted (preceding column "c1" is restricted by a '
     'non-EQ relation)'),
    ("SELECT * FROM wide WHERE k = 1 AND c1 > 1 AND c1 > 2", None,
     "More than one restriction was found for the start bound on c1"),
    ("SELECT * FROM wide ORDER BY c1 DESC", None, "ORDER BY is only supported when the "
     "partition key is restricted by an EQ or an IN."),
    ("SELECT * FROM wide WHERE k = 1 ORDER BY v DESC", None, "only supported on the clustered"),
    ("SELECT * FROM wide WHERE k = 1 ORDER BY c2, c1", None, "following their declared order"),
    ("SELECT * FROM wide WHERE k = 1 ORDER BY c1 DESC, c2 DESC", None,
     "Unsupported order by relation"),
    ("SELECT * FROM kv WHERE token(v) > 3", None, "must be in the partition key order: k"),
    ("SELECT * FROM kv WHERE token(k) > 3 AND k = 1", None, "both a normal relation and a token"),
    ("SELECT * FROM kv LIMIT 0", None, "LIMIT must be strictly positive"),
    ("SELECT ttl(k) FROM kv", None, "Cannot use selection function ttl on PRIMARY KEY part k"),
    ("SELECT * FROM kv WHERE v != 'a' ALLOW FILTERING", None, 'Unsupported "!="'),
    ("SELECT * FROM kv WHERE k IN ?", [5], "Invalid list value"),
])
def test_invalid_selects(schema, text, params, fragment):
    with pytest.raises(Invalid) as caught:
        read(schema, text, params)
    assert caught.value.code == 0x2200
    assert fragment in caught.value.message


def test_no_session_keyspace_is_invalid(schema):
    with pytest.raises(Invalid, match="No keyspace has been specified"):
        plan(parse("SELECT * FROM kv"), schema, None)
