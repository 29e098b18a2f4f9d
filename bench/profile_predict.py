"""Where a `POST /predict` spends its CPU inside the API: the app driven in this process and on this thread (httpx's
ASGI transport, Litestar's lifespan entered by hand), so cProfile sees every stage, which it cannot through
`TestClient` (its app runs on another thread) or through a server process.

Prints the CPU per request with the client included, the model's own `predict_one` alone, and the project's and
Litestar's functions by cumulative time under cProfile (whose own overhead inflates functions that make many small
calls: compare stages with each other, not with the first two figures). The rate limits are off (`rate_*=0`), as in
`bench/api.py`. A starting point for the open question of issue 10: what /predict costs since the restructure.

    .venv/bin/python bench/profile_predict.py [--requests 1500] [--rows 40]
"""

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from animal_data_service.generator import generate

from animal_challenge.api import create_app
from animal_challenge.config import Settings
from animal_challenge.labeling import label_points
from animal_challenge.model import TRUSTED_TYPES, train_model
from animal_challenge.registry import LocalModelStore
from animal_challenge.schema import points_frame

DOG = {"walks_on_n_legs": 4, "height": 0.5, "weight": 20.0, "has_wings": False, "has_tail": True}
CLIENT = {"X-Client-Id": "bench-client-000001"}
SHOWN = r"animal_challenge|litestar/(routes|_kwargs|middleware|_signature|_asgi|response)"  # what the table lists


def served_app(folder: Path):
    "An API on a folder store holding one active model of 2 000 points, the rate limits off; and that model."
    labeled = label_points(pd.DataFrame(generate(seed=42, n=2000)))
    model = train_model(points_frame(labeled.to_dict("records")), labeled.label)
    store = LocalModelStore(folder / "models", trusted=TRUSTED_TYPES)
    provenance = {"service_url": "generator", "seed": 42, "n": 2000, "n_outliers": 0, "label_counts": {}}
    version = store.save(model, {"metrics": model.metrics, "provenance": provenance}, sample=labeled)
    store.activate(version.id)
    no_limits = {"rate_predict": 0, "rate_batch": 0, "rate_feedback": 0, "rate_bulk": 0}
    settings = Settings(data_dir=folder, data_service_url="http://127.0.0.1:9", **no_limits)
    return create_app(settings, store=store), model


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
