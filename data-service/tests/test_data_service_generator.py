"""The generator: the contract's check values, and the fast path equal to the reference, value for value."""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest

from animal_data_service.generator import (
    DEFAULT_ANIMALS,
    DEFAULT_SPEC,
    FIELD_NAMES,
    NOISE_LABEL,
    AnimalSpec,
    GenerationSpec,
    _draw_words,
    _unit_floats,
    generate,
    generate_json,
    generate_reference,
    iter_json_chunks,
    iter_point_batches,
    shifted_spec,
)

# 200 seeds: small, zero, negative, 32/64-bit edges and multi-word seeds up to the service's bound.
SEEDS = [
    *range(-20, 120),
    *(2**k for k in (31, 32, 33, 63, 64, 65, 100, 128, 200, 255)),
    *(-(2**k) for k in (31, 32, 64, 128)),
    2**256 - 1,
    -(2**256 - 1),
    *(random.Random(2024 + i).getrandbits(64) for i in range(24)),
    *(random.Random(3024 + i).getrandbits(200) for i in range(20)),
]
SIZES = [1, 2, 3, 4, 7, 31, 100, 333]


def bits(value: float) -> bytes:
    "The exact bits of a double, so that -0.0 != 0.0 and every last bit counts."
    return struct.pack("<d", value)


def exact(points: list[dict]) -> list[tuple]:
    "Points in a form whose equality means bit-for-bit equal floats and same-typed ints and bools."
    return [
        tuple((type(v).__name__, bits(v) if isinstance(v, float) else v) for v in point.values()) for point in points
    ]


def test_contract_check_values(contract_check_values):
    assert generate_reference(42, 3) == contract_check_values
    assert exact(generate(42, 3)) == exact(contract_check_values)
    assert json.loads(generate_json(42, 3)) == contract_check_values


def test_contract_noise_count():
    "With seed 42 and 1000 points, 36 are noise (contract)."
    labels = [p["label"] for p in generate(42, 1000, labeled=True)]
    assert labels.count(NOISE_LABEL) == 36
    assert [p["label"] for p in generate_reference(42, 1000, labeled=True)] == labels


def test_reference_mirrors_global_random_seed():
    "The reference is `random.seed(seed)` + the contract's calls; a fresh Random(seed) is the same stream."
    random.seed(42)
    first = random.random()
    assert first == random.Random(42).random()
    assert first >= 0.05  # so the first check-value point is an animal, as the contract shows


def test_raw_words_are_the_stream_random_consumes():
    rng = random.Random(7)
    expected = [rng.random() for _ in range(1000)]
    words = _draw_words(random.Random(7), 2000)
    assert _unit_floats(words[0::2], words[1::2]).tolist() == expected


def test_fast_path_equals_reference_for_200_seeds():
    assert len(set(SEEDS)) == 200
    for seed in SEEDS:
        reference = generate_reference(seed, max(SIZES), labeled=True)
        for n in SIZES:
            assert exact(generate(seed, n, labeled=True)) == exact(reference[:n]), (seed, n)


@pytest.mark.parametrize("seed", [0, 1, 42, -42, 2**255])
def test_fast_path_equals_reference_for_many_points(seed):
    n = 20_001
    assert exact(generate(seed, n, labeled=True)) == exact(generate_reference(seed, n, labeled=True))


@pytest.mark.parametrize("batch_words", [64, 65, 97, 128, 1000])
def test_batch_boundaries_change_nothing(batch_words):
    """Tiny batches cut points (and noise points' rejection loops) at nearly every boundary: the carried words must
    give the same values as one big batch."""
    for seed in (3, 42, -8, 2**70):
        reference = generate_reference(seed, 1500)
        rows = []
        batches = list(iter_point_batches(seed, 1500, batch_words=batch_words))
        assert len(batches) > 10  # boundaries were really crossed
        for batch in batches:
            rows.extend(
                dict(zip(FIELD_NAMES, values, strict=True))
                for values in zip(
                    batch.walks_on_n_legs.tolist(),
                    batch.height.tolist(),
                    batch.weight.tolist(),
                    batch.has_wings.tolist(),
                    batch.has_tail.tolist(),
                    strict=True,
                )
            )
        assert exact(rows) == exact(reference), seed
        chunks = list(iter_json_chunks(seed, 1500, batch_words=batch_words))
        assert exact(json.loads(b"".join(chunks))) == exact(reference), seed


@pytest.mark.parametrize("n", [0, 1, 2, 9, 1000])
def test_json_is_compact_and_parses_back_exactly(n):
    body = generate_json(42, n)
    assert exact(json.loads(body)) == exact(generate_reference(42, n))
    if n:
        assert body.startswith(b'[{"walks_on_n_legs":') and body.endswith(b"}]")
        assert b" " not in body
    else:
        assert body == b"[]"


def test_json_numbers_round_trip_for_extreme_doubles():
    "orjson's shortest representation must parse back to the same double, also for tiny and huge values."
    from animal_data_service.generator import _float_tokens

    values = np.array([5e-324, 1e-300, 2.2250738585072014e-308, 0.1, 1 / 3, 9007199254740993.0, 1e300, 0.0])
    assert [float(t) for t in _float_tokens(values)] == values.tolist()


def test_labels_and_shapes():
    points = generate(5, 2000, labeled=True)
    by_name = {a.name: a for a in DEFAULT_ANIMALS}
    for point in points:
        assert list(point) == [*FIELD_NAMES, "label"]
        assert type(point["walks_on_n_legs"]) is int and type(point["height"]) is float
        if point["label"] == NOISE_LABEL:
            assert 1 <= point["walks_on_n_legs"] <= 5
            assert 0 <= point["height"] <= 10 and 0 <= point["weight"] <= 1000
        else:
            animal = by_name[point["label"]]
            assert point["walks_on_n_legs"] == animal.legs
            assert animal.height[0] <= point["height"] <= animal.height[1]
            assert animal.weight[0] <= point["weight"] <= animal.weight[1]
            assert (point["has_wings"], point["has_tail"]) == (animal.has_wings, animal.has_tail)
    assert {p["label"] for p in points} == {"kangaroo", "elephant", "chicken", "dog", NOISE_LABEL}
    assert generate(5, 10) == [{k: v for k, v in p.items() if k != "label"} for p in points[:10]]


def test_default_spec_is_the_contract():
    assert [(a.name, a.legs, a.height, a.weight, a.has_wings, a.has_tail) for a in DEFAULT_SPEC.animals] == [
        ("kangaroo", 2, (1.6, 2.0), (40, 90), False, True),
        ("elephant", 4, (2.47, 3.36), (2600, 6900), False, True),
        ("chicken", 2, (0.15, 0.50), (0.037, 4.2), True, True),
        ("dog", 4, (0.13, 0.81), (0.5, 79), False, True),
    ]
    assert (DEFAULT_SPEC.noise_share, DEFAULT_SPEC.noise_legs) == (0.05, (1, 5))
    assert (DEFAULT_SPEC.noise_height, DEFAULT_SPEC.noise_weight, DEFAULT_SPEC.class_weights) == (
        (0, 10),
        (0, 1000),
        None,
    )


def test_shifted_spec_moves_ranges_within_bounds_and_is_deterministic():
    spec = shifted_spec(11, range_shift=0.3, noise_share=0.2, unbalanced=True)
    assert spec == shifted_spec(11)
    assert spec != shifted_spec(12)
    assert spec.noise_share == 0.2 and spec.class_weights is not None and len(spec.class_weights) == 4
    assert all(1 <= w <= 10 for w in spec.class_weights)
    for old, new in zip(DEFAULT_SPEC.animals, spec.animals, strict=True):
        assert (new.name, new.legs, new.has_wings, new.has_tail) == (old.name, old.legs, old.has_wings, old.has_tail)
        for old_range, new_range in ((old.height, new.height), (old.weight, new.weight)):
            assert new_range[0] <= new_range[1]
            assert new_range != old_range
            assert min(old_range) * 0.7 <= new_range[0] and new_range[1] <= max(old_range) * 1.3
    balanced = shifted_spec(11, unbalanced=False, noise_share=0.05)
    assert balanced.class_weights is None and balanced.noise_share == 0.05


def test_shifted_spec_does_not_touch_global_random():
    random.seed(99)
    expected = random.random()
    random.seed(99)
    shifted_spec(3)
    assert random.random() == expected


@pytest.mark.parametrize(
    "spec",
    [
        shifted_spec(1),
        shifted_spec(2, unbalanced=False),
        shifted_spec(3, noise_share=0.0),
        shifted_spec(4, noise_share=1.0),
        GenerationSpec(noise_legs=(0, 0), class_weights=(0.0, 1.0, 0.0, 3.0)),
        GenerationSpec(animals=DEFAULT_ANIMALS[:3], noise_legs=(3, 10)),
        GenerationSpec(animals=(AnimalSpec("snake", 0, (0.1, 0.2), (1, 2), False, True),)),
    ],
    ids=["shifted", "shifted-balanced", "no-noise", "all-noise", "zero-weights", "3-animals", "1-animal"],
)
def test_fast_path_equals_reference_for_other_specs(spec):
    "Other specs (for shifted test data) go through the fast path too; the reference still defines the values."
    for seed in (0, 1, 42, -3, 2**99):
        assert exact(generate(seed, 3000, labeled=True, spec=spec)) == exact(
            generate_reference(seed, 3000, labeled=True, spec=spec)
        )


def test_weighted_specs_follow_their_weights():
    spec = GenerationSpec(noise_share=0.0, class_weights=(1.0, 0.0, 0.0, 3.0))
    labels = [p["label"] for p in generate(8, 4000, labeled=True, spec=spec)]
    assert set(labels) == {"kangaroo", "dog"}
    assert 0.7 < labels.count("dog") / len(labels) < 0.8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"animals": ()}, "at least one animal"),
        ({"noise_share": 1.5}, "noise_share"),
        ({"noise_legs": (5, 1)}, "noise_legs"),
        ({"class_weights": (1.0, 2.0)}, "one weight per animal"),
        ({"class_weights": (0.0, 0.0, 0.0, 0.0)}, "not all zero"),
        ({"animals": (DEFAULT_ANIMALS[0], DEFAULT_ANIMALS[0])}, "unique"),
    ],
)
def test_invalid_specs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GenerationSpec(**kwargs)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="n must be >= 0"):
        list(iter_point_batches(1, -1))
    with pytest.raises(ValueError, match="range_shift"):
        shifted_spec(1, range_shift=1.5)


def test_docstring_examples():
    import doctest

    from animal_data_service import generator

    result = doctest.testmod(generator)
    assert result.attempted >= 4 and result.failed == 0
