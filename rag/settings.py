"""Settings: one frozen dataclass read from ``RAG_*`` environment variables.

CLI flags override the environment through :meth:`Settings.replace`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError, InvalidInputError
from indexes.spec import check_spec
from rag.hosts import host_name


@dataclass(frozen=True)
class SyncDir:
    """A folder kept in sync with a collection (one entry of RAG_SYNC_DIRS)."""

    collection: str
    path: Path


def parse_sync_dirs(raw: str) -> tuple[SyncDir, ...]:
    """``name:path,...`` as :class:`SyncDir` s; a path may hold ':' (only the first one splits).

    Raises:
        ConfigError: an entry without a name or a path, a name that is no collection name, or a
            collection named twice.
    """
    entries: list[SyncDir] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, colon, path = (s.strip() for s in item.partition(":"))
        if not colon or not name or not path:
            raise ConfigError(
                f"RAG_SYNC_DIRS entry {item!r} should be collection:folder, e.g. docs:/srv/docs (entries separated "
                "by commas)"
            )
        from rag.store import check_collection_name  # only where the setting is set: the store is a heavy import

        try:
            check_collection_name(name)
        except InvalidInputError as exc:
            raise ConfigError(f"RAG_SYNC_DIRS: {exc}") from None
        if any(e.collection == name for e in entries):
            raise ConfigError(f"RAG_SYNC_DIRS names the collection {name!r} twice: sync one folder into each")
        entries.append(SyncDir(name, Path(path).expanduser()))
    return tuple(entries)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")  # RAG_DATA_DIR: catalog, vectors and indexes live here
    host: str = "127.0.0.1"  # RAG_HOST
    port: int = 8000  # RAG_PORT
    max_upload_mb: float = 50.0  # RAG_MAX_UPLOAD_MB: larger uploads get HTTP 413
    chunk_tokens: int = 200  # RAG_CHUNK_TOKENS: chunk window, in embedding-model tokens
    chunk_overlap: int = 40  # RAG_CHUNK_OVERLAP: tokens shared by consecutive chunks
    embed_batch_size: int = 32  # RAG_EMBED_BATCH_SIZE
    index_spec: str = "HNSW32"  # RAG_INDEX_SPEC: index type of new collections
    generator: str = "torch"  # RAG_GENERATOR: torch (our decoder) | transformers | llama-cpp | openai (a server)
    # RAG_OPENAI_BASE_URL: with RAG_GENERATOR=openai, the OpenAI-compatible server's API root, /v1 included
    # (llama.cpp's server, vLLM, Ollama, LM Studio: "http://127.0.0.1:8080/v1")
    openai_base_url: str = ""
    openai_api_key: str = field(default="", repr=False)  # RAG_OPENAI_API_KEY: its bearer token, if it wants one
    openai_model: str = ""  # RAG_OPENAI_MODEL: the model it serves to use; "" = the first it lists at /models
    # RAG_MODEL: the GGUF our decoder answers with: a file name in RAG_MODELS_DIR (with or without .gguf) or a
    # path; "" = the shipped SmolLM2-135M-Instruct. `rag models` lists the choices.
    model: str = ""
    models_dir: str = ""  # RAG_MODELS_DIR: the folder of the user's GGUF files; "" = <data_dir>/models
    quant: str = "int4"  # RAG_QUANT: int4 | int8 | fp32 (int4: fastest decode, least memory; see benchmarks)
    max_answer_tokens: int = 256  # RAG_MAX_ANSWER_TOKENS
    threads: int = 0  # RAG_THREADS: torch threads, 0 = all cores
    # RAG_ADMIN_KEY: when set, API keys are enforced (this one may do anything); unset, the API is open and
    # `rag serve` listens on 127.0.0.1 only
    admin_key: str = field(default="", repr=False)
    # RAG_ALLOWED_HOSTS: comma-separated names (or addresses) the server answers to besides the loopback ones
    # (localhost, *.localhost, 127.0.0.1, ::1) and RAG_HOST; a request with another Host header is refused, so a
    # web page cannot reach this server by pointing a DNS name at it (DNS rebinding). List the name clients use
    # when serving other machines ("rag.example.com,192.168.1.5"); "*" answers to any name (only with
    # RAG_ADMIN_KEY). Writes from a page of another origin are refused whatever this says.
    allowed_hosts: str = ""
    # RAG_RAY_ADDRESS: "" runs everything in this process (the default); "local" starts a Ray in it; else the
    # address of a Ray cluster ("auto", "ray://host:10001"). With Ray, ingest jobs parse and embed on it and
    # collections may be sharded (rag.distributed; the optional `ray` extra)
    ray_address: str = ""
    ray_workers: int = 2  # RAG_RAY_WORKERS: embedding actors of a Ray ingest (each holds one model)
    # RAG_METRICS_KEY: a key that may read GET /metrics and nothing else (what a Prometheus scraper is given as its
    # bearer token); the admin key reads them too. Only checked where keys are enforced (RAG_ADMIN_KEY set)
    metrics_key: str = field(default="", repr=False)
    log_format: str = "text"  # RAG_LOG_FORMAT: text | json (one JSON object a line, with each request's id)
    # RAG_SYNC_DIRS: folders the server keeps in sync with collections, "name:path,..." (docs:/srv/docs): each is
    # synced when the server starts and then watched (rag.sync; `rag sync` does the same once). Read as
    # :attr:`sync_folders`; paths cannot hold commas
    sync_dirs: str = ""

    def __post_init__(self) -> None:
        if self.chunk_tokens < 16:
            raise ConfigError(f"chunk_tokens must be at least 16, got {self.chunk_tokens}")
        if not 0 <= self.chunk_overlap < self.chunk_tokens // 2:
            raise ConfigError(
                f"chunk_overlap must be between 0 and half of chunk_tokens ({self.chunk_tokens}), "
                f"got {self.chunk_overlap}"
            )
        if self.max_upload_mb <= 0:
            raise ConfigError(f"max_upload_mb must be positive, got {self.max_upload_mb}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be in 1..65535, got {self.port}")
        check_spec(self.index_spec)  # the spec alone: parse_spec would import every index type (numba)
        if self.quant not in ("int4", "int8", "fp32"):
            raise ConfigError(f"quant must be int4, int8 or fp32, got {self.quant!r}")
        if self.ray_workers < 1:
            raise ConfigError(f"ray_workers must be at least 1, got {self.ray_workers}")
        if self.generator not in ("torch", "transformers", "llama-cpp", "openai"):
            raise ConfigError(f"generator must be torch, transformers, llama-cpp or openai, got {self.generator!r}")
        if self.generator == "openai" and not self.openai_base_url:
            raise ConfigError("RAG_GENERATOR=openai needs RAG_OPENAI_BASE_URL, e.g. http://127.0.0.1:8080/v1")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"log_format must be text or json, got {self.log_format!r}")
        self.sync_folders  # noqa: B018 -- parsing RAG_SYNC_DIRS raises ConfigError on a bad value
        if "*" in self.allowed_host_names and not self.admin_key:
            raise ConfigError(
                "RAG_ALLOWED_HOSTS=* lets any web page reach an open server (DNS rebinding): list the host names "
                "clients use instead, or set RAG_ADMIN_KEY"
            )

    @property
    def allowed_host_names(self) -> tuple[str, ...]:
        """RAG_ALLOWED_HOSTS as lower-case names, without ports or IPv6 brackets."""
        names = (name.strip().lower() for name in self.allowed_hosts.split(","))
        return tuple(host_name(name) for name in names if name)

    @property
    def sync_folders(self) -> tuple[SyncDir, ...]:
        """RAG_SYNC_DIRS as (collection, folder) pairs, in order (:func:`parse_sync_dirs`)."""
        return parse_sync_dirs(self.sync_dirs)

    @property
    def ray_cluster(self) -> str | None:
        """The address ``ray.init`` takes (None: start a local Ray); only meaningful when ``ray_address`` is set."""
        return None if self.ray_address == "local" else self.ray_address

    @property
    def models_path(self) -> Path:
        """The folder ``RAG_MODEL`` names are looked up in."""
        return Path(self.models_dir) if self.models_dir else self.data_dir / "models"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read every field from ``RAG_<FIELD>`` (upper case) where set."""
        env = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"RAG_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw, f.default)
        return cls(**values)

    def replace(self, **overrides) -> Settings:
        """Copy with the non-None overrides applied (CLI flags)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in changes:
            changes["data_dir"] = Path(changes["data_dir"])
        return dataclasses.replace(self, **changes)


def _convert(name: str, raw: str, default):
    try:
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"RAG_{name.upper()}={raw!r} is not a valid {type(default).__name__}") from exc
    return raw
