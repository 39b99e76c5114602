"""``shardsim bench rpc``: msgpack RPC round trips/s and p50/p99 latency between two
shard processes, beside a bare asyncio Protocol msgpack echo measured in the same run.

Two real OS processes, both on uvloop: this one is the calling shard, a child process
is the answering shard (ECHO verb over ``TcpTransport`` and ``MessagingService``, with
the handshake, in-flight bounds, per-call deadlines and fault checks of real traffic).
The baseline is the least a msgpack RPC can do over the same socket: length-prefixed
``[id, payload]`` frames, a dict of futures, an echo Protocol on the other side.
Rounds alternate baseline and RPC so that both see the same machine; each figure is the
median over rounds. Prints a table, then one JSON line (``pipelined_ratio`` is RPC over
bare at the highest in-flight count).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack

from node.logsetup import configure_quiet_logging

SECRET = os.urandom(16).hex().encode()
CLUSTER = "bench"
PAYLOAD = ["partition-key-0001", 1234567, b"sixteen byte val"]
_HEADER = struct.Struct(">I")


# --- the bare baseline ----------------------------------------------------------------

class _BareEchoServer(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        buffer, offset = self.buffer, 0
        while len(buffer) - offset >= 4:
            (length,) = _HEADER.unpack_from(buffer, offset)
            if len(buffer) - offset - 4 < length:
                break
            request_id, payload = msgpack.unpackb(buffer[offset + 4:offset + 4 + length])
            body = msgpack.packb([request_id, payload])
            self.transport.write(_HEADER.pack(len(body)) + body)  # type: ignore[attr-defined]
            offset += 4 + length
        del buffer[:offset]


class _BareClient(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.calls: dict[int, asyncio.Future[Any]] = {}
        self.ids = itertools.count()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        buffer, offset = self.buffer, 0
        while len(buffer) - offset >= 4:
            (length,) = _HEADER.unpack_from(buffer, offset)
            if len(buffer) - offset - 4 < length:
                break
            request_id, payload = msgpack.unpackb(buffer[offset + 4:offset + 4 + length])
            self.calls.pop(request_id).set_result(payload)
            offset += 4 + length
        del buffer[:offset]

    async def call(self, payload: Any) -> Any:
        request_id = next(self.ids)
        body = msgpack.packb([request_id, payload])
        future = asyncio.get_running_loop().create_future()
        self.calls[request_id] = future
        self.transport.write(_HEADER.pack(len(body)) + body)  # type: ignore[attr-defined]
        return await future


# --- the answering process ----------------------------------------------------------

async def _serve(kind: str) -> None:
    from node.rpc.faults import NetworkFaults
    from node.rpc.messaging import MessagingService
    from node.rpc.tcp import TcpTransport
    from node.rpc.transport import ShardId
    from node.rpc.verbs import Verb

    loop = asyncio.get_running_loop()
    if kind == "bare":
        server = await loop.create_server(_BareEchoServer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        closer: Callable[[], Awaitable[None]] = _closer(server)
    else:
        me = ShardId("bench-server", 0)
        secret = os.environ["SHARDSIM_BENCH_SECRET"].encode()
        transport = TcpTransport(me, "127.0.0.1", 0, {}, CLUSTER, secret,
                                 faults=NetworkFaults(me.node))
        messaging = MessagingService(me, transport)

        async def echo(source: Any, payload: Any) -> Any:
            return payload

        messaging.register(Verb.ECHO, echo)
        await transport.start()
        port = transport.port
        closer = messaging.aclose
    print(port, flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await closer()


def _closer(server: asyncio.AbstractServer) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        server.close()
    return close


def _start_server(kind: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-m", "scripts.bench.rpc", "--serve", kind],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "SHARDSIM_BENCH_SECRET": SECRET.decode()})
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError(f"bench server ({kind}) did not start: {line!r}")
    return process, int(line)


# --- the calling process ------------------------------------------------------------

async def _measure(call: Callable[[Any], Awaitable[Any]], in_flight: int,
                   seconds: float) -> tuple[float, list[float]]:
    """Round trips/s and latencies (s) with ``in_flight`` callers for ``seconds``."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    clock = time.perf_counter

    async def worker() -> None:
        append = latencies.append
        while True:
            started = clock()
            if started >= stop_at:
                return
            answer = await call(PAYLOAD)
            append(clock() - started)
            assert answer[1] == PAYLOAD[1]

    started = clock()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return len(latencies) / (clock() - started), latencies


async def _bare_caller(port: int) -> tuple[Callable[[Any], Awaitable[Any]], Callable[[], None]]:
    _, protocol = await asyncio.get_running_loop().create_connection(_BareClient, "127.0.0.1", port)
    return protocol.call, protocol.transport.close


async def _rpc_caller(port: int) -> tuple[Callable[[Any], Awaitable[Any]], Callable[[], Awaitable[None]]]:
    from node.rpc.faults import NetworkFaults
    from node.rpc.messaging import MessagingService
    from node.rpc.tcp import TcpTransport
    from node.rpc.transport import RpcLimits, ShardId
    from node.rpc.verbs import Verb

    me, target = ShardId("bench-client", 0), ShardId("bench-server", 0)
    transport = TcpTransport(me, "127.0.0.1", 0, {target: ("127.0.0.1", port)}, CLUSTER, SECRET,
                             faults=NetworkFaults(me.node), limits=RpcLimits(max_in_flight=512))
    messaging = MessagingService(me, transport)

    def call(payload: Any) -> Awaitable[Any]:
        return messaging.send(Verb.ECHO, target, payload, timeout_s=10.0)

    return call, messaging.aclose


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


async def _run(levels: list[int], seconds: float, rounds: int) -> dict[str, Any]:
    bare_process, bare_port = _start_server("bare")
    rpc_process, rpc_port = _start_server("rpc")
    try:
        bare_call, bare_close = await _bare_caller(bare_port)
        rpc_call, rpc_close = await _rpc_caller(rpc_port)
        for call in (bare_call, rpc_call):  # connect, handshake, warm up
            await _measure(call, 8, min(0.3, seconds))
        rates: dict[tuple[str, int], list[float]] = {}
        samples: dict[tuple[str, int], list[float]] = {}
        for _ in range(rounds):
            for level in levels:
                for kind, call in (("bare", bare_call), ("rpc", rpc_call)):
                    rate, latencies = await _measure(call, level, seconds)
                    rates.setdefault((kind, level), []).append(rate)
                    samples.setdefault((kind, level), []).extend(latencies)
        bare_close()
        await rpc_close()
    finally:
        for process in (bare_process, rpc_process):
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
    result: dict[str, Any] = {}
    for (kind, level), values in rates.items():
        ordered = sorted(samples[(kind, level)])
        result[(kind, level)] = {"rate": statistics.median(values),
                                 "p50_ms": _percentile(ordered, 0.5) * 1000,
                                 "p99_ms": _percentile(ordered, 0.99) * 1000}
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shardsim bench rpc")
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=128, help="the pipelined level")
    parser.add_argument("--quick", action="store_true", help="0.5 s measurements, one round")
    parser.add_argument("--serve", choices=("bare", "rpc"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configure_quiet_logging()
    import uvloop

    if args.serve:
        uvloop.run(_serve(args.serve))
        return 0
    seconds, rounds = (0.5, 1) if args.quick else (args.seconds, args.rounds)
    levels = [1, args.in_flight]
    figures = uvloop.run(_run(levels, seconds, rounds))
    print(f"{'in flight':>9} {'rpc rt/s':>10} {'bare rt/s':>10} {'ratio':>6} "
          f"{'rpc p50/p99 ms':>15} {'bare p50/p99 ms':>16}")
    for level in levels:
        ours, bare = figures[("rpc", level)], figures[("bare", level)]
        print(f"{level:>9} {ours['rate']:>10,.0f} {bare['rate']:>10,.0f} "
              f"{ours['rate'] / bare['rate']:>6.2f} "
              f"{ours['p50_ms']:>7.3f}/{ours['p99_ms']:<7.3f} {bare['p50_ms']:>8.3f}/{bare['p99_ms']:<7.3f}")
    serial, pipelined = levels
    summary: dict[str, Any] = {
        "pipelined_ratio": round(figures[("rpc", pipelined)]["rate"] / figures[("bare", pipelined)]["rate"], 3),
        "serial_ratio": round(figures[("rpc", serial)]["rate"] / figures[("bare", serial)]["rate"], 3),
        "in_flight": pipelined, "seconds": seconds, "rounds": rounds,
    }
    for (kind, level), figure in sorted(figures.items()):
        name = f"{kind}_{'serial' if level == serial else 'pipelined'}"
        summary[f"{name}_per_s"] = round(figure["rate"])
        summary[f"{name}_p50_ms"] = round(figure["p50_ms"], 3)
        summary[f"{name}_p99_ms"] = round(figure["p99_ms"], 3)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
