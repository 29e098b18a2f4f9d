"""Why the API's answers are msgspec structs: the cost of building and encoding one batch answer of 10 000
predictions as msgspec structs (the contract's `Prediction`), as plain dicts, and as pydantic models with the same
fields (what a pydantic answer type would cost), on this machine.

    .venv/bin/python bench/contract.py [--n 10000] [--repeat 7]
"""

import argparse
import time
from itertools import repeat

import msgspec
from pydantic import BaseModel, TypeAdapter

from animal_challenge.contract import BatchPrediction, Prediction
from animal_challenge.schema import OUTPUTS


class PydanticPrediction(BaseModel):
    "`Prediction`'s fields as a pydantic model."

    species: str
    reasons: list[str]
    probabilities: dict[str, float]
    confidence: float | None
    confidence_low: float | None
    confidence_high: float | None
    conformal_set: list[str]
    explanation: dict | None
    id: int
    model_version: str


def columns(n: int) -> dict[str, list]:
    "A model's answer for `n` points, column by column, as `predict_columns` gives it."
    probabilities = {"dog": 0.99, "kangaroo": 0.006, "chicken": 0.003, "elephant": 0.001}
    return {
        "species": ["dog"] * n,
        "reasons": [[]] * n,
        "probabilities": [dict(probabilities) for _ in range(n)],
        "confidence": [0.99] * n,
        "confidence_low": [0.98] * n,
        "confidence_high": [0.995] * n,
        "conformal_set": [["dog"]] * n,
        "explanation": [{"rule": "size", "group": "dog", "decided_by": "inside the dog size range", "nearest": []}] * n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="predictions in the batch")
    ap.add_argument("--repeat", type=int, default=7, help="runs of each; the best is printed")
    args = ap.parse_args()
    n, cols = args.n, columns(args.n)
    ids = list(range(1, n + 1))
    encoder, names = msgspec.json.Encoder(), [*OUTPUTS, "id", "model_version"]
    adapter = TypeAdapter(list[PydanticPrediction])

    def structs() -> bytes:
        predictions = list(map(Prediction, *(cols[c] for c in OUTPUTS), ids, repeat("v", n)))
        return encoder.encode(BatchPrediction("v", predictions))

    def dicts() -> bytes:
        rows = [
            dict(zip(names, row, strict=True))
            for row in zip(*(cols[c] for c in OUTPUTS), ids, repeat("v", n), strict=False)
        ]
        return encoder.encode({"model_version": "v", "predictions": rows})

    def pydantic() -> bytes:
        rows = zip(*(cols[c] for c in OUTPUTS), ids, repeat("v", n), strict=False)
        return adapter.dump_json([PydanticPrediction.model_construct(**dict(zip(names, r, strict=True))) for r in rows])

    print(f"one batch answer of {n} predictions, built and encoded (best of {args.repeat}):")
    for name, build in [("msgspec structs", structs), ("plain dicts", dicts), ("pydantic models", pydantic)]:
        best = min(_time(build) for _ in range(args.repeat))
        print(f"  {name:16} {best * 1000:6.1f} ms")


def _time(build) -> float:
    start = time.perf_counter()
    build()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
