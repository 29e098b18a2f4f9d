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


def test_issue_examples(model):
    pts = points_frame(
        [
            dict(walks_on_n_legs=3, height=1.0, weight=50.0, has_wings=False, has_tail=True),
            dict(walks_on_n_legs=4, height=9.0, weight=900.0, has_wings=False, has_tail=True),
            dict(walks_on_n_legs=4, height=3.0, weight=5000.0, has_wings=True, has_tail=True),
            dict(walks_on_n_legs=2, height=1.8, weight=60.0, has_wings=False, has_tail=False),
            dict(walks_on_n_legs=2, height=1.8, weight=60.0, has_wings=False, has_tail=True),
            dict(walks_on_n_legs=2, height=1.5, weight=60.0, has_wings=False, has_tail=True),
            dict(walks_on_n_legs=7, height=1.5, weight=3000.0, has_wings=True, has_tail=True),
        ]
    )
    pred = model.predict(pts)
    assert pred.species.tolist() == ["outlier", "outlier", "outlier", "outlier", "kangaroo", "outlier", "outlier"]
    assert pred.reasons[0] == ["walks on 3 legs: known animals walk on 2 or 4"]
    assert pred.reasons[1][0].startswith("height/weight far from every known animal: 9.00 m, 900 kg (dog:")
    assert pred.reasons[2] == ["has wings and walks on 4 legs: winged animals walk on 2"]
    assert pred.reasons[3] == ["has no tail: every known animal has one"]
    assert pred.conformal_set[4] == ["kangaroo"] and pred.conformal_set[0] == []
    assert model.reasons_for(2, 0.3, 2.0, True, False) == ["has no tail: every known animal has one"]
    row = pred.iloc[4]
    assert 0 <= row.confidence_low <= row.confidence_high <= 1
    assert abs(sum(row.probabilities.values()) - 1) < 1e-9
    assert row.explanation["group"] == "kangaroo" and {n["label"] for n in row.explanation["nearest"]} == {"kangaroo"}
    # a kangaroo shorter than the training's (the service draws 1.6 to 2.0 m): outside the kangaroo size range
    short, monster = pred.iloc[5], pred.iloc[6]
    assert short.reasons[0].startswith("height/weight far from every known animal: 1.50 m, 60 kg (kangaroo: 1.5")
    assert (short.explanation["rule"], short.explanation["group"]) == ("size", "kangaroo")
    assert short.explanation["decided_by"].endswith(": 1.50 m is below it")
    assert monster.reasons == ["walks on 7 legs: known animals walk on 2 or 4"]
    assert (monster.explanation["rule"], monster.explanation["group"]) == ("legs", None)
    for outlier in (short, monster):
        assert np.isnan(outlier.confidence) and outlier.probabilities == {} and outlier.conformal_set == []
        assert len(outlier.explanation["nearest"]) == 3


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
