"""``<data_dir>/server.json``: how a CLI finds the ``rag serve`` that holds a data directory.

A running server holds the DuckDB catalog of its data directory, so a second process
cannot open it. The server writes this file when it starts (and removes it when it
stops); ``rag ingest``, ``rag search`` and ``rag ask`` read it and, when the server
answers for that directory, send their work to it over HTTP (rag.cli.remote).

A file left behind by a server that died is stale: :func:`running_server` ignores it
(the pid is gone, or nothing answers at the url for this directory) and leaves it in
place; the next server to start overwrites it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

SERVER_FILE = "server.json"
# Bind-all addresses are not addresses to connect to: clients on this machine use loopback.
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


@dataclass(frozen=True)
class ServerFile:
    url: str  # base url for clients, e.g. http://127.0.0.1:8000
    pid: int  # the server's process id
    started_at: str  # ISO 8601, UTC


def server_file_path(data_dir: Path) -> Path:
    return Path(data_dir) / SERVER_FILE


def client_url(host: str, port: int) -> str:
    """The url a client on this machine uses for a server bound to ``host``:``port``."""
    host = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}"


def write_server_file(data_dir: Path, host: str, port: int) -> Path:
    """Write ``<data_dir>/server.json`` for this process atomically (a reader never sees half a file)."""
    path = server_file_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = ServerFile(client_url(host, port), os.getpid(), datetime.now(UTC).isoformat(timespec="seconds"))
    tmp = path.with_name(f".{SERVER_FILE}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_server_file(data_dir: Path) -> ServerFile | None:
    """The file's contents, or None when it is missing or unreadable (whether the server runs is not checked)."""
    try:
        raw = json.loads(server_file_path(data_dir).read_text(encoding="utf-8"))
        info = ServerFile(url=str(raw["url"]), pid=int(raw["pid"]), started_at=str(raw.get("started_at", "")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return info if info.url and info.pid > 0 else None


def remove_server_file(data_dir: Path) -> None:
    """Remove the file if this process wrote it (a newer server's file is left alone)."""
    info = read_server_file(data_dir)
    if info is not None and info.pid == os.getpid():
        server_file_path(data_dir).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OSError:
        return False
    return True


def running_server(data_dir: Path, timeout: float = 2.0) -> ServerFile | None:
    """The server named by ``<data_dir>/server.json`` if it runs and serves this data directory, else None.

    None when there is no file, its pid is not alive, or ``GET {url}/healthz`` does not answer
    200 with ``data_dir`` equal to this directory. A stale file is left where it is.
    """
    info = read_server_file(data_dir)
    if info is None or not pid_alive(info.pid):
        return None
    import httpx  # here: most commands find no file, and need not load it

    try:
        # trust_env=False: the server is on this machine, never behind an HTTP(S)_PROXY from the environment
        response = httpx.get(f"{info.url}/healthz", timeout=timeout, trust_env=False)
        served = response.json().get("data_dir") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    if not isinstance(served, str) or Path(served).resolve() != Path(data_dir).resolve():
        return None
    return info
