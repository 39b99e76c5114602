import pytest

from node.logsetup import configure_quiet_logging
from scripts.testing.local_cluster import LocalCluster, cluster_config


@pytest.fixture(autouse=True)
def quiet_logs():
    configure_quiet_logging()


@pytest.fixture
async def cluster(tmp_path):
    """3 nodes x 2 shards, one DC, started and all UP."""
    local = LocalCluster(tmp_path, cluster_config(3, 2))
    await local.start()
    try:
        yield local
    finally:
        await local.aclose()
