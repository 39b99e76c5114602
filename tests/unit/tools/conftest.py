"""An in-process cluster (tests/cluster/harness.py) whose nodes serve their HTTP API on
real local ports, so the tools talk to it exactly as to launched processes."""

import pytest
from aiohttp.test_utils import TestServer

from node.logsetup import configure_quiet_logging
from scripts.cluster_client import ClusterTarget
from scripts.testing.local_cluster import LocalCluster, cluster_config


@pytest.fixture
async def served_cluster(tmp_path):
    """(LocalCluster of 3 nodes x 1 shard, ClusterTarget naming each node's URL)."""
    async for served in _serve(tmp_path, []):
        yield served


@pytest.fixture
async def served_cluster_without_hints(tmp_path):
    async for served in _serve(tmp_path, ["hints.enabled=false"]):
        yield served


async def _serve(tmp_path, overrides):
    configure_quiet_logging()
    local = LocalCluster(tmp_path, cluster_config(3, 1, overrides))
    await local.start()
    servers = {}
    try:
        for name in local.node_names:
            server = TestServer(local.coordinator(name).http.app)
            await server.start_server()
            servers[name] = server
        nodes = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
        yield local, ClusterTarget(list(nodes.values()), nodes)
    finally:
        for server in servers.values():
            await server.close()
        await local.aclose()
