"""Past one machine: distributed ingest and sharded search on Ray (the optional ``ray`` extra).

Nothing here is needed by the embedded single-process default: Ray is imported
lazily, inside functions, and a missing install raises
:class:`core.errors.MissingDependencyError` naming ``pip install 'localrag[ray]'``.

* :mod:`rag.distributed.shards`: :class:`ShardedIndex`, a collection's vectors split
  into N shards, each served by a Ray actor over its own memory-mapped directory; a
  query fans out to every shard and the top-k are merged exactly.
* :mod:`rag.distributed.ingest`: :func:`ray_ingest`, parsing and embedding as a Ray
  Data pipeline, stored by the driver into the same segments and catalog rows as
  the local path.
"""

from __future__ import annotations

from core.errors import MissingDependencyError

INSTALL_HINT = "pip install 'localrag[ray]'"


def require_ray():
    """The ``ray`` module, or :class:`MissingDependencyError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(f"the Ray engine needs Ray: {INSTALL_HINT}") from exc
    return ray


def init_ray(address: str | None = None, num_cpus: int | None = None):
    """Connect to the cluster at ``address`` (None: an existing one in this process, else a local one)."""
    ray = require_ray()
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "ignore_reinit_error": True, "log_to_driver": False}
        if address is None and num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        ray.init(address=address, **kwargs)
    return ray
