"""``shardsim nemesis``: Jepsen-style fault runs: schedule, faults, workload, history, checker, report."""
