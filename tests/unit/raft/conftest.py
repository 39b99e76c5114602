"""Heavier seed sweeps carry ``@pytest.mark.slow`` and run only when asked for:
``pytest -m slow tests/unit/raft``."""

import pytest


def pytest_collection_modifyitems(config, items):
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="a slow seed sweep: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
