"""A real `fastenc serve` in a subprocess on 127.0.0.1 (a free port), for tests that talk HTTP to it."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 90  # a loaded 2-core CI machine imports torch and loads the model in well under this
STOP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_all(servers: list) -> list:
    """Launch every server, then wait for each: their start-ups overlap."""
    for server in servers:
        server.launch()
    try:
        return [server.wait_healthy() for server in servers]
    except Exception:
        for server in servers:
            server.stop()
        raise


def stop_all(servers: list) -> None:
    """SIGTERM every server first, then wait for each: their shutdowns overlap."""
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        server.stop()


class ServeProcess:
    """`with ServeProcess(folder, "--auto-truncate") as server: server.post("/embed", {...})`."""

    def __init__(self, folder, *flags, api_key: str | None = None, log_dir: Path | None = None):
        self.folder, self.flags, self.api_key = str(folder), [str(f) for f in flags], api_key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir or Path(self.folder).parent) / f"serve-{self.port}.log"
        self.process = None
        self.client = None

    def start(self) -> "ServeProcess":
        return self.launch().wait_healthy()

    def launch(self) -> "ServeProcess":
        """Start the process without waiting (several servers can then load their models at once)."""
        argv = [sys.executable, "-m", "fastenc", "serve", self.folder, "--port", str(self.port), *self.flags]
        if self.api_key:
            argv += ["--api-key", self.api_key]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.client = httpx.Client(base_url=self.url, timeout=60, headers=headers)
        return self

    def wait_healthy(self) -> "ServeProcess":
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fastenc serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if self.client.get("/health").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"fastenc serve did not become healthy in {STARTUP_TIMEOUT_S} s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()[-4000:]

    def post(self, path: str, body, **kwargs) -> httpx.Response:
        return self.client.post(path, json=body, **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def stop(self) -> int | None:
        """SIGTERM, then wait (SIGKILL only if it hangs); the exit code."""
        if self.client is not None:
            self.client.close()
        if self.process is None:
            return None
        if self.process.poll() is not None:
            self.log.close()
            return self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)
            raise RuntimeError(f"fastenc serve ignored SIGTERM for {STOP_TIMEOUT_S} s:\n{self.output()}")
        finally:
            self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
