"""Start real servers on free loopback ports for tests, and stop them afterwards."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    "A TCP port on 127.0.0.1 that nothing listens on right now."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    "Poll `url` until it answers below 500, failing early if `proc` exits."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def running(cmd: list[str], ready_url: str, env: dict | None = None) -> Iterator[subprocess.Popen]:
    "Run `cmd` until the block ends; ready when `ready_url` answers. Stopped with SIGTERM, then SIGKILL."
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        wait_until_up(ready_url, proc)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextmanager
def data_service() -> Iterator[str]:
    "The real data service (its console script) on a free port; yields its base URL."
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "animal-data-service"), "run", "--host", "127.0.0.1", "--port", str(port)]
    with running(cmd, url + "/api/v1/animals/schema"):
        yield url


CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium: Playwright drives it, it never downloads a browser
CHROMIUM_ARGS = [  # headless, and no background traffic to hosts this machine cannot reach
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright):
    "Debian's headless Chromium, launched through a Playwright instance (`sync_playwright()`)."
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
