"""What watching the model costs: `/predict` throughput with the Prometheus metrics on and off, and the time of a drift
report over 10 000 recent predictions through `GET /monitoring/drift`.

Metrics on and off are two API processes made by the same `create_app`, one uvicorn worker each, on the same model; the
"off" one is built with the metrics taken out (`measure_requests` wrapping nothing, `count_answers` counting nothing),
which is everything the metrics add to a request. Both run at once and are loaded in turn (off, on, off, on, ...) by
`bench/api.py`'s load generator, so a change in what else runs on the machine touches both; during the "on" rounds a
scraper reads `/metrics` every second (Prometheus' default is every 15 s to a minute). Each round gives the req/s the
client saw and the server's capacity: requests per CPU-second the server process used (from /proc), which depends
less on the other jobs sharing the cores. The loss is 1 - on/off of the medians.

Then the "on" server classifies 10 000 points of the data service's generator, and `GET /monitoring/drift?last=10000`
is timed as a client sees it, with the time of each step in this process (reading the window, the report, JSON).

Targets (issue 13): `/predict` loses at most 5 % of its req/s with metrics on; a drift report over 10 000 recent points
takes at most 200 ms.

    .venv/bin/python bench/monitoring.py [--rounds 4] [--seconds 5] [--connections 32] [--reports 30]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from animal_challenge.process import ServerProcess, free_port

TARGET_LOSS, TARGET_DRIFT_MS, DRIFT_POINTS = 0.05, 200.0, 10_000
_spec = importlib.util.spec_from_file_location("bench_api", Path(__file__).with_name("api.py"))
bench_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_api)  # the load generator and the in-server timer of bench/api.py


def settings_for(folder: str, kind: str):
    "The API's settings for the `kind` server: its own history, the shared store, no rate limit in the way."
    from animal_challenge.config import Settings

    unlimited = {"rate_predict": 0, "rate_batch": 0, "rate_bulk": 0}  # no limiter: the load comes from one address
    return Settings(
        data_dir=folder, store=str(Path(folder) / "models"), db=str(Path(folder) / f"{kind}.sqlite"), **unlimited
    )


def serve(kind: str, port: int, folder: str, stats_file: str) -> None:
    "Run the API with metrics (`on`) or without (`off`) on `port`."
    import uvicorn

    import animal_challenge.api as api

    if kind == "off":  # everything the metrics add to a request, taken out
        api.measure_requests = lambda app: app
        api.count_answers = lambda species, reasons: None
    app = api.create_app(settings_for(folder, kind))
    config = uvicorn.Config(bench_api.timed(app, stats_file), host="127.0.0.1", port=port, log_level="warning")
    uvicorn.Server(config).run()


class Server(bench_api.Server):
    "A server process of this script (`on` or `off`), timed from inside."

    def __init__(self, kind: str, folder: str):
        self.port, self.stats = free_port(), str(Path(folder) / f"{kind}-times.json")
        cmd = [sys.executable, __file__, "--serve", kind, str(self.port), folder, self.stats]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = ServerProcess(f"{kind} server", cmd, f"{self.url}/_bench/mark?warmup").start().wait_ready()
        self.proc = self.server.proc


def prepare(folder: str) -> list[dict]:
    "Train a model as `train_and_store` does (10 000 points, their labels, a stored training sample); points to send."
    import pandas as pd
    from animal_data_service.generator import generate

    from animal_challenge.labeling import label_points
    from animal_challenge.model import TRUSTED_TYPES, train_model
    from animal_challenge.registry import LocalModelStore
    from animal_challenge.schema import validate_points
    from animal_challenge.training import training_sample

    labeled = label_points(pd.DataFrame(generate(seed=1, n=10_000)))
    model = train_model(validate_points(labeled), labeled.label)
    store = LocalModelStore(Path(folder) / "models", trusted=TRUSTED_TYPES)
    provenance = {"service_url": "generator", "seed": 1, "n": 10_000, "n_outliers": 0, "label_counts": {}}
    version = store.save(model, {"metrics": model.metrics, "provenance": provenance}, sample=training_sample(labeled))
    store.activate(version.id)
    return generate(seed=2, n=20_000)


def scraping(url: str, stop: threading.Event, every: float = 1.0) -> threading.Thread:
    "A thread reading `url`/metrics every `every` seconds until `stop` is set, as a Prometheus would."

    def run():
        with httpx.Client(timeout=30) as http:
            while not stop.wait(every):
                http.get(f"{url}/metrics").raise_for_status()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def throughput(servers: dict, bodies: list[bytes], rounds: int, seconds: float, connections: int) -> dict:
    "Load the servers in turn, `rounds` times each; per server the req/s and capacity of every round."
    results = {kind: {"req_per_s": [], "capacity": [], "errors": 0} for kind in servers}
    for server in servers.values():  # warm-up
        asyncio.run(bench_api.load(server.port, "/predict", bodies[:500], 4, 1.0))
    for r in range(rounds):
        for kind, server in servers.items():
            stop = threading.Event()
            scraper = scraping(server.url, stop) if kind == "on" else None
            cpu = server.cpu_seconds()
            run = asyncio.run(bench_api.load(server.port, "/predict", bodies, connections, seconds))
            used = server.cpu_seconds() - cpu
            stop.set()
            if scraper:
                scraper.join()
            results[kind]["req_per_s"].append(run["req_per_s"])
            results[kind]["capacity"].append(run["requests"] / used)
            results[kind]["errors"] += run["errors"]
            print(
                f"  round {r + 1} {kind:3s}: {run['req_per_s']:7.0f} req/s, {run['requests'] / used:7.0f} "
                f"per CPU-second, client p50 {run['client_p50_ms']:.2f} ms, errors {run['errors']}",
                flush=True,
            )
    return results


def drift_timing(server: Server, folder: str, points: list[dict], reports: int) -> tuple[list[float], float]:
    "Classify `DRIFT_POINTS` points on `server`, then time `reports` drift reports; their times and server CPU (ms)."
    r = httpx.post(f"{server.url}/predict/batch", json={"points": points[:DRIFT_POINTS]}, timeout=120)
    r.raise_for_status()
    url = f"{server.url}/monitoring/drift?last={DRIFT_POINTS}"
    times = []
    with httpx.Client(timeout=60) as http:
        first = http.get(url)  # reads the training sample from the store: once per version
        first.raise_for_status()
        report = first.json()
        cpu = server.cpu_seconds()
        for _ in range(reports):
            start = time.perf_counter()
            http.get(url).raise_for_status()
            times.append((time.perf_counter() - start) * 1e3)
        cpu_ms = (server.cpu_seconds() - cpu) / reports * 1e3
    print(
        f"\n# GET /monitoring/drift?last={DRIFT_POINTS}: window {report['window']}, drift {report['drift']}, "
        f"answer {len(first.content) / 1024:.0f} KiB; {cpu_ms:.0f} ms of server CPU per report"
    )
    return times, cpu_ms


def drift_stages(folder: str) -> None:
    "Where a report's time goes, in this process, on the history of the server with metrics (median of 10 runs)."
    import msgspec

    from animal_challenge import bulk
    from animal_challenge.drift import drift_report
    from animal_challenge.model import TRUSTED_TYPES
    from animal_challenge.postgres import open_history
    from animal_challenge.registry import LocalModelStore

    store = LocalModelStore(Path(folder) / "models", trusted=TRUSTED_TYPES)
    sample = store.sample(store.active_id())
    log = open_history(str(Path(folder) / "on.sqlite"))

    def median_ms(f):
        runs, out = [], None
        for _ in range(10):
            start = time.perf_counter()
            out = f()
            runs.append(time.perf_counter() - start)
        return statistics.median(runs) * 1e3, out

    stages = {}
    stages["bulk.window (read 10 000 rows)"], window = median_ms(lambda: bulk.window(log, DRIFT_POINTS))
    stages["drift_report"], report = median_ms(lambda: drift_report(sample, window))
    stages["JSON encode"], _ = median_ms(lambda: msgspec.json.encode(report))
    stages["store.sample (first report of a version only)"], _ = median_ms(lambda: store.sample(store.active_id()))
    for name, ms in stages.items():
        print(f"  {name:48s} {ms:7.1f} ms")
    log.close()


def metrics_cost(calls: int = 20_000) -> float:
    "CPU microseconds the metrics add to one `/predict`, in this process: the request wrapper and the answer's count."
    from animal_challenge.metrics import count_answers, measure_requests

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        return None

    scope = {"type": "http", "method": "POST", "path_template": "/predict"}

    async def run(handler):
        start = time.process_time()
        for _ in range(calls):
            await handler(scope, None, send)
        return time.process_time() - start

    wrapped = measure_requests(app)
    bare, measured = min(asyncio.run(run(app)) for _ in range(3)), min(asyncio.run(run(wrapped)) for _ in range(3))
    start = time.process_time()
    for _ in range(calls):
        count_answers(["dog"], [[]])
    counted = time.process_time() - start
    return (measured - bare + counted) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="load rounds per server")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each round")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--reports", type=int, default=30, help="drift reports timed")
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(*args.serve)

    folder = tempfile.mkdtemp(prefix="bench-monitoring-")
    points = prepare(folder)
    bodies = [json.dumps(p).encode() for p in points]
    print(
        f"# bench/monitoring.py: /predict with metrics off and on, 1 uvicorn worker each, {args.connections} "
        f"connections, {args.rounds} rounds of {args.seconds:g} s, {os.cpu_count()} CPUs"
    )
    servers = {kind: Server(kind, folder) for kind in ("off", "on")}
    try:
        results = throughput(servers, bodies, args.rounds, args.seconds, args.connections)
        times, cpu_ms = drift_timing(servers["on"], folder, points, args.reports)
    finally:
        for server in servers.values():
            server.stop()
    p50, p95 = statistics.median(times), bench_api.percentile(times, 95)
    print(f"  {len(times)} reports: median {p50:.0f} ms, p95 {p95:.0f} ms, max {max(times):.0f} ms")
    print("  in this process:")
    drift_stages(folder)

    med = {k: {m: statistics.median(v[m]) for m in ("req_per_s", "capacity")} for k, v in results.items()}
    cost = metrics_cost()
    print(
        f"\n# the metrics of one /predict in this process: {cost:.1f} µs of CPU, against the "
        f"{1e6 / med['off']['capacity']:.0f} µs a /predict without them costs the server here "
        f"({100 * cost * med['off']['capacity'] / 1e6:.1f} %)"
    )
    loss = {m: 1 - med["on"][m] / med["off"][m] for m in ("req_per_s", "capacity")}
    print("\n# against the targets")
    for kind in ("off", "on"):
        print(
            f"  metrics {kind:3s}: median {med[kind]['req_per_s']:.0f} req/s, {med[kind]['capacity']:.0f} requests per "
            f"CPU-second of the server (errors {results[kind]['errors']})"
        )
    verdict = "met" if loss["capacity"] <= TARGET_LOSS else "NOT met"  # capacity: what the load of others changes least
    print(
        f"  /predict loses {100 * loss['req_per_s']:.1f} % of its req/s with metrics on, "
        f"{100 * loss['capacity']:.1f} % of its capacity (target ≤ {100 * TARGET_LOSS:.0f} %): {verdict}"
    )
    print(
        f"  drift report over {DRIFT_POINTS} recent points: median {p50:.0f} ms, p95 {p95:.0f} ms, {cpu_ms:.0f} ms of "
        f"server CPU (target ≤ {TARGET_DRIFT_MS:.0f} ms): {'met' if p95 <= TARGET_DRIFT_MS else 'NOT met'}"
    )
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
