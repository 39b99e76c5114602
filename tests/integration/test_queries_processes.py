"""Queries against real processes launched through ``shardsim up --detach``."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from cassandra.murmur3 import murmur3

from node.schema.types import TYPES, serialize_partition_key
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

KEYSPACE = ("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 3}")


def post(cluster, node: str, path: str, body: bytes, timeout_s: float = 15.0) -> tuple[int, dict]:
    request = urllib.request.Request(f"{cluster.entry(node)['http']}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def cql(cluster, node: str, query: str, params=None, consistency: str = "ONE", **fields) -> dict:
    status, body = post(cluster, node, "/v1/cql", json.dumps(
        {"query": query, "params": params, "consistency": consistency, **fields}).encode())
    assert status == 200, (query, status, body)
    return body


def test_ddl_writes_and_reads_at_quorum_through_every_node(launch_cluster):
    cluster = launch_cluster()
    cql(cluster, "n1", KEYSPACE)
    cql(cluster, "n2", "CREATE TABLE ks.kv (k int PRIMARY KEY, v text)")
    cql(cluster, "n3", "CREATE TABLE ks.composite (a bigint, b text, v int, PRIMARY KEY ((a, b)))")
    for k in range(30):
        cql(cluster, f"n{k % 3 + 1}", "INSERT INTO ks.kv (k, v) VALUES (?, ?)", [k, f"v{k}"], "QUORUM")
    for node in cluster.names:
        for k in range(30):
            rows = cql(cluster, node, "SELECT v, token(k) FROM ks.kv WHERE k = ?", [k], "QUORUM")["rows"]
            assert rows == [[f"v{k}", murmur3(serialize_partition_key([TYPES["int"]], [k]))]]
    cql(cluster, "n1", "INSERT INTO ks.composite (a, b, v) VALUES (-5, 'été', 1)", consistency="ALL")
    rows = cql(cluster, "n2", "SELECT token(a, b) FROM ks.composite WHERE a = -5 AND b = 'été'")["rows"]
    key = serialize_partition_key([TYPES["bigint"], TYPES["text"]], [-5, "été"])
    assert rows == [[murmur3(key)]]
    bad = [(b"{malformed", 400, "Invalid"),
           (json.dumps({"query": "SELECT FROM"}).encode(), 400, "SyntaxError"),
           (json.dumps({"query": "SELECT * FROM ks.nope WHERE k = 1"}).encode(), 400, "Invalid"),
           (json.dumps({"query": "INSERT INTO ks.kv (k, v) VALUES ('x', 'y')"}).encode(), 400, "Invalid"),
           (json.dumps({"query": "SELECT * FROM ks.kv WHERE k = 1", "consistency": "MANY"}).encode(),
            400, "Invalid"),
           (b"x" * (16 * 1024 * 1024 + 1), 413, "Invalid")]
    for body, status, name in bad:
        got_status, got = post(cluster, "n1", "/v1/cql", body)
        assert (got_status, got["error"]["name"]) == (status, name), got
        assert cql(cluster, "n1", "SELECT v FROM ks.kv WHERE k = 1")["rows"] == [["v1"]]


def test_acknowledged_quorum_writes_survive_kill_9_and_ddl_reaches_the_node_after(launch_cluster):
    cluster = launch_cluster()
    cql(cluster, "n1", KEYSPACE)
    cql(cluster, "n1", "CREATE TABLE ks.stream (k int PRIMARY KEY, v int)")
    acknowledged: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        k = 0
        while not stop.is_set():
            status, _ = post(cluster, "n1", "/v1/cql", json.dumps(
                {"query": "INSERT INTO ks.stream (k, v) VALUES (?, ?)", "params": [k, k],
                 "consistency": "QUORUM"}).encode())
            if status == 200:
                acknowledged.append(k)
            k += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: len(acknowledged) >= 100, 30, "100 acknowledged writes")
        cluster.shardsim("kill", "n2")
        count = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= count + 100, 30, "writes going on with n2 killed")
        cql(cluster, "n1", "CREATE TABLE ks.created_while_down (k int PRIMARY KEY)")
        cluster.shardsim("start", "n2")
        count = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= count + 100, 30, "writes after n2 is back")
    finally:
        stop.set()
        thread.join()
    for k in acknowledged:
        assert cql(cluster, "n2", "SELECT v FROM ks.stream WHERE k = ?", [k], "QUORUM")["rows"] == [[k]]
    wait_for(lambda: post(cluster, "n2", "/v1/cql", json.dumps(
        {"query": "SELECT * FROM ks.created_while_down WHERE k = 1"}).encode())[0] == 200,
        30, "n2 to know the table created while it was down")


def test_read_at_all_repairs_a_replica_that_missed_a_write(launch_cluster):
    cluster = launch_cluster(settings=("hints.enabled=false",))  # only read repair may fix n3
    cql(cluster, "n1", KEYSPACE)
    cql(cluster, "n1", "CREATE TABLE ks.rr (k int PRIMARY KEY, v text)")
    cluster.request("n3", "POST", "/v1/admin/faults", {"partition": ["n1", "n2"]})
    cluster.request("n1", "POST", "/v1/admin/faults", {"partition": ["n3"]})
    cluster.request("n2", "POST", "/v1/admin/faults", {"partition": ["n3"]})
    wait_for(lambda: cluster.sees("n1", {"n3": "DOWN"}), 20, "n1 to see n3 DOWN")
    cql(cluster, "n1", "INSERT INTO ks.rr (k, v) VALUES (1, 'repaired')", consistency="ONE")
    for node in cluster.names:
        cluster.request(node, "DELETE", "/v1/admin/faults")
    wait_for(lambda: cluster.sees("n1", {"n3": "UP"}) and cluster.sees("n3", {"n1": "UP", "n2": "UP"}),
             20, "the partition to heal")
    assert cql(cluster, "n1", "SELECT v FROM ks.rr WHERE k = 1", consistency="ALL")["rows"] == [["repaired"]]
    cluster.shardsim("stop", "n1")
    cluster.shardsim("stop", "n2")
    wait_for(lambda: cluster.sees("n3", {"n1": "DOWN", "n2": "DOWN"}), 20, "n3 alone")
    assert cql(cluster, "n3", "SELECT v FROM ks.rr WHERE k = 1", consistency="ONE")["rows"] == [["repaired"]]
