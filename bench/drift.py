"""Drift statistics: how often in-distribution traffic raises a false alarm, how often shifted traffic is caught
within one window, and how long a report takes.

    .venv/bin/python bench/drift.py               # the chapter's table (about 5 minutes on 2 cores)
    .venv/bin/python bench/drift.py --quick       # a tenth of the windows
    .venv/bin/python bench/drift.py --part sizes  # one part: calibrate, measure, sizes or timing

The set-up is the system's: models trained by `train_model` on 10 000 points of the data service's generator (seeds
1-6), each with its training sample as the dashboard draws it (`label_points` on the first 2 000 of its points), and
windows of predictions made by that model on points from other seeds. In-distribution windows come from the
contract's process (`DEFAULT_SPEC`, the training data's class mix); shifted ones from a changed `GenerationSpec`
(wider or moved ranges, more noise, another class mix, or a `shifted_spec` re-tune); the data service is unchanged.
The thresholds are chosen from the calibration windows (seeds 100 000+); the figures are measured on other seeds
(200 000+ in-distribution, 300 000+ shifted), so no window is both.
"""

import argparse
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import msgspec
import numpy as np
import pandas as pd
from animal_data_service.generator import DEFAULT_SPEC, GenerationSpec, iter_point_batches, shifted_spec

from animal_challenge.drift import DEFAULT_THRESHOLDS, DriftThresholds, drift_report
from animal_challenge.labeling import label_points
from animal_challenge.model import AnimalModel, train_model
from animal_challenge.schema import FEATURES, Species, validate_points

TRAIN_SEEDS = (1, 2, 3, 4, 5, 6)  # one model per seed
TRAIN_N, SAMPLE_N = 10_000, 2_000  # training points (the CLI's default) and the stored sample
WINDOW = 500  # the default window
CHECKS = ("walks_on_n_legs", "height", "weight", "has_wings", "has_tail", "outliers", "mix")


def points(seed: int, n: int, spec: GenerationSpec = DEFAULT_SPEC) -> pd.DataFrame:
    "`n` points of the generator's stream `seed`, as a feature frame."
    cols = {f: [] for f in FEATURES}
    for batch in iter_point_batches(seed, n, spec):
        for f in FEATURES:
            cols[f].append(getattr(batch, f))
    return pd.DataFrame({f: np.concatenate(v) for f, v in cols.items()})


def scaled(h: float, w: float) -> GenerationSpec:
    "Every species' height range times `h`, weight range times `w`."
    animals = tuple(
        replace(a, height=(a.height[0] * h, a.height[1] * h), weight=(a.weight[0] * w, a.weight[1] * w))
        for a in DEFAULT_SPEC.animals
    )
    return replace(DEFAULT_SPEC, animals=animals)


def wider(f: float) -> GenerationSpec:
    "Every species' ranges widened: low bounds times `1 - f`, high bounds times `1 + f`."
    animals = tuple(
        replace(
            a,
            height=(a.height[0] * (1 - f), a.height[1] * (1 + f)),
            weight=(a.weight[0] * (1 - f), a.weight[1] * (1 + f)),
        )
        for a in DEFAULT_SPEC.animals
    )
    return replace(DEFAULT_SPEC, animals=animals)


def one_scaled(species: str, h: float) -> GenerationSpec:
    "Only `species`' height range times `h`."
    animals = tuple(
        replace(a, height=(a.height[0] * h, a.height[1] * h)) if a.name == species else a for a in DEFAULT_SPEC.animals
    )
    return replace(DEFAULT_SPEC, animals=animals)


def rare(species: str, share: float) -> GenerationSpec:
    "`species` is `share` of the animals, the others share the rest equally."
    others = len(DEFAULT_SPEC.animals) - 1
    weights = tuple(share if a.name == species else (1 - share) / others for a in DEFAULT_SPEC.animals)
    return replace(DEFAULT_SPEC, class_weights=weights)


NAMES = [str(s) for s in Species]
SHIFTS: dict[str, Callable[[int], GenerationSpec]] = {  # name: window number -> the spec its points come from
    "heights and weights x1.3": lambda i: scaled(1.3, 1.3),
    "heights and weights x0.7": lambda i: scaled(0.7, 0.7),
    "heights only x1.3": lambda i: scaled(1.3, 1.0),
    "weights only x0.7": lambda i: scaled(1.0, 0.7),
    "ranges 30 % wider": lambda i: wider(0.3),
    "noise 15 %": lambda i: replace(DEFAULT_SPEC, noise_share=0.15),
    "noise 20 %": lambda i: replace(DEFAULT_SPEC, noise_share=0.20),
    "one species at 5 % (each in turn)": lambda i: rare(NAMES[i % 4], 0.05),
    "re-tuned service (shifted_spec)": lambda i: shifted_spec(i),
    # smaller changes: where detection within one window ends
    "noise 10 %": lambda i: replace(DEFAULT_SPEC, noise_share=0.10),
    "one species at 15 %": lambda i: rare(NAMES[i % 4], 0.15),
    "ranges 10 % wider": lambda i: wider(0.1),
    "one species' heights x1.1": lambda i: one_scaled(NAMES[i % 4], 1.1),
}


@dataclass
class Trained:
    "A model with its training sample."

    model: AnimalModel
    sample: pd.DataFrame  # as the dashboard draws it: label_points on the first SAMPLE_N training points
    relabeled: pd.DataFrame  # the same points labelled by the model itself


def train(seed: int) -> Trained:
    pts = points(seed, TRAIN_N)
    labeled = label_points(pts)
    model = train_model(validate_points(labeled), labeled.label, random_state=seed)
    sample = label_points(pts.iloc[:SAMPLE_N])[[*FEATURES, "label"]]
    own = model.predict_columns(sample)["species"]
    return Trained(model, sample, sample.assign(label=own))


def windows(model: AnimalModel, first_seed: int, count: int, size: int, spec: Callable[[int], GenerationSpec]):
    "`count` windows of `size` predictions, window `i` from seed `first_seed + i` and spec `spec(i)`."
    frames = [points(first_seed + i, size, spec(i)) for i in range(count)]
    every = pd.concat(frames, ignore_index=True)
    every["species"] = model.predict_columns(every)["species"]
    return [every.iloc[i * size : (i + 1) * size] for i in range(count)]


def standardized(report) -> dict[str, float]:
    "Each check's statistic in the unit its threshold is set in (KS: D / √(1/n_eff + 1/m); the rest: |z|)."
    out = {}
    for fd in report.features:
        out[fd.feature] = fd.value / (fd.threshold / report.thresholds.ks) if fd.statistic == "ks" else fd.value
    out["outliers"] = abs(report.outlier_z)
    out["mix"] = max(map(abs, report.species_mix_z.values()), default=0.0)
    return out


def limit(th: DriftThresholds, check: str) -> float:
    return {"outliers": th.z_outliers, "mix": th.z_mix, "height": th.ks, "weight": th.ks}.get(check, th.z_counts)


@dataclass
class Tally:
    "Verdicts over many windows."

    flagged: int = 0
    windows: int = 0
    fired: Counter = field(default_factory=Counter)  # windows in which each check fired
    stats: list = field(default_factory=list)  # standardized statistics of every window
    verdicts: list = field(default_factory=list)  # whether each window was flagged

    def add(self, report) -> None:
        s = standardized(report)
        self.windows += 1
        self.flagged += report.drift
        self.fired.update(c for c in CHECKS if report.drift and s[c] > limit(report.thresholds, c))
        self.stats.append(s)
        self.verdicts.append(report.drift)

    def line(self, name: str) -> str:
        return f"{name:42s} {ci(self.flagged, self.windows)}  {dict(self.fired.most_common(3))}"


def judge(trained: list[Trained], first_seed: int, count: int, size: int, spec, relabeled=False, th=DEFAULT_THRESHOLDS):
    "Judge `count` windows per model against its sample as drawn (and, if `relabeled`, as the model labels it)."
    drawn, own = Tally(), Tally()
    for k, t in enumerate(trained):
        for w in windows(t.model, first_seed + k * 10_000, count, size, spec):
            drawn.add(drift_report(t.sample, w, th))
            if relabeled:
                own.add(drift_report(t.relabeled, w, th))
    return drawn, own


def ci(k: int, n: int) -> str:
    "Share `k / n` with its 95 % Wilson interval."
    p, z = k / n, 1.96
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{k:4d}/{n:<5d} {100 * p:5.1f} % [{100 * max(mid - half, 0):.1f}-{100 * min(mid + half, 1):.1f}]"


def in_distribution(i: int) -> GenerationSpec:
    "The contract's process, the training data's, for every window."
    return DEFAULT_SPEC


REQUIRED = (
    "heights and weights x1.3",
    "heights and weights x0.7",
    "ranges 30 % wider",
    "noise 15 %",
    "one species at 5 % (each in turn)",
)  # what the issue asks to catch within one window


def calibrate(trained: list[Trained], scale: int) -> None:
    "The null quantiles the thresholds are chosen from."
    calibration = judge(trained, 100_000, 500 // scale, WINDOW, in_distribution)[0]
    print(
        f"\ncalibration (seeds 100 000+): {calibration.windows} in-distribution windows of {WINDOW}; "
        "quantiles of each check's statistic in its threshold's unit"
    )
    stats = pd.DataFrame(calibration.stats)
    print(stats.quantile([0.5, 0.99, 0.995, 0.999, 1.0]).round(2).to_string())
    over = pd.DataFrame({c: stats[c] > limit(DEFAULT_THRESHOLDS, c) for c in CHECKS})
    print(f"over the default thresholds: {over.sum().to_dict()}; windows with any: {int(over.any(axis=1).sum())}")


def measure(trained: list[Trained], scale: int) -> None:
    "False alarms and detection with the default thresholds and window, on seeds the calibration did not see."
    drawn, relabeled = judge(trained, 200_000, 250 // scale, WINDOW, in_distribution, relabeled=True)
    print(f"\nwindow {WINDOW}, held-out seeds: windows flagged [95 % CI], checks that fired most")
    print(drawn.line("in-distribution (false alarms)"))
    print(relabeled.line("  same, sample labelled by the model"))
    per = len(drawn.stats) // len(trained)
    flags = [sum(drawn.verdicts[k * per : (k + 1) * per]) for k in range(len(trained))]
    print(f"{'  false alarms per model':42s} {flags} of {per} each")
    for name, spec in SHIFTS.items():
        print(judge(trained, 300_000, 30 // scale, WINDOW, spec)[0].line(name))


def window_sizes(trained: list[Trained], scale: int) -> None:
    "What windows of other sizes would flag if every size got a verdict: what `min_window` is chosen from."
    th = msgspec.structs.replace(DEFAULT_THRESHOLDS, min_window=1)
    print("\nwindow sizes, every window judged (min_window=1; the thresholds scale with the sizes): windows flagged")
    print(f"{'window':>6s} {'in-distribution':>16s} " + " ".join(f"{n[:22]:>22s}" for n in REQUIRED))
    for size in (50, 100, 200, 250, 300, 400, 1000):
        count = max(2, 50_000 // size // scale // len(trained))
        row = [judge(trained, 400_000 + size, count, size, in_distribution, th=th)[0]]
        row += [judge(trained, 500_000 + size, max(2, count // 4), size, SHIFTS[n], th=th)[0] for n in REQUIRED]
        cells = [f"{100 * t.flagged / t.windows:5.1f} % of {t.windows:<4d}" for t in row]
        print(f"{size:6d} {cells[0]:>16s} " + " ".join(f"{c:>22s}" for c in cells[1:]))


def timing(trained: list[Trained]) -> None:
    "Wall and CPU time of one report over 10 000 recent predictions."
    sample = trained[0].sample
    recent = windows(trained[0].model, 600_000, 1, 10_000, in_distribution)[0]
    wall, cpu = [], []
    for _ in range(20):
        t, c = time.perf_counter(), time.process_time()
        drift_report(sample, recent)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(
        f"\ndrift_report of 10 000 recent predictions against a sample of {len(sample)}, 20 runs: "
        f"median {1000 * np.median(wall):.1f} ms (max {1000 * max(wall):.1f} ms), CPU {1000 * np.median(cpu):.1f} ms"
    )


PARTS = ("calibrate", "measure", "sizes", "timing")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the windows")
    ap.add_argument("--part", choices=PARTS, action="append", help="run only this part (repeatable)")
    args = ap.parse_args()
    scale, parts = 10 if args.quick else 1, args.part or PARTS
    print(f"thresholds: {msgspec.structs.asdict(DEFAULT_THRESHOLDS)}")
    t0 = time.perf_counter()
    trained = [train(s) for s in TRAIN_SEEDS]
    shares = ", ".join(f"{(t.sample.label == 'outlier').mean():.1%}" for t in trained)
    print(
        f"trained {len(trained)} models on {TRAIN_N} points in {time.perf_counter() - t0:.0f} s; "
        f"outliers in their samples: {shares}"
    )
    if "calibrate" in parts:
        calibrate(trained, scale)
    if "measure" in parts:
        measure(trained, scale)
    if "sizes" in parts:
        window_sizes(trained, scale)
    if "timing" in parts:
        timing(trained)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
