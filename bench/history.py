"""Benchmark of the prediction history on SQLite and on PostgreSQL: one client's newest rows among 1 000 000, a batch
of 10 000 rows, a single-point write; and, on SQLite, the size of the files under a flood like the one of the security
issue (4 clients, 670 000 rows) with and without `prune`.

Target (privacy issue): `recent(limit=50, client_id=X)` among 1 000 000 rows in at most 20 ms, on both backends, and
the same through the API: `GET /predictions?limit=50` with the client's `X-Client-Id`, answered by a real
`animal-challenge api` process serving that history (so the figure includes HTTP, validation and encoding).

The rows belong to `--clients` clients (1000 rows each by default), written one client's batch at a time, so a
client's rows are spread over the whole table as in a real history. Times are wall-clock medians (and p95) of
repeated calls in this process; on a small shared machine compare runs side by side.

Without `--postgres` the script starts a throwaway PostgreSQL (Debian's, as the tests do, see tests/postgres.py) with
`fsync` on, as a production server has it, and stops it at the end.

    .venv/bin/python bench/history.py [--rows 1000000] [--clients 1000] [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the tests' PostgreSQL helper

import httpx  # noqa: E402

from animal_challenge.bulk import prune  # noqa: E402
from animal_challenge.contract import CLIENT_HEADER  # noqa: E402
from animal_challenge.history import PredictionLog, SQLitePredictionLog  # noqa: E402
from animal_challenge.postgres import open_history  # noqa: E402
from animal_challenge.process import ServerProcess, free_port  # noqa: E402

DOG = {"walks_on_n_legs": 4, "height": 0.6, "weight": 20.0, "has_wings": False, "has_tail": True}
ANSWER = {
    "species": "dog",
    "reasons": [],
    "probabilities": {"chicken": 0.003, "dog": 0.991, "elephant": 0.002, "kangaroo": 0.004},
    "confidence": 0.991,
    "confidence_low": 0.99,
    "confidence_high": 0.992,
    "conformal_set": ["dog"],
}
TARGET_MS = 20.0


def batch(n: int) -> tuple[list[dict], dict[str, list]]:
    "`n` points and the model's answers for them, column by column."
    return [DOG] * n, {c: [v] * n for c, v in ANSWER.items()}


def timed(f: Callable[[], object], runs: int) -> tuple[float, float, float]:
    "Median and 95th percentile of `runs` calls of `f` (wall clock), and the median CPU time of this process, in ms."
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        f()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    wall.sort()
    return statistics.median(wall), wall[min(len(wall) - 1, round(0.95 * len(wall)))], statistics.median(cpu)


def fill(log: PredictionLog, rows: int, clients: int) -> float:
    "Write `rows` rows, one client's batch at a time, the clients in turn; seconds it took."
    per_client = rows // clients
    chunk = min(per_client, 1000)
    points, answers = batch(chunk)
    start = time.perf_counter()
    for _ in range(per_client // chunk):
        for c in range(clients):
            log.record(points, answers, "v1", client_id=f"bench-client-{c:06d}")
    return time.perf_counter() - start


def measure(name: str, log: PredictionLog, rows: int, clients: int) -> None:
    "Fill `log` and print the figures of one backend."
    print(f"\n# {name}: {log.location}")
    few = "bench-client-late"  # 10 rows, all written after the million (ids as the API takes them: 16-64 chars)
    seconds = fill(log, rows, clients)
    log.record(*batch(10), "v1", client_id=few)
    print(f"  filled {log.count():,} rows in {seconds:.1f} s ({log.count() / seconds:,.0f} rows/s in batches of 1000)")
    for label, kwargs in [
        (f"recent(50) of a client with {rows // clients} rows", {"client_id": f"bench-client-{clients // 2:06d}"}),
        ("recent(50) of a client with 10 rows", {"client_id": few}),
        ("recent(50, offset=500) of one client", {"client_id": "bench-client-000001", "offset": 500}),
        ("recent(50, species=dog) of one client", {"client_id": "bench-client-000002", "species": "dog"}),
        ("recent(50), everyone", {"everyone": True}),
    ]:
        got = len(log.recent(limit=50, **kwargs))
        med, p95, cpu = timed(lambda kw=kwargs: log.recent(limit=50, **kw), 200)
        flag = "" if med <= TARGET_MS else f"  ABOVE the {TARGET_MS:g} ms target"
        print(f"  {label:44s} median {med:6.2f} ms  p95 {p95:6.2f} ms  cpu {cpu:5.2f} ms  ({got} rows){flag}")
    med, _, cpu = timed(lambda: log.count(client_id="bench-client-000003"), 20)
    print(f"  {'count() of one client':44s} median {med:6.2f} ms")
    points, answers = batch(10_000)
    med, p95, cpu = timed(lambda: log.record(points, answers, "v2", client_id="bulk"), 10)
    print(
        f"  {'record() of 10 000 rows':44s} median {med:6.1f} ms  p95 {p95:6.1f} ms  cpu {cpu:5.1f} ms"
        f"  = {1e7 / med:,.0f} rows/s"
    )
    one, one_answer = batch(1)
    med, p95, cpu = timed(lambda: log.record(one, one_answer, "v2", client_id="single"), 500)
    print(f"  {'record() of 1 row':44s} median {med * 1e3:6.0f} µs  p95 {p95 * 1e3:6.0f} µs  cpu {cpu * 1e3:4.0f} µs")
    print("  (cpu: this process only; PostgreSQL's own work is in its server processes)")
    through_api(log.url if name == "PostgreSQL" else str(log.path), rows, clients)


def through_api(db: str, rows: int, clients: int) -> None:
    "Time `GET /predictions` of one client, asked of a real API process serving the history at `db`."
    with tempfile.TemporaryDirectory(prefix="bench-history-api-") as data_dir:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        bin_dir = Path(sys.executable).parent
        cmd = [str(bin_dir / "animal-challenge"), "api", "--port", str(port), "--db", db, "--data-dir", data_dir]
        cmd += ["--history-max-rows", str(10 * rows + 10**6)]  # retention must not prune what the bench wrote
        log = Path(data_dir) / "api.log"
        with ServerProcess("API", cmd, f"{url}/health", dict(os.environ), log), httpx.Client(base_url=url) as http:
            for label, client in [
                (f"GET /predictions of a client with {rows // clients} rows", f"bench-client-{clients // 3:06d}"),
                ("GET /predictions of a client with 10 rows", "bench-client-late"),
            ]:
                headers = {CLIENT_HEADER: client}
                answer = http.get("/predictions", params={"limit": 50}, headers=headers)
                answer.raise_for_status()
                got = len(answer.json())
                med, p95, _ = timed(lambda h=headers: http.get("/predictions", params={"limit": 50}, headers=h), 200)
                flag = "" if med <= TARGET_MS else f"  ABOVE the {TARGET_MS:g} ms target"
                print(f"  {label:44s} median {med:6.2f} ms  p95 {p95:6.2f} ms  ({got} rows, over HTTP){flag}")


def flood(folder: Path, rows: int = 670_000, max_rows: int | None = 100_000, prune_every: int = 50_000) -> None:
    "4 clients write `rows` rows in batches of 10 000; with `max_rows`, `prune` runs every `prune_every` rows."
    path = folder / f"flood-{max_rows}.sqlite"
    wal = Path(f"{path}-wal")
    biggest_db = biggest_wal = 0
    points, answers = batch(10_000)
    start = time.perf_counter()
    with SQLitePredictionLog(path) as log:
        for i in range(rows // 10_000):
            log.record(points, answers, "v1", client_id=f"anonymous-{i % 4}")
            if max_rows is not None and (i + 1) * 10_000 % prune_every == 0:
                prune(log, max_rows=max_rows)
            biggest_db, biggest_wal = max(biggest_db, path.stat().st_size), max(biggest_wal, wal.stat().st_size)
        if max_rows is not None:
            prune(log, max_rows=max_rows)
        seconds, kept = time.perf_counter() - start, log.count()
        end_db, end_wal = path.stat().st_size, wal.stat().st_size
    mb = 2**20
    what = f"prune(max_rows={max_rows:,}) every {prune_every:,} rows" if max_rows else "no prune"
    print(f"  {what:44s} {seconds:5.1f} s, {kept:,} rows kept")
    print(
        f"    largest database {biggest_db / mb:6.1f} MB, largest WAL {biggest_wal / mb:6.1f} MB, so both files"
        f" ≤ {(biggest_db + biggest_wal) / mb:.1f} MB; at the end {end_db / mb:.1f} MB + WAL {end_wal / mb:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to fill each history with")
    parser.add_argument("--clients", type=int, default=1000, help="clients the rows belong to")
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database (default: start a server)")
    parser.add_argument("--skip", choices=["sqlite", "postgresql", "flood"], action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        if "sqlite" not in args.skip:
            with open_history(folder / "history.sqlite") as log:
                measure("SQLite", log, args.rows, args.clients)
        if "postgresql" not in args.skip:
            url = args.postgres
            if url is None:
                from postgres import create_database, find_bin, postgres_server

                bin_dir = find_bin()
                if bin_dir is None:
                    sys.exit("PostgreSQL is not installed: apt-get install -y postgresql (or pass --postgres URL)")
                server = stack.enter_context(postgres_server(bin_dir, {"fsync": "on"}))
                url = create_database(server.url)
            with open_history(url) as log:
                measure("PostgreSQL", log, args.rows, args.clients)
        if "flood" not in args.skip:
            print("\n# SQLite under a flood: 670 000 rows from 4 clients in batches of 10 000")
            flood(folder, max_rows=None)
            flood(folder, max_rows=100_000)


if __name__ == "__main__":
    main()
