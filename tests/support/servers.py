"""Real servers for tests: uvicorn on a thread, the app as a subprocess."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from tests.support.wait import wait_for


@contextmanager
def serving(config: uvicorn.Config) -> Iterator[uvicorn.Server]:
    """A real uvicorn running ``config`` on a thread for the block; it must start, and stop after."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{config.port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), timeout=30, what="uvicorn to start")
        assert server.started, "uvicorn stopped before it started serving"
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert not thread.is_alive(), "uvicorn did not shut down"


def wait_app_ready(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0) -> None:
    """Until the app process at ``url`` reports a current index; fails at once if the process exits."""

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the app exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        status = httpx.get(url + "/api/status", timeout=2).json()
        return bool(status.get("index", {}).get("current"))

    try:
        wait_for(ready, timeout, 0.3, what=f"the app at {url} to be ready", ignore=(httpx.HTTPError, ValueError))
    except AssertionError as error:
        if process.poll() is not None:  # ready() said so, with the log
            raise
        raise AssertionError(f"{error}:\n{log_path.read_text()[-3000:]}") from None
