"""The HTTP API of a node, served from an in-process cluster through aiohttp."""

import json

import msgpack
import pytest
from aiohttp.test_utils import TestClient, TestServer

from scripts.testing.local_cluster import wait_for


@pytest.fixture
async def client(cluster):
    server = TestServer(cluster.coordinator("n1").http.app)
    async with TestClient(server) as http:
        yield http


async def cql(client, query, **fields):
    response = await client.post("/v1/cql", json={"query": query, **fields})
    return response.status, await response.json()


async def test_ddl_write_and_read_over_http_with_json_values(client):
    status, _ = await cql(client, "CREATE KEYSPACE ks WITH replication = "
                                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    assert status == 200
    status, _ = await cql(client, "CREATE TABLE ks.t (k int, c timestamp, b blob, u uuid, "
                                  "PRIMARY KEY (k, c))")
    assert status == 200
    status, body = await cql(client, "INSERT INTO t (k, c, b, u) VALUES (?, ?, ?, ?)", keyspace="ks",
                             params=[1, "2024-01-02T03:04:05.678Z", "0xcafe",
                                     "12345678-1234-5678-1234-567812345678"],
                             consistency="QUORUM")
    assert status == 200, body
    status, body = await cql(client, "SELECT k, c, b, u, token(k) FROM ks.t WHERE k = 1",
                             consistency="QUORUM")
    assert status == 200
    assert body["columns"][:2] == [{"name": "k", "type": "int"}, {"name": "c", "type": "timestamp"}]
    row = body["rows"][0]
    assert row[:4] == [1, "2024-01-02T03:04:05.678Z", "0xcafe", "12345678-1234-5678-1234-567812345678"]
    assert body["paging_state"] is None
    response = await client.post("/v1/cql", json={"query": "SELECT k FROM ks.t WHERE k = 1"},
                                 headers={"Accept": "application/msgpack"})
    assert response.content_type == "application/msgpack"
    assert msgpack.unpackb(await response.read())["rows"] == [[1]]


@pytest.mark.parametrize("body,status,name", [
    (b"{not json", 400, "Invalid"),
    (json.dumps({"query": "SELEC 1"}).encode(), 400, "SyntaxError"),
    (json.dumps({"query": "SELECT * FROM nope.t WHERE k = 1"}).encode(), 400, "Invalid"),
    (json.dumps({"query": "SELECT * FROM system.t", "consistency": "SOMETIMES"}).encode(), 400, "Invalid"),
    (json.dumps({"nope": 1}).encode(), 400, "Invalid"),
    (json.dumps([1, 2]).encode(), 400, "Invalid"),
])
async def test_bad_requests_get_clear_errors_and_the_node_goes_on(client, body, status, name):
    response = await client.post("/v1/cql", data=body, headers={"Content-Type": "application/json"})
    assert response.status == status
    error = (await response.json())["error"]
    assert error["name"] == name and isinstance(error["code"], int) and error["message"]
    status, _ = await cql(client, "CREATE KEYSPACE IF NOT EXISTS ok WITH replication = "
                                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    assert status == 200


async def test_an_oversized_body_gets_413(client):
    response = await client.post("/v1/cql", data=b"x" * (16 * 1024 * 1024 + 10),
                                 headers={"Content-Type": "application/json"})
    assert response.status == 413
    response = await client.get("/v1/status")
    assert response.status == 200


async def test_unavailable_carries_its_details(cluster, client):
    await cql(client, "CREATE KEYSPACE ks WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    await cql(client, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    await cluster.kill("n3")
    await cluster.wait_seen_down("n3")
    status, body = await cql(client, "INSERT INTO ks.t (k, v) VALUES (1, 1)", consistency="ALL")
    assert status == 503
    assert body["error"] == {"name": "Unavailable", "code": 0x1000, "consistency": "ALL",
                             "required": 3, "alive": 2, "message": body["error"]["message"]}


async def test_status_lists_every_node_with_ownership_and_load(client):
    await cql(client, "CREATE KEYSPACE ks WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 2}")
    response = await client.get("/v1/status?keyspace=ks")
    body = await response.json()
    assert [n["name"] for n in body["nodes"]] == ["n1", "n2", "n3"]
    assert all(n["state"] == "UP" and n["shards"] == 2 and n["tokens"] == 16 for n in body["nodes"])
    assert sum(n["ownership"] for n in body["nodes"]) == pytest.approx(2.0)
    assert all(isinstance(n["load"], int) for n in body["nodes"])

    async def versions_agree():
        nodes = (await (await client.get("/v1/status")).json())["nodes"]
        return len({n["schema_version"] for n in nodes}) == 1

    await wait_for(versions_agree, what="heartbeats to carry the new schema version")


async def test_metrics_expose_every_shard(client):
    await cql(client, "CREATE KEYSPACE ks WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    response = await client.get("/metrics")
    text = await response.text()
    assert 'shardsim_storage_sstable_bytes_read{node="n1",shard="0"}' in text
    assert 'shardsim_coordinator_writes{node="n1",shard="1"}' in text


async def test_faults_admin_round_trip(client):
    response = await client.post("/v1/admin/faults", json={"delay_ms": {"n2": 5}})
    assert response.status == 200
    assert (await (await client.get("/v1/admin/faults")).json())["delay_ms"] == {"n2": 5}
    response = await client.post("/v1/admin/faults", json={"explode": True})
    assert response.status == 400
    await client.delete("/v1/admin/faults")
    assert (await (await client.get("/v1/admin/faults")).json())["delay_ms"] == {}


async def test_flush_and_compact(client):
    await cql(client, "CREATE KEYSPACE ks WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    await cql(client, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    for k in range(10):
        await cql(client, "INSERT INTO ks.t (k, v) VALUES (?, ?)", params=[k, k])
    assert (await client.post("/v1/admin/flush", json={"keyspace": "ks"})).status == 200
    assert (await client.post("/v1/admin/compact", json={})).status == 200
    status, body = await cql(client, "SELECT v FROM ks.t WHERE k = 3")
    assert body["rows"] == [[3]]
    response = await client.post("/v1/admin/flush", json={"keyspace": "nope"})
    assert response.status == 400


async def test_the_clock_fault_skews_write_timestamps(cluster, client):
    await cql(client, "CREATE KEYSPACE ks WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    await cql(client, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    response = await client.post("/v1/admin/faults", json={"clock_skew_ms": -3_600_000})
    assert (await response.json())["clock_skew_ms"] == -3_600_000
    before = cluster.coordinator("n2").shard.clock.now_us()
    for shard in (0, 1):  # both shards of n1 coordinate with the skewed clock
        await cluster.execute("n1", "INSERT INTO ks.t (k, v) VALUES (?, 1)", [shard], shard=shard)
        result = await cluster.execute("n2", "SELECT writetime(v) FROM ks.t WHERE k = ?", [shard])
        assert result.rows[0][0] < before - 3_500_000_000
    await client.delete("/v1/admin/faults")
    assert (await (await client.get("/v1/admin/faults")).json())["clock_skew_ms"] == 0


async def test_values_json_cannot_hold_still_come_back(client):
    await cql(client, "CREATE KEYSPACE ks WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    await cql(client, "CREATE TABLE ks.t (k int PRIMARY KEY, d double, ts timestamp)")
    status, _ = await cql(client, "INSERT INTO ks.t (k, d, ts) VALUES (1, NaN, ?)", params=[2**62])
    assert status == 200
    response = await client.post("/v1/cql", json={"query": "SELECT d, ts FROM ks.t WHERE k = 1"})
    assert json.loads(await response.text()) ["rows"] == [["NaN", 2**62]]  # strict JSON


@pytest.mark.parametrize("body", [b'{"query": ' + b"1" * 5000 + b"}", b"[" * 100_000])
async def test_pathological_json_is_a_400(client, body):
    response = await client.post("/v1/cql", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["error"]["name"] == "Invalid"


async def test_count_counts_every_row_whatever_the_limits(cluster):
    await cluster.execute("n1", "CREATE KEYSPACE ks WITH replication = "
                                "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    await cluster.execute("n1", "CREATE TABLE ks.t (k int, c int, PRIMARY KEY (k, c))")
    for c in range(5):
        await cluster.execute("n1", "INSERT INTO ks.t (k, c) VALUES (1, ?)", [c])
    for query in ("SELECT COUNT(*) FROM ks.t WHERE k = 1 LIMIT 2",
                  "SELECT COUNT(*) FROM ks.t WHERE k = 1 PER PARTITION LIMIT 1",
                  "SELECT COUNT(*) FROM ks.t"):
        assert (await cluster.execute("n2", query)).rows == [[5]], query
