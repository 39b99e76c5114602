"""Prometheus text from shard snapshots."""

from dataclasses import dataclass

from coordinator.api.metrics import MetricsRegistry, render


@dataclass(frozen=True)
class Stats:
    rows_read: int
    querier_cache_population: int


def test_render_labels_every_series_with_node_and_shard():
    registry = MetricsRegistry()
    registry.register("storage", lambda: Stats(12, 3))
    registry.register("hints", lambda: {"pending_bytes": {"n2": 100, "n3": 0}})
    text = render([({"node": "n1", "shard": "0"}, registry.snapshot()),
                   ({"node": "n1", "shard": "1"}, registry.snapshot())])
    assert '# TYPE shardsim_storage_rows_read counter' in text
    assert 'shardsim_storage_rows_read{node="n1",shard="1"} 12' in text
    assert '# TYPE shardsim_storage_querier_cache_population gauge' in text
    assert 'shardsim_hints_pending_bytes{node="n1",shard="0",target="n2"} 100' in text
