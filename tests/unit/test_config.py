"""cluster.toml loading: types, validation, overrides, and errors that name the key."""

import pytest

from node.config import load_config
from node.errors import ConfigurationError

GOOD = """
name = "c1"
[hints]
max_window_ms = 5000
[[nodes]]
name = "n1"
http_port = 9001
rpc_port = 7001
shards = 2
[[nodes]]
name = "n2"
http_port = 9002
rpc_port = 7003
shards = 1
"""


def write(tmp_path, text):
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    return path


def test_shipped_cluster_toml_is_three_nodes_of_two_shards_in_one_dc():
    config = load_config("cluster.toml")
    assert [n.name for n in config.nodes] == ["n1", "n2", "n3"]
    assert {n.shards for n in config.nodes} == {2}
    assert {n.dc for n in config.nodes} == {"dc1"}
    assert config.num_tokens == 16 and config.sharding_ignore_msb == 12


def test_defaults_fill_what_the_file_leaves_out(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.name == "c1"
    assert config.hints.max_window_ms == 5000
    assert config.hints.retry_ms == 10000
    assert config.timeouts.write_ms == 2000
    assert config.paging.stateful is True
    assert config.node("n2").rpc_address(0) == ("127.0.0.1", 7003)


def test_overrides_apply_with_toml_values(tmp_path):
    config = load_config(write(tmp_path, GOOD), ["hints.max_window_ms=2000", "paging.stateful=false",
                                                 "nodes.n2.shards=3", "name=other"])
    assert config.hints.max_window_ms == 2000
    assert config.paging.stateful is False
    assert config.node("n2").shards == 3
    assert config.name == "other"


@pytest.mark.parametrize("mutation,message", [
    (lambda t: t + "\n[[nodes]]\nname = \"n1\"\nhttp_port = 9100\nrpc_port = 7100\n",
     "duplicate node name 'n1'"),
    (lambda t: t.replace("rpc_port = 7003", "rpc_port = 7002"), "port clash"),
    (lambda t: t.replace("http_port = 9002", "http_port = 7001"), "port clash"),
    (lambda t: t.replace("shards = 1", "shards = 0"), r"nodes\[1\].shards: must be at least 1"),
    (lambda t: t.replace("shards = 1", "shards = \"two\""), r"nodes\[1\].shards: expected int"),
    (lambda t: t.replace("max_window_ms = 5000", "max_window_ms = 5000\nmax_windw = 1"),
     "unknown key 'hints.max_windw'"),
    (lambda t: "colour = 1\n" + t, "unknown key 'colour'"),
    (lambda t: t.replace('name = "c1"', 'name = "c1"\n[commitlog]\nsync = "sometimes"'),
     "commitlog.sync"),
    (lambda t: t + "\n[timeouts]\nwrite_ms = -1\n", "timeouts.write_ms: must be positive"),
    (lambda t: "name = \n", "not valid TOML"),
])
def test_invalid_files_name_the_key_and_the_file(tmp_path, mutation, message):
    path = write(tmp_path, mutation(GOOD))
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_bad_overrides_are_errors(tmp_path):
    path = write(tmp_path, GOOD)
    for override, message in (("nonsense", "KEY=VALUE"), ("hints.nope=1", "unknown key"),
                              ("nodes.n9.shards=2", "no node named"),
                              ("hints.enabled=maybe", "expected bool")):
        with pytest.raises(ConfigurationError, match=message):
            load_config(path, [override])


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="no such file"):
        load_config(tmp_path / "absent.toml")
