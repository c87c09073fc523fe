"""``<data_dir>/server.json``: how a CLI finds the ``rag serve`` that holds a data directory.

A running server holds the DuckDB catalog of its data directory, so a second process
cannot open it. The server writes this file when it starts (and removes it when it
stops); ``rag ingest``, ``rag search`` and ``rag ask`` read it and, when the server
answers for that directory, send their work to it over HTTP (rag.cli.remote), with the
API key from the environment.

Whether the server answers for that directory is asked without telling anyone the path:
the file holds a random secret (it is readable by its owner only), and ``/healthz``
answers ``data_dir_id``, an HMAC of the resolved directory under that secret, which the
CLI recomputes. A file that names an address not of this machine is refused: the CLI
does not send its key away on the word of a file (``--server URL`` says so explicitly).

A file left behind by a server that died is stale: :func:`running_server` ignores it
(the pid is gone, or nothing answers at the url for this directory) and leaves it in
place; the next server to start overwrites it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import RAGError
from rag.hosts import host_name, is_this_machine

SERVER_FILE = "server.json"
# Bind-all addresses are not addresses to connect to: clients on this machine use loopback.
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


@dataclass(frozen=True)
class ServerFile:
    url: str  # base url for clients, e.g. http://127.0.0.1:8000
    pid: int  # the server's process id
    started_at: str  # ISO 8601, UTC
    secret: str = field(default="", repr=False)  # keys data_dir_id; the file is readable by its owner only


def server_file_path(data_dir: Path) -> Path:
    return Path(data_dir) / SERVER_FILE


def client_url(host: str, port: int) -> str:
    """The url a client on this machine uses for a server bound to ``host``:``port``."""
    host = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}"


def data_dir_id(data_dir: Path, secret: str) -> str:
    """What ``/healthz`` says of the data directory: an HMAC-SHA256 of its resolved path under ``secret``
    (whoever reads it learns nothing of the path; the owner of ``server.json`` can recompute it)."""
    return hmac.new(secret.encode(), str(Path(data_dir).resolve()).encode(), hashlib.sha256).hexdigest()


def write_server_file(data_dir: Path, host: str, port: int, secret: str | None = None) -> Path:
    """Write ``<data_dir>/server.json`` for this process atomically (a reader never sees half a file), readable
    by its owner only; ``secret`` keys :func:`data_dir_id` (None: a new random one)."""
    path = server_file_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    info = ServerFile(client_url(host, port), os.getpid(), started, secret or secrets.token_hex(32))
    tmp = path.with_name(f".{SERVER_FILE}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(info), indent=2) + "\n")
        os.chmod(tmp, 0o600)  # a file left by an older run keeps its mode through O_TRUNC
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_server_file(data_dir: Path) -> ServerFile | None:
    """The file's contents, or None when it is missing or unreadable (whether the server runs is not checked)."""
    try:
        raw = json.loads(server_file_path(data_dir).read_text(encoding="utf-8"))
        info = ServerFile(
            url=str(raw["url"]),
            pid=int(raw["pid"]),
            started_at=str(raw.get("started_at", "")),
            secret=str(raw.get("secret", "")),
        )
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

    None when there is no file, its pid is not alive, it has no secret (an older server's), or
    ``GET {url}/healthz`` does not answer 200 with the ``data_dir_id`` of this directory under the
    file's secret. A stale file is left where it is.

    Raises:
        RAGError: the file names a server that is not on this machine (the CLI would send it its key).
    """
    info = read_server_file(data_dir)
    if info is None or not pid_alive(info.pid):
        return None
    check_on_this_machine(info.url, server_file_path(data_dir))
    if not info.secret:
        return None
    import httpx  # here: most commands find no file, and need not load it

    try:
        # trust_env=False: the server is on this machine, never behind an HTTP(S)_PROXY from the environment
        response = httpx.get(f"{info.url}/healthz", timeout=timeout, trust_env=False)
        served = response.json().get("data_dir_id") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    expected = data_dir_id(data_dir, info.secret).encode()
    if not isinstance(served, str) or not hmac.compare_digest(served.encode(), expected):
        return None
    return info


def check_on_this_machine(url: str, source: Path) -> None:
    """Raise unless ``url`` (read from ``source``) is an http url of a loopback name or this machine's address."""
    try:
        parts = urlsplit(url)
        name = host_name(parts.hostname or "")
    except ValueError:
        parts, name = None, ""
    if parts is None or parts.scheme != "http" or not is_this_machine(name):
        raise RAGError(
            f"{source} names the server {url!r}, which is not on this machine, so the CLI will not send it your API "
            "key. If you trust that server, name it with --server URL; otherwise remove the file"
        )
