"""The API server as a child process on a free loopback port, for benchmarks and tests that stop or kill it.

``uvicorn api.app:create_app --factory`` (started by its import string: nothing
here imports ``api``), waited for until it answers for its data directory (rag.server_file),
stopped with SIGTERM (SIGKILL after a timeout) or killed outright.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from core.errors import RAGError
from rag.server_file import running_server

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180.0  # seconds the server may take to answer /healthz
STOP_TIMEOUT = 60.0  # seconds after SIGTERM before SIGKILL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what the platform module says)."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return model


class ServerProcess:
    """``uvicorn api.app:create_app --factory`` as a subprocess on a free loopback port."""

    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.stopped: str | None = None

    def start(self) -> ServerProcess:
        env = dict(os.environ)
        env.update(RAG_DATA_DIR=str(self.data_dir), RAG_HOST="127.0.0.1", RAG_PORT=str(self.port))
        env.pop("RAG_ADMIN_KEY", None)  # a throwaway server on the loopback: keys would only refuse the harness
        env.update(self.extra_env)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log_path}")
            # server.json (our server's pid and url, /healthz answering for this directory) tells our server from
            # another one that took the port meanwhile
            with contextlib.suppress(RAGError):
                info = running_server(self.data_dir)
                if info is not None and info.pid == self.process.pid and info.url == self.url:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not answer at {self.url} within {START_TIMEOUT:.0f} s; see {self.log_path}")

    def stop(self) -> str | None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; how it ended (None if it was never started).

        ``"sigterm"``: it shut down after SIGTERM and logged the end of its lifespan (uvicorn raises the
        signal again once it has shut down, so its exit status is then -15); ``"sigkill"``: it had to be
        killed; ``"exited N"``: it had stopped by itself, or ended without finishing its shutdown.
        """
        if self.process is None:
            return None
        if self.stopped is not None:
            return self.stopped
        if self.process.poll() is not None:
            self.stopped = f"exited {self.process.returncode}"
        else:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
                self.stopped = "sigterm"
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
                self.stopped = "sigkill"
        self._log.close()
        if self.stopped == "sigterm" and b"Application shutdown complete" not in self.log_path.read_bytes():
            self.stopped = f"exited {self.process.returncode}"
        return self.stopped

    def kill(self) -> None:
        """SIGKILL, as a crash would (no shutdown at all)."""
        if self.process is not None and self.stopped is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
            self._log.close()
            self.stopped = "killed"

    def log_errors(self) -> list[str]:
        """The server log's lines at level ERROR or CRITICAL, and its tracebacks' first lines."""
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [line for line in lines if line.startswith(("ERROR", "CRITICAL", "Traceback"))]

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
