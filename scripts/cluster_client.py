"""How every operator tool finds its cluster and talks to it over HTTP.

A tool takes ``--data-dir DIR`` (the ``DIR/cluster.json`` that ``shardsim up`` wrote)
or ``--url URL`` (repeatable); with neither, it reads the data dir of the shipped
``cluster.toml``. ``ClusterTarget`` is what comes out: the HTTP URLs, and the node
names when they are known (process faults need them).

Two clients speak the same ``POST /v1/cql`` body: ``post_cql`` (blocking, for the
shell) and ``AsyncCqlClient`` (aiohttp, for stress and nemesis). Both turn an error
answer into ``QueryFailed`` carrying the CQL error name, code and details, and a
network failure into ``QueryFailed`` named ``"ConnectionError"`` or ``"ClientTimeout"``
(timed out: the request may or may not have been applied).

Invariant: a tool never guesses a URL: every URL comes from cluster.json, the config,
or the user.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.config import load_config
from node.errors import ShardsimError

SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "cluster.toml"
CONFIG_HELP = "cluster.toml (default: ./cluster.toml if there is one, else the shipped cluster.toml)"
CONNECTION_ERROR = "ConnectionError"  # never reached the node: nothing was applied
CONNECTION_LOST = "ConnectionLost"  # broke after the request left: it may have been applied
CLIENT_TIMEOUT = "ClientTimeout"


class QueryFailed(ShardsimError):
    """An error answer of a node, or no answer at all."""

    def __init__(self, name: str, message: str, code: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.code = code
        self.details = details or {}

    @classmethod
    def from_answer(cls, document: Any, http_status: int) -> QueryFailed:
        error = document.get("error") if isinstance(document, dict) else None
        if not isinstance(error, dict):
            return cls("ServerError", f"HTTP {http_status}: {str(document)[:200]}")
        details = {key: value for key, value in error.items() if key not in ("name", "code", "message")}
        return cls(str(error.get("name", "ServerError")), str(error.get("message", "")),
                   error.get("code"), details)

    @property
    def maybe_applied(self) -> bool:
        """Whether the statement may have taken effect (a timeout), as opposed to
        certainly not (refused before it ran)."""
        return self.name in ("WriteTimeout", "ReadTimeout", "ServerError", CLIENT_TIMEOUT,
                             CONNECTION_LOST, "WriteFailure")


@dataclass
class ClusterTarget:
    """Where a tool sends requests: URLs, and node name -> URL when known."""

    urls: list[str]
    nodes: dict[str, str] = field(default_factory=dict)
    data_dir: Path | None = None

    def url_of(self, node: str) -> str:
        found = self.nodes.get(node)
        if found is None:
            raise ShardsimError(f"no node named {node!r} (known: {', '.join(self.nodes) or 'none'})")
        return found


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` / ``--url`` / ``--config``: the same on every tool."""
    parser.add_argument("--data-dir", help="the cluster's folder, holding cluster.json from shardsim up "
                        "(default: data_dir of --config)")
    parser.add_argument("--url", action="append", default=[], metavar="URL",
                        help="a node's HTTP address, e.g. http://127.0.0.1:9041 (repeatable)")
    add_config_argument(parser)


def default_config() -> Path:
    """The one rule of every command's ``--config``: ``./cluster.toml`` when the current
    folder has one, else the cluster.toml shipped beside the ``scripts`` package."""
    local = Path("cluster.toml")
    return local if local.is_file() else SHIPPED_CONFIG


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(default_config()), help=CONFIG_HELP)


def target_from_data_dir(data_dir: Path) -> ClusterTarget:
    path = data_dir / "cluster.json"
    try:
        cluster = json.loads(path.read_text())
        nodes = {entry["name"]: entry["http"].rstrip("/") for entry in cluster["nodes"]}
    except FileNotFoundError:
        raise ShardsimError(f"{path}: no cluster here (start one with shardsim up, "
                            "or give --url)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ShardsimError(f"{path}: cannot read: {error}") from None
    if not nodes:
        raise ShardsimError(f"{path}: lists no node")
    return ClusterTarget(list(nodes.values()), nodes, data_dir)


def resolve_target(args: argparse.Namespace) -> ClusterTarget:
    """``--url`` wins, then ``--data-dir``, then the data dir of ``--config``."""
    if args.url:
        urls = [url.rstrip("/") for url in args.url]
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ShardsimError(f"--url {url}: expected http://HOST:PORT")
        return ClusterTarget(urls)
    if args.data_dir:
        return target_from_data_dir(Path(args.data_dir).resolve())
    return target_from_data_dir(load_config(args.config).data_path())


def cql_body(query: str, *, params: Any = None, keyspace: str | None = None,
             consistency: str = "ONE", page_size: int | None = None,
             paging_state: str | None = None, trace: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query, "consistency": consistency}
    if params is not None:
        body["params"] = params
    if keyspace:
        body["keyspace"] = keyspace
    if page_size is not None:
        body["page_size"] = page_size
    if paging_state is not None:
        body["paging_state"] = paging_state
    if trace:
        body["trace"] = True
    return body


# --- blocking ------------------------------------------------------------------------

def request_json(url: str, method: str, path: str, body: Any = None, timeout_s: float = 10.0) -> Any:
    """One HTTP request with a JSON body and answer; errors become ``QueryFailed``."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            document = json.loads(raw)
        except ValueError:
            document = raw.decode(errors="replace")
        raise QueryFailed.from_answer(document, error.code) from None
    except (socket.timeout, TimeoutError):
        raise QueryFailed(CLIENT_TIMEOUT, f"no answer from {url} within {timeout_s:g} s") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise QueryFailed(CLIENT_TIMEOUT, f"no answer from {url} within {timeout_s:g} s") from None
        if isinstance(reason, ConnectionRefusedError) or isinstance(error, urllib.error.URLError):
            raise QueryFailed(CONNECTION_ERROR, f"{url}: {reason}") from None
        raise QueryFailed(CONNECTION_LOST, f"{url}: {reason}") from None
    return json.loads(text) if text else None


def post_cql(url: str, query: str, timeout_s: float = 30.0, **options: Any) -> dict[str, Any]:
    return request_json(url, "POST", "/v1/cql", cql_body(query, **options), timeout_s)


# --- asynchronous --------------------------------------------------------------------

class AsyncCqlClient:
    """An aiohttp session for many concurrent requests; ``aclose()`` when done."""

    def __init__(self, timeout_s: float = 10.0, connections_max: int = 256) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self.timeout_s = timeout_s
        connector = aiohttp.TCPConnector(limit=connections_max, limit_per_host=connections_max)
        self.session = aiohttp.ClientSession(connector=connector)

    async def request(self, url: str, method: str, path: str, body: Any = None,
                      timeout_s: float | None = None) -> Any:
        aiohttp = self._aiohttp
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        try:
            async with self.session.request(method, f"{url}{path}", json=body, timeout=timeout) as response:
                raw = await response.read()
                status = response.status
        except asyncio.TimeoutError:
            raise QueryFailed(CLIENT_TIMEOUT, f"no answer from {url} within "
                              f"{timeout_s or self.timeout_s:g} s") from None
        except aiohttp.ClientConnectorError as error:  # could not connect: nothing was sent
            raise QueryFailed(CONNECTION_ERROR, f"{url}: {error}") from None
        except (aiohttp.ClientError, OSError) as error:  # the request left: it may have run
            raise QueryFailed(CONNECTION_LOST, f"{url}: {type(error).__name__}: {error}") from None
        try:
            document = json.loads(raw) if raw else None
        except ValueError:
            document = raw.decode(errors="replace")
        if status >= 400:
            raise QueryFailed.from_answer(document, status)
        return document

    async def get_text(self, url: str, path: str, timeout_s: float | None = None) -> str:
        """A plain-text answer (``/metrics``); failures as in ``request``."""
        aiohttp = self._aiohttp
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        try:
            async with self.session.get(f"{url}{path}", timeout=timeout) as response:
                text = await response.text()
                if response.status >= 400:
                    raise QueryFailed("ServerError", f"HTTP {response.status}: {text[:200]}")
                return text
        except asyncio.TimeoutError:
            raise QueryFailed(CLIENT_TIMEOUT, f"no answer from {url}") from None
        except (aiohttp.ClientError, OSError) as error:
            raise QueryFailed(CONNECTION_ERROR, f"{url}: {error}") from None

    async def execute(self, url: str, query: str, timeout_s: float | None = None,
                      **options: Any) -> dict[str, Any]:
        return await self.request(url, "POST", "/v1/cql", cql_body(query, **options), timeout_s)

    async def aclose(self) -> None:
        await self.session.close()
