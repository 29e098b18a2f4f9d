"""Labeling against the labeled replay of the data service: every kept point named correctly, also when re-tuned."""

import pandas as pd
import pytest
from animal_data_service.generator import generate, shifted_spec

from animal_challenge.labeling import LabelingError, label_animals, label_points, validation_report
from animal_challenge.outliers import find_outliers
from animal_challenge.schema import OUTLIER, points_frame


def labeled(seed: int, n: int, spec=None) -> tuple[pd.DataFrame, pd.Series]:
    rows = generate(seed, n, labeled=True, **({"spec": spec} if spec else {}))
    pts = points_frame(rows)
    return pts, pd.Series([r["label"] for r in rows], index=pts.index)


def kept_accuracy(pts: pd.DataFrame, truth: pd.Series) -> float:
    "Share of the kept *real* points (noise inside an animal's box is the outlier test's business) labeled right."
    clean = pts[~find_outliers(pts).is_outlier]
    real = truth[clean.index] != "noise"
    return float((label_animals(clean)[real] == truth[clean.index][real]).mean())


@pytest.mark.parametrize("seed", range(8))
def test_contract_data_every_kept_point_labeled_correctly(seed):
    assert kept_accuracy(*labeled(seed, 1000)) == 1.0


def test_large_run_every_kept_point_labeled_correctly():
    assert kept_accuracy(*labeled(123, 100_000)) == 1.0


@pytest.mark.parametrize("spec_seed", range(10))
def test_shifted_data_labels(spec_seed):
    assert kept_accuracy(*labeled(spec_seed, 3000, shifted_spec(spec_seed))) >= 0.995


def test_label_points_writes_label_and_reason():
    rows = generate(7, 1000, labeled=True)
    truth = pd.Series([r.pop("label") for r in rows])
    df = pd.DataFrame(rows).assign(note="kept")  # extra columns are carried through
    out = label_points(df)
    assert list(out.columns) == [*df.columns, "label", "outlier_reason"]
    assert (out.label.replace(OUTLIER, "noise") == truth).all()
    assert ((out.label == OUTLIER) == (out.outlier_reason != "")).all()


def test_a_group_no_species_explains_fails_loudly():
    "Ponies (4 legs, no wings, 1-1.6 m, 150-400 kg) are a third 4-legged group: no coarse rule names them."
    pts, truth = labeled(3, 2000)
    clean = pts[~find_outliers(pts).is_outlier]
    ponies = pd.DataFrame(
        dict(walks_on_n_legs=4, height=1.0 + 0.6 * (pd.RangeIndex(300) % 17) / 17, has_wings=False, has_tail=True)
    ).assign(weight=150 + 250 * (pd.RangeIndex(300) % 23) / 23)
    with pytest.raises(LabelingError, match="expected one dog group, found 2"):
        label_animals(pd.concat([clean, points_frame(ponies.to_dict("records"))], ignore_index=True))


def test_validation_report_flags_swapped_names():
    pts, truth = labeled(4, 1000)
    clean = pts[~find_outliers(pts).is_outlier]
    labels = label_animals(clean)
    assert validation_report(clean, labels).matches_typical.all()
    swapped = labels.replace({"chicken": "kangaroo", "kangaroo": "chicken"})
    assert not validation_report(clean, swapped).matches_typical[["chicken", "kangaroo"]].any()


@pytest.mark.parametrize("spec_seed", [52, 64, 67, 94, 149])
def test_rare_species_still_named(spec_seed):
    "Specs whose rarest species has only 40-90 of 1000 points: the group must still be found and named."
    assert kept_accuracy(*labeled(spec_seed, 1000, shifted_spec(spec_seed))) == 1.0
