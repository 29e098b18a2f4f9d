"""How wide the bootstrap interval of the top probability is: fresh animals of the data service against points near a
boundary between the groups (creatures of a known anatomy at any size, where the classifier itself hesitates).

The model is the one a fresh installation trains (seed 42, 10 000 points), labeled as training labels them.

    .venv/bin/python bench/interval.py [--train-n 10000] [--n 20000]
"""

import argparse

import numpy as np
import pandas as pd
from animal_data_service.generator import generate

from animal_challenge.labeling import label_points
from animal_challenge.model import interval_widths, size_sweep, train_model
from animal_challenge.schema import OUTLIER, points_frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-n", type=int, default=10_000, help="points to train on (seed 42)")
    ap.add_argument("--n", type=int, default=20_000, help="fresh points (seed 1), and sweep points per anatomy")
    args = ap.parse_args()

    table = label_points(pd.DataFrame(generate(seed=42, n=args.train_n)))
    model = train_model(points_frame(table.to_dict("records")), table.label)
    fresh = interval_widths(model, points_frame(generate(seed=1, n=args.n)))
    sweep = interval_widths(model, size_sweep(args.n, np.random.default_rng(1)))
    groups = {
        "fresh animals (accepted)": fresh[fresh.species != OUTLIER],
        "near a boundary (top p < 99 %)": sweep[sweep.probability < 0.99],
        "sweep points accepted as animals": sweep[sweep.species != OUTLIER],
    }
    print(f"# interval width in percentage points, model trained on {args.train_n} points (seed 42)")
    print(f"{'':34s} {'points':>7s} {'median':>8s} {'p95':>8s} {'p99':>8s} {'max':>8s} {'kept as animal':>15s}")
    for name, g in groups.items():
        w = 100 * g.width
        q = [w.quantile(x) for x in (0.5, 0.95, 0.99)]
        kept = (g.species != OUTLIER).mean()
        print(f"{name:34s} {len(g):7d} {q[0]:8.4f} {q[1]:8.4f} {q[2]:8.4f} {w.max():8.4f} {kept:15.2%}")
    print(f"median top probability of the fresh animals: {fresh.probability[fresh.species != OUTLIER].median():.4%}")


if __name__ == "__main__":
    main()
