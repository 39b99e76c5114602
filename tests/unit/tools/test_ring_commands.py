"""``shardsim ring`` and ``shardsim token`` on the shipped cluster.toml."""

import re
import subprocess
import sys

from cassandra.murmur3 import murmur3

from node.schema.types import TYPES, serialize_partition_key
from scripts.cli import main


def test_ring_prints_three_nodes_whose_ownership_sums_to_rf(capsys):
    for rf in (1, 2, 3):
        assert main(["ring", "--rf", str(rf)]) == 0
        out = capsys.readouterr().out
        shares = [float(v) for v in re.findall(r"^n\d\s.*?\s(\d+\.\d)%", out, re.M)]
        assert len(shares) == 3
        assert abs(sum(shares) - 100 * rf) < 0.3


def test_ring_with_network_topology(capsys):
    assert main(["ring", "--replication", '{"class": "NetworkTopologyStrategy", "dc1": 2}']) == 0
    assert "NetworkTopologyStrategy" in capsys.readouterr().out


def test_token_prints_the_cassandra_token_and_replicas(capsys):
    assert main(["token", "-7", "--type", "int", "--rf", "2"]) == 0
    out = capsys.readouterr().out
    expected = murmur3(serialize_partition_key([TYPES["int"]], [-7]))
    assert f"token:   {expected}" in out
    assert len(re.findall(r"^n\d\s+dc1", out, re.M)) == 2


def test_composite_token(capsys):
    assert main(["token", "5", "été", "--type", "bigint,text"]) == 0
    key = serialize_partition_key([TYPES["bigint"], TYPES["text"]], [5, "été"])
    assert str(murmur3(key)) in capsys.readouterr().out


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], capture_output=True, text=True)


def test_bad_input_is_one_line_exit_2_no_traceback(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[[nodes]]\nname = 'a'\nshards = 0\n")
    cases = [("ring", "--rf", "0"), ("ring", "--rf", "-1"),
             ("ring", "--replication", '{"class": "NoSuchStrategy"}'),
             ("ring", "--config", str(broken)), ("token", "abc", "--type", "int"),
             ("token", "300", "--type", "tinyint"), ("token", "1", "--type", "nosuchtype")]
    for case in cases:
        result = run_cli(*case)
        assert result.returncode == 2, case
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, (case, result.stderr)
