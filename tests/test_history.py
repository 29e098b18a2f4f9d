"""The prediction history: round trips, paging, feedback, and many threads and processes writing one file."""

import multiprocessing as mp
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from animal_challenge.history import HistoryError, PredictionLog, UnknownPrediction

DOG = {"walks_on_n_legs": 4, "height": 0.6, "weight": 20.0, "has_wings": False, "has_tail": True}
CHICKEN = {"walks_on_n_legs": 2, "height": 0.4, "weight": 2.5, "has_wings": True, "has_tail": True}
ODD = {"walks_on_n_legs": 6, "height": 0.01, "weight": 0.001, "has_wings": True, "has_tail": False}


def answer(species: str, p: float = 0.9) -> dict:
    other = "chicken" if species == "dog" else "dog"
    return {
        "species": species,
        "reasons": ["6 legs is unlike every known species"] if species == "outlier" else [],
        "probabilities": {species: np.float64(p), other: np.float64(1 - p)} if species != "outlier" else {},
        "confidence": np.float64(p),
        "confidence_low": p - 0.05,
        "confidence_high": min(1.0, p + 0.05),
        "conformal_set": [species] if species != "outlier" else [],
    }


def columns(*answers: dict) -> dict[str, list]:
    "Answers for several points, column by column, as the model gives them."
    return {c: [a[c] for a in answers] for c in answers[0]}


@pytest.fixture
def log(tmp_path):
    with PredictionLog(tmp_path / "history.sqlite") as log:
        yield log


def test_a_record_comes_back_as_it_went_in(log):
    (pid,) = log.record([DOG], columns(answer("dog", 0.75)), "model-1")
    got = log.get(pid)
    assert {k: got[k] for k in DOG} == DOG
    assert got["has_wings"] is False and got["has_tail"] is True
    assert got["species"] == "dog"
    assert got["probabilities"] == {"dog": 0.75, "chicken": 0.25}
    assert got["confidence"] == 0.75
    assert got["conformal_set"] == ["dog"]
    assert got["reasons"] == []
    assert got["model_version"] == "model-1"
    assert got["feedback"] is None
    assert got["created_at"].endswith("+00:00")


def test_outliers_keep_their_reasons(log):
    (pid,) = log.record([ODD], columns(answer("outlier")), "m")
    assert log.get(pid)["reasons"] == ["6 legs is unlike every known species"]


def test_newest_first_pages_and_species_filter(log):
    ids = log.record(
        [DOG, CHICKEN, DOG, ODD], columns(answer("dog"), answer("chicken"), answer("dog"), answer("outlier")), "m"
    )
    assert ids == [1, 2, 3, 4]
    assert [r["id"] for r in log.recent()] == [4, 3, 2, 1]
    assert [r["id"] for r in log.recent(limit=2, offset=1)] == [3, 2]
    assert [r["id"] for r in log.recent(species="dog")] == [3, 1]
    assert [r["id"] for r in log.recent(species="outlier")] == [4]
    assert log.recent(species="elephant") == []
    assert log.recent(offset=10) == []
    assert log.count() == 4


def test_feedback_is_stored_replaced_and_exported_once_per_point(log):
    ids = log.record([DOG, DOG, CHICKEN], columns(answer("dog"), answer("dog"), answer("chicken")), "m")
    assert log.add_feedback(ids[0], "chicken")["feedback"] == "chicken"
    log.add_feedback(ids[0], "kangaroo")  # replaces the first answer
    log.add_feedback(ids[1], "kangaroo")  # same point, same label: one corrected point
    log.add_feedback(ids[2], "outlier")
    assert log.get(ids[0])["feedback"] == "kangaroo"
    corrected = log.corrected_points()
    assert corrected.to_dict("records") == [{**DOG, "label": "kangaroo"}, {**CHICKEN, "label": "outlier"}]


def test_feedback_refuses_unknown_ids_and_labels(log):
    (pid,) = log.record([DOG], columns(answer("dog")), "m")
    with pytest.raises(UnknownPrediction):
        log.add_feedback(pid + 1, "dog")
    with pytest.raises(ValueError, match="'unicorn' is not one of"):
        log.add_feedback(pid, "unicorn")
    with pytest.raises(UnknownPrediction):
        log.get(pid + 1)


def test_no_feedback_gives_an_empty_frame_with_the_columns(log):
    log.record([DOG], columns(answer("dog")), "m")
    corrected = log.corrected_points()
    assert len(corrected) == 0
    assert list(corrected.columns) == ["walks_on_n_legs", "height", "weight", "has_wings", "has_tail", "label"]


def test_a_folder_that_cannot_exist_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(HistoryError, match="Point ANIMAL_CHALLENGE_DB"):
        PredictionLog(tmp_path / "file" / "history.sqlite")


def test_a_history_that_refuses_writes_says_so(log):
    log.check_writable()
    log.db.execute("PRAGMA query_only = ON")  # what a read-only file does to every write, even for root
    with pytest.raises(HistoryError, match="is not writable: attempt to write a readonly database"):
        log.check_writable()


def test_threads_write_and_read_at_once(log):
    def write(i: int) -> list[int]:
        return log.record([DOG, CHICKEN], columns(answer("dog"), answer("chicken")), f"m{i}")

    def read(_: int) -> int:
        return len(log.recent(limit=10))

    with ThreadPoolExecutor(16) as pool:
        writes = [pool.submit(write, i) for i in range(300)]
        reads = [pool.submit(read, i) for i in range(300)]
        ids = [i for f in writes for i in f.result()]
        assert all(f.result() <= 10 for f in reads)
    assert sorted(ids) == list(range(1, 601))
    assert log.count() == 600


def _write_from_process(path: str, n: int, worker: int) -> list[int]:
    with PredictionLog(path) as log:
        ids = []
        for i in range(n):
            ids += log.record([DOG], columns(answer("dog")), f"worker{worker}")
            if i % 10 == 0:
                ids += log.record([CHICKEN] * 5, columns(*[answer("chicken")] * 5), f"worker{worker}")
        return ids


def test_processes_write_one_file_without_losing_rows(tmp_path):
    path = str(tmp_path / "history.sqlite")
    PredictionLog(path).close()
    with mp.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_write_from_process, [(path, 100, w) for w in range(4)])
    ids = [i for r in results for i in r]
    per_worker = 100 + 10 * 5
    assert len(ids) == 4 * per_worker
    assert sorted(ids) == list(range(1, 4 * per_worker + 1))
    with PredictionLog(path) as log:
        assert log.count() == 4 * per_worker
        assert {r["model_version"] for r in log.recent(limit=1000)} == {f"worker{w}" for w in range(4)}


def test_a_background_thread_keeps_the_wal_small(tmp_path):
    wal_bytes = {}
    for every in (0.05, 3600.0):
        path = tmp_path / f"every-{every}.sqlite"
        with PredictionLog(path, checkpoint_every=every) as log:
            for _ in range(20):
                log.record([DOG] * 500, columns(*[answer("dog")] * 500), "m")
                time.sleep(0.08)
            wal_bytes[every] = Path(f"{path}-wal").stat().st_size
    assert wal_bytes[0.05] < wal_bytes[3600.0] / 4
