"""A fake schema for analysis tests: keyspace ks with a few tables."""

import pytest

from coordinator.cql3 import parse, table_from
from node.errors import Invalid

TABLES = {
    "kv": "CREATE TABLE kv (k int PRIMARY KEY, v text, n bigint, b blob, f double)",
    "wide": ("CREATE TABLE wide (k int, c1 int, c2 text, s int STATIC, v text, "
             "PRIMARY KEY (k, c1, c2)) WITH CLUSTERING ORDER BY (c1 DESC, c2 ASC)"),
    "comp": ("CREATE TABLE comp (a int, b text, c int, v int, PRIMARY KEY ((a, b), c)) "
             "WITH default_time_to_live = 60"),
    "typed": ("CREATE TABLE typed (k uuid PRIMARY KEY, ts timestamp, tid timeuuid, flag boolean, "
              "small smallint, tiny tinyint, big varint, fl float, asc_text ascii)"),
}


class FakeSchema:
    def __init__(self) -> None:
        self.tables = {name: table_from(parse(text), "ks") for name, text in TABLES.items()}

    def lookup_table(self, keyspace: str, name: str):
        if keyspace != "ks":
            raise Invalid(f"Keyspace {keyspace} does not exist")
        if name not in self.tables:
            raise Invalid(f"unconfigured table {name}")
        return self.tables[name]


@pytest.fixture(scope="module")
def schema() -> FakeSchema:
    return FakeSchema()
