"""The ``shardsim`` entry point: version, plain help, and one rule for ``--config``."""

import pytest

from scripts import cli
from scripts.cluster_client import SHIPPED_CONFIG, default_config


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("shardsim ") and out.split()[1][0].isdigit()


def test_top_level_help_has_no_rst_markup(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "--version" in out


def test_config_default_is_the_local_file_when_present_else_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_config() == SHIPPED_CONFIG
    (tmp_path / "cluster.toml").write_text("")
    assert default_config().resolve() == (tmp_path / "cluster.toml").resolve()


@pytest.mark.parametrize("command", [["ring"], ["up"], ["status"], ["cql"], ["stress", "run", "KeyValue"], ["nemesis", "run"]])
def test_every_command_with_config_follows_the_same_rule(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = cli.build_parser()
    args, _ = parser.parse_known_args(command)
    assert getattr(args, "config", str(SHIPPED_CONFIG)) == str(SHIPPED_CONFIG)
