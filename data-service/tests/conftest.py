"""Fixtures of the data service's tests: the real server (console script + uvicorn) on a free loopback port, run by
the main package's `animal_challenge.process` (this repository's test suite runs with both packages installed)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from animal_challenge.process import ServerProcess, free_port  # the project's one way to run a server and wait for it


def console_script() -> list[str]:
    "The `animal-data-service` command installed next to this Python (pip install -e data-service)."
    script = Path(sys.executable).parent / "animal-data-service"
    if script.exists():
        return [str(script)]
    found = shutil.which("animal-data-service")
    if found:
        return [found]
    pytest.fail("the animal-data-service console script is not installed: pip install -e data-service")


@contextmanager
def running_server(
    args: list[str] | None = None, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[tuple[str, ServerProcess]]:
    """Run `animal-data-service run --port PORT [args]` until the block ends; yield its base URL and server process.

    Started, awaited (`GET /api/v1/animals/schema` answers) and stopped by the project's `ServerProcess`; its output
    goes to `server.log`."""
    env = env or {}
    if "ANIMAL_DATA_SERVICE_PORT" in env:  # the port comes from the environment only
        port = int(env["ANIMAL_DATA_SERVICE_PORT"])
        command = [*console_script(), "run", *(args or [])]
    else:
        port = port or free_port()
        command = [*console_script(), "run", "--port", str(port), *(args or [])]
    url, log = f"http://127.0.0.1:{port}", Path(tempfile.mkdtemp()) / "server.log"
    with ServerProcess("data service", command, url + "/api/v1/animals/schema", {**os.environ, **env}, log) as server:
        yield url, server


@pytest.fixture
def serve() -> Callable[..., contextmanager]:
    "`running_server` as a fixture, for tests that start their own server (own flags, env or port)."
    return running_server


@pytest.fixture
def unused_port() -> int:
    "A free TCP port on 127.0.0.1."
    return free_port()


@pytest.fixture(scope="module")
def small_server() -> Iterator[str]:
    "Base URL of a real server that allows at most 50 points per request (cheap to fuzz)."
    with running_server(args=["--max-points", "50"]) as (url, _):
        yield url


@pytest.fixture(scope="module")
def live_server() -> Iterator[str]:
    "Base URL of a real server (console script, uvicorn) with the default settings, shared by a test module."
    with running_server() as (url, _):
        yield url


# The public service's answer for {"seed": 42, "number_of_datapoints": 3} (shared/data-service-contract.md).
CONTRACT_CHECK_VALUES = [
    {
        "walks_on_n_legs": 2,
        "height": 1.8966201999039332,
        "weight": 52.24459269017381,
        "has_wings": False,
        "has_tail": True,
    },
    {
        "walks_on_n_legs": 2,
        "height": 1.8706797949691645,
        "weight": 84.60897838524227,
        "has_wings": False,
        "has_tail": True,
    },
    {
        "walks_on_n_legs": 4,
        "height": 0.15161222204761285,
        "weight": 7.855076329135008,
        "has_wings": False,
        "has_tail": True,
    },
]


@pytest.fixture
def contract_check_values() -> list[dict]:
    "The contract's check values: the public service's answer for seed 42, three points."
    return [dict(p) for p in CONTRACT_CHECK_VALUES]
