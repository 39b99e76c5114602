"""The schema store: newest entry wins, versions agree, drops stick, the file survives."""

from node.errors import Invalid
from node.schema.definitions import PARTITION_KEY, REGULAR, ColumnDef, KeyspaceSchema, TableSchema
from node.schema.store import SchemaStore, keyspace_key, table_key
from node.schema.types import TYPES

import pytest


def table(name="t", keyspace="ks"):
    return TableSchema(keyspace, name, (ColumnDef("k", TYPES["int"], PARTITION_KEY),
                                        ColumnDef("v", TYPES["text"], REGULAR)))


def create(ts, t):
    return {keyspace_key(t.keyspace): [ts, KeyspaceSchema(t.keyspace, {"class": "SimpleStrategy",
                                                                       "replication_factor": 3}).to_wire()],
            table_key(t.keyspace, t.name): [ts, t.to_wire()]}


def test_merge_is_idempotent_and_commutative(tmp_path):
    first, second = SchemaStore(None), SchemaStore(None)
    a, b = create(10, table("a")), {table_key("ks", "b"): [20, table("b").to_wire()]}
    assert first.merge(a) and first.merge(b)
    assert second.merge(b) and second.merge(a)
    assert not first.merge(a)
    assert first.version() == second.version() != SchemaStore(None).version()
    assert set(first.tables) == {("ks", "a"), ("ks", "b")}


def test_a_drop_wins_over_an_older_create_and_listeners_hear_it(tmp_path):
    store = SchemaStore(None)
    events = []
    store.subscribe(lambda kind, t: events.append((kind, t.name)))
    store.merge(create(10, table()))
    store.merge({table_key("ks", "t"): [20, None]})
    store.merge(create(15, table()))  # older than the drop: ignored
    assert ("ks", "t") not in store.tables
    assert events == [("added", "t"), ("dropped", "t")]
    with pytest.raises(Invalid, match="unconfigured table t"):
        store.table("ks", "t")
    with pytest.raises(Invalid, match="Keyspace nope does not exist"):
        store.table("nope", "t")


def test_the_schema_survives_a_restart(tmp_path):
    path = tmp_path / "schema.msgpack"
    store = SchemaStore(path)
    store.merge(create(10, table()))
    again = SchemaStore(path)
    again.load()
    assert again.version() == store.version()
    assert again.table("ks", "t").id == store.table("ks", "t").id


@pytest.mark.parametrize("bad", [
    {"keyspace:zz": [2**62, {"bogus": 1}]},
    {"table:ks.x": [5, {"keyspace": "ks"}]},
    {"keyspace:other": [5, KeyspaceSchema("ks", {"class": "SimpleStrategy"}).to_wire()]},
    {"nonsense": [5, None]},
    {"keyspace:a": ["late", None]},
])
def test_a_malformed_entry_changes_nothing(bad):
    store = SchemaStore(None)
    store.merge(create(10, table()))
    version = store.version()
    with pytest.raises(Invalid):
        store.merge({**create(20, table("u")), **bad})
    assert store.version() == version and ("ks", "u") not in store.tables
    store.merge(create(30, table("later")))  # DDL still works afterwards
    assert ("ks", "later") in store.tables


def test_dropped_columns_persist_and_sync_and_old_entries_still_load(tmp_path):
    from node.schema.definitions import DroppedColumn

    path = tmp_path / "schema.msgpack"
    store = SchemaStore(path)
    store.merge(create(10, table()))  # an entry as written before dropped columns existed
    assert "dropped_columns" not in store.entries[table_key("ks", "t")][1]
    altered = table().altered(columns=table().columns[:1],
                              dropped_columns=(DroppedColumn("v", 20, TYPES["text"]),))
    altered = TableSchema("ks", "t", altered.columns, altered.options, store.tables[("ks", "t")].id,
                          "v2", altered.dropped_columns)
    store.merge({table_key("ks", "t"): [20, altered.to_wire()]})
    peer = SchemaStore(None)
    peer.merge(store.snapshot())            # what a pull or a push carries
    reloaded = SchemaStore(path)
    reloaded.load()
    for other in (peer, reloaded):
        dropped = other.table("ks", "t").dropped_columns
        assert [(d.name, d.dropped_at_us, d.type.name) for d in dropped] == [("v", 20, "text")]
        assert other.version() == store.version()


def test_two_definitions_with_the_same_timestamp_resolve_the_same_way_in_either_order():
    # Two CREATEs of one table with different ids (or an ALTER after a clock fault) can
    # carry equal stamps; their encodings share the first bytes. Every store must pick
    # the same one whatever order it sees them in, or shards pull from each other forever.
    one, other = table("t"), table("t")
    assert one.id != other.id
    key = table_key("ks", "t")
    first, second = SchemaStore(None), SchemaStore(None)
    first.merge(create(10, one)); first.merge({key: [10, other.to_wire()]})
    second.merge(create(10, other)); second.merge({key: [10, one.to_wire()]})
    assert first.version() == second.version()
    assert first.table("ks", "t").id == second.table("ks", "t").id
