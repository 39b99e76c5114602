"""The error tree of shardsim, carrying CQL protocol names and codes.

    ShardsimError
     ├─ RequestError                (client-facing: has ``name`` and ``code``)
     │   ├─ ServerError        0x0000
     │   ├─ Unavailable        0x1000   consistency, required, alive
     │   ├─ Overloaded         0x1001
     │   ├─ WriteTimeout       0x1100   consistency, received, required
     │   ├─ ReadTimeout        0x1200   consistency, received, required
     │   ├─ WriteFailure       0x1500   consistency, received, required
     │   ├─ SyntaxError        0x2000   (``CqlSyntaxError``: line, column)
     │   ├─ Unauthorized       0x2100
     │   ├─ Invalid            0x2200
     │   ├─ ConfigError        0x2300
     │   └─ AlreadyExists      0x2400   keyspace, table
     └─ ConfigurationError          (cluster.toml: names the key and the file)

Errors cross RPC as a tagged value (``to_wire``/``from_wire``); a name the receiver
does not know arrives as ``ServerError`` carrying the original name, never as a crash.
"""

from __future__ import annotations

from typing import Any


class ShardsimError(Exception):
    """Root of every error shardsim raises on purpose."""


class RequestError(ShardsimError):
    """An error a client sees: a CQL error name, its protocol code and details."""

    name = "ServerError"
    code = 0x0000
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "code": self.code, "message": self.message, **self.details}

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.name, "message": self.message, "details": self.details}


class ServerError(RequestError):
    name, code, http_status = "ServerError", 0x0000, 500


class NoQuorum(ServerError):
    """A schema change that group 0 could not commit: no leader or no majority reachable
    within ``timeouts.ddl_ms`` (ScyllaDB: "cannot perform schema change: no quorum").
    A ServerError to CQL clients (code 0x0000); HTTP 503, as the cluster may recover."""
    http_status = 503


class Unavailable(RequestError):
    name, code, http_status = "Unavailable", 0x1000, 503


class Overloaded(RequestError):
    name, code, http_status = "Overloaded", 0x1001, 503


class WriteTimeout(RequestError):
    name, code, http_status = "WriteTimeout", 0x1100, 504


class ReadTimeout(RequestError):
    name, code, http_status = "ReadTimeout", 0x1200, 504


class WriteFailure(RequestError):
    name, code, http_status = "WriteFailure", 0x1500, 500


class CqlSyntaxError(RequestError):
    name, code, http_status = "SyntaxError", 0x2000, 400


class Unauthorized(RequestError):
    name, code, http_status = "Unauthorized", 0x2100, 401


class Invalid(RequestError):
    name, code, http_status = "Invalid", 0x2200, 400


class ConfigError(RequestError):
    name, code, http_status = "ConfigError", 0x2300, 400


class AlreadyExists(RequestError):
    name, code, http_status = "AlreadyExists", 0x2400, 400


class ConfigurationError(ShardsimError):
    """cluster.toml or an override is wrong; the message names the key and the file."""


_BY_NAME: dict[str, type[RequestError]] = {
    cls.name: cls
    for cls in (ServerError, Unavailable, Overloaded, WriteTimeout, ReadTimeout, WriteFailure,
                CqlSyntaxError, Unauthorized, Invalid, ConfigError, AlreadyExists)
}


def from_wire(value: Any) -> RequestError:
    """Rebuild an error sent by ``to_wire``; unknown or malformed kinds become ServerError."""
    if not isinstance(value, dict):
        return ServerError(f"malformed remote error: {value!r:.200}")
    kind = value.get("kind")
    message = str(value.get("message", ""))
    details = value.get("details") if isinstance(value.get("details"), dict) else {}
    cls = _BY_NAME.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return ServerError(message, remote_kind=str(kind))
    return cls(message, **{str(k): v for k, v in details.items()})
