"""Structured logging of a shard process: structlog JSON lines in ``<data>/<node>/node.log``.

Each process configures structlog once at start (``configure_process_logging``) and
binds ``node`` and ``shard`` into every event. In-process test clusters use
``configure_quiet_logging`` so that only warnings reach stderr.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import structlog


def configure_process_logging(log_path: Path, node: str, shard: int | None, level: str = "info") -> None:
    """JSON lines appended to ``log_path`` (shared by the node's processes: O_APPEND
    writes of one line each stay whole)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(node=node, **({"shard": shard} if shard is not None else {}))


def configure_quiet_logging() -> None:
    """Warnings and errors to stderr, for tests and benchmarks."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.format_exc_info,
                    structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
