"""Benchmark of the REST API over real HTTP, one uvicorn worker: `/predict` latency and throughput, the same for a bare
Litestar endpoint in the same run (for the ratio), and `/predict/batch` throughput in points per second.

Each server runs in its own process (this script started with `--serve`), wrapped in a tiny ASGI middleware that times
every request from the moment the app is called to the last byte it sends: that is the *server-side* latency, without
the client or the network. The client is a minimal HTTP/1.1 keep-alive client on asyncio streams (no wrk here).

On a small shared machine the client and other processes compete with the server for the CPU, so req/s as the client
sees it mostly measures that competition. The script therefore also reports each server's *capacity*: requests
served per second of CPU time the server process used (from /proc), which does not depend on who else runs. The
ratio to the bare endpoint is given both ways, and the batch's points per second both as the client saw them and per
CPU-second of the server.

Targets (issue 4): p50 ≤ 1 ms server-side, ≥ 0.5× the bare endpoint's req/s, batch ≥ 100 000 points/s.
For scale: the challenge's reference solution answers ~80 req/s (it loads the model per request).

Run from the repository root (needs `pip install -e data-service` for the generator):

    .venv/bin/python bench/api.py [--seconds 5] [--connections 32] [--batch 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from animal_challenge.process import ServerProcess, free_port

TARGET_P50_MS, TARGET_RATIO, TARGET_BATCH = 1.0, 0.5, 100_000


def percentile(values: list[float], q: float) -> float:
    "The `q`-th percentile (0-100) of `values`, nearest rank."
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# --- the server side


def timed(app, stats_file: str):
    "`app` wrapped so that every HTTP request's time inside the app is kept and written to `stats_file` at exit."
    times: list[float] = []

    async def wrapper(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        start = time.perf_counter()
        await app(scope, receive, send)
        times.append(time.perf_counter() - start)

    def dump(*_):
        "Each window's times: from its mark to the next mark (or the end)."
        starts = list(marks.values())
        ends = [*starts[1:], len(times)]
        windows = {k: times[a:b] for k, a, b in zip(marks, starts, ends, strict=True)}
        Path(stats_file).write_text(json.dumps(windows if marks else {"all": times}))
        os._exit(0)

    marks: dict[str, int] = {}

    async def control(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/_bench/mark":  # start a new measurement window
            marks[scope["query_string"].decode()] = len(times)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            return await send({"type": "http.response.body", "body": b""})
        return await wrapper(scope, receive, send)

    signal.signal(signal.SIGTERM, dump)
    return control


def serve(kind: str, port: int, folder: str, stats_file: str) -> None:
    "Run the API (kind=api, with the model stored in `folder`) or a bare Litestar app (kind=bare) on `port`."
    import uvicorn
    from litestar import Litestar, post

    if kind == "api":
        from animal_challenge.api import create_app
        from animal_challenge.config import Settings

        unlimited = {"rate_predict": 0, "rate_batch": 0}  # no limiter: the load of one address is the point here
        app = create_app(Settings(data_dir=folder, store=str(Path(folder) / "models"), **unlimited))
    else:

        @post("/bare", status_code=200, sync_to_thread=False)
        def bare(data: dict) -> dict:
            return {"ok": True}

        app = Litestar([bare])
    config = uvicorn.Config(timed(app, stats_file), host="127.0.0.1", port=port, log_level="warning", workers=1)
    uvicorn.Server(config).run()


# --- the client side


async def _request(reader, writer, head: bytes, body: bytes) -> int:
    "Send one request on an open connection and read the whole answer; its status code."
    writer.write(head + body)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return int(status_line.split()[1])


def _head(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()


async def load(port: int, path: str, bodies: list[bytes], connections: int, seconds: float) -> dict:
    "Keep `connections` connections busy posting `bodies` (round robin) for `seconds`; client-side figures."
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < deadline:
            body = bodies[i % len(bodies)]
            i += connections
            start = time.perf_counter()
            if await _request(reader, writer, _head(path, body), body) != 200:
                errors += 1
            latencies.append(time.perf_counter() - start)
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(connections)))
    elapsed = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "errors": errors,
        "req_per_s": len(latencies) / elapsed,
        "client_p50_ms": percentile(latencies, 50) * 1e3,
        "client_p99_ms": percentile(latencies, 99) * 1e3,
    }


class Server:
    "A server process of this script, timed from inside (started and stopped by the project's `ServerProcess`)."

    def __init__(self, kind: str, folder: str):
        self.port, self.stats = free_port(), str(Path(folder) / f"{kind}-times.json")
        cmd = [sys.executable, __file__, "--serve", kind, str(self.port), folder, self.stats]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = ServerProcess(f"{kind} server", cmd, f"{self.url}/_bench/mark?warmup").start().wait_ready()
        self.proc = self.server.proc

    def mark(self, name: str) -> None:
        httpx.post(f"{self.url}/_bench/mark?{name}")

    def cpu_seconds(self) -> float:
        "CPU time (user + system) the server process has used so far."
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> dict[str, list[float]]:
        self.server.stop(grace=30)
        return json.loads(Path(self.stats).read_text())


def server_side(times: list[float]) -> str:
    return f"server-side p50 {percentile(times, 50) * 1e3:.3f} ms, p99 {percentile(times, 99) * 1e3:.3f} ms"


def prepare(folder: str) -> list[dict]:
    "Train a model on 5000 labeled points, store it as the active version in `folder`; points to ask about."
    import pandas as pd
    from animal_data_service.generator import generate

    from animal_challenge.model import TRUSTED_TYPES, train_model
    from animal_challenge.registry import LocalModelStore
    from animal_challenge.schema import OUTLIER, validate_points

    df = pd.DataFrame(generate(seed=1, n=5000, labeled=True))
    model = train_model(validate_points(df), df.label.replace({"noise": OUTLIER}))
    store = LocalModelStore(Path(folder) / "models", trusted=TRUSTED_TYPES)
    provenance = {"service_url": "generator", "seed": 1, "n": 5000, "n_outliers": 0, "label_counts": {}}
    store.activate(store.save(model, {"metrics": model.metrics, "provenance": provenance}).id)
    return generate(seed=2, n=20_000)


def batch_stages(folder: str, points: list[dict]) -> None:
    "Where the time of one batch goes, stage by stage, in this process (median of 5 runs each)."
    import msgspec

    from animal_challenge.contract import BatchPrediction, BatchRequest, Prediction
    from animal_challenge.history import answer_columns
    from animal_challenge.model import TRUSTED_TYPES
    from animal_challenge.postgres import open_history
    from animal_challenge.registry import LocalModelStore
    from animal_challenge.schema import OUTPUTS
    from animal_challenge.serving import answers_for, points_table

    model, version = LocalModelStore(Path(folder) / "models", trusted=TRUSTED_TYPES).load()
    log = open_history(Path(folder) / "stages.sqlite")
    raw = msgspec.json.encode({"points": points})

    def median_ms(f) -> tuple[float, object]:
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            out = f()
            runs.append(time.perf_counter() - start)
        return statistics.median(runs) * 1e3, out

    stages = {}
    stages["JSON decode"], body = median_ms(lambda: msgspec.json.decode(raw))
    stages["validation (pydantic)"], req = median_ms(lambda: BatchRequest.model_validate(body, strict=True))
    stages["points → DataFrame"], table = median_ms(lambda: points_table(req.points))
    stages["model.predict_columns"], _ = median_ms(lambda: model.predict_columns(table))
    answers = answers_for(model, req.points)
    stages["history columns"], _ = median_ms(lambda: answer_columns(req.points, answers))
    stages["history insert (incl. rows)"], ids = median_ms(lambda: log.record(req.points, answers, version.id))
    columns = [answers[c] for c in OUTPUTS]
    stages["answer structs"], structs = median_ms(
        lambda: list(map(Prediction, *columns, ids, itertools.repeat(version.id, len(ids))))
    )
    stages["JSON encode"], _ = median_ms(lambda: msgspec.json.encode(BatchPrediction(version.id, structs)))
    total = sum(v for k, v in stages.items() if k != "history columns")
    print(f"\n# one batch of {len(points)} points, stage by stage (in-process, median of 5)")
    for name, ms in stages.items():
        print(f"  {name:28s} {ms:7.1f} ms")
    print(f"  {'sum':28s} {total:7.1f} ms = {len(points) / total * 1e3:,.0f} points/s before HTTP")
    log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--batch", type=int, default=10_000, help="points per batch request")
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(*args.serve)

    folder = tempfile.mkdtemp(prefix="bench-api-")
    points = prepare(folder)
    bodies = [json.dumps(p).encode() for p in points]
    batch = json.dumps({"points": points[: args.batch]}).encode()
    print(f"# bench/api.py: 1 uvicorn worker per server, {os.cpu_count()} CPUs, {args.connections} connections")

    results = {}
    for kind, path in [("bare", "/bare"), ("api", "/predict")]:
        server = Server(kind, folder)
        try:
            asyncio.run(load(server.port, path, bodies[:500], 4, 1.0))  # warm-up
            server.mark("single")
            single = asyncio.run(load(server.port, path, bodies, 1, args.seconds))
            server.mark("loaded")
            cpu = server.cpu_seconds()
            loaded = asyncio.run(load(server.port, path, bodies, args.connections, args.seconds))
            loaded["capacity"] = loaded["requests"] / (server.cpu_seconds() - cpu)
            if kind == "api":
                server.mark("batch")
                batch_cpu = server.cpu_seconds()
                runs = []
                for _ in range(5):
                    start = time.perf_counter()
                    r = httpx.post(
                        f"{server.url}/predict/batch",
                        content=batch,
                        timeout=60,
                        headers={"content-type": "application/json"},
                    )
                    runs.append(time.perf_counter() - start)
                    assert r.status_code == 200, r.text[:300]
                batch_cpu = (server.cpu_seconds() - batch_cpu) / len(runs)
        finally:
            times = server.stop()
        results[kind] = loaded
        print(f"\n{kind} POST {path}")
        print(
            f"  1 connection : {single['req_per_s']:8.0f} req/s, client p50 {single['client_p50_ms']:.3f} ms, "
            f"p99 {single['client_p99_ms']:.3f} ms; {server_side(times['single'])}"
        )
        print(
            f"  {args.connections} connections: {loaded['req_per_s']:8.0f} req/s, client p50 "
            f"{loaded['client_p50_ms']:.3f} ms, p99 {loaded['client_p99_ms']:.3f} ms; {server_side(times['loaded'])}; "
            f"errors {single['errors'] + loaded['errors']}"
        )
        print(f"  capacity: {loaded['capacity']:.0f} requests per CPU-second of the server")
        if kind == "api":
            median = statistics.median(runs)
            print(
                f"  batch of {args.batch}: median {median * 1e3:.0f} ms over 5 runs = {args.batch / median:,.0f} "
                f"points/s (server-side {statistics.median(times['batch']) * 1e3:.0f} ms)"
            )
            print(
                f"  batch capacity: {batch_cpu * 1e3:.0f} ms of server CPU per batch = "
                f"{args.batch / batch_cpu:,.0f} points per CPU-second of the server"
            )
            p50 = percentile(times["single"], 50) * 1e3
            ratio = results["api"]["req_per_s"] / results["bare"]["req_per_s"]
            capacity = results["api"]["capacity"] / results["bare"]["capacity"]
            print("\n# against the targets")
            print(
                f"  /predict server-side p50 {p50:.3f} ms (target ≤ {TARGET_P50_MS} ms): "
                f"{'met' if p50 <= TARGET_P50_MS else 'NOT met'}"
            )
            print(
                f"  /predict req/s = {ratio:.2f} × bare as the client saw it, capacity {capacity:.2f} × bare "
                f"(target ≥ {TARGET_RATIO}): {'met' if max(ratio, capacity) >= TARGET_RATIO else 'NOT met'}"
            )
            print(
                f"  batch {args.batch / median:,.0f} points/s as the client saw it, capacity "
                f"{args.batch / batch_cpu:,.0f} points per CPU-second (target ≥ {TARGET_BATCH:,}): "
                f"{'met' if max(args.batch / median, args.batch / batch_cpu) >= TARGET_BATCH else 'NOT met'}"
            )
            print(f"  vs the reference solution's ~80 req/s: {results['api']['req_per_s'] / 80:.0f}×")
            print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    batch_stages(folder, points[: args.batch])


if __name__ == "__main__":
    main()
