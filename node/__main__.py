"""``python -m node --config cluster.toml --node n1``: run one node (its supervisor).

Checks the config once, logs to ``<data dir>/<node>/node.log`` (structlog JSON lines,
``node`` bound), then runs ``node.server.supervisor.Supervisor`` over one ``node.server.shard_process``
process per shard. Exit codes: 0 stopped on a signal, 1 a shard died, 2 bad config
(including a shard count other than the one the node's data was created with,
``node.server.node_identity``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import structlog

from node.clock import SystemClock
from node.config import load_config
from node.errors import ShardsimError
from node.logsetup import configure_process_logging
from node.server.node_identity import ensure_node_identity
from node.server.supervisor import Supervisor, run_supervisor, shard_command


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m node", description="run one node: a "
                                     "supervisor and one process per shard")
    parser.add_argument("--config", required=True, help="cluster.toml")
    parser.add_argument("--node", required=True, help="the name of this node in the config")
    parser.add_argument("--data-dir", help="overrides data_dir of the config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting (passed on to every shard)")
    parser.add_argument("--stop-timeout-ms", type=int, default=10000,
                        help="SIGKILL shards still alive this long after SIGTERM")
    parser.add_argument("--shard-script", type=Path, help=argparse.SUPPRESS)  # tests: a stand-in shard
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    config_path = Path(args.config).resolve()
    data_dir = Path(args.data_dir).resolve() if args.data_dir else None
    try:
        config = load_config(config_path, args.set)
        if data_dir is not None:
            config = replace(config, data_dir=str(data_dir))
        settings = config.node(args.node)
        node_dir = config.data_path() / args.node
        ensure_node_identity(node_dir, args.node, settings.shards)
    except ShardsimError as error:
        print(f"node: error: {error}", file=sys.stderr)
        return 2
    configure_process_logging(node_dir / "node.log", args.node, None)
    log = structlog.get_logger()
    commands = [shard_command(config_path, args.node, shard, data_dir=data_dir,
                              overrides=args.set, shard_script=args.shard_script)
                for shard in range(settings.shards)]
    supervisor = Supervisor(args.node, commands, node_dir / "pids.json", clock=SystemClock(),
                            log=log, stop_timeout_s=args.stop_timeout_ms / 1000)
    log.info("supervisor.starting", shards=settings.shards, config=str(config_path))
    code = asyncio.run(run_supervisor(supervisor))
    log.info("supervisor.exiting", returncode=code)
    return code


if __name__ == "__main__":
    sys.exit(main())
