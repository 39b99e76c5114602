"""Paging scenarios, each compared with an unpaged read of the same data: page sizes
over row counts, LIMIT, IN, clustering slices ASC and DESC, static columns, writes and
TTL expiry between pages, COUNT(*), and the paging state's robustness. Stateful and
stateless paging must give the same rows."""

import pytest

from node.errors import Invalid
from scripts.testing.local_cluster import wait_for
from tests.cluster.paging_helpers import expected_pages, read_pages, started_cluster

KEYSPACE = ("CREATE KEYSPACE ks WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 3}")
PAGE_SIZES = (1, 2, 3, 5, 7, 100)


@pytest.fixture(params=["stateful", "stateless"])
async def paging_cluster(request, tmp_path):
    overrides = [] if request.param == "stateful" else ["paging.stateful=false"]
    cluster = await started_cluster(tmp_path, overrides)
    await cluster.execute("n1", KEYSPACE)
    await cluster.execute("n1", "CREATE TABLE ks.t (k int, c int, v int, s int static, "
                                "PRIMARY KEY (k, c))")
    try:
        yield cluster
    finally:
        await cluster.aclose()


async def insert_rows(cluster, table, rows, partition_of, clustering_of, ttl=None):
    using = f" USING TTL {ttl}" if ttl else ""
    for index in range(rows):
        await cluster.execute(f"n{index % 3 + 1}",
                              f"INSERT INTO ks.{table} (k, c, v) VALUES (?, ?, ?){using}",
                              [partition_of(index), clustering_of(index), index])


async def unpaged(cluster, query, params=None):
    return (await cluster.execute("n2", query, params, page_size=0)).rows


async def test_every_page_size_over_small_row_counts_matches_unpaged(paging_cluster):
    cluster = paging_cluster
    for rows in (0, 1, 5, 9):
        # a range scan over partitions of 1 or 2 rows, and one partition holding them all
        for table in (f"scan{rows}", f"single{rows}"):
            await cluster.execute("n1", f"CREATE TABLE ks.{table} (k int, c int, v int, "
                                        "PRIMARY KEY (k, c))")
        await insert_rows(cluster, f"scan{rows}", rows, lambda i: i // 2, lambda i: i % 2)
        await insert_rows(cluster, f"single{rows}", rows, lambda i: 1000, lambda i: i)
        queries = [(f"SELECT k, c, v FROM ks.scan{rows}", rows),
                   (f"SELECT k, c, v FROM ks.single{rows} WHERE k = 1000", rows),
                   (f"SELECT k, c, v FROM ks.single{rows} WHERE k = 1000 ORDER BY c DESC", rows)]
        for query, count in queries:
            full = await unpaged(cluster, query)
            assert len(full) == count, query
            for page_size in PAGE_SIZES:
                paged, pages = await read_pages(cluster, query, page_size)
                assert paged == full, (query, page_size)
                assert len(pages) == expected_pages(count, page_size), (query, page_size)


async def test_five_thousand_and_one_rows_in_pages_and_counted(paging_cluster):
    cluster = paging_cluster
    await insert_rows(cluster, "t", 5001, lambda i: i // 50, lambda i: i % 50)
    full = await unpaged(cluster, "SELECT k, c FROM ks.t")
    assert len(full) == 5001
    for page_size in (100, 7):
        paged, pages = await read_pages(cluster, "SELECT k, c FROM ks.t", page_size)
        assert paged == full
        assert len(pages) == expected_pages(5001, page_size)
    count = await cluster.execute("n3", "SELECT COUNT(*) FROM ks.t", page_size=3)
    assert count.rows == [[5001]] and count.paging_state is None
    in_partition = await read_pages(cluster, "SELECT c FROM ks.t WHERE k = 7 ORDER BY c DESC", 7)
    assert in_partition[0] == [[c] for c in range(49, -1, -1)]


async def test_limit_smaller_and_larger_than_the_page(paging_cluster):
    cluster = paging_cluster
    await insert_rows(cluster, "t", 40, lambda i: i // 4, lambda i: i % 4)
    full = await unpaged(cluster, "SELECT k, c FROM ks.t")
    for limit, page_size in ((3, 5), (5, 5), (12, 5), (10, 100), (39, 13), (100, 7)):
        query = f"SELECT k, c FROM ks.t LIMIT {limit}"
        paged, pages = await read_pages(cluster, query, page_size)
        assert paged == full[:limit], (limit, page_size)
        assert len(pages) == expected_pages(min(limit, 40), page_size)
    paged, _ = await read_pages(cluster, "SELECT k, c FROM ks.t PER PARTITION LIMIT 3 LIMIT 10", 4)
    per_partition = [row for row in full if row[1] < 3]
    assert paged == per_partition[:10]
    paged, _ = await read_pages(cluster, "SELECT k, c FROM ks.t PER PARTITION LIMIT 1", 3)
    assert paged == [row for row in full if row[1] == 0]


async def test_in_over_several_partitions(paging_cluster):
    cluster = paging_cluster
    await insert_rows(cluster, "t", 60, lambda i: i // 6, lambda i: i % 6)
    query = "SELECT k, c FROM ks.t WHERE k IN (9, 1, 4, 77, 2)"
    full = await unpaged(cluster, query)
    assert len(full) == 24
    for page_size in PAGE_SIZES:
        paged, pages = await read_pages(cluster, query, page_size, node="n3")
        assert paged == full
        assert len(pages) == expected_pages(24, page_size)
    for query in ("SELECT k, c FROM ks.t WHERE k IN (9, 1, 4) ORDER BY c DESC LIMIT 8",
                  "SELECT k, c FROM ks.t WHERE k IN (9, 1, 4) PER PARTITION LIMIT 2",
                  "SELECT k, c FROM ks.t WHERE k IN (9, 1, 4) AND c >= 2 AND c < 5"):
        assert (await read_pages(cluster, query, 2, consistency="QUORUM"))[0] == await unpaged(cluster, query)


async def test_clustering_slices_ascending_and_descending(paging_cluster):
    cluster = paging_cluster
    await insert_rows(cluster, "t", 30, lambda i: i // 15, lambda i: i % 15)
    for query in ("SELECT c FROM ks.t WHERE k = 1 AND c > 3 AND c <= 11",
                  "SELECT c FROM ks.t WHERE k = 1 AND c > 3 AND c <= 11 ORDER BY c DESC",
                  "SELECT c FROM ks.t WHERE k = 0 AND c IN (14, 2, 9, 5)",
                  "SELECT c FROM ks.t WHERE k = 0 AND c IN (14, 2, 9, 5) ORDER BY c DESC",
                  "SELECT k, c FROM ks.t WHERE c >= 10 ALLOW FILTERING"):
        full = await unpaged(cluster, query)
        assert full
        for page_size in (1, 2, 3):
            assert (await read_pages(cluster, query, page_size))[0] == full, (query, page_size)


async def test_static_columns_on_every_page(paging_cluster):
    cluster = paging_cluster
    await insert_rows(cluster, "t", 10, lambda i: 1, lambda i: i)
    await cluster.execute("n1", "UPDATE ks.t SET s = 42 WHERE k = 1")
    await cluster.execute("n1", "UPDATE ks.t SET s = 7 WHERE k = 2")    # static only, no rows
    await cluster.execute("n1", "UPDATE ks.t SET s = 8 WHERE k = 3")
    await cluster.execute("n1", "INSERT INTO ks.t (k, c, v) VALUES (3, 0, 0)")
    for query in ("SELECT k, c, s FROM ks.t", "SELECT k, c, s FROM ks.t WHERE k IN (1, 2, 3)",
                  "SELECT c, s FROM ks.t WHERE k = 1 ORDER BY c DESC"):
        full = await unpaged(cluster, query)
        for page_size in (1, 3, 4):
            paged, pages = await read_pages(cluster, query, page_size)
            assert paged == full, (query, page_size)
            assert len(pages) == expected_pages(len(full), page_size)
    rows = await unpaged(cluster, "SELECT k, c, s FROM ks.t")
    assert [2, None, 7] in rows and [1, 9, 42] in rows


async def test_rows_deleted_and_inserted_behind_and_ahead_of_the_cursor(paging_cluster):
    cluster = paging_cluster
    await insert_rows(cluster, "t", 40, lambda i: i // 10, lambda i: 2 * (i % 10))
    for query, key in (("SELECT k, c FROM ks.t WHERE k = 2", lambda row: (row[1],)),
                       ("SELECT k, c FROM ks.t", None)):
        cursor = []

        async def between(page, rows):
            if page != 1:
                return
            cursor.extend(rows)
            behind, ahead = rows[0], full_before[len(rows) + 3]
            await cluster.execute("n2", "DELETE FROM ks.t WHERE k = ? AND c = ?", behind)
            await cluster.execute("n2", "DELETE FROM ks.t WHERE k = ? AND c = ?", ahead)
            await cluster.execute("n3", "INSERT INTO ks.t (k, c, v) VALUES (?, ?, 0)",
                                  [behind[0], behind[1] + 1])
            await cluster.execute("n3", "INSERT INTO ks.t (k, c, v) VALUES (?, ?, 0)",
                                  [ahead[0], ahead[1] + 1])

        full_before = await unpaged(cluster, query)
        paged, _ = await read_pages(cluster, query, 5, between=between)
        after = await unpaged(cluster, query)
        last = after.index(cursor[-1]) if cursor[-1] in after else None
        assert last is not None
        assert paged == cursor + after[last + 1:], query
        # restore for the next query
        await insert_rows(cluster, "t", 40, lambda i: i // 10, lambda i: 2 * (i % 10))
        for row in after:
            if row[1] % 2:
                await cluster.execute("n1", "DELETE FROM ks.t WHERE k = ? AND c = ?", row)


async def test_rows_whose_ttl_expires_between_pages_are_not_returned(paging_cluster):
    cluster = paging_cluster
    await insert_rows(cluster, "t", 12, lambda i: 5, lambda i: i)
    await insert_rows(cluster, "t", 12, lambda i: 5, lambda i: 100 + i, ttl=1)
    query = "SELECT c FROM ks.t WHERE k = 5"
    first = await cluster.execute("n1", query, page_size=4)
    assert first.rows == [[0], [1], [2], [3]]

    async def expired():
        return len(await unpaged(cluster, query)) == 12

    await wait_for(expired, timeout_s=10, what="TTL rows to expire")
    rows, _ = await read_pages_from(cluster, query, 4, first.paging_state)
    assert first.rows + rows == [[c] for c in range(12)]
    # and in a range scan
    await insert_rows(cluster, "t", 30, lambda i: i, lambda i: 500, ttl=1)
    await insert_rows(cluster, "t", 6, lambda i: 100 + i, lambda i: 0)
    first = await cluster.execute("n1", "SELECT k, c FROM ks.t", page_size=3)
    await wait_for(lambda: _count_is(cluster, 6 + 12), timeout_s=10, what="TTL rows to expire")
    rest, _ = await read_pages_from(cluster, "SELECT k, c FROM ks.t", 3, first.paging_state)
    final = await unpaged(cluster, "SELECT k, c FROM ks.t")
    assert [row for row in first.rows + rest if row in final] == final
    assert all(row in final for row in rest)


async def _count_is(cluster, count):
    return (await cluster.execute("n1", "SELECT COUNT(*) FROM ks.t")).rows == [[count]]


async def read_pages_from(cluster, query, page_size, state):
    rows, results = [], []
    while state is not None:
        result = await cluster.execute("n2", query, page_size=page_size, paging_state=state)
        results.append(result)
        rows.extend(result.rows)
        state = result.paging_state
    return rows, results


async def test_count_and_unpaged_reads_answer_at_once(paging_cluster):
    cluster = paging_cluster
    await insert_rows(cluster, "t", 25, lambda i: i // 5, lambda i: i % 5)
    result = await cluster.execute("n1", "SELECT COUNT(*) FROM ks.t", page_size=2)
    assert result.rows == [[25]] and result.paging_state is None
    result = await cluster.execute("n1", "SELECT COUNT(*) FROM ks.t WHERE k IN (1, 2, 99)", page_size=1)
    assert result.rows == [[10]]
    result = await cluster.execute("n1", "SELECT k FROM ks.t", page_size=-1)
    assert len(result.rows) == 25 and result.paging_state is None


async def test_a_garbage_or_tampered_paging_state_is_invalid(paging_cluster):
    cluster = paging_cluster
    await insert_rows(cluster, "t", 10, lambda i: i, lambda i: 0)
    await cluster.execute("n1", "CREATE TABLE ks.other (k int PRIMARY KEY)")
    page = await cluster.execute("n1", "SELECT k FROM ks.t", page_size=3)
    state = page.paging_state
    assert state is not None and "=" not in state and "+" not in state and "/" not in state
    tampered = state[:-3] + ("A" if state[-3] != "A" else "B") + state[-2:]
    for bad in ("garbage", "", "!!!", tampered, state[:10], "A" * 5000):
        with pytest.raises(Invalid):
            await cluster.execute("n1", "SELECT k FROM ks.t", page_size=3, paging_state=bad)
    with pytest.raises(Invalid, match="another table"):
        await cluster.execute("n1", "SELECT k FROM ks.other", page_size=3, paging_state=state)
    rest, _ = await read_pages_from(cluster, "SELECT k FROM ks.t", 3, state)
    assert len(page.rows + rest) == 10
