"""The node supervisor: one OS process per shard, and a node that is up or down, never half.

``Supervisor.run`` starts every shard process, writes ``pids.json`` (its own pid and
the shards'), forwards SIGTERM/SIGINT to the shards, and returns an exit code:

- 0 when it was asked to stop and every shard exited after the forwarded signal;
- 1 when a shard exited on its own: the other shards are then terminated (SIGTERM,
  then SIGKILL after ``stop_timeout_s``) so the node goes down whole.

Invariant: no shard outlives its supervisor. Shards stay in the supervisor's process
group (the launcher signals the whole group) and are started with
``PR_SET_PDEATHSIG`` = SIGKILL, so even a SIGKILLed supervisor takes them along.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from node.clock import Clock

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """Run in the child between fork and exec: SIGKILL when the parent dies.

    Linux only; elsewhere the process-group kill of the launcher still applies. If the
    parent already died before ``prctl`` took effect, exit at once."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def shard_command(config_path: Path, node: str, shard: int, *, data_dir: Path | None = None,
                  overrides: list[str] = (), shard_script: Path | None = None) -> list[str]:
    """The command line of one shard process: ``python -m node.server.shard_process ...`` (or a
    stand-in script given by tests)."""
    program = [str(shard_script)] if shard_script is not None else ["-m", "node.server.shard_process"]
    command = [sys.executable, *program, "--config", str(config_path), "--node", node,
               "--shard", str(shard)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    for text in overrides:
        command += ["--set", text]
    return command


@dataclass(frozen=True)
class ShardExit:
    """How one shard process ended."""

    shard: int
    pid: int
    returncode: int


class Supervisor:
    """Runs the shard processes of one node; see the module docstring."""

    def __init__(self, node: str, commands: list[list[str]], pids_path: Path, *, clock: Clock,
                 log: Any = None, stop_timeout_s: float = 10.0) -> None:
        assert commands, "a node has at least one shard"
        assert stop_timeout_s > 0, "a positive stop deadline"
        self.node = node
        self.commands = commands
        self.pids_path = pids_path
        self.clock = clock
        self.stop_timeout_s = stop_timeout_s
        self.log = log if log is not None else structlog.get_logger().bind(node=node)
        self._processes: list[asyncio.subprocess.Process] = []
        self._stop_signal: int | None = None
        self._stop_requested = asyncio.Event()

    @property
    def shard_pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Forward ``signum`` to every shard and let ``run`` return 0 once they exit."""
        if self._stop_signal is None:
            self._stop_signal = signum
            self.log.info("supervisor.stop_requested", signal=signal.Signals(signum).name)
        self._signal_all(signum)
        self._stop_requested.set()

    def _signal_all(self, signum: int) -> None:
        for process in self._processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)

    async def _start_shards(self) -> None:
        parent = os.getpid()
        for shard, command in enumerate(self.commands):
            process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL,
                preexec_fn=lambda: die_with_parent(parent))
            self._processes.append(process)
            self.log.info("supervisor.shard_started", shard_index=shard, pid=process.pid)
            if self._stop_requested.is_set():  # a signal arrived while we were starting
                self._signal_all(self._stop_signal or signal.SIGTERM)

    def _write_pids(self) -> None:
        document = {"node": self.node, "supervisor": os.getpid(), "shards": self.shard_pids}
        temporary = self.pids_path.with_suffix(".tmp")
        self.pids_path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(document))
        os.replace(temporary, self.pids_path)

    async def run(self) -> int:
        """Start the shards and supervise them until the node goes down; the exit code."""
        try:
            await self._start_shards()
        except OSError as error:
            self.log.error("supervisor.start_failed", error=str(error))
            await self._terminate_all()
            return 1
        self._write_pids()
        waits = {asyncio.ensure_future(process.wait()): shard
                 for shard, process in enumerate(self._processes)}
        stop_wait = asyncio.ensure_future(self._stop_requested.wait())
        try:
            done, _ = await asyncio.wait([*waits, stop_wait], return_when=asyncio.FIRST_COMPLETED)
            if stop_wait in done:
                return await self._wait_stopped()
            first = self._exits(done, waits)[0]
            self.log.error("supervisor.shard_died", shard_index=first.shard, pid=first.pid,
                           returncode=first.returncode)
            await self._terminate_all()
            return 1
        finally:
            stop_wait.cancel()
            for future in waits:
                future.cancel()

    def _exits(self, done: set[asyncio.Future], waits: dict[asyncio.Future, int]) -> list[ShardExit]:
        ended = sorted(waits[future] for future in done if future in waits)
        return [ShardExit(shard, self._processes[shard].pid, self._processes[shard].returncode)
                for shard in ended]

    async def _wait_stopped(self) -> int:
        """After a forwarded stop signal: wait for the shards, SIGKILL the late ones."""
        clean = await self._wait_all(self.stop_timeout_s)
        if not clean:
            self.log.warning("supervisor.stop_deadline", stop_timeout_s=self.stop_timeout_s)
            self._signal_all(signal.SIGKILL)
            await self._wait_all(None)
        codes = [process.returncode for process in self._processes]
        self.log.info("supervisor.stopped", returncodes=codes)
        return 0

    async def _terminate_all(self) -> None:
        """Take the rest of the node down: SIGTERM, then SIGKILL after the deadline."""
        self._signal_all(signal.SIGCONT)  # a paused shard must be able to act on SIGTERM
        self._signal_all(signal.SIGTERM)
        if not await self._wait_all(self.stop_timeout_s):
            self.log.warning("supervisor.stop_deadline", stop_timeout_s=self.stop_timeout_s)
            self._signal_all(signal.SIGKILL)
            await self._wait_all(None)
        self.log.info("supervisor.node_down",
                      returncodes=[process.returncode for process in self._processes])

    async def _wait_all(self, timeout_s: float | None) -> bool:
        """True when every shard exited within ``timeout_s`` (None: no deadline)."""
        waiting = asyncio.gather(*(process.wait() for process in self._processes))
        if timeout_s is None:
            await waiting
            return True
        deadline = asyncio.ensure_future(self.clock.sleep(timeout_s))
        try:
            done, _ = await asyncio.wait([waiting, deadline], return_when=asyncio.FIRST_COMPLETED)
        finally:
            deadline.cancel()
        if waiting not in done:
            waiting.cancel()
            return False
        return True


async def run_supervisor(supervisor: Supervisor) -> int:
    """Run ``supervisor`` with SIGTERM/SIGINT forwarded to its shards."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, supervisor.request_stop, signum)
    try:
        return await supervisor.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
