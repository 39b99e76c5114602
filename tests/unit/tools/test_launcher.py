"""The launcher's files: the effective config it writes, and what --fresh may remove."""

import argparse
import json
import subprocess
import sys

import pytest

from node.config import load_config
from node.errors import ConfigurationError
from scripts.launcher.launcher import effective_config, render_toml, wipe

ROOT_CONFIG = """
name = "c1"
data_dir = "data"
[hints]
disabled_dcs = ["dc9"]
[[nodes]]
name = "n1"
http_port = 9001
rpc_port = 7001
"""


def arguments(config, **overrides):
    values = {"config": str(config), "data_dir": None, "nodes": None, "shards": None,
              "port_base": None, "set": []}
    values.update(overrides)
    return argparse.Namespace(**values)


def test_written_config_loads_back_identical(tmp_path):
    source = tmp_path / "cluster.toml"
    source.write_text(ROOT_CONFIG)
    config = effective_config(arguments(source, set=["hints.max_window_ms=2000", "name=\"x y\""]))
    written = tmp_path / "out.toml"
    written.write_text(render_toml(config))
    again = load_config(written)
    assert again.nodes == config.nodes
    assert again.hints == config.hints and again.hints.max_window_ms == 2000
    assert again.name == "x y" and again.data_dir == config.data_dir


def test_data_dir_defaults_to_the_config_folder_and_is_absolute(tmp_path):
    source = tmp_path / "cluster.toml"
    source.write_text(ROOT_CONFIG)
    assert effective_config(arguments(source)).data_dir == str(tmp_path / "data")
    chosen = tmp_path / "elsewhere"
    assert effective_config(arguments(source, data_dir=str(chosen))).data_dir == str(chosen)


def test_generated_nodes_replace_the_config_nodes_and_take_overrides(tmp_path):
    source = tmp_path / "cluster.toml"
    source.write_text(ROOT_CONFIG)
    config = effective_config(arguments(source, nodes=3, shards=2, port_base=30000,
                                        set=["nodes.n3.shards=4"]))
    assert [node.name for node in config.nodes] == ["n1", "n2", "n3"]
    assert [node.http_port for node in config.nodes] == [30000, 30100, 30200]
    assert [node.shards for node in config.nodes] == [2, 2, 4]


def test_a_bad_override_is_a_configuration_error(tmp_path):
    source = tmp_path / "cluster.toml"
    source.write_text(ROOT_CONFIG)
    with pytest.raises(ConfigurationError, match="nope"):
        effective_config(arguments(source, set=["nope=1"]))


def test_fresh_removes_only_what_shardsim_made(tmp_path):
    source = tmp_path / "cluster.toml"
    source.write_text(ROOT_CONFIG)
    data = tmp_path / "d"
    config = effective_config(arguments(source, data_dir=str(data)))
    for folder in ("n1", "old", "precious"):
        (data / folder).mkdir(parents=True)
        (data / folder / "file").write_text("x")
    (data / "cluster.json").write_text(json.dumps({"cluster": "c1", "nodes": [{"name": "old"}]}))
    (data / "cluster.toml").write_text("")
    (data / "notes.txt").write_text("keep")
    wipe(data, config)
    assert sorted(path.name for path in data.iterdir()) == ["notes.txt", "precious"]


def test_a_reused_pid_is_never_signalled(tmp_path):
    from scripts.launcher.launcher import kill_nodes, live_nodes, node_pids, stop_nodes
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        entry = {"name": "n1", "pid": stranger.pid}
        (tmp_path / "cluster.json").write_text(json.dumps({"cluster": "c", "nodes": [entry]}))
        assert node_pids(tmp_path, entry) == [] and live_nodes(tmp_path) == []
        kill_nodes(tmp_path, [entry])
        stop_nodes(tmp_path, [entry])
        assert stranger.poll() is None, "a process that is not the node's must survive"
    finally:
        stranger.kill()
        stranger.wait()
