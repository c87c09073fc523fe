"""A real server for tests that need one: uvicorn in a thread, on a free port of the loopback."""

from __future__ import annotations

import threading
import time

import httpx

from rag.bench.server_process import free_port

__all__ = ["LiveServer", "free_port"]


class LiveServer:
    """Serve ``app`` (an ASGI app, or an import string with ``factory=True``) until the ``with`` block ends."""

    def __init__(self, app, port: int | None = None, factory: bool = False) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # log_config None: leave the logging set-up alone (pytest captures the records)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, factory=factory, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="live-server")

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.server.started:
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            if not self.thread.is_alive():
                raise RuntimeError("the test server stopped while starting; see the log above")
            time.sleep(0.05)
        raise RuntimeError(f"the test server did not answer at {self.url} within 120 s")

    def stop(self) -> None:
        """Shut the server down (its lifespan ends); calling it again does nothing."""
        self.server.should_exit = True
        self.thread.join(60)

    def __exit__(self, *exc) -> None:
        self.stop()
