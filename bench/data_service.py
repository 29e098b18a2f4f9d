"""Benchmark of our data service over real HTTP: throughput at 100 000 points and peak memory per request size.

Starts the real server (the `animal-data-service` console script: uvicorn, one process) on a free loopback port and
measures what a client sees: the full response, streamed and drained (the client never holds the body, so its memory
does not blur anything).

* Throughput: `POST /api/v1/animals/data` with `number_of_datapoints = 100 000`, median of `--runs` runs after one
  warm-up, in points per second, compared with the public service (~1.2 s for 100 000 points, ~83 000 points/s).
* Memory: for each size (10 000, 100 000, 1 000 000 points) a fresh server answers one request; its peak resident
  memory (VmHWM in /proc/PID/status) before and after shows whether memory grows with n.

Run from the repository root, after `pip install -e data-service`:

    .venv/bin/python bench/data_service.py [--runs 7] [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from animal_challenge.process import ServerProcess, free_port

PUBLIC_SERVICE_POINTS_PER_SECOND = 100_000 / 1.2  # the public service: ~1.2 s for 100 000 points
THROUGHPUT_POINTS = 100_000
DATA_PATH = "/api/v1/animals/data"


def _console_script() -> str:
    "The `animal-data-service` command next to this Python, else on PATH."
    beside = Path(sys.executable).parent / "animal-data-service"
    found = str(beside) if beside.exists() else shutil.which("animal-data-service")
    if not found:
        sys.exit("animal-data-service is not installed: pip install -e data-service")
    return found


@contextmanager
def running_server() -> Iterator[tuple[str, int]]:
    "A fresh server on a free port until the block ends (the project's `ServerProcess`); yields its URL and PID."
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [_console_script(), "run", "--host", "127.0.0.1", "--port", str(port)]
    with ServerProcess("data service", command, url + "/api/v1/animals/schema", log=Path(os.devnull)) as server:
        yield url, server.proc.pid


def timed_request(client: httpx.Client, url: str, n: int, seed: int = 42) -> tuple[float, int]:
    "Seconds from sending the request to the last byte of the answer (drained, not kept), and the body size."
    size = 0
    start = time.perf_counter()
    with client.stream("POST", url + DATA_PATH, json={"seed": seed, "number_of_datapoints": n}) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            size += len(chunk)
    return time.perf_counter() - start, size


def peak_rss_mib(pid: int) -> float:
    "Peak resident set size of a process so far (VmHWM), in MiB."
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found in /proc/PID/status (Linux only)")


def check_answer(client: httpx.Client, url: str) -> None:
    "Once, outside the timings: the answer parses and has as many points as asked."
    points = client.post(url + DATA_PATH, json={"seed": 42, "number_of_datapoints": THROUGHPUT_POINTS}).json()
    if len(points) != THROUGHPUT_POINTS:
        sys.exit(f"expected {THROUGHPUT_POINTS} points, got {len(points)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs at 100 000 points (default 7, at least 5)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="memory sizes")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")

    with running_server() as (url, _), httpx.Client(timeout=120) as client:
        check_answer(client, url)
        timed_request(client, url, THROUGHPUT_POINTS)  # warm-up
        runs = [timed_request(client, url, THROUGHPUT_POINTS) for _ in range(args.runs)]
    seconds = [s for s, _ in runs]
    median = statistics.median(seconds)
    rate = THROUGHPUT_POINTS / median
    print(f"Throughput, n = {THROUGHPUT_POINTS:,} points, full HTTP response streamed ({args.runs} runs)")
    print(f"  median {median * 1000:.1f} ms (min {min(seconds) * 1000:.1f}, max {max(seconds) * 1000:.1f})")
    print(
        f"  {rate:,.0f} points/s = {rate / PUBLIC_SERVICE_POINTS_PER_SECOND:.1f}x the public service's ~83,000 points/s"
    )
    print(f"  body {runs[0][1] / 1e6:.1f} MB, {runs[0][1] / median / 1e6:.0f} MB/s")
    print()
    print("Peak memory of a fresh server answering one request (VmHWM)")
    print(f"  {'n':>10}  {'seconds':>8}  {'points/s':>10}  {'body MB':>8}  {'RSS before':>10}  {'peak RSS':>9}")
    for n in args.sizes:
        with running_server() as (url, pid), httpx.Client(timeout=600) as client:
            before = peak_rss_mib(pid)
            elapsed, size = timed_request(client, url, n)
            peak = peak_rss_mib(pid)
        print(
            f"  {n:>10,}  {elapsed:>8.3f}  {n / elapsed:>10,.0f}  {size / 1e6:>8.1f}"
            f"  {before:>7.1f} MiB  {peak:>5.1f} MiB"
        )


if __name__ == "__main__":
    main()
