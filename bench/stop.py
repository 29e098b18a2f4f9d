"""How long the dashboard, and `animal-challenge up` as a whole, take to stop on SIGTERM, and what they leave behind.

1. **dashboard**: Voila started as `animal-challenge dashboard` does (`voila_command`, `dashboard_env`), its pool of
   preheated kernels full and `--pages` pages open (each holds a kernel of its own); then SIGTERM to its process group,
   as `up` and `ServerProcess.stop` send it. Prints the seconds until Voila exits and until every process that was
   under it (the kernels) is gone, and how many were still alive when Voila had exited.
2. **up**: `animal-challenge up` with the data service, the API (which trains a first model) and the dashboard on
   free ports, once it printed `ready:`; then SIGTERM to `up` alone, as a terminal's Ctrl-C or a container stop would.
   Prints the seconds until `up` exits and until all of its descendants are gone (the target of issue 12: 3 s).

    .venv/bin/python bench/stop.py [--runs 3] [--pages 2] [--skip-up]
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from animal_challenge.config import Settings
from animal_challenge.dashboard_server import POOL_SIZE, dashboard_env, voila_command
from animal_challenge.process import ServerProcess, free_port

BIN = Path(sys.executable).parent
TARGET_S = 3.0  # issue 12: `up` stops all its children within 3 s


def wait_for_line(log: Path, text: str, count: int = 1, timeout: float = 120) -> None:
    "Wait until `log` holds `text` at least `count` times."
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count(text) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{text!r} never appeared {count} times in {log}")
        time.sleep(0.1)


def stopped(root: psutil.Process, signal_to: int) -> tuple[float, float, int]:
    "Send SIGTERM to `signal_to` (a pid, or a process group if negative); seconds to `root`'s exit, to all gone, left."
    family = [root, *root.children(recursive=True)]
    start = time.monotonic()
    os.killpg(-signal_to, signal.SIGTERM) if signal_to < 0 else os.kill(signal_to, signal.SIGTERM)
    root.wait(60)
    root_s = time.monotonic() - start
    left = sum(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family[1:])
    _, alive = psutil.wait_procs(family[1:], timeout=60)
    all_s = time.monotonic() - start
    for p in alive:  # never leave a kernel behind, even if the server did
        p.kill()
    return root_s, all_s, left


def dashboard_once(folder: Path, pages: int) -> tuple[float, float, int, int]:
    "Start the dashboard, fill its pool, open `pages` pages, stop it: (exit s, all gone s, left, kernels)."
    port = free_port()
    settings = Settings(api_url="http://127.0.0.1:9")  # no API: the pages' kernels run, and stop, just the same
    log = folder / f"voila-{port}.log"
    url = f"http://127.0.0.1:{port}/"
    server = ServerProcess(
        "dashboard", voila_command(settings, port), url + "voila/static/voila.js", dashboard_env(settings), log
    ).start()
    try:
        server.wait_ready(120)
        wait_for_line(log, "Kernel pool of dashboard.ipynb is filled")
        for _ in range(pages):
            httpx.get(url, timeout=120)
        wait_for_line(log, "Kernel pool of dashboard.ipynb is filled", 1 + pages)
        root = psutil.Process(server.proc.pid)
        kernels = len(root.children())
        exit_s, all_s, left = stopped(root, -server.proc.pid)
    finally:
        server.stop(grace=30)  # a no-op once it stopped; else it failed to start or the bench was interrupted
    return exit_s, all_s, left, kernels


def up_once(folder: Path) -> tuple[float, float, int, int]:
    "Run `animal-challenge up` on free ports until ready, then SIGTERM it: (exit s, all gone s, left, processes)."
    ports = [str(free_port()) for _ in range(3)]
    cmd = [
        str(BIN / "animal-challenge"),
        "up",
        "--data-dir",
        str(folder / f"up-{ports[0]}"),
        "--data-service-port",
        ports[0],
        "--api-port",
        ports[1],
        "--dashboard-port",
        ports[2],
    ]
    log = folder / f"up-{ports[0]}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_line(log, "press Ctrl-C to stop", timeout=600)
        root = psutil.Process(proc.pid)
        processes = len(root.children(recursive=True))
        exit_s, all_s, left = stopped(root, proc.pid)
    finally:
        if proc.poll() is None:  # it failed to start, or the bench was interrupted: `up` stops what it started
            proc.terminate()
            proc.wait(60)
    return exit_s, all_s, left, processes


def report(name: str, runs: list[tuple[float, float, int, int]], what: str) -> None:
    exits, alls = [r[0] for r in runs], [r[1] for r in runs]
    print(
        f"{name}: exit after SIGTERM median {statistics.median(exits):.2f} s ({min(exits):.2f} to {max(exits):.2f}); "
        f"every process gone median {statistics.median(alls):.2f} s (max {max(alls):.2f}); "
        f"still alive when it exited: {[r[2] for r in runs]}; {what}: {[r[3] for r in runs]}; target {TARGET_S} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", type=int, default=2, help="pages open when the dashboard is stopped")
    parser.add_argument("--skip-up", action="store_true", help="measure the dashboard alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = [dashboard_once(folder, args.pages) for _ in range(args.runs)]
        report(f"dashboard (pool {POOL_SIZE}, {args.pages} pages open)", runs, "kernels under it")
        if not args.skip_up:
            runs = [up_once(folder) for _ in range(args.runs)]
            report("animal-challenge up", runs, "processes under it")


if __name__ == "__main__":
    main()
