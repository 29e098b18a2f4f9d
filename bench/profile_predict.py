"""Where a `POST /predict` spends its CPU inside the API: the app driven in this process and on this thread (httpx's
ASGI transport, Litestar's lifespan entered by hand), so cProfile sees every stage, which it cannot through
`TestClient` (its app runs on another thread) or through a server process.

Prints the CPU per request with the client included, the model's own `predict_one` alone, and the project's and
Litestar's functions by cumulative time under cProfile (whose own overhead inflates functions that make many small
calls: compare stages with each other, not with the first two figures). The rate limits are off (`rate_*=0`), as in
`bench/api.py`. Where to look when `bench/api.py` says /predict got slower.

    .venv/bin/python bench/profile_predict.py [--requests 1500] [--rows 40]
"""

import argparse
import asyncio
import cProfile
import importlib.util
import pstats
import tempfile
import time
from pathlib import Path

import httpx

from animal_challenge.api import create_app
from animal_challenge.model import TRUSTED_TYPES
from animal_challenge.registry import LocalModelStore

_spec = importlib.util.spec_from_file_location("bench_monitoring", Path(__file__).with_name("monitoring.py"))
bench_monitoring = importlib.util.module_from_spec(_spec)  # its model (as training stores one) and its settings
_spec.loader.exec_module(bench_monitoring)

DOG = {"walks_on_n_legs": 4, "height": 0.5, "weight": 20.0, "has_wings": False, "has_tail": True}
CLIENT = {"X-Client-Id": "bench-client-000001"}
SHOWN = r"animal_challenge|litestar/(routes|_kwargs|middleware|_signature|_asgi|response)"  # what the table lists


def served_app(folder: Path):
    "The API over the model `bench/monitoring.py` stores (10 000 points, with its training sample), no rate limits."
    bench_monitoring.prepare(str(folder))
    store = LocalModelStore(folder / "models", trusted=TRUSTED_TYPES)
    return create_app(bench_monitoring.settings_for(str(folder), "api"), store=store), store.load()[0]


async def profile(app, model, requests: int, rows: int) -> None:
    "Warm up, time, then profile `requests` predictions."
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for _ in range(200):
            (await client.post("/predict", json=DOG, headers=CLIENT)).raise_for_status()
        start = time.process_time()
        for _ in range(requests):
            await client.post("/predict", json=DOG, headers=CLIENT)
        print(f"POST /predict, client included: {(time.process_time() - start) / requests * 1e6:.0f} µs of CPU each")
        start = time.process_time()
        for _ in range(requests):
            model.predict_one(DOG)
        print(f"model.predict_one alone:        {(time.process_time() - start) / requests * 1e6:.0f} µs of CPU each")
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            await client.post("/predict", json=DOG, headers=CLIENT)
        profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(SHOWN, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="predictions timed, then profiled")
    parser.add_argument("--rows", type=int, default=40, help="functions listed")
    args = parser.parse_args()
    app, model = served_app(Path(tempfile.mkdtemp(prefix="bench-profile-")))
    asyncio.run(profile(app, model, args.requests, args.rows))
