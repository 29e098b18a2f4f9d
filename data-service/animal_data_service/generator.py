"""Generate the challenge's animal data points, value for value like the public data service.

The public service seeds Python's `random` with the request's `seed` and then, for every point, makes a
fixed sequence of `random()`, `randint()`, `uniform()` and `choice()` calls (see
`shared/data-service-contract.md`). This module offers two implementations of that process:

* `generate_reference` makes exactly those calls, one point at a time. It is slow and obviously
  correct, and it is the definition the fast path is tested against.
* The fast path (`iter_point_batches`, `iter_json_chunks`, and `generate` for any spec) draws the raw
  Mersenne Twister output in bulk and decodes it with numpy. It produces the same doubles bit for bit,
  at more than ten times the speed, with memory bounded by the batch size rather than by `n`.

How the fast path works
-----------------------
CPython's `random.Random` is MT19937. Every method used by the generator is built on 32-bit output
words of the twister, consumed in order:

* `random()` takes two words `a, b` and returns `((a >> 5) * 2**26 + (b >> 6)) / 2**53`.
* `uniform(lo, hi)` is `lo + (hi - lo) * random()`: two words.
* `randint(lo, hi)` is `lo + _randbelow(hi - lo + 1)` and `choice(seq)` is `seq[_randbelow(len(seq))]`.
  `_randbelow(n)` sets `k = n.bit_length()` and takes one word `w` at a time, `r = w >> (32 - k)`,
  until `r < n` (rejection sampling). So it consumes a *variable* number of words.
* `choices(seq, weights)[0]` (only for specs with class weights) bisects `random() * total` into the
  cumulative weights: two words.
* `getrandbits(32 * k)` returns `k` consecutive words as one integer, the first word in the least
  significant 32 bits. That is how the fast path reads the stream in bulk, without calling `random()`
  once per value.

Because of the rejection loops, where a point starts depends on every point before it. The fast path
therefore works in three steps per batch of words:

1. For *every* word index `i` it computes, vectorised, where a point starting at `i` would end (its
   "successor"), using "next index `>= j` whose word passes the accept test" lookups.
2. A tight Python loop follows the successor chain from the first point's start; one step per point.
3. Knowing the start of every point, it computes all fields vectorised.

Words left over at the end of a batch (a point whose words, or whose rejection loop, run past the end)
are carried into the next batch, so batch boundaries never change the values.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import orjson

__all__ = [
    "DEFAULT_ANIMALS",
    "DEFAULT_SPEC",
    "FIELD_NAMES",
    "NOISE_LABEL",
    "AnimalSpec",
    "GenerationSpec",
    "PointBatch",
    "generate",
    "generate_json",
    "generate_reference",
    "iter_json_chunks",
    "iter_point_batches",
    "shifted_spec",
]

FIELD_NAMES: tuple[str, ...] = ("walks_on_n_legs", "height", "weight", "has_wings", "has_tail")
"The fields of one data point, in the order the service writes them."

NOISE_LABEL = "noise"
"The label `generate(..., labeled=True)` gives to noise points."


# ---------------------------------------------------------------------------------------------------------------------
# What is generated: the specification
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnimalSpec:
    """One species: its fixed traits and the ranges its height and weight are drawn from."""

    name: str  # label used by `generate(..., labeled=True)`
    legs: int  # `walks_on_n_legs`
    height: tuple[float, float]  # metres, drawn with `uniform(low, high)`
    weight: tuple[float, float]  # kilograms, drawn with `uniform(low, high)`
    has_wings: bool
    has_tail: bool


DEFAULT_ANIMALS: tuple[AnimalSpec, ...] = (
    AnimalSpec("kangaroo", 2, (1.6, 2.0), (40, 90), has_wings=False, has_tail=True),
    AnimalSpec("elephant", 4, (2.47, 3.36), (2600, 6900), has_wings=False, has_tail=True),
    AnimalSpec("chicken", 2, (0.15, 0.50), (0.037, 4.2), has_wings=True, has_tail=True),
    AnimalSpec("dog", 4, (0.13, 0.81), (0.5, 79), has_wings=False, has_tail=True),
)
"The species of the contract, in the order `random.choice` picks from."

_MAX_SPAN_FOR_RANDBELOW = 2**31  # keeps every `_randbelow` draw within one 32-bit word


@dataclass(frozen=True)
class GenerationSpec:
    """Everything that shapes the generated data; `DEFAULT_SPEC` is the contract's process.

    With `class_weights=None` the species is picked with `random.choice(animals)` (as the service does);
    with weights, with `random.choices(animals, weights)[0]` (for building unbalanced test data sets).
    """

    animals: tuple[AnimalSpec, ...] = DEFAULT_ANIMALS
    noise_share: float = 0.05  # a point is noise when its first `random()` is below this
    noise_legs: tuple[int, int] = (1, 5)  # `randint` bounds, both inclusive
    noise_height: tuple[float, float] = (0, 10)  # `uniform` bounds, metres
    noise_weight: tuple[float, float] = (0, 1000)  # `uniform` bounds, kilograms
    class_weights: tuple[float, ...] | None = None  # relative weight of each species, or None for uniform

    def __post_init__(self) -> None:
        if not self.animals:
            raise ValueError("a GenerationSpec needs at least one animal")
        if len({a.name for a in self.animals} | {NOISE_LABEL}) != len(self.animals) + 1:
            raise ValueError(f"animal names must be unique and not {NOISE_LABEL!r}")
        if not 0.0 <= self.noise_share <= 1.0:
            raise ValueError(f"noise_share must be within [0, 1], got {self.noise_share}")
        low, high = self.noise_legs
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= high - low < _MAX_SPAN_FOR_RANDBELOW):
            raise ValueError(f"noise_legs must be two ints (low, high) with low <= high, got {self.noise_legs}")
        if len(self.animals) >= _MAX_SPAN_FOR_RANDBELOW:
            raise ValueError("too many animals")
        if self.class_weights is not None:
            if len(self.class_weights) != len(self.animals):
                raise ValueError("class_weights needs one weight per animal")
            if any(not math.isfinite(w) or w < 0 for w in self.class_weights) or sum(self.class_weights) <= 0:
                raise ValueError("class_weights must be finite, non-negative and not all zero")

    @property
    def labels(self) -> tuple[str, ...]:
        "Label of each category code of a `PointBatch`: the species in order, then `NOISE_LABEL`."
        return (*(a.name for a in self.animals), NOISE_LABEL)


DEFAULT_SPEC = GenerationSpec()
"The process of the contract: reproduces the public service's values."


def _shift_range(rng: random.Random, bounds: tuple[float, float], shift: float) -> tuple[float, float]:
    "Multiply each bound by its own factor drawn from [1 - shift, 1 + shift]; keep low <= high."
    low, high = (b * rng.uniform(1 - shift, 1 + shift) for b in bounds)
    return (min(low, high), max(low, high))


def shifted_spec(
    rng_seed: int,  # seed of the private RNG that draws the shifts; same seed -> same spec
    range_shift: float = 0.3,  # each height/weight bound moves by a factor in [1 - range_shift, 1 + range_shift]
    noise_share: float = 0.2,  # share of noise points in the new spec (the contract's is 0.05)
    unbalanced: bool = True,  # draw class weights (each species 1 to 10 parts) instead of picking uniformly
    base: GenerationSpec = DEFAULT_SPEC,  # the spec to shift
) -> GenerationSpec:
    """A randomly perturbed copy of `base`, to test that a pipeline does not depend on the exact ranges.

    The public service re-tunes its ranges from time to time; a pipeline that only works for the contract's
    exact numbers is overfitted. Use this to build data sets that look like the service's but differ the way a
    re-tuned service could:

    * every species' height and weight bound is multiplied by its own random factor in
      `[1 - range_shift, 1 + range_shift]` (bounds are swapped if they cross, so a range may also shrink or grow);
    * the noise share is set to `noise_share`;
    * with `unbalanced=True`, species are drawn with random class weights (each 1 to 10 parts) instead of
      uniformly.

    Legs, wings, tails and the noise process's ranges are kept. The result is deterministic in `rng_seed`
    and does not touch the global `random` state. Feed it to `generate(seed, n, labeled=True, spec=...)`.

    >>> spec = shifted_spec(7)
    >>> rows = generate(1, 1000, labeled=True, spec=spec)
    >>> sorted({r["label"] for r in rows})
    ['chicken', 'dog', 'elephant', 'kangaroo', 'noise']
    """
    if not 0 <= range_shift < 1:
        raise ValueError(f"range_shift must be within [0, 1), got {range_shift}")
    rng = random.Random(rng_seed)
    animals = tuple(
        replace(
            animal,
            height=_shift_range(rng, animal.height, range_shift),
            weight=_shift_range(rng, animal.weight, range_shift),
        )
        for animal in base.animals
    )
    weights = tuple(rng.uniform(1, 10) for _ in animals) if unbalanced else None
    return replace(base, animals=animals, noise_share=noise_share, class_weights=weights)


# ---------------------------------------------------------------------------------------------------------------------
# The reference: the contract's process, call for call
# ---------------------------------------------------------------------------------------------------------------------


def generate_reference(
    seed: int,  # seeds a fresh `random.Random`, as `random.seed(seed)` does
    n: int,  # number of points
    labeled: bool = False,  # add a "label" key: the species name or "noise"
    spec: GenerationSpec = DEFAULT_SPEC,  # what to generate; the default is the contract's process
) -> list[dict]:
    """The data points, made with plain `random` calls that mirror the contract step by step.

    This is the definition of the values; the fast path must reproduce it exactly.
    """
    rng = random.Random(seed)
    cum_weights = list(itertools.accumulate(spec.class_weights)) if spec.class_weights is not None else None
    points = []
    for _ in range(n):
        if rng.random() < spec.noise_share:
            point = {
                "walks_on_n_legs": rng.randint(*spec.noise_legs),
                "height": rng.uniform(*spec.noise_height),
                "weight": rng.uniform(*spec.noise_weight),
                "has_wings": rng.choice([True, False]),
                "has_tail": rng.choice([True, False]),
            }
            label = NOISE_LABEL
        else:
            if cum_weights is None:
                animal = rng.choice(spec.animals)
            else:
                animal = rng.choices(spec.animals, cum_weights=cum_weights)[0]
            point = {
                "walks_on_n_legs": animal.legs,
                "height": rng.uniform(*animal.height),
                "weight": rng.uniform(*animal.weight),
                "has_wings": animal.has_wings,
                "has_tail": animal.has_tail,
            }
            label = animal.name
        if labeled:
            point["label"] = label
        points.append(point)
    return points


# ---------------------------------------------------------------------------------------------------------------------
# The fast path: decode the raw word stream with numpy
# ---------------------------------------------------------------------------------------------------------------------

_TWO_POW_26 = 67108864.0
_INV_TWO_POW_53 = 1.0 / 9007199254740992.0
_WORDS_PER_POINT = 8.2  # expected words per point for the default spec (8 per animal, ~11.6 per noise point)
DEFAULT_BATCH_WORDS = 1 << 16  # words decoded per batch: ~8 000 points, ~0.9 MB of JSON; fits the CPU caches


def _draw_words(rng: random.Random, count: int) -> np.ndarray:
    "The next `count` 32-bit outputs of `rng`'s twister, in the order `random()` would consume them (read-only)."
    # getrandbits puts the first word in the least significant 32 bits, so little-endian bytes keep the order.
    return np.frombuffer(rng.getrandbits(32 * count).to_bytes(4 * count, "little"), dtype="<u4")


def _unit_floats(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    "`random()` for each pair of words, exactly as CPython's `genrand_res53` computes it."
    # (a >> 5) < 2**27 and (b >> 6) < 2**26: the sum is an integer below 2**53, exact in a double, and scaling by a
    # power of two is exact too, so this is the same double CPython returns.
    return ((first >> 5).astype(np.float64) * _TWO_POW_26 + (second >> 6)) * _INV_TWO_POW_53


def _accept_threshold(n: int) -> int:
    """`_randbelow(n)` accepts a word `w` iff `w >> (32 - k) < n` with `k = n.bit_length()`, i.e. iff
    `w < n << (32 - k)`. Returns that bound (at most 2**32, meaning every word is accepted)."""
    return n << (32 - n.bit_length())


def _below(words: np.ndarray, bound: int) -> np.ndarray:
    "Boolean mask `words < bound` for any non-negative `bound` (also one that does not fit in 32 bits)."
    if bound > 0xFFFFFFFF:
        return np.ones(len(words), dtype=bool)
    return words < np.uint32(bound)


@dataclass
class PointBatch:
    """Consecutive data points as columns. `category` is the index of the species in `spec.animals`, or
    `len(spec.animals)` for noise (so `spec.labels[category]` is the label)."""

    category: np.ndarray  # int64
    walks_on_n_legs: np.ndarray  # int64
    height: np.ndarray  # float64
    weight: np.ndarray  # float64
    has_wings: np.ndarray  # bool
    has_tail: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.category)


@dataclass
class _Tables:
    """Per-category constants of a spec, as arrays indexed by category (species..., noise last)."""

    legs: np.ndarray
    height_low: np.ndarray
    height_span: np.ndarray
    weight_low: np.ndarray
    weight_span: np.ndarray
    has_wings: np.ndarray
    has_tail: np.ndarray
    species_threshold: int  # accept bound of `choice(animals)`
    legs_threshold: int  # accept bound of the noise `randint`
    bool_threshold: int  # accept bound of `choice([True, False])`
    noise_first_word_bound: int  # a point can only be noise if its first word is below this
    cum_weights: np.ndarray | None = None  # for `choices`: cumulative weights, or None for `choice`
    weight_total: float = 0.0

    @classmethod
    def from_spec(cls, spec: GenerationSpec) -> _Tables:
        animals = spec.animals
        # `uniform(a, b)` computes `a + (b - a) * random()`: keep `a` and `b - a` as Python computes them.
        heights = [a.height for a in animals] + [spec.noise_height]
        weights = [a.weight for a in animals] + [spec.noise_weight]
        cum_weights, total = None, 0.0
        if spec.class_weights is not None:
            cum = list(itertools.accumulate(spec.class_weights))
            cum_weights, total = np.array(cum, dtype=np.float64), cum[-1] + 0.0  # as `random.choices` does
        legs_low, legs_high = spec.noise_legs
        # random() = X / 2**53 with X = (a >> 5) * 2**26 + (b >> 6) < 2**53. If random() < share then
        # (a >> 5) <= floor(share * 2**27), i.e. a < (floor(share * 2**27) + 1) * 32: a cheap superset test on the
        # first word alone; the exact test then runs on the few candidates.
        noise_bound = (math.floor(spec.noise_share * 2**27) + 1) * 32
        return cls(
            legs=np.array([a.legs for a in animals] + [legs_low], dtype=np.int64),
            height_low=np.array([float(lo) for lo, _ in heights]),
            height_span=np.array([float(hi - lo) for lo, hi in heights]),
            weight_low=np.array([float(lo) for lo, _ in weights]),
            weight_span=np.array([float(hi - lo) for lo, hi in weights]),
            has_wings=np.array([a.has_wings for a in animals] + [False]),
            has_tail=np.array([a.has_tail for a in animals] + [False]),
            species_threshold=_accept_threshold(len(animals)),
            legs_threshold=_accept_threshold(legs_high - legs_low + 1),
            bool_threshold=_accept_threshold(2),
            noise_first_word_bound=noise_bound,
            cum_weights=cum_weights,
            weight_total=total,
        )


class _WordBatch:
    """One batch of words and the lookups both the successor computation and the decoding need.

    "Next accepted" lookups answer: the smallest index `m >= j` whose word `_randbelow` accepts (or `n`, the
    batch length, when no word left does). Queries beyond the batch are clamped to `n` and answer `n`.
    """

    def __init__(self, words: np.ndarray, spec: GenerationSpec, tables: _Tables) -> None:
        self.words = words
        self.n = len(words)
        self.spec = spec
        self.tables = tables
        self._positions: dict[int, np.ndarray] = {}
        self._species_next: np.ndarray | None = None

    def next_accepted(self, threshold: int, start: np.ndarray) -> np.ndarray:
        """Lookup for a subset of indices (noise points): binary search in the sorted positions of accepted words,
        or, for the species pick's accept test (also `choice([True, False])`'s in the default spec), a gather
        from the dense `species_next`."""
        if threshold == self.tables.species_threshold and self.tables.cum_weights is None:
            return np.minimum(self.species_next[np.minimum(start, self.n + 1)], self.n)
        positions = self._positions.get(threshold)
        if positions is None:
            positions = np.append(np.flatnonzero(_below(self.words, threshold)).astype(np.int32), np.int32(self.n))
            self._positions[threshold] = positions
        return positions[np.searchsorted(positions, np.minimum(start, self.n).astype(np.int32), side="left")]

    @property
    def species_next(self) -> np.ndarray:
        """Dense lookup for the species pick, for every `j` in `[0, n + 1]` (length `n + 2`); values `>= n` mean
        "no accepted word left" (not always exactly `n`, unlike `next_accepted`).

        A reverse running minimum over "own index if accepted, else something >= n": a few vectorised passes.
        """
        if self._species_next is None:
            n = self.n
            # Rejected words get their index plus 2**30 (bit 30 set), which is >= n and so reads as "none".
            # Cheaper than np.where; callers treat every value >= n as "no accepted word left".
            rejected = (~_below(self.words, self.tables.species_threshold)).view(np.int8).astype(np.int32)
            np.left_shift(rejected, 30, out=rejected)
            candidates = np.full(n + 2, n, dtype=np.int32)
            np.bitwise_or(rejected, np.arange(n, dtype=np.int32), out=candidates[:n])
            self._species_next = np.minimum.accumulate(candidates[::-1])[::-1]
        return self._species_next

    def noise_starts(self) -> np.ndarray:
        "Every index `i` (with a second word after it) whose `random()` is below the noise share."
        candidates = np.flatnonzero(_below(self.words[: self.n - 1], self.tables.noise_first_word_bound))
        exact = _unit_floats(self.words[candidates], self.words[candidates + 1]) < self.spec.noise_share
        return candidates[exact]


def _successors(batch: _WordBatch) -> np.ndarray:
    """For every word index `i`, the index just past a point that starts at `i`.

    A value `> n` means the point cannot be completed with this batch's words. The result has one extra entry
    (for `i = n`), which is always "incomplete", so the walk can look it up without a bounds check.

    Word layout of a point starting at `i` (each `random()`/`uniform()` takes two words, each `_randbelow`
    one or more, up to the first accepted word):

    * noise:    `i, i+1` random() | `p` = first legs-accepted word >= i+2 | `p+1, p+2` height | `p+3, p+4` weight |
                `q` = first bool-accepted word >= p+5 (wings) | `r` = first bool-accepted word >= q+1 (tail); end r+1
    * species:  `i, i+1` random() | `p` = first species-accepted word >= i+2 (or `p = i+3` for weighted `choices`,
                which uses the random() in words i+2, i+3) | `p+1, p+2` height | `p+3, p+4` weight; end p+5
    """
    n, tables = batch.n, batch.tables
    incomplete = n + 1
    successor = np.empty(n + 1, dtype=np.int32)
    successor[max(n - 1, 0) :] = incomplete  # a point needs two words just for its first random()
    if n < 2:
        return successor

    # Species points (the vast majority), as if every index started one: end = p + 5.
    if tables.cum_weights is None:
        np.add(batch.species_next[2 : n + 1], 5, out=successor[: n - 1])  # p = species_next[i + 2]
    else:
        np.add(np.arange(n - 1, dtype=np.int32), 8, out=successor[: n - 1])

    # Noise points (~5 %): follow their rejection loops only there.
    noise = batch.noise_starts()
    if len(noise):
        legs_word = batch.next_accepted(tables.legs_threshold, noise + 2)
        wings_word = batch.next_accepted(tables.bool_threshold, legs_word + 5)
        tail_word = batch.next_accepted(tables.bool_threshold, wings_word + 1)
        successor[noise] = tail_word + 1  # tail_word == n (not found) gives n + 1: incomplete
    # Any other end beyond n (p == n gives n + 5, p + 4 >= n gives > n) already means incomplete.
    return successor


def _walk(successor: np.ndarray, n_words: int, max_points: int) -> tuple[list[int], int]:
    """Follow the successor chain from index 0; return the starts of (at most `max_points`) complete points and the
    index where the next point starts (the words from there on are carried into the next batch).

    This is the only per-point Python loop (~40 ns a step): everything else is vectorised.
    """
    chain = memoryview(successor)  # indexing a memoryview is much cheaper than indexing a numpy array
    starts: list[int] = []
    append = starts.append
    position = 0
    end = chain[0]
    while end <= n_words:  # the last entry (index n_words) is always > n_words, so this stops
        append(position)
        position = end
        end = chain[position]
    if len(starts) > max_points:  # only in the last batch, which is sized to need few extra words
        position = starts[max_points]
        del starts[max_points:]
    return starts, position


def _decode_points(batch: _WordBatch, starts: np.ndarray) -> PointBatch:
    "All fields of the points that start at `starts` (each known to be complete within the batch)."
    words, spec, tables = batch.words, batch.spec, batch.tables
    n_species = len(spec.animals)
    is_noise = _unit_floats(words[starts], words[starts + 1]) < spec.noise_share
    noise_index = np.flatnonzero(is_noise)
    species_index = np.flatnonzero(~is_noise)

    # `pick`: the word that decides the category (the species pick, or the noise's legs), as in `_successors`.
    pick = np.empty(len(starts), dtype=np.int64)
    category = np.empty(len(starts), dtype=np.int64)
    species_starts = starts[species_index]
    if tables.cum_weights is None:
        species_pick = batch.species_next[species_starts + 2]
        # `_randbelow(n)` returns the accepted word's top `n.bit_length()` bits.
        category[species_index] = words[species_pick] >> np.uint32(32 - n_species.bit_length())
    else:
        species_pick = species_starts + 3
        # `choices`: bisect(cum_weights, random() * total, 0, n - 1), i.e. bisect_right within the first n - 1.
        scaled = _unit_floats(words[species_starts + 2], words[species_starts + 3]) * tables.weight_total
        category[species_index] = np.searchsorted(tables.cum_weights[: n_species - 1], scaled, side="right")
    pick[species_index] = species_pick

    legs_pick = batch.next_accepted(tables.legs_threshold, starts[noise_index] + 2)
    pick[noise_index] = legs_pick
    category[noise_index] = n_species

    height = tables.height_low[category] + tables.height_span[category] * _unit_floats(words[pick + 1], words[pick + 2])
    weight = tables.weight_low[category] + tables.weight_span[category] * _unit_floats(words[pick + 3], words[pick + 4])
    legs = tables.legs[category]  # fancy indexing copies: safe to overwrite the noise rows below
    has_wings = tables.has_wings[category]
    has_tail = tables.has_tail[category]
    if len(noise_index):
        legs_low, legs_high = spec.noise_legs
        legs_bits = (legs_high - legs_low + 1).bit_length()
        legs[noise_index] = legs_low + (words[legs_pick] >> np.uint32(32 - legs_bits)).astype(np.int64)
        wings_word = batch.next_accepted(tables.bool_threshold, legs_pick + 5)
        tail_word = batch.next_accepted(tables.bool_threshold, wings_word + 1)
        # choice([True, False]) returns True for r == 0, i.e. for an accepted word below 2**30.
        has_wings[noise_index] = words[wings_word] < np.uint32(1 << 30)
        has_tail[noise_index] = words[tail_word] < np.uint32(1 << 30)
    return PointBatch(category, legs, height, weight, has_wings, has_tail)


def iter_point_batches(
    seed: int,  # seeds a fresh `random.Random`, as `random.seed(seed)` does
    n: int,  # total number of points
    spec: GenerationSpec = DEFAULT_SPEC,  # what to generate
    batch_words: int = DEFAULT_BATCH_WORDS,  # words drawn per batch: bounds memory, whatever `n` is
) -> Iterator[PointBatch]:
    """The `n` points of `generate_reference(seed, n, spec=spec)`, as column batches, computed with numpy.

    Memory use is proportional to `batch_words`, not to `n`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if batch_words < 64:
        raise ValueError("batch_words must be at least 64")
    rng = random.Random(seed)
    tables = _Tables.from_spec(spec)
    carry = np.empty(0, dtype=np.uint32)  # words of a point that did not fit in the previous batch
    remaining = n
    while remaining > 0:
        # Draw about what the remaining points need (plus slack), at most one batch; a shortfall just means
        # another round, since the stream continues where it stopped.
        wanted = min(batch_words, int(remaining * _WORDS_PER_POINT * 1.02) + 64)
        words = _draw_words(rng, wanted)
        if len(carry):
            words = np.concatenate((carry, words))
        batch = _WordBatch(words, spec, tables)
        starts, resume = _walk(_successors(batch), len(words), remaining)
        carry = words[resume:]
        if starts:
            remaining -= len(starts)
            yield _decode_points(batch, np.array(starts, dtype=np.int64))


def generate(
    seed: int,  # seeds a fresh `random.Random`, as `random.seed(seed)` does
    n: int,  # number of points
    labeled: bool = False,  # add a "label" key: the species name or "noise"
    spec: GenerationSpec = DEFAULT_SPEC,  # what to generate; the default is the contract's process
) -> list[dict]:
    """The data points the service answers for `{"seed": seed, "number_of_datapoints": n}` (with the default
    spec), as a list of dicts; with `labeled=True` each also carries its true `"label"`.

    For tests of other packages: build a labeled copy of the service's data, or, with a `shifted_spec`,
    data that looks like a re-tuned service's. Same values as `generate_reference`, computed much faster.

    >>> generate(42, 1)
    [{'walks_on_n_legs': 2, 'height': 1.8966201999039332, 'weight': 52.24459269017381, 'has_wings': False, 'has_tail': True}]
    """  # noqa: E501
    labels = spec.labels
    points: list[dict] = []
    for batch in iter_point_batches(seed, n, spec):
        columns = [
            batch.walks_on_n_legs.tolist(),
            batch.height.tolist(),
            batch.weight.tolist(),
            batch.has_wings.tolist(),
            batch.has_tail.tolist(),
        ]
        if labeled:
            points.extend(
                {**dict(zip(FIELD_NAMES, values, strict=True)), "label": labels[code]}
                for *values, code in zip(*columns, batch.category.tolist(), strict=True)
            )
        else:
            points.extend(dict(zip(FIELD_NAMES, values, strict=True)) for values in zip(*columns, strict=True))
    return points


# ---------------------------------------------------------------------------------------------------------------------
# JSON: what the HTTP service sends
# ---------------------------------------------------------------------------------------------------------------------


def _suffix(has_wings: bool, has_tail: bool) -> bytes:
    "The end of a point object, after its weight."
    return b',"has_wings":%s,"has_tail":%s}' % (b"true" if has_wings else b"false", b"true" if has_tail else b"false")


_SUFFIXES = [_suffix(wings, tail) for wings in (False, True) for tail in (False, True)]  # by 2 * wings + tail
_ARRAY_START = len(_SUFFIXES)  # "previous suffix" code of the first point of the array
_TABLE_LEGS = 64  # joiners are tabulated for 0 <= legs < 64; other leg counts are formatted one by one


def _joiner(previous: int, legs: int) -> bytes:
    """What comes between the previous point's weight and this point's height: the previous point's suffix and a
    comma (or `[` for the first point), then this point's `{"walks_on_n_legs":L,"height":`."""
    head = b"[" if previous == _ARRAY_START else _SUFFIXES[previous] + b","
    return head + b'{"walks_on_n_legs":%d,"height":' % legs


_JOINERS = np.empty((_ARRAY_START + 1) * _TABLE_LEGS, dtype=object)
_JOINERS[:] = [_joiner(previous, legs) for previous in range(_ARRAY_START + 1) for legs in range(_TABLE_LEGS)]
_WEIGHT_KEY = b',"weight":'


def _float_tokens(values: np.ndarray) -> list[bytes]:
    "Each double as its shortest round-tripping JSON number (orjson), as a list of byte strings."
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


def _batch_json(batch: PointBatch, previous: int) -> tuple[bytes, int]:
    """The points of `batch` as JSON, each point but the last one's suffix; `previous` is the suffix code of the
    point before the batch (or `_ARRAY_START`). Returns the bytes and the suffix code still to write.

    Each point becomes four byte strings: joiner, height, `,"weight":`, weight. Joiners come from a table indexed
    by (previous suffix, legs), the numbers from one orjson call per column: no per-point Python formatting.
    """
    count = len(batch)
    suffix_code = batch.has_wings.astype(np.int64) * 2 + batch.has_tail
    previous_codes = np.empty(count, dtype=np.int64)
    previous_codes[0] = previous
    previous_codes[1:] = suffix_code[:-1]
    legs = batch.walks_on_n_legs
    if legs.min() >= 0 and legs.max() < _TABLE_LEGS:
        joiners = _JOINERS[previous_codes * _TABLE_LEGS + legs].tolist()
    else:  # never for the default spec; kept so any spec serialises
        joiners = [_joiner(p, v) for p, v in zip(previous_codes.tolist(), legs.tolist(), strict=True)]
    parts: list[bytes] = [_WEIGHT_KEY] * (4 * count)
    parts[0::4] = joiners
    parts[1::4] = _float_tokens(batch.height)
    parts[3::4] = _float_tokens(batch.weight)
    return b"".join(parts), int(suffix_code[-1])


def iter_json_chunks(
    seed: int,  # seeds a fresh `random.Random`, as `random.seed(seed)` does
    n: int,  # number of points
    batch_words: int = DEFAULT_BATCH_WORDS,  # words per batch: bounds memory and chunk size
) -> Iterator[bytes]:
    """The service's JSON answer, a compact array of point objects, in chunks of about 1 MB.

    Concatenated, the chunks are one JSON document whose numbers parse back to exactly the doubles
    `generate_reference` makes (orjson writes the shortest representation that round-trips).
    """
    previous = _ARRAY_START
    for batch in iter_point_batches(seed, n, DEFAULT_SPEC, batch_words):
        chunk, previous = _batch_json(batch, previous)
        yield chunk
    yield b"[]" if previous == _ARRAY_START else _SUFFIXES[previous] + b"]"


def generate_json(seed: int, n: int) -> bytes:
    "The whole JSON answer at once (see `iter_json_chunks`)."
    return b"".join(iter_json_chunks(seed, n))
