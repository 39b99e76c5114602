"""Schema statements to KeyspaceSchema / TableSchema, ALTER TABLE, and their errors."""

import pytest

from coordinator.cql3 import altered_table, keyspace_from, parse, table_from
from node.errors import ConfigError, Invalid
from node.schema.definitions import CLUSTERING, PARTITION_KEY, REGULAR, STATIC, TableSchema


def test_simple_strategy_keyspace():
    keyspace = keyspace_from(parse("CREATE KEYSPACE ks WITH replication = "
                                   "{'class': 'SimpleStrategy', 'replication_factor': '2'}"))
    assert keyspace.name == "ks"
    assert keyspace.replication == {"class": "SimpleStrategy", "replication_factor": 2}


def test_network_topology_keyspace_with_qualified_class():
    keyspace = keyspace_from(parse(
        "CREATE KEYSPACE ks WITH replication = {'class': "
        "'org.apache.cassandra.locator.NetworkTopologyStrategy', 'dc1': 3, 'DC2': 1} "
        "AND durable_writes = true"))
    assert keyspace.replication == {"class": "NetworkTopologyStrategy", "dc1": 3, "DC2": 1}


@pytest.mark.parametrize("replication, fragment", [
    ("{'class': 'SimpleStrategy', 'replication_factor': 0}", "at least 1"),
    ("{'class': 'SimpleStrategy', 'replication_factor': -1}", "at least 1"),
    ("{'class': 'SimpleStrategy'}", "requires a replication_factor"),
    ("{'class': 'SimpleStrategy', 'replication_factor': 1, 'dc1': 2}", "Unrecognized strategy"),
    ("{'class': 'NoSuchStrategy', 'replication_factor': 1}", "Unable to find replication strategy"),
    ("{'class': 'NetworkTopologyStrategy', 'dc1': 'x'}", "must be numeric"),
    ("{'replication_factor': 1}", "Missing replication strategy class"),
])
def test_bad_replication_is_config_error(replication, fragment):
    with pytest.raises(ConfigError) as caught:
        keyspace_from(parse(f"CREATE KEYSPACE ks WITH replication = {replication}"))
    assert caught.value.code == 0x2300 and fragment in caught.value.message


def test_create_table_kinds_order_and_options():
    table = table_from(parse(
        "CREATE TABLE t (a int, b text, c timestamp, d uuid, s blob STATIC, v double, "
        "PRIMARY KEY ((a, b), c, d)) WITH CLUSTERING ORDER BY (c DESC, d ASC) "
        "AND compression = {'class': 'ZstdCompressor'} AND gc_grace_seconds = 0 "
        "AND default_time_to_live = 30 AND comment = 'ignored'"), "ks")
    assert (table.keyspace, table.name) == ("ks", "t")
    assert [(c.name, c.kind, c.descending) for c in table.columns] == [
        ("a", PARTITION_KEY, False), ("b", PARTITION_KEY, False), ("c", CLUSTERING, True),
        ("d", CLUSTERING, False), ("s", STATIC, False), ("v", REGULAR, False)]
    assert table.column("c").type.name == "timestamp"
    assert (table.options.compression, table.options.gc_grace_seconds,
            table.options.default_time_to_live) == ("zstd", 0, 30)


@pytest.mark.parametrize("compression, expected", [
    ("{'class': 'ZstdCompressor'}", "zstd"),
    ("{'class': 'org.apache.cassandra.io.compress.ZstdCompressor', 'compression_level': 3}", "zstd"),
    ("{'sstable_compression': ''}", None),
    ("{'enabled': 'false'}", None),
    ("{'class': 'LZ4Compressor'}", "zstd"),
])
def test_compression_option(compression, expected):
    table = table_from(parse(f"CREATE TABLE t (k int PRIMARY KEY) WITH compression = "
                             f"{compression}"), "ks")
    assert table.options.compression == expected


def test_inline_primary_key_and_default_options():
    table = table_from(parse("CREATE TABLE t (k int PRIMARY KEY, v text)"), "ks")
    assert [c.kind for c in table.columns] == [PARTITION_KEY, REGULAR]
    assert table.options.compression is None and table.options.gc_grace_seconds == 864000


@pytest.mark.parametrize("text, fragment", [
    ("CREATE TABLE t (k int, v text)", "No PRIMARY KEY specifed"),
    ("CREATE TABLE t (k int PRIMARY KEY, v text PRIMARY KEY)", "Multiple PRIMARY KEY"),
    ("CREATE TABLE t (k int PRIMARY KEY, PRIMARY KEY (k))", "Multiple PRIMARY KEY"),
    ("CREATE TABLE t (k int, k text, PRIMARY KEY (k))", "Multiple definition of identifier k"),
    ("CREATE TABLE t (k int, PRIMARY KEY (x))", "Unknown definition x referenced in PRIMARY KEY"),
    ("CREATE TABLE t (k nosuchtype PRIMARY KEY)", "Unknown type"),
    ("CREATE TABLE t (k int PRIMARY KEY, s int STATIC)", "Static columns are only useful"),
    ("CREATE TABLE t (k int, c int STATIC, PRIMARY KEY (k, c))", "cannot be part of the PRIMARY KEY"),
    ("CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (v DESC)",
     "Only clustering key columns"),
    ("CREATE TABLE t (k int, c int, d int, PRIMARY KEY (k, c, d)) WITH CLUSTERING ORDER BY "
     "(d DESC, c ASC)", "must be the one of the clustering key"),
    ("CREATE TABLE t (k int PRIMARY KEY) WITH default_time_to_live = -1", "greater than or equal"),
    ("CREATE TABLE t (k int PRIMARY KEY) WITH gc_grace_seconds = 'x'", "not an integer"),
    ("CREATE TABLE t (k int PRIMARY KEY) WITH nonsense = 1", "Unknown property 'nonsense'"),
])
def test_invalid_create_table(text, fragment):
    with pytest.raises(Invalid) as caught:
        table_from(parse(text), "ks")
    assert fragment in caught.value.message


def test_unknown_compressor_is_config_error():
    with pytest.raises(ConfigError, match="Could not create Compression"):
        table_from(parse("CREATE TABLE t (k int PRIMARY KEY) WITH compression = "
                         "{'class': 'Brotli'}"), "ks")


@pytest.fixture
def wide():
    return table_from(parse("CREATE TABLE t (k int, c int, v text, PRIMARY KEY (k, c))"), "ks")


def test_alter_add_drop_and_options_keep_id_and_change_version(wide):
    added = altered_table(parse("ALTER TABLE t ADD (n bigint, s int STATIC)"), wide, 1)
    assert [c.name for c in added.columns] == ["k", "c", "v", "n", "s"]
    assert added.column("s").kind == STATIC
    assert added.id == wide.id and added.version != wide.version
    dropped = altered_table(parse("ALTER TABLE t DROP v"), added, 2)
    assert not dropped.has_column("v")
    tuned = altered_table(parse("ALTER TABLE t WITH gc_grace_seconds = 5 AND compression = "
                                "{'class': 'ZstdCompressor'}"), dropped, 3)
    assert tuned.options.gc_grace_seconds == 5 and tuned.options.compression == "zstd"
    assert tuned.options.default_time_to_live == 0


@pytest.mark.parametrize("text, fragment", [
    ("ALTER TABLE t ADD v int", "conflicts with an existing column"),
    ("ALTER TABLE t DROP nope", "Column nope was not found in table ks.t"),
    ("ALTER TABLE t DROP c", "Cannot drop PRIMARY KEY part c"),
    ("ALTER TABLE t ADD x badtype", "Unknown type"),
    ("ALTER TABLE t WITH default_time_to_live = 999999999", "less than or equal"),
])
def test_invalid_alter(wide, text, fragment):
    with pytest.raises(Invalid) as caught:
        altered_table(parse(text), wide, 1)
    assert fragment in caught.value.message


def test_a_drop_records_the_drop_time_type_and_kind_and_survives_the_wire(wide):
    added = altered_table(parse("ALTER TABLE t ADD s int STATIC"), wide, 1)
    dropped = altered_table(parse("ALTER TABLE t DROP (v, s)"), added, 1000)
    assert [(d.name, d.dropped_at_us, d.type.name, d.kind) for d in dropped.dropped_columns] == \
        [("v", 1000, "text", "regular"), ("s", 1000, "int", "static")]
    again = altered_table(parse("ALTER TABLE t DROP v"),
                          altered_table(parse("ALTER TABLE t ADD v text"), dropped, 1500), 2000)
    assert again.dropped_column("v").dropped_at_us == 2000, "the latest drop counts"
    assert TableSchema.from_wire(again.to_wire()).dropped_columns == again.dropped_columns
    assert "dropped_columns" not in wide.to_wire(), "tables that never dropped encode as before"
    old_entry = {k: v for k, v in wide.to_wire().items()}
    assert TableSchema.from_wire(old_entry).dropped_columns == ()
    assert not again.dropped.keeps("v", 2000) and again.dropped.keeps("w", 1)
    re_added = altered_table(parse("ALTER TABLE t ADD v text"), again, 3000)
    assert not re_added.dropped.keeps("v", 2000) and re_added.dropped.keeps("v", 2001)


@pytest.mark.parametrize("text, message", [
    ("ALTER TABLE t ADD v int", "Cannot re-add previously dropped column 'v' of type int, "
                                "incompatible with previous type text"),
    ("ALTER TABLE t ADD v text STATIC", "Cannot re-add previously dropped column 'v' of kind "
                                        "STATIC, incompatible with previous kind REGULAR"),
])
def test_re_adding_a_dropped_column_with_another_type_or_kind_is_refused(wide, text, message):
    dropped = altered_table(parse("ALTER TABLE t DROP v"), wide, 10)
    with pytest.raises(Invalid) as caught:
        altered_table(parse(text), dropped, 20)
    assert caught.value.message == message


def test_table_keyspace_from_statement_else_session():
    assert table_from(parse("CREATE TABLE other.t (k int PRIMARY KEY)"), "ks").keyspace == "other"
    assert table_from(parse("CREATE TABLE t (k int PRIMARY KEY)"), "ks").keyspace == "ks"
    with pytest.raises(Invalid, match="No keyspace has been specified"):
        table_from(parse("CREATE TABLE t (k int PRIMARY KEY)"), None)
