"""Real servers for the tests, started through `animal_challenge.process` (the one way the project starts a server and
waits for it), and Debian's Chromium for the browser tests."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from animal_challenge.process import ServerProcess, free_port

BIN = Path(sys.executable).parent
__all__ = ["BIN", "CHROMIUM", "data_service", "free_port", "launch_chromium", "running"]


@contextmanager
def running(
    cmd: list[str], ready_url: str, env: dict | None = None, name: str = "server", log: Path | None = None
) -> Iterator[ServerProcess]:
    "Run `cmd` until the block ends (its output in `log`, if named); ready when `ready_url` answers."
    with ServerProcess(name, cmd, ready_url, {**os.environ, **(env or {})}, log) as server:
        yield server


@contextmanager
def data_service() -> Iterator[str]:
    "The real data service (its console script) on a free port; yields its base URL."
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "animal-data-service"), "run", "--host", "127.0.0.1", "--port", str(port)]
    with running(cmd, url + "/api/v1/animals/schema", name="data service"):
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
