"""Run the data service inside the current process, in a background thread: for notebooks and tests that need a real
service to fetch from without managing a separate process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from animal_data_service.app import DEFAULT_MAX_POINTS, create_app

__all__ = ["running_service"]


@contextmanager
def running_service(
    host: str = "127.0.0.1",  # interface to listen on
    port: int = 0,  # 0 picks a free port
    max_points: int = DEFAULT_MAX_POINTS,  # largest request the service accepts
    startup_timeout: float = 10.0,  # seconds to wait for the server to listen
) -> Iterator[str]:
    "Serve the data service over real HTTP until the block ends; yields its base URL, e.g. http://127.0.0.1:40123."
    config = uvicorn.Config(create_app(max_points), host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="animal-data-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the data service did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        bound_port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
