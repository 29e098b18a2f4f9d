"""The model against held-out data of the service's process: rejection, coverage, skops round trip, fast path."""

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from animal_data_service.generator import generate, shifted_spec

from animal_challenge.labeling import label_points
from animal_challenge.model import TRUSTED_TYPES, AnimalModel, train_model
from animal_challenge.schema import OUTLIER, points_frame


def trained(seed: int, n: int, spec=None, **kw) -> AnimalModel:
    "A model trained the way the CLI does it: discovered labels, not the generator's."
    table = label_points(pd.DataFrame(generate(seed, n, **({"spec": spec} if spec else {}))))
    return train_model(points_frame(table.to_dict("records")), table.label, **kw)


def held_out(seed: int, n: int, spec=None) -> tuple[pd.DataFrame, pd.Series]:
    rows = generate(seed, n, labeled=True, **({"spec": spec} if spec else {}))
    pts = points_frame(rows)
    return pts, pd.Series([r["label"] for r in rows], index=pts.index)


@pytest.fixture(scope="module")
def model() -> AnimalModel:
    return trained(0, 20_000)


@pytest.fixture(scope="module")
def fresh() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    pts, truth = held_out(1000, 60_000)
    return pts, truth


def test_held_out_noise_rejected_and_animals_kept(model, fresh):
    pts, truth = fresh
    pred = model.predict(pts, k=0)
    noise = truth == "noise"
    assert (pred.species[noise] == OUTLIER).mean() >= 0.99
    assert (pred.species[~noise] == OUTLIER).mean() <= 0.001
    kept = ~noise & (pred.species != OUTLIER)
    assert (pred.species[kept] == truth[kept]).mean() == 1.0
    rejected = pred.species == OUTLIER
    assert all(r for r in pred.reasons[rejected])  # every outlier says why
    assert ((pred.confidence_low <= pred.confidence) & (pred.confidence <= pred.confidence_high))[~rejected].all()
    assert not any(pred.reasons[~rejected])
    # one verdict: an outlier carries no probability, only its reasons and what decided
    assert pred[["confidence", "confidence_low", "confidence_high"]][rejected].isna().all().all()
    assert (pred.probabilities[rejected].map(len) == 0).all()
    assert {e["rule"] for e in pred.explanation[rejected]} <= {"legs", "wings", "tail", "flags", "size"}
    assert all(e["decided_by"].startswith("inside the ") for e in pred.explanation[~rejected])


def test_conformal_coverage_within_two_points(model, fresh):
    pts, truth = fresh
    real = truth != "noise"
    pred = model.predict(pts[real], k=0)
    covered = np.mean([t in s for t, s in zip(truth[real], pred.conformal_set, strict=True)])
    assert abs(covered - 0.95) <= 0.02
    assert abs(model.metrics["conformal_coverage"] - 0.95) <= 0.02


def test_conformal_level_is_configurable(fresh):
    pts, truth = fresh
    m = trained(0, 20_000, conformal_level=0.8, n_bootstrap=3)
    real = truth != "noise"
    pred = m.predict(pts[real], k=0)
    covered = np.mean([t in s for t, s in zip(truth[real], pred.conformal_set, strict=True)])
    assert m.metrics["conformal_level"] == 0.8
    assert abs(covered - 0.8) <= 0.02


def test_metrics_hold_what_the_registry_stores(model):
    m = model.metrics
    assert m["accuracy"] == 1.0
    assert len(m["cv_accuracy"]) == 5 and min(m["cv_accuracy"]) >= 0.999
    assert m["confusion_matrix"]["labels"] == ["chicken", "dog", "elephant", "kangaroo"]
    assert np.trace(m["confusion_matrix"]["matrix"]) == m["n_test"]
    assert m["noise_rejected"] == 1.0 and m["real_rejected"] <= 0.001
    assert set(m["training_counts"]) == {"chicken", "dog", "elephant", "kangaroo"}


def test_predict_one_matches_predict(model, fresh):
    pts, _ = fresh
    sample = pts.iloc[:300]
    batch = model.predict(sample)
    for i, point in enumerate(sample.to_dict("records")):
        one, row = model.predict_one(point), batch.iloc[i]
        assert one["species"] == row.species and one["reasons"] == row.reasons
        assert one["conformal_set"] == row.conformal_set
        assert one["explanation"] == row.explanation and one["probabilities"].keys() == row.probabilities.keys()
        if one["species"] == OUTLIER:
            assert one["confidence"] is None and np.isnan(row.confidence)
            continue
        assert one["confidence"] == pytest.approx(row.confidence, abs=1e-12)
        assert one["confidence_low"] == pytest.approx(row.confidence_low, abs=1e-12)
        assert one["confidence_high"] == pytest.approx(row.confidence_high, abs=1e-12)


def test_skops_round_trip_with_trusted_types(model, fresh):
    pts, _ = fresh
    blob = sio.dumps(model)
    assert set(sio.get_untrusted_types(data=blob)) <= set(TRUSTED_TYPES)
    loaded = sio.loads(blob, trusted=TRUSTED_TYPES)
    assert isinstance(loaded, AnimalModel)
    pd.testing.assert_frame_equal(loaded.predict(pts.iloc[:5000]), model.predict(pts.iloc[:5000]))
    assert loaded.metrics == model.metrics


def test_skops_refuses_without_trust(model):
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        sio.loads(sio.dumps(model), trusted=[])


def test_shifted_training_data(fresh):
    spec = shifted_spec(3)
    m = trained(3, 20_000, spec=spec, n_bootstrap=5)
    pts, truth = held_out(77, 30_000, spec)
    pred = m.predict(pts, k=0)
    noise = truth == "noise"
    assert (pred.species[noise] == OUTLIER).mean() >= 0.99
    assert (pred.species[~noise] == OUTLIER).mean() <= 0.002
