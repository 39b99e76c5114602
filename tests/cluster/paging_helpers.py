"""Reading every page of a query on an in-process cluster, checking the page shapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from scripts.testing.local_cluster import LocalCluster, cluster_config


async def read_pages(cluster: LocalCluster, query: str, page_size: int, params: Any = None, *,
                     node: str = "n1", consistency: str = "ONE",
                     between: Callable[[int, list], Awaitable[None]] | None = None,
                     trace: bool = False) -> tuple[list[list[Any]], list[Any]]:
    """All rows of ``query`` page by page, and the page results. Every page but the
    last is full and no page after the first is empty."""
    rows: list[list[Any]] = []
    results = []
    state = None
    while True:
        result = await cluster.execute(node, query, params, consistency=consistency,
                                       page_size=page_size, paging_state=state, trace=trace)
        results.append(result)
        rows.extend(result.rows)
        assert len(result.rows) <= page_size
        if result.paging_state is None:
            return rows, results
        assert result.rows, "a page with a paging state is never empty"
        assert len(result.rows) == page_size or result.rows, "pages are full while rows remain"
        state = result.paging_state
        if between is not None:
            await between(len(results), result.rows)
        assert len(results) < 100_000


def expected_pages(rows: int, page_size: int) -> int:
    return max(1, -(-rows // page_size))


async def started_cluster(tmp_path: Any, overrides: list[str] = ()) -> LocalCluster:
    cluster = LocalCluster(tmp_path, cluster_config(3, 2, list(overrides)))
    await cluster.start()
    return cluster
