"""The ``shardsim`` command: one entry point, a subcommand per tool.

Each subcommand lives in its own module in ``scripts/`` and registers its parser
here. Any ``ShardsimError`` a command raises becomes one clear line on stderr and
exit code 2 — users never see a traceback for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

from node.errors import ShardsimError

BENCHMARKS = ("ring", "storage", "rpc", "kv", "hints", "scan")


def _bench(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"scripts.bench.{args.name}")
    return int(module.main(args.bench_args) or 0)


def _version() -> str:
    try:
        return importlib.metadata.version("shardsim")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    from scripts import ring_command

    parser = argparse.ArgumentParser(
        prog="shardsim",
        description="shardsim: a Scylla-style database cluster on one machine. Every command "
                    "that takes --config reads ./cluster.toml when the current folder has one, "
                    "else the shipped cluster.toml.")
    parser.add_argument("--version", action="version", version=f"shardsim {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ring_command.register(commands)
    from scripts.launcher import launcher

    launcher.register(commands)
    from scripts.nemesis import runner as nemesis
    from scripts.shell import cql_shell
    from scripts.stress import runner as stress

    for tool in (cql_shell, stress, nemesis):
        tool.register(commands)
    bench = commands.add_parser("bench", help="run a benchmark: " + ", ".join(BENCHMARKS))
    bench.add_argument("name", choices=BENCHMARKS)
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments of the benchmark")
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ShardsimError as error:
        print(f"shardsim {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
