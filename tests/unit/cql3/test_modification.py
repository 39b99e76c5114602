"""INSERT / UPDATE / DELETE / BATCH analysis into WritePlans, and their errors."""

import pytest

from coordinator.cql3 import parse, plan
from node.errors import Invalid


def write(schema, text, params=None):
    return plan(parse(text), schema, "ks", params)


def test_insert_writes_row_marker_cells_and_tombstones(schema):
    (result,) = write(schema, "INSERT INTO kv (k, v, n) VALUES (1, 'a', null)")
    assert result.row_marker and result.clustering == b"" and result.clustering_values == ()
    assert result.partition.values == (1,) and result.partition.key == b"\x00\x00\x00\x01"
    cells = {c.column: c.value for c in result.cells}
    assert cells == {"v": b"a", "n": None}
    assert result.timestamp is None and result.ttl == 0


def test_insert_using_ttl_and_timestamp_and_table_default_ttl(schema):
    (result,) = write(schema, "INSERT INTO kv (k, v) VALUES (1, 'a') USING TTL 5 AND TIMESTAMP 7")
    assert (result.ttl, result.timestamp) == (5, 7)
    (default,) = write(schema, "INSERT INTO comp (a, b, c, v) VALUES (1, 'x', 2, 3)")
    assert default.ttl == 60
    (zero,) = write(schema, "INSERT INTO comp (a, b, c, v) VALUES (1, 'x', 2, 3) USING TTL 0")
    assert zero.ttl == 0


def test_insert_clustering_is_encoded(schema):
    table = schema.tables["wide"]
    (result,) = write(schema, "INSERT INTO wide (k, c1, c2, v, s) VALUES (?, ?, ?, ?, ?)",
                      [1, 2, "x", "val", 9])
    assert result.clustering == table.encode_clustering((2, "x"))
    assert {(c.column, c.static) for c in result.cells} == {("v", False), ("s", True)}


def test_insert_static_only_without_clustering(schema):
    (result,) = write(schema, "INSERT INTO wide (k, s) VALUES (1, 2)")
    assert result.clustering is None and not result.row_marker
    assert result.cells[0].static


def test_params_are_coerced_from_json_values(schema):
    (result,) = write(schema, "INSERT INTO kv (k, b, f, n) VALUES (?, ?, ?, ?)",
                      [1, "0xff00", 2, "12"])
    cells = {c.column: c.value for c in result.cells}
    assert cells["b"] == b"\xff\x00"
    assert cells["n"] == (12).to_bytes(8, "big")
    (typed,) = write(schema, "INSERT INTO typed (k, ts, flag) VALUES (?, ?, ?)",
                     ["123e4567-e89b-12d3-a456-426614174000", "1970-01-01T00:00:01Z", True])
    cells = {c.column: c.value for c in typed.cells}
    assert cells["ts"] == (1000).to_bytes(8, "big")
    assert cells["flag"] == b"\x01"


def test_update_sets_cells_without_row_marker(schema):
    (result,) = write(schema, "UPDATE wide USING TTL 3 SET v = 'z' WHERE k = 1 AND c1 = 2 "
                              "AND c2 = 'q'")
    assert not result.row_marker and result.ttl == 3
    assert result.clustering_values == (2, "q")


def test_update_with_in_makes_one_plan_per_partition_and_row(schema):
    results = write(schema, "UPDATE wide SET v = 'z' WHERE k IN (1, 2) AND c1 IN (3, 4) "
                            "AND c2 = 'q'")
    assert len(results) == 4
    assert {(r.partition.values, r.clustering_values) for r in results} == {
        ((k,), (c, "q")) for k in (1, 2) for c in (3, 4)}


def test_update_static_with_partition_key_only(schema):
    (result,) = write(schema, "UPDATE wide SET s = 5 WHERE k = 1")
    assert result.clustering is None and result.cells[0].static


def test_delete_partition_row_range_and_columns(schema):
    table = schema.tables["wide"]
    (partition,) = write(schema, "DELETE FROM wide WHERE k = 1")
    assert partition.delete_partition
    (row,) = write(schema, "DELETE FROM wide USING TIMESTAMP 4 WHERE k = 1 AND c1 = 2 AND c2 = 'a'")
    assert row.delete_row and row.timestamp == 4
    assert row.clustering == table.encode_clustering((2, "a"))
    (prefix,) = write(schema, "DELETE FROM wide WHERE k = 1 AND c1 = 2")
    assert prefix.delete_range.start.prefix == table.encode_clustering((2,))
    assert prefix.delete_range.contains(table.encode_clustering((2, "zz")))
    (sliced,) = write(schema, "DELETE FROM wide WHERE k = 1 AND c1 = 2 AND c2 > 'm'")
    assert sliced.delete_range.contains(table.encode_clustering((2, "n")))
    assert not sliced.delete_range.contains(table.encode_clustering((2, "a")))
    (columns,) = write(schema, "DELETE v FROM wide WHERE k = 1 AND c1 = 2 AND c2 = 'a'")
    assert columns.cells[0].column == "v" and columns.cells[0].value is None
    assert not columns.delete_row
    (static,) = write(schema, "DELETE s FROM wide WHERE k = 1")
    assert static.clustering is None and static.cells[0].static
    (kv_partition,) = write(schema, "DELETE FROM kv WHERE k = 1")
    assert kv_partition.delete_partition and kv_partition.clustering is None


def test_batch_collects_plans_and_applies_batch_timestamp(schema):
    results = write(schema, "BEGIN UNLOGGED BATCH USING TIMESTAMP 11 "
                            "INSERT INTO kv (k, v) VALUES (?, ?); "
                            "DELETE FROM kv WHERE k = ?; APPLY BATCH", [1, "a", 2])
    assert [r.partition.values for r in results] == [(1,), (2,)]
    assert all(r.timestamp == 11 for r in results)
    assert results[1].delete_partition


@pytest.mark.parametrize("text, params, fragment", [
    ("INSERT INTO kv (v) VALUES ('a')", None, "Some partition key parts are missing: k"),
    ("INSERT INTO wide (k, v) VALUES (1, 'a')", None, "Some clustering keys are missing: c1, c2"),
    ("INSERT INTO kv (k, v) VALUES (null, 'a')", None,
     "Invalid null value for partition key part k"),
    ("INSERT INTO kv (k, k) VALUES (1, 2)", None, "Multiple definitions found for column k"),
    ("INSERT INTO kv (k, v) VALUES (1, 2)", None,
     'Invalid INTEGER constant (2) for "v" of type text'),
    ("INSERT INTO kv (k, zz) VALUES (1, 2)", None, "Undefined column name zz"),
    ("INSERT INTO kv (k, v) VALUES (1, 'a') USING TTL -1", None,
     "A TTL must be greater or equal to 0, but was -1"),
    ("INSERT INTO kv (k, v) VALUES (1, 'a') USING TTL 999999999", None, "ttl is too large"),
    ("INSERT INTO kv (k, b) VALUES (1, 'ab')", None, "Invalid STRING constant"),
    ("INSERT INTO kv (k, b) VALUES (1, ?)", ["zz"], "blobs are written as 0x-prefixed hex"),
    ("UPDATE kv SET k = 2 WHERE k = 1", None, "PRIMARY KEY part k found in SET part"),
    ("UPDATE kv SET v = 'a' WHERE v = 'b'", None, "Some partition key parts are missing: k"),
    ("UPDATE kv SET v = 'a' WHERE k = 1 AND v = 'b'", None,
     "Non PRIMARY KEY columns found in where clause: v"),
    ("UPDATE wide SET v = 'a' WHERE k = 1 AND c1 = 1", None, "Some clustering keys are missing: c2"),
    ("UPDATE wide SET v = 'a' WHERE k = 1 AND c1 = 1 AND c2 > 'a'", None,
     "Slice restrictions are not supported"),
    ("UPDATE comp SET v = 1 WHERE a = 1 AND c = 1", None, "Some partition key parts are missing: b"),
    ("UPDATE kv SET v = 'a' WHERE token(k) > 1", None, "token function cannot be used"),
    ("DELETE FROM kv WHERE k > 1", None, "Only EQ and IN relation are supported"),
    ("DELETE k FROM kv WHERE k = 1", None, "Invalid identifier k for deletion"),
    ("DELETE v FROM wide WHERE k = 1 AND c1 > 1", None,
     "Range deletions are not supported for specific columns"),
    ("DELETE FROM wide WHERE k = 1 AND c2 = 'a'", None,
     'PRIMARY KEY column "c2" cannot be restricted'),
    ("BEGIN BATCH USING TIMESTAMP 1 INSERT INTO kv (k) VALUES (1) USING TIMESTAMP 2 APPLY BATCH",
     None, "Timestamp must be set either on BATCH or individual statements"),
    ("INSERT INTO kv (k) VALUES (?)", {"x": 1}, "named parameters need named :markers"),
])
def test_invalid_writes(schema, text, params, fragment):
    with pytest.raises(Invalid) as caught:
        write(schema, text, params)
    assert fragment in caught.value.message
