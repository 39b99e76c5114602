"""Injecting and healing the faults of a run.

Process faults go through the launcher (they need the cluster's ``--data-dir``):
``kill`` SIGKILLs every process of the node and is healed by ``shardsim start`` (which
returns once the node sees its peers UP); ``pause`` SIGSTOPs the node's process group
and is healed by SIGCONT. Network and clock faults go through the node's
``/v1/admin/faults`` and are healed by ``DELETE``: ``partition`` cuts the node off from
every other node (a partition set on one side cuts both ways), ``delay`` slows what
it sends to every peer, ``drop`` loses a share of it, ``clock`` skews its write
timestamps.

Invariant: ``heal_everything`` leaves no fault behind, whatever was injected, so a
run always ends on a whole cluster.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from node.errors import ShardsimError
from scripts.launcher import launcher
from scripts.cluster_client import AsyncCqlClient, ClusterTarget, QueryFailed

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90.0
RECOVERY_POLL_S = 0.2


class FaultInjector:
    def __init__(self, target: ClusterTarget, client: AsyncCqlClient, *, delay_ms: int = 50,
                 drop_probability: float = 0.1, clock_skew_ms: int = -5000, seed: int = 0) -> None:
        self.target = target
        self.client = client
        self.delay_ms = delay_ms
        self.drop_probability = drop_probability
        self.clock_skew_ms = clock_skew_ms
        self.seed = seed

    @property
    def nodes(self) -> list[str]:
        return sorted(self.target.nodes)

    def _data_dir(self) -> Path:
        if self.target.data_dir is None:
            raise ShardsimError("process faults (kill, pause) need the cluster's --data-dir")
        return self.target.data_dir

    def _entry(self, node: str) -> dict[str, Any]:
        return launcher.node_entry(launcher.read_cluster(self._data_dir()), node)

    # --- one fault -------------------------------------------------------------------

    def network_body(self, fault: str, node: str) -> dict[str, Any]:
        peers = [name for name in self.nodes if name != node]
        if fault == "partition":
            return {"partition": peers}
        if fault == "delay":
            return {"delay_ms": {peer: self.delay_ms for peer in peers}}
        if fault == "drop":
            return {"drop_probability": {peer: self.drop_probability for peer in peers},
                    "seed": self.seed}
        if fault == "clock":
            return {"clock_skew_ms": self.clock_skew_ms}
        raise AssertionError(f"not a network fault: {fault}")

    async def inject(self, fault: str, node: str) -> dict[str, Any]:
        """Start ``fault`` on ``node``; what was done, for the history."""
        if fault == "kill":
            data_dir = self._data_dir()
            entry = self._entry(node)
            await asyncio.to_thread(launcher.kill_nodes, data_dir, [entry])
            return {"pid": entry["pid"]}
        if fault == "pause":
            entry = self._entry(node)
            launcher.signal_group(entry["pid"], signal.SIGSTOP)
            return {"pid": entry["pid"]}
        body = self.network_body(fault, node)
        await self.client.request(self.target.url_of(node), "POST", "/v1/admin/faults", body)
        return body

    async def heal(self, fault: str, node: str) -> None:
        if fault == "kill":
            await self.start_node(node)
        elif fault == "pause":
            launcher.signal_group(self._entry(node)["pid"], signal.SIGCONT)
        else:
            await self.client.request(self.target.url_of(node), "DELETE", "/v1/admin/faults")

    async def start_node(self, node: str) -> None:
        command = [sys.executable, "-m", "scripts.cli", "start", node,
                   "--data-dir", str(self._data_dir()), "--timeout-s", str(START_TIMEOUT_S)]
        result = await asyncio.to_thread(subprocess.run, command, cwd=ROOT, capture_output=True,
                                         text=True, timeout=START_TIMEOUT_S + 30)
        if result.returncode != 0 and "already running" not in result.stderr:
            raise ShardsimError(f"shardsim start {node} failed: {result.stderr.strip()}")

    # --- the end of a run ----------------------------------------------------------------

    async def heal_everything(self) -> None:
        """Resume paused nodes, start dead ones, clear every node's network faults."""
        if self.target.data_dir is not None:
            data_dir = self.target.data_dir
            for entry in launcher.read_cluster(data_dir)["nodes"]:
                state = launcher.supervisor_state(data_dir, entry)
                if state == "paused" or any(launcher.process_state(pid) == "paused"
                                            for pid in launcher.node_pids(data_dir, entry)):
                    launcher.signal_group(entry["pid"], signal.SIGCONT)
                elif state == "dead":
                    await self.start_node(entry["name"])
        for node in self.nodes:
            await self._clear_faults(node)

    async def _clear_faults(self, node: str, attempts: int = 50) -> None:
        for _ in range(attempts):
            try:
                await self.client.request(self.target.url_of(node), "DELETE", "/v1/admin/faults",
                                          timeout_s=5.0)
                return
            except QueryFailed:
                await asyncio.sleep(RECOVERY_POLL_S)
        raise ShardsimError(f"could not clear the faults of {node}")

    async def wait_recovered(self, timeout_s: float, samples: int = 6) -> bool:
        """Until every node, asked ``samples`` times (any shard may answer), sees every
        node UP; False after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            if await self._all_see_all_up(samples):
                return True
            await asyncio.sleep(RECOVERY_POLL_S)
        return False

    async def _all_see_all_up(self, samples: int) -> bool:
        for node in self.nodes:
            for _ in range(samples):
                try:
                    status = await self.client.request(self.target.url_of(node), "GET", "/v1/status",
                                                       timeout_s=2.0)
                except QueryFailed:
                    return False
                states = {entry["name"]: entry.get("state") for entry in status.get("nodes", [])}
                if any(states.get(name) != "UP" for name in self.nodes):
                    return False
        return True
