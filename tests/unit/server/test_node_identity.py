"""A node's shard count is part of its identity on disk (issue 12): recorded at first
start in ``<data>/<node>/node.json``; a node started again with another count refuses
to start, naming the setting and the recorded value (tokens would route to shards that
do not hold them)."""

import json
import sys

import pytest

from node.__main__ import main as node_main
from node.errors import ConfigurationError
from node.server.node_identity import IDENTITY_FILE, check_node_identity, ensure_node_identity
from scripts.cli import main as shardsim_main

CONFIG = """
name = "c1"
[[nodes]]
name = "n1"
http_port = 29001
rpc_port = 29011
shards = 2
[[nodes]]
name = "n2"
host = "127.0.0.2"
http_port = 29001
rpc_port = 29011
shards = 2
"""


def test_the_first_start_records_the_shard_count_and_the_same_count_passes(tmp_path):
    node_dir = tmp_path / "n2"
    ensure_node_identity(node_dir, "n2", 2)
    assert json.loads((node_dir / IDENTITY_FILE).read_text()) == {"node": "n2", "shards": 2}
    ensure_node_identity(node_dir, "n2", 2)
    check_node_identity(node_dir, "n2", 2)
    check_node_identity(tmp_path / "never-started", "n9", 7)  # nothing recorded: nothing to refuse


def test_another_shard_count_is_refused_naming_the_setting_and_the_recorded_value(tmp_path):
    node_dir = tmp_path / "n2"
    ensure_node_identity(node_dir, "n2", 2)
    for check in (ensure_node_identity, check_node_identity):
        with pytest.raises(ConfigurationError) as error:
            check(node_dir, "n2", 4)
        message = str(error.value)
        assert "nodes.n2.shards" in message and "4" in message and "2 shards" in message
        assert "\n" not in message
    assert json.loads((node_dir / IDENTITY_FILE).read_text())["shards"] == 2, "unchanged"


def test_a_data_dir_from_before_identity_files_counts_its_shard_folders(tmp_path):
    node_dir = tmp_path / "n2"
    for index in range(2):
        (node_dir / f"shard{index}" / "commitlog").mkdir(parents=True)
    with pytest.raises(ConfigurationError, match="nodes.n2.shards"):
        ensure_node_identity(node_dir, "n2", 4)
    ensure_node_identity(node_dir, "n2", 2)
    assert json.loads((node_dir / IDENTITY_FILE).read_text())["shards"] == 2


def test_an_unreadable_identity_file_is_an_error_not_a_silent_rewrite(tmp_path):
    node_dir = tmp_path / "n2"
    node_dir.mkdir()
    (node_dir / IDENTITY_FILE).write_text("{not json")
    with pytest.raises(ConfigurationError, match=IDENTITY_FILE):
        ensure_node_identity(node_dir, "n2", 2)


def write_config(tmp_path):
    config = tmp_path / "cluster.toml"
    config.write_text(CONFIG)
    dies = tmp_path / "dies.py"
    dies.write_text("import sys\nsys.exit(3)\n")
    return config, dies


def test_the_supervisor_refuses_another_shard_count_with_exit_code_2(tmp_path, capsys):
    config, dies = write_config(tmp_path)
    data = tmp_path / "data"
    ensure_node_identity(data / "n2", "n2", 2)  # n2 ran before with 2 shards
    code = node_main(["--config", str(config), "--node", "n2", "--data-dir", str(data),
                      "--set", "nodes.n2.shards=4", "--shard-script", str(dies)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "nodes.n2.shards" in err and "2 shards" in err


def test_the_supervisor_records_the_identity_at_first_start(tmp_path):
    config, dies = write_config(tmp_path)
    data = tmp_path / "data"
    node_main(["--config", str(config), "--node", "n1", "--data-dir", str(data),
               "--shard-script", str(dies)])
    assert json.loads((data / "n1" / IDENTITY_FILE).read_text()) == {"node": "n1", "shards": 2}


def test_shardsim_start_refuses_another_shard_count_in_one_line(tmp_path, capsys):
    config, dies = write_config(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "cluster.toml").write_text(CONFIG.replace("shards = 2", "shards = 4"))
    (data / "cluster.json").write_text(json.dumps({
        "cluster": "c1", "shard_script": str(dies),
        "nodes": [{"name": "n2", "http": "http://127.0.0.2:29001", "pid": 2 ** 22 + 1, "dc": "dc1",
                   "rack": "rack1", "shards": 4, "rpc_ports": [29011, 29012, 29013, 29014]}]}))
    ensure_node_identity(data / "n2", "n2", 2)
    code = shardsim_main(["start", "n2", "--data-dir", str(data), "--timeout-s", "5"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "nodes.n2.shards" in err and "2 shards" in err
    assert not (data / "n2" / "supervisor.out").exists(), "refused before anything was spawned"


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("the supervisor is tested on Linux")
