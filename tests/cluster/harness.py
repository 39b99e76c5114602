"""The in-process cluster of the tests: ``scripts/testing/local_cluster.py`` (it is shared with
the benchmarks, which cannot import ``tests``)."""

from scripts.testing.local_cluster import (FAST_FAILURE_DETECTION, LocalCluster, cluster_config,  # noqa: F401
                                   wait_for)
