"""End-to-end training time and peak memory: fetch from the real data service, clean, label, fit, store.

    .venv/bin/python bench/train.py [--sizes 100000 1000000]

Each size runs in a fresh Python process (so its peak RSS is its own) against a data service started as a separate
process, with a temporary local model store. Targets (issue 3): n = 100 000 in <= 30 s; n = 1 000 000 in <= 5 min
and <= 4 GB.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import data_service  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from animal_challenge.config import Settings
from animal_challenge.training import train_and_store

url, n, store = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stages, start = {}, time.perf_counter()
def progress(stage, fraction):
    stages[stage] = round(time.perf_counter() - start, 2)
version = train_and_store(42, n, Settings(data_service_url=url, store=store), progress=progress)
print(json.dumps({
    "seconds": round(time.perf_counter() - start, 2),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "stages": stages,
    "accuracy": version.metrics["accuracy"],
    "outliers": version.provenance.n_outliers,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    print(f"{'n':>10} {'seconds':>8} {'peak RSS':>9}  target       stages (cumulative seconds)")
    with data_service() as url:
        for n in args.sizes:
            with tempfile.TemporaryDirectory() as store:
                r = subprocess.run([sys.executable, "-c", CHILD, url, str(n), store], capture_output=True, text=True)
            if r.returncode:
                print(r.stderr[-2000:])
                raise SystemExit(r.returncode)
            res = json.loads(r.stdout.strip().splitlines()[-1])
            target = "<= 30 s" if n <= 100_000 else "<= 300 s, 4 GB"
            print(f"{n:>10} {res['seconds']:>8} {res['peak_rss_mb']:>6} MB  {target:12} {res['stages']}")


if __name__ == "__main__":
    main()
