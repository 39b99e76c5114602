"""The workloads of ``shardsim stress``, in the manner of tlp-stress: each one names
its table, creates it, and makes the next operation from a seeded ``random.Random``.

- ``KeyValue``: one text value per key; writes and point reads over ``-p`` keys.
- ``TimeSeries``: wide partitions (``-p`` sensors) clustered by time, newest first;
  writes append a reading, reads fetch a recent slice of one sensor.
- ``RangeScan``: keys like KeyValue; reads scan a random token range with
  ``WHERE token(key) > ? AND token(key) <= ?`` (needs range scans on the node).

Invariant: an ``Operation`` is fully described by its kind, CQL and parameters, so
the runner needs to know nothing about the workload that made it.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Protocol

WRITE = "write"
READ = "read"
TOKEN_MIN = -(2**63)
TOKEN_MAX = 2**63 - 1
VALUE_BYTES = 100
RECENT_SLICE_ROWS = 10
SCAN_SLICES = 256  # a scan covers 1/256 of the ring


@dataclass(frozen=True)
class Operation:
    kind: str  # WRITE or READ
    query: str
    params: list


class Workload(Protocol):
    name: str
    description: str
    table: str

    def schema(self, keyspace: str) -> list[str]: ...

    def write(self, rng: random.Random, partition: int) -> Operation: ...

    def read(self, rng: random.Random, partition: int) -> Operation: ...


def partition_key(index: int) -> str:
    return f"key{index:010d}"


def random_value(rng: random.Random, length: int = VALUE_BYTES) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=length))


class KeyValue:
    name = "KeyValue"
    description = "one text value per key: inserts and point reads over -p keys"
    table = "keyvalue"

    def schema(self, keyspace: str) -> list[str]:
        return [f"CREATE TABLE IF NOT EXISTS {keyspace}.{self.table} (key text PRIMARY KEY, value text)"]

    def write(self, rng: random.Random, partition: int) -> Operation:
        return Operation(WRITE, f"INSERT INTO {self.table} (key, value) VALUES (?, ?)",
                         [partition_key(partition), random_value(rng)])

    def read(self, rng: random.Random, partition: int) -> Operation:
        return Operation(READ, f"SELECT key, value FROM {self.table} WHERE key = ?",
                         [partition_key(partition)])


class TimeSeries:
    name = "TimeSeries"
    description = ("wide partitions (-p sensors) clustered by time, newest first: appends and "
                   f"reads of the {RECENT_SLICE_ROWS} latest readings of a sensor")
    table = "timeseries"

    def __init__(self) -> None:
        self._sequence = 0  # clustering values: unique and increasing within a run

    def schema(self, keyspace: str) -> list[str]:
        return [f"CREATE TABLE IF NOT EXISTS {keyspace}.{self.table} (sensor text, at bigint, "
                "value text, PRIMARY KEY (sensor, at)) WITH CLUSTERING ORDER BY (at DESC)"]

    def write(self, rng: random.Random, partition: int) -> Operation:
        self._sequence += 1
        return Operation(WRITE, f"INSERT INTO {self.table} (sensor, at, value) VALUES (?, ?, ?)",
                         [partition_key(partition), self._sequence, random_value(rng, 40)])

    def read(self, rng: random.Random, partition: int) -> Operation:
        return Operation(READ, f"SELECT sensor, at, value FROM {self.table} WHERE sensor = ? "
                         f"LIMIT {RECENT_SLICE_ROWS}", [partition_key(partition)])


class RangeScan:
    name = "RangeScan"
    description = (f"KeyValue rows read back by token-range scans, each over 1/{SCAN_SLICES} "
                   "of the ring (needs range scans on the node)")
    table = "rangescan"

    def schema(self, keyspace: str) -> list[str]:
        return [f"CREATE TABLE IF NOT EXISTS {keyspace}.{self.table} (key text PRIMARY KEY, value text)"]

    def write(self, rng: random.Random, partition: int) -> Operation:
        return Operation(WRITE, f"INSERT INTO {self.table} (key, value) VALUES (?, ?)",
                         [partition_key(partition), random_value(rng)])

    def read(self, rng: random.Random, partition: int) -> Operation:
        width = (TOKEN_MAX - TOKEN_MIN) // SCAN_SLICES
        start = TOKEN_MIN + rng.randrange(SCAN_SLICES) * width
        return Operation(READ, f"SELECT key, value FROM {self.table} "
                         "WHERE token(key) > ? AND token(key) <= ?", [start, start + width])


WORKLOADS: dict[str, type] = {cls.name: cls for cls in (KeyValue, TimeSeries, RangeScan)}


def workload_named(name: str) -> Workload:
    for known, cls in WORKLOADS.items():
        if known.lower() == name.lower():
            return cls()
    raise KeyError(name)
