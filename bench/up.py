"""How long `animal-challenge up` takes from the command to a usable dashboard, and to stop.

Starts `animal-challenge up` in an empty data folder on free ports (so the API trains its first model from the data
service, as on a fresh machine), and prints, from the moment the command starts:

- when each part first answers: the data service's schema, the API's `/health`, the API's `/ready` (a model is
  loaded and every part answers), the dashboard's `voila.js`;
- when the dashboard is usable: a headless Chromium opened at the dashboard shows the Predict button, and a click on
  it comes back with a verdict;
- how long `up` takes to exit after a SIGTERM, and whether any child outlived it.

Each figure is one run's; repeat with `--runs`. Needs Debian's chromium (apt-get install -y chromium).

    .venv/bin/python bench/up.py [--runs 3]
"""

from __future__ import annotations

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # Debian's chromium, as the tests launch it

from servers import launch_chromium  # noqa: E402

from animal_challenge.process import free_port  # noqa: E402

BIN = Path(sys.executable).parent


def answers(url: str, ok=lambda r: r.status_code < 500) -> bool:
    try:
        return ok(httpx.get(url, timeout=2))
    except httpx.TransportError:
        return False


def one_run(timeout: float) -> dict[str, float]:
    "Start `up`, time each part until the dashboard answers a click, stop it; seconds since the start."
    from playwright.sync_api import sync_playwright

    ports = {name: free_port() for name in ("data-service", "api", "dashboard")}
    with tempfile.TemporaryDirectory(prefix="bench-up-") as data_dir:
        cmd = [str(BIN / "animal-challenge"), "up", "--data-dir", data_dir]
        cmd += [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))]
        log = open(Path(data_dir) / "up.log", "wb")  # noqa: SIM115 -- the child writes to it until it exits
        start = time.monotonic()
        up = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        checks = {
            "data service answers": (base["data-service"] + "/api/v1/animals/schema", lambda r: r.status_code < 500),
            "API /health": (base["api"] + "/health", lambda r: r.status_code == 200),
            "API /ready (first model loaded)": (base["api"] + "/ready", lambda r: r.status_code == 200),
            "dashboard answers": (base["dashboard"] + "/voila/static/voila.js", lambda r: r.status_code == 200),
        }
        times: dict[str, float] = {}
        try:
            while len(times) < len(checks):
                if up.poll() is not None:
                    sys.exit(f"up exited with {up.returncode}: {(Path(data_dir) / 'up.log').read_text()[-2000:]}")
                if time.monotonic() - start > timeout:
                    sys.exit(f"not everything answered within {timeout:g} s: {sorted(times)}")
                for name, (url, ok) in checks.items():
                    if name not in times and answers(url, ok):
                        times[name] = time.monotonic() - start
                time.sleep(0.1)
            with sync_playwright() as p:
                browser = launch_chromium(p)
                page = browser.new_page()
                page.set_default_timeout(timeout * 1000)
                page.goto(base["dashboard"] + "/")
                page.locator(".ac-predict").wait_for()
                times["Predict button shown"] = time.monotonic() - start
                page.locator(".ac-predict").click()
                page.locator(".ac-result .ac-species").wait_for()  # a species or the rejection, as the page words it
                times["first verdict in the page (usable)"] = time.monotonic() - start
                browser.close()
        finally:
            children = psutil.Process(up.pid).children(recursive=True) if up.poll() is None else []
            stop = time.monotonic()
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait()
            times["stop: up exited after SIGTERM"] = time.monotonic() - stop
            gone, alive = psutil.wait_procs(children, timeout=0)
            times["children left running"] = float(len(alive))
            for child in alive:
                child.kill()
            log.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="how many times to start and stop `up`")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a run may take to be usable")
    args = parser.parse_args()
    runs = [one_run(args.timeout) for _ in range(args.runs)]
    print(
        f"# animal-challenge up, {args.runs} run(s), seconds from the command (load average {os.getloadavg()[0]:.1f})"
    )
    for name in runs[0]:
        values = [r[name] for r in runs]
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:40s} median {statistics.median(values):6.1f}   ({shown})")


if __name__ == "__main__":
    main()
