"""cluster.toml: the typed, validated settings of a cluster.

Loaded once per process (``load_config``), then handed down through constructors.
Every section is a frozen dataclass; the loader checks types field by field and
names the key and the file in every error. An unknown key is an error, never a
silent default. ``KEY=VALUE`` overrides (``hints.max_window_ms=2000``,
``nodes.n2.shards=4``) are applied to the raw document before validation, so they
get the same checks.

Invariant: a ``ClusterConfig`` that exists is valid: unique node names, no port
clashes on a host, shards >= 1, positive timeouts.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import ConfigurationError

MiB = 1024 * 1024


@dataclass(frozen=True)
class TimeoutSettings:
    write_ms: int = 2000
    read_ms: int = 5000
    range_ms: int = 10000
    ddl_ms: int = 10000     # a schema change waits this long for group 0 (leader, majority)


@dataclass(frozen=True)
class Group0Settings:
    tick_ms: int = 100          # Raft's tick (ScyllaDB: 100 ms)
    election_ticks: int = 10    # election timeout drawn in [10, 20) ticks
    heartbeat_ticks: int = 2
    snapshot_entries: int = 1024


@dataclass(frozen=True)
class FailureDetectorSettings:
    heartbeat_ms: int = 500
    timeout_ms: int = 2000


@dataclass(frozen=True)
class HintSettings:
    enabled: bool = True
    disabled_dcs: list[str] = field(default_factory=list)
    max_window_ms: int = 3 * 3600 * 1000
    retry_ms: int = 10000
    replay_bytes_per_s: int = 64 * MiB
    max_bytes_per_target: int = 256 * MiB
    segment_bytes: int = 8 * MiB


@dataclass(frozen=True)
class PagingSettings:
    stateful: bool = True
    querier_ttl_ms: int = 10000
    querier_cache_bytes: int = 64 * MiB
    max_page_bytes: int = 1 * MiB


@dataclass(frozen=True)
class CommitlogSettings:
    sync: str = "periodic"  # "periodic" or "batch"
    sync_period_ms: int = 10000
    segment_bytes: int = 32 * MiB


@dataclass(frozen=True)
class MemtableSettings:
    flush_bytes: int = 32 * MiB
    max_memory_bytes: int = 256 * MiB


@dataclass(frozen=True)
class NodeSettings:
    name: str
    host: str = "127.0.0.1"
    dc: str = "dc1"
    rack: str = "rack1"
    rpc_port: int = 7100
    http_port: int = 8100
    shards: int = 2

    def rpc_address(self, shard: int) -> tuple[str, int]:
        assert 0 <= shard < self.shards, "shard index within the node"
        return self.host, self.rpc_port + shard

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"


@dataclass(frozen=True)
class ClusterConfig:
    name: str = "shardsim"
    num_tokens: int = 16
    sharding_ignore_msb: int = 12
    data_dir: str = "data"
    secret: str = ""
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings)
    failure_detector: FailureDetectorSettings = field(default_factory=FailureDetectorSettings)
    group0: Group0Settings = field(default_factory=Group0Settings)
    hints: HintSettings = field(default_factory=HintSettings)
    paging: PagingSettings = field(default_factory=PagingSettings)
    commitlog: CommitlogSettings = field(default_factory=CommitlogSettings)
    memtable: MemtableSettings = field(default_factory=MemtableSettings)
    nodes: list[NodeSettings] = field(default_factory=list)
    source: str = "<defaults>"  # the file it came from, for messages; not a TOML key

    def node(self, name: str) -> NodeSettings:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ConfigurationError(f"{self.source}: no node named {name!r} "
                                 f"(nodes: {', '.join(n.name for n in self.nodes)})")

    def data_path(self, base: Path | None = None) -> Path:
        """The data dir, relative paths taken from ``base`` (default: the config's folder)."""
        path = Path(self.data_dir)
        if path.is_absolute():
            return path
        if base is None:
            base = Path(self.source).parent if self.source != "<defaults>" else Path.cwd()
        return (base / path).resolve()


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def _check_value(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(kind)
        for arm in arms:
            try:
                return _check_value(value, arm, where)
            except ConfigurationError:
                continue
        raise ConfigurationError(f"{where}: expected {' or '.join(map(_type_name, arms))}, "
                                 f"got {value!r}")
    if kind is type(None):
        if value is None:
            return None
        raise ConfigurationError(f"{where}: expected nothing, got {value!r}")
    if origin is list:
        (item_kind,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ConfigurationError(f"{where}: expected a list, got {value!r}")
        return [_check_value(item, item_kind, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    else:
        raise AssertionError(f"unsupported settings type {kind!r}")
    raise ConfigurationError(f"{where}: expected {_type_name(kind)}, got {value!r}")


def _build(cls: type, raw: Any, where: str, source: str) -> Any:
    """A dataclass from a TOML table, checking every key and type."""
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{source}: {where or 'document'}: expected a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    for key in raw:
        if key not in known:
            path = f"{where}.{key}" if where else key
            raise ConfigurationError(f"{source}: unknown key {path!r} "
                                     f"(known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for name, spec in known.items():
        path = f"{where}.{name}" if where else name
        if name not in raw:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigurationError(f"{source}: missing key {path!r}")
            continue
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, raw[name], path, source)
        elif typing.get_origin(kind) is list and dataclasses.is_dataclass(typing.get_args(kind)[0]):
            item_cls = typing.get_args(kind)[0]
            if not isinstance(raw[name], list):
                raise ConfigurationError(f"{source}: {path}: expected an array of tables")
            values[name] = [_build(item_cls, item, f"{path}[{i}]", source)
                            for i, item in enumerate(raw[name])]
        else:
            try:
                values[name] = _check_value(raw[name], kind, path)
            except ConfigurationError as error:
                raise ConfigurationError(f"{source}: {error}") from None
    return cls(**values)


def _validate(config: ClusterConfig) -> None:
    source = config.source

    def fail(message: str) -> None:
        raise ConfigurationError(f"{source}: {message}")

    if not config.name:
        fail("name: must not be empty")
    if not 1 <= config.num_tokens <= 1024:
        fail(f"num_tokens: must be between 1 and 1024, got {config.num_tokens}")
    if not 0 <= config.sharding_ignore_msb <= 16:
        fail(f"sharding_ignore_msb: must be between 0 and 16, got {config.sharding_ignore_msb}")
    for section in ("timeouts", "failure_detector", "group0"):
        for key, value in dataclasses.asdict(getattr(config, section)).items():
            if value <= 0:
                fail(f"{section}.{key}: must be positive, got {value}")
    if config.commitlog.sync not in ("periodic", "batch"):
        fail(f"commitlog.sync: must be \"periodic\" or \"batch\", got {config.commitlog.sync!r}")
    for section, key in (("commitlog", "sync_period_ms"), ("commitlog", "segment_bytes"),
                         ("memtable", "flush_bytes"), ("memtable", "max_memory_bytes"),
                         ("paging", "querier_ttl_ms"), ("paging", "max_page_bytes"),
                         ("hints", "retry_ms"), ("hints", "segment_bytes")):
        if getattr(getattr(config, section), key) <= 0:
            fail(f"{section}.{key}: must be positive")
    if config.hints.max_window_ms < 0 or config.hints.max_bytes_per_target < 0:
        fail("hints: max_window_ms and max_bytes_per_target must not be negative")
    if not config.nodes:
        fail("nodes: at least one [[nodes]] entry is needed")
    names: set[str] = set()
    ports: dict[tuple[str, int], str] = {}
    for index, node in enumerate(config.nodes):
        where = f"nodes[{index}]"
        if not node.name:
            fail(f"{where}.name: must not be empty")
        if node.name in names:
            fail(f"{where}.name: duplicate node name {node.name!r}")
        names.add(node.name)
        if node.shards < 1:
            fail(f"{where}.shards: must be at least 1, got {node.shards}")
        if node.shards > 64:
            fail(f"{where}.shards: at most 64, got {node.shards}")
        wanted = [(node.http_port, "http_port")] + [
            (node.rpc_port + shard, f"rpc_port+{shard}") for shard in range(node.shards)]
        for port, what in wanted:
            if not 1 <= port <= 65535:
                fail(f"{where}.{what.split('+')[0]}: port {port} out of range")
            owner = ports.get((node.host, port))
            if owner is not None:
                fail(f"{where}: port clash: {what} of {node.name} ({node.host}:{port}) "
                     f"is already used by {owner}")
            ports[(node.host, port)] = f"{what} of {node.name}"


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b=VALUE`` into (["a", "b"], value); VALUE is read as TOML, else as a string."""
    key, sep, raw_value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigurationError(f"--set {text!r}: expected KEY=VALUE, e.g. hints.max_window_ms=2000")
    try:
        value = tomllib.loads(f"v = {raw_value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw_value.strip()
    return key.split("."), value


def apply_override(document: dict[str, Any], text: str) -> None:
    """Apply one ``KEY=VALUE`` to a raw TOML document. ``nodes.NAME.key`` addresses a node."""
    path, value = parse_override(text)
    if path[0] == "nodes":
        if len(path) != 3:
            raise ConfigurationError(f"--set {text!r}: nodes are addressed as nodes.NAME.KEY")
        for node in document.get("nodes", []):
            if isinstance(node, dict) and node.get("name") == path[1]:
                node[path[2]] = value
                return
        raise ConfigurationError(f"--set {text!r}: no node named {path[1]!r}")
    target = document
    for part in path[:-1]:
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigurationError(f"--set {text!r}: {part!r} is not a section")
        target = child
    target[path[-1]] = value


def config_from_document(document: dict[str, Any], source: str,
                         overrides: list[str] = ()) -> ClusterConfig:
    """Validate a raw TOML document (after applying overrides) into a ClusterConfig."""
    for text in overrides:
        apply_override(document, text)
    config = _build(ClusterConfig, document, "", source)
    config = dataclasses.replace(config, source=source)
    _validate(config)
    return config


def load_config(path: str | Path, overrides: list[str] = ()) -> ClusterConfig:
    """Read, override and validate a cluster.toml. Errors are ``ConfigurationError``."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path}: not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"{path}: cannot read: {error}") from None
    return config_from_document(document, str(path), list(overrides))


def generated_nodes(count: int, shards: int, port_base: int, host: str = "127.0.0.1",
                    dc: str = "dc1") -> list[dict[str, Any]]:
    """Raw node tables for ``--nodes N --shards S --port-base P``: node i gets
    http port P + 100*i and rpc ports from P + 100*i + 10."""
    assert count >= 1 and shards >= 1, "at least one node of one shard"
    return [{"name": f"n{i + 1}", "host": host, "dc": dc, "rack": "rack1",
             "http_port": port_base + 100 * i, "rpc_port": port_base + 100 * i + 10,
             "shards": shards} for i in range(count)]
