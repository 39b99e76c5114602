"""``shardsim stress``: tlp-stress-style workloads, the load loop and its report."""
