"""The issue's machine-learning figures, measured against the labeled replay of the data service.

    .venv/bin/python bench/ml_quality.py            # everything (a few minutes)
    .venv/bin/python bench/ml_quality.py --quick    # fewer seeds

Prints: outlier precision/recall (seeds 0-49 x n=1000, and one n=100 000), label accuracy on kept real points,
the same on shifted specs (ranges moved up to +-30 %, 20 % noise, unbalanced), conformal coverage on held-out data,
held-out noise rejection and false rejection of held-out real points at predict time.
"""

import argparse
import time

import numpy as np
import pandas as pd
from animal_data_service.generator import generate, shifted_spec

from animal_challenge.labeling import label_animals, label_points
from animal_challenge.model import train_model
from animal_challenge.outliers import find_outliers
from animal_challenge.schema import OUTLIER, points_frame


def labeled(seed: int, n: int, spec=None) -> tuple[pd.DataFrame, pd.Series]:
    rows = generate(seed, n, labeled=True, **({"spec": spec} if spec else {}))
    pts = points_frame(rows)
    return pts, pd.Series([r["label"] for r in rows], index=pts.index)


class Tally:
    "Outlier confusion counts and kept-point label accuracy over several runs."

    def __init__(self):
        self.tp = self.fp = self.fn = self.kept_real = self.kept_right = self.noise_in_box = 0

    def add(self, pts: pd.DataFrame, truth: pd.Series) -> None:
        flagged, noise = find_outliers(pts).is_outlier, truth == "noise"
        self.tp += int((flagged & noise).sum())
        self.fp += int((flagged & ~noise).sum())
        self.fn += int((~flagged & noise).sum())
        clean = pts[~flagged]
        labels = label_animals(clean)
        real = truth[clean.index] != "noise"
        self.kept_real += int(real.sum())
        self.kept_right += int((labels[real] == truth[clean.index][real]).sum())

    def line(self, name: str) -> str:
        p = self.tp / max(self.tp + self.fp, 1)
        r = self.tp / max(self.tp + self.fn, 1)
        acc = self.kept_right / max(self.kept_real, 1)
        return (
            f"{name}: outlier precision {p:.5f} ({self.fp} animals flagged), recall {r:.5f} "
            f"({self.fn} of {self.tp + self.fn} noise kept); labels on kept real points {acc:.5f} "
            f"({self.kept_real - self.kept_right} wrong of {self.kept_real})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 seeds and 10 shifted specs instead of 50 and 50")
    args = ap.parse_args()
    seeds = range(10 if args.quick else 50)
    start = time.perf_counter()

    t = Tally()
    for s in seeds:
        t.add(*labeled(s, 1000))
    print(t.line(f"contract data, seeds 0-{seeds[-1]} x n=1000"))
    big = Tally()
    big.add(*labeled(123, 100_000))
    print(big.line("contract data, seed 123, n=100000"))
    both = Tally()
    for k in ("tp", "fp", "fn", "kept_real", "kept_right"):
        setattr(both, k, getattr(t, k) + getattr(big, k))
    print(both.line("contract data, all of the above"))

    sh = Tally()
    for s in seeds:
        sh.add(*labeled(s, 3000, shifted_spec(s)))
    print(sh.line(f"shifted specs 0-{seeds[-1]} (+-30 %, 20 % noise, unbalanced) x n=3000"))
    small, specs = Tally(), range(50, 60 if args.quick else 150)
    for s in specs:
        small.add(*labeled(s, 1000, shifted_spec(s)))
    print(small.line(f"shifted specs {specs[0]}-{specs[-1]} x n=1000 (a rare species may have 30-90 points)"))
    sh_big = Tally()
    sh_big.add(*labeled(7, 100_000, shifted_spec(1007)))
    print(sh_big.line("shifted spec 1007, n=100000"))

    for name, train_spec in [("contract", None), ("shifted spec 5", shifted_spec(5))]:
        table = label_points(pd.DataFrame(generate(0, 20_000, **({"spec": train_spec} if train_spec else {}))))
        model = train_model(points_frame(table.to_dict("records")), table.label)
        pts, truth = labeled(1000, 100_000, train_spec)
        pred = model.predict(pts)
        noise = truth == "noise"
        covered = np.mean([t in s for t, s in zip(truth[~noise], pred.conformal_set[~noise], strict=True)])
        m = model.metrics
        print(
            f"model trained on {name} data (n=20000, labels discovered), held-out seed 1000 n=100000: "
            f"noise answered outlier {(pred.species[noise] == OUTLIER).mean():.4f} of {noise.sum()}, "
            f"real points rejected {(pred.species[~noise] == OUTLIER).mean():.5f} of {(~noise).sum()}, "
            f"conformal coverage {covered:.4f} at level {m['conformal_level']} "
            f"(in-model test split {m['conformal_coverage']:.4f}), accuracy {m['accuracy']:.4f}, "
            f"CV {np.round(m['cv_accuracy'], 4).tolist()}"
        )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
