"""Outlier detection against the labeled replay of the data service: the issue's targets on a fast subset.

The full measurement (seeds 0-49 x 1000, n = 100 000, many shifted specs) is `bench/ml_quality.py`."""

import numpy as np
import pandas as pd
import pytest
from animal_data_service.generator import generate, shifted_spec

from animal_challenge.outliers import find_outliers, rule_reasons, size_groups
from animal_challenge.schema import points_frame


def labeled(seed: int, n: int, spec=None) -> tuple[pd.DataFrame, pd.Series]:
    "Validated points and their true labels (species or 'noise') from the generator."
    rows = generate(seed, n, labeled=True, **({"spec": spec} if spec else {}))
    pts = points_frame(rows)
    return pts, pd.Series([r["label"] for r in rows], index=pts.index)


def counts(runs) -> tuple[int, int, int]:
    "True positives, false positives, false negatives of outlier flags over `(points, truth)` runs."
    tp = fp = fn = 0
    for pts, truth in runs:
        flagged, noise = find_outliers(pts).is_outlier, truth == "noise"
        tp += int((flagged & noise).sum())
        fp += int((flagged & ~noise).sum())
        fn += int((~flagged & noise).sum())
    return tp, fp, fn


def test_contract_data_precision_and_recall():
    runs = [labeled(seed, 1000) for seed in range(15)] + [labeled(123, 100_000)]
    tp, fp, fn = counts(runs)
    assert tp / (tp + fp) >= 0.999
    assert tp / (tp + fn) >= 0.998


@pytest.mark.parametrize("spec_seed", range(10))
def test_shifted_data_keeps_every_animal_and_catches_noise(spec_seed):
    pts, truth = labeled(spec_seed, 3000, shifted_spec(spec_seed))
    tp, fp, fn = counts([(pts, truth)])
    assert fp == 0
    assert tp / (tp + fn) >= 0.98


def test_groups_are_discovered_not_given():
    "On a shifted spec the discovered ranges follow the new ranges, not the contract's."
    spec = shifted_spec(11)
    pts, truth = labeled(1, 5000, spec)
    groups = size_groups(pts)
    assert len(groups) == 4
    for animal in spec.animals:
        hit = [g for g in groups if g.legs == animal.legs and g.wings == animal.has_wings]
        inside = [g for g in hit if g.height[0] <= animal.height[0] and g.height[1] >= animal.height[1]]
        assert len(inside) == 1, animal.name
        g = inside[0]
        assert g.weight[0] <= animal.weight[0] and g.weight[1] >= animal.weight[1]
        # no wider than the true range plus its 8 % margins and a little sampling slack
        assert g.height[1] - g.height[0] <= 1.25 * (animal.height[1] - animal.height[0])


def test_reasons_name_the_problem():
    pts = points_frame(
        [
            dict(walks_on_n_legs=5, height=1.0, weight=50.0, has_wings=False, has_tail=True),
            dict(walks_on_n_legs=2, height=1.8, weight=60.0, has_wings=False, has_tail=False),
            dict(walks_on_n_legs=4, height=3.0, weight=5000.0, has_wings=True, has_tail=True),
        ]
    )
    assert rule_reasons(pts).tolist() == [
        "walks on 5 legs: these animals walk on 2 or 4",
        "has no tail: all these animals have one",
        "has wings and walks on 4 legs: only chickens (2 legs) have wings",
    ]


def test_size_outlier_reason_and_index():
    pts, _ = labeled(2, 1000)
    giant_dog = points_frame([dict(walks_on_n_legs=4, height=9.0, weight=900.0, has_wings=False, has_tail=True)])
    both = pd.concat([pts, giant_dog.set_axis([10_000])])
    found = find_outliers(both)
    assert found.index.equals(both.index)
    assert found.dtypes.to_dict() == {"is_outlier": np.dtype(bool), "reason": np.dtype(object)}
    assert found.loc[10_000, "reason"].startswith("height/weight far from every group: 9.00 m, 900 kg")
    assert (found.reason == "").eq(~found.is_outlier).all()


def test_haze_carved_into_a_core_is_not_a_group():
    "Spec 8 (seed 8, n=3000) makes HDBSCAN carve a 'group' of winged noise (0.3-9.8 m, 24-1000 kg): `is_haze` drops it."
    for spec_seed in range(10):
        pts, _ = labeled(spec_seed, 3000, shifted_spec(spec_seed))
        assert sorted((g.legs, g.wings) for g in size_groups(pts)) == [(2, False), (2, True), (4, False), (4, False)]


@pytest.mark.parametrize("spec_seed", [52, 64, 67, 94, 149])
def test_small_groups_are_found_whole(spec_seed):
    "Shifted specs at n=1000 where a rare species has 40-90 points and HDBSCAN finds only a 15-point corner of it."
    pts, truth = labeled(spec_seed, 1000, shifted_spec(spec_seed))
    tp, fp, fn = counts([(pts, truth)])
    assert fp == 0
    assert tp / (tp + fn) >= 0.98
