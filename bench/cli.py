"""How long the `animal-challenge` console script takes to answer a question that needs no work.

Target (issue 14): `--help` and `--version` in at most 0.5 s. Each command line runs `--runs` times in a fresh
process; the figure is the median wall time (the machine is shared, so the median, not the mean), with the fastest
and slowest run, and a bare `python -c pass` for scale (the interpreter's own start-up).

    .venv/bin/python bench/cli.py [--runs 11] [--cli PATH]   (PATH: another checkout's console script, to compare)
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLI = str(Path(sys.executable).parent / "animal-challenge")
ARGUMENTS = [["--help"], ["--version"], ["predict", "--help"], ["api", "--help"]]


def wall_times(cmd: list[str], runs: int) -> list[float] | None:
    "Seconds each of `runs` runs of `cmd` took, start to exit; None if it fails (e.g. an older CLI lacks a command)."
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            return None
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11, help="runs per command line (default 11)")
    ap.add_argument("--cli", default=CLI, help=f"the console script to time (default {CLI})")
    args = ap.parse_args()
    commands = {"python -c pass": [sys.executable, "-c", "pass"]}
    commands |= {" ".join(["animal-challenge", *a]): [args.cli, *a] for a in ARGUMENTS}
    print(f"{args.cli}\n{'command':34} {'median':>8} {'min':>8} {'max':>8}  ({args.runs} runs)")
    for name, cmd in commands.items():
        if (t := wall_times(cmd, args.runs)) is None:
            print(f"{name:34} fails")
            continue
        print(f"{name:34} {statistics.median(t):7.3f}s {min(t):7.3f}s {max(t):7.3f}s")


if __name__ == "__main__":
    main()
