"""Token-range scans, querier cache hits, misses and evictions, read repair and a
coordinator lost mid-scan, on an in-process 3x2 cluster."""

import random

import pytest

from node.dht.token import TOKEN_MAX, TOKEN_MIN
from scripts.testing.local_cluster import wait_for
from tests.cluster.paging_helpers import read_pages, started_cluster

KEYSPACE = ("CREATE KEYSPACE ks WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': %d}")


async def make_table(cluster, rows, rf=3, rows_per_partition=3):
    await cluster.execute("n1", KEYSPACE % rf)
    await cluster.execute("n1", "CREATE TABLE ks.t (k int, c int, v int, PRIMARY KEY (k, c))")
    for index in range(rows):
        await cluster.execute(f"n{index % 3 + 1}", "INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)",
                              [index // rows_per_partition, index % rows_per_partition, index],
                              consistency="ALL")


@pytest.fixture
async def cluster(tmp_path):
    local = await started_cluster(tmp_path, ["hints.enabled=false"])
    try:
        yield local
    finally:
        await local.aclose()


def metric(cluster, node, name):
    return sum(r.metrics.snapshot().get(name, 0) for r in cluster.runtimes[node])


async def test_token_range_splits_add_up_to_the_full_scan_in_token_order(cluster):
    await make_table(cluster, 150, rf=2)
    full, _ = await read_pages(cluster, "SELECT token(k), k, c FROM ks.t", 1000)
    assert len(full) == 150
    assert [row[0] for row in full] == sorted(row[0] for row in full)
    chooser = random.Random(7)
    for attempt in range(3):
        cuts = sorted(chooser.randrange(TOKEN_MIN, TOKEN_MAX) for _ in range(chooser.randrange(1, 6)))
        bounds = [TOKEN_MIN, *cuts, TOKEN_MAX]
        union, counted = [], 0
        for low, high in zip(bounds, bounds[1:]):
            query = "SELECT token(k), k, c FROM ks.t WHERE token(k) > ? AND token(k) <= ?"
            if low == TOKEN_MIN:
                query = "SELECT token(k), k, c FROM ks.t WHERE token(k) >= ? AND token(k) <= ?"
            rows, _ = await read_pages(cluster, query, 7, [low, high], node=f"n{attempt + 1}")
            assert all(low <= row[0] <= high for row in rows)
            union.extend(rows)
            count = await cluster.execute("n2", query.replace("token(k), k, c", "COUNT(*)"), [low, high])
            counted += count.rows[0][0]
        assert union == full
        assert counted == 150


async def test_the_second_page_is_a_querier_cache_hit_on_every_shard_with_data(cluster):
    await make_table(cluster, 300)
    query = "SELECT k, c FROM ks.t"
    first = await cluster.execute("n1", query, page_size=60)
    second = await cluster.execute("n1", query, page_size=60, paging_state=first.paging_state,
                                   trace=True)
    pages = [event for event in second.trace if event["event"] == "replica_page"]
    assert pages, second.trace
    continued = pages[0]["querier_cache"]
    assert set(continued) == {"0", "1"}, continued
    assert set(continued.values()) == {"hit"}, continued
    rest, _ = await read_pages(cluster, query, 60)
    assert first.rows + second.rows == rest[:120]
    hits = metric(cluster, "n1", "querier_cache_lookups") - metric(cluster, "n1", "querier_cache_misses") \
        - metric(cluster, "n1", "querier_cache_drops")
    assert hits >= 2


async def test_a_page_asked_after_the_ttl_misses_and_still_returns_the_right_rows(tmp_path):
    cluster = await started_cluster(tmp_path, ["paging.querier_ttl_ms=200"])
    try:
        await make_table(cluster, 60)
        query = "SELECT k, c FROM ks.t"
        full, _ = await read_pages(cluster, query, 1000)
        first = await cluster.execute("n1", query, page_size=25)
        await wait_for(lambda: metric(cluster, "n1", "querier_cache_population") == 0,
                       what="the parked readers to expire")
        assert metric(cluster, "n1", "querier_cache_time_based_evictions") > 0
        second = await cluster.execute("n1", query, page_size=25, paging_state=first.paging_state,
                                       trace=True)
        pages = [event for event in second.trace if event["event"] == "replica_page"]
        assert "hit" not in pages[0]["querier_cache"].values()
        assert "miss" in pages[0]["querier_cache"].values()
        rest, _ = await read_pages(cluster, query, 25)
        assert first.rows + second.rows == full[:50] == rest[:50]
    finally:
        await cluster.aclose()


async def test_the_cache_evicts_beyond_its_memory_bound(tmp_path):
    cluster = await started_cluster(tmp_path, ["paging.querier_cache_bytes=40000"])
    try:
        await make_table(cluster, 90)
        states = []
        for _ in range(6):
            states.append((await cluster.execute("n1", "SELECT k, c FROM ks.t", page_size=10)).paging_state)
        assert metric(cluster, "n1", "querier_cache_resource_based_evictions") > 0
        assert metric(cluster, "n1", "querier_cache_memory_bytes") <= 2 * 40000
        for state in states:   # every query still pages on, hit or miss
            rows = await cluster.execute("n1", "SELECT k, c FROM ks.t", page_size=100, paging_state=state)
            assert len(rows.rows) == 80
    finally:
        await cluster.aclose()


async def test_stateless_paging_never_parks_a_reader(tmp_path):
    cluster = await started_cluster(tmp_path, ["paging.stateful=false"])
    try:
        await make_table(cluster, 45)
        rows, pages = await read_pages(cluster, "SELECT k, c FROM ks.t", 4)
        assert len(rows) == 45 and len(pages) == 12
        for node in cluster.node_names:
            assert metric(cluster, node, "querier_cache_lookups") == 0
            assert metric(cluster, node, "querier_cache_population") == 0
    finally:
        await cluster.aclose()


async def test_a_coordinator_killed_mid_scan_another_node_goes_on_from_the_paging_state(cluster):
    await make_table(cluster, 120)
    query = "SELECT k, c, v FROM ks.t"
    full, _ = await read_pages(cluster, query, 1000, node="n2")
    first = await cluster.execute("n1", query, page_size=35)
    await cluster.kill("n1")
    await cluster.wait_seen_down("n1")
    rows = list(first.rows)
    state = first.paging_state
    while state is not None:
        page = await cluster.execute("n2", query, page_size=35, paging_state=state)
        rows.extend(page.rows)
        state = page.paging_state
    assert rows == full


async def test_a_scan_at_all_repairs_a_replica_that_missed_writes(cluster):
    await make_table(cluster, 30)
    await cluster.set_faults("n1", {"partition": ["n3"]})
    await cluster.set_faults("n3", {"partition": ["n1"]})
    await wait_for(lambda: not cluster.sees("n1", "n3"), what="n1 to see n3 DOWN")
    for k in range(100, 110):
        await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (?, 0, 1)", [k])
    await cluster.execute("n1", "DELETE FROM ks.t WHERE k = 0")
    await cluster.clear_faults("n1")
    await cluster.clear_faults("n3")
    await cluster.wait_all_up()
    rows, _ = await read_pages(cluster, "SELECT k, c FROM ks.t", 6, consistency="ALL", node="n2")
    assert len(rows) == 30 - 3 + 10
    assert cluster.coordinator("n2").processor.scanner.stats.read_repairs > 0
    await cluster.kill("n1")
    await cluster.kill("n2")
    await cluster.wait_seen_down("n1")
    alone, _ = await read_pages(cluster, "SELECT k, c FROM ks.t", 1000, node="n3")
    assert alone == rows
