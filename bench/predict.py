"""Prediction speed of a trained AnimalModel: one point in process (both paths) and batches.

Targets (issue 3): < 1 ms for one point, >= 100 000 points/s in batches (`predict_columns`, the API's batch path).

    .venv/bin/python bench/predict.py [--train-n 20000] [--batch 100000]
"""

import argparse
import os
import statistics
import time

import pandas as pd
from animal_data_service.generator import generate

from animal_challenge.labeling import label_points
from animal_challenge.model import train_model
from animal_challenge.schema import points_frame


def timed(fn, repeat: int, clock=time.perf_counter) -> list[float]:
    "Seconds per call of `fn`, `repeat` times, on `clock` (wall time by default)."
    out = []
    for _ in range(repeat):
        start = clock()
        fn()
        out.append(clock() - start)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-n", type=int, default=20_000, help="points to train on")
    ap.add_argument("--batch", type=int, default=100_000, help="points per batch")
    args = ap.parse_args()

    table = label_points(pd.DataFrame(generate(0, args.train_n)))
    model = train_model(points_frame(table.to_dict("records")), table.label)
    batch = points_frame(generate(1, args.batch))  # the service's mix: ~5 % noise
    records = batch.iloc[:2000].to_dict("records")
    one_df = batch.iloc[:1]

    model.predict_one(records[0])  # warm up
    per = timed(lambda: [model.predict_one(r) for r in records], 3)
    one_ms = min(per) / len(records) * 1000
    df_ms = statistics.median(timed(lambda: model.predict(one_df), 200)) * 1000
    batch_s = min(timed(lambda: model.predict_columns(batch), 3))  # the API's batch path
    batch_cpu = min(timed(lambda: model.predict_columns(batch), 3, time.process_time))
    print(f"predict_one (dict in, dict out): {one_ms:.3f} ms per point (target < 1 ms)")
    print(f"predict on a 1-row DataFrame:    {df_ms:.3f} ms per call")
    rate = args.batch / batch_s
    print(f"predict_columns on {args.batch} points: {batch_s:.3f} s = {rate:,.0f} points/s (target >= 100,000)")
    print(f"  the same in CPU time:            {batch_cpu:.3f} s = {args.batch / batch_cpu:,.0f} points/s per core")
    if hasattr(model, "nearest"):  # explanations with the nearest training points, which the API's batch leaves out
        near_cpu = min(timed(lambda: model.predict_columns(batch, k=3), 3, time.process_time))
        print(f"  with 3 nearest points each:      {near_cpu:.3f} s CPU = {args.batch / near_cpu:,.0f} points/s")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: other work slows wall-clock figures)")


if __name__ == "__main__":
    main()
