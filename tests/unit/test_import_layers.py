"""The direction of imports, as pyproject.toml's import-linter contracts state it:
tools on top, then the composition root, the coordinator, node's concepts, foundations."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_of_pyproject_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
