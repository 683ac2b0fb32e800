"""A real `workbench serve` in a subprocess on loopback, for the service tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``python -m workbench.service`` (the `workbench serve` command) on 127.0.0.1.

    ``settings`` become the ``[service]`` section of a workbench.toml in ``folder``,
    which is the server's working directory.
    """

    def __init__(
        self,
        folder: Path,
        store_path: Path,
        *,
        token: str | None = TOKEN,
        settings: dict | None = None,
        port: int | None = None,
        log_level: str = "warning",
    ) -> None:
        self.folder = folder
        self.store_path = store_path
        self.token = token
        self.settings = settings or {}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = folder / f"server-{self.port}.log"
        self.log_level = log_level

    def start(self, timeout: float = 60.0) -> Server:
        lines = ["[service]"]
        for key, value in self.settings.items():
            lines.append(f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}")
        (self.folder / "workbench.toml").write_text("\n".join(lines).replace("'", '"') + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
        env["PYTHONPATH"] = str(REPO)
        env["WORKBENCH_LOCK_TIMEOUT"] = "30"
        if self.token:
            env["WORKBENCH_TOKEN"] = self.token
        command = [
            sys.executable,
            "-m",
            "workbench.service",
            "--store",
            f"duckdb://{self.store_path}",
            "--port",
            str(self.port),
            "--log-level",
            self.log_level,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not answer within {timeout} s: {self.log()}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, as a service manager stops it; returns the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """kill -9: no chance to flush anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.terminate()


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a server's workers, a worker's writer)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            # "pid (command) state ppid ...": the command may hold spaces and parentheses.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def process_state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` ("T" once stopped)."""
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
