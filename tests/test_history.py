"""The history's conformance suite: every behaviour of the interface, run against SQLite and a real PostgreSQL, plus
what needs threads and processes (many writers on one history, concurrent claims with one winner) and servers that
stop mid-run. The examples and edge cases of each function are in the history's chapters (nbs/07_history.ipynb,
07a_bulk, 07b_postgres, 07c_jobs), under the function."""

import multiprocessing as mp
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from postgres import create_database, drop_database, postgres_server

from animal_challenge import bulk
from animal_challenge.history import (
    FeedbackConflict,
    HistoryError,
    NotJobOwner,
    NotYourPrediction,
    PredictionLog,
    SQLitePredictionLog,
    UnknownJob,
    UnknownPrediction,
)
from animal_challenge.jobs import JobLog
from animal_challenge.postgres import open_history

DOG = {"walks_on_n_legs": 4, "height": 0.6, "weight": 20.0, "has_wings": False, "has_tail": True}
CHICKEN = {"walks_on_n_legs": 2, "height": 0.4, "weight": 2.5, "has_wings": True, "has_tail": True}
ODD = {"walks_on_n_legs": 6, "height": 0.01, "weight": 0.001, "has_wings": True, "has_tail": False}


def answer(species: str, p: float = 0.9) -> dict:
    other = "chicken" if species == "dog" else "dog"
    return {
        "species": species,
        "reasons": ["6 legs is unlike every known species"] if species == "outlier" else [],
        "probabilities": {species: np.float64(p), other: np.float64(1 - p)} if species != "outlier" else {},
        "confidence": np.float64(p) if species != "outlier" else None,
        "confidence_low": p - 0.05 if species != "outlier" else None,
        "confidence_high": min(1.0, p + 0.05) if species != "outlier" else None,
        "conformal_set": [species] if species != "outlier" else [],
        "explanation": {
            "rule": "legs" if species == "outlier" else "size",
            "group": None if species == "outlier" else species,
            "decided_by": "a rule on the anatomy" if species == "outlier" else f"inside the {species} size range",
            "nearest": [DOG | {"label": "dog", "distance": 0.5}] if species == "outlier" else [],
        },
    }


def columns(*answers: dict) -> dict[str, list]:
    "Answers for several points, column by column, as the model gives them."
    return {c: [a[c] for a in answers] for c in answers[0]}


def batch(n: int, species: str = "dog") -> tuple[list[dict], dict[str, list]]:
    "`n` points of one kind and their answers."
    return [DOG if species == "dog" else CHICKEN] * n, columns(*[answer(species)] * n)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    "Where a fresh, empty history lives: a SQLite file, or a new database on the session's PostgreSQL server."
    if request.param == "sqlite":
        yield str(tmp_path / "history.sqlite")
        return
    server = request.getfixturevalue("postgres_url")
    url = create_database(server)
    try:
        yield url
    finally:
        drop_database(server, url)


@pytest.fixture
def log(location):
    with open_history(location) as log:
        yield log


def backdate(log: PredictionLog, days: float, up_to_id: int) -> None:
    "Pretend predictions 1..`up_to_id` were made `days` ago."
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")
    with log._session(write=True) as s:
        s.run("UPDATE predictions SET created_at = ? WHERE id <= ?", [when, up_to_id])


# --- predictions


def test_a_record_comes_back_as_it_went_in(log):
    (pid,) = log.record([DOG], columns(answer("dog", 0.75)), "model-1", client_id="c1")
    got = log.get(pid)
    assert {k: got[k] for k in DOG} == DOG
    assert got["has_wings"] is False and got["has_tail"] is True
    assert (got["species"], got["model_version"], got["client_id"]) == ("dog", "model-1", "c1")
    assert got["probabilities"] == {"dog": 0.75, "chicken": 0.25}
    assert list(got["probabilities"]) == ["dog", "chicken"]  # the order the model gave
    assert (got["confidence"], got["conformal_set"], got["reasons"], got["feedback"]) == (0.75, ["dog"], [], None)
    assert got["created_at"].endswith("+00:00")
    assert log.get(pid) == log.recent(client_id="c1")[0]


def test_a_batch_and_a_single_point_store_the_same_record(log):
    first, *_ = log.record([DOG, CHICKEN], columns(answer("dog"), answer("chicken")), "m", client_id="c1")
    (single,) = log.record([DOG], columns(answer("dog")), "m", client_id="c1")
    strip = lambda r: {k: v for k, v in r.items() if k not in ("id", "created_at")}  # noqa: E731
    assert strip(log.get(first)) == strip(log.get(single))


def test_outliers_keep_their_reasons(log):
    (pid,) = log.record([ODD], columns(answer("outlier")), "m")
    assert log.get(pid)["reasons"] == ["6 legs is unlike every known species"]


def test_text_with_tabs_newlines_quotes_and_backslashes_round_trips(log):
    weird = 'it\'s\ta\\b\nc\r"d" é'
    ans = {**answer("outlier"), "reasons": [weird, "x\\ny"]}
    ids = log.record([ODD, ODD], columns(ans, ans), weird, client_id=weird)
    (single,) = log.record([ODD], columns(ans), weird, client_id=weird)
    for pid in [*ids, single]:
        got = log.get(pid)
        assert (got["model_version"], got["client_id"], got["reasons"]) == (weird, weird, [weird, "x\\ny"])


def test_a_failed_batch_stores_nothing(log):
    log.record(*batch(3), "m")
    bad = columns(*[answer("dog")] * 3)
    bad["species"][1] = None
    with pytest.raises(HistoryError, match="cannot store predictions in"):
        log.record([DOG] * 3, bad, "m")
    with pytest.raises(ValueError, match="every answer column needs 3 values"):
        log.record([DOG] * 3, columns(answer("dog")), "m")
    assert log.count() == 3
    assert len(log.record(*batch(2), "m")) == 2 and log.count() == 5


def test_newest_first_pages_species_and_clients(log):
    ids = log.record([DOG, CHICKEN], columns(answer("dog"), answer("chicken")), "m", client_id="a")
    ids += log.record([DOG, ODD], columns(answer("dog"), answer("outlier")), "m", client_id="b")
    ids += log.record([CHICKEN], columns(answer("chicken")), "m")  # a row from before clients had ids
    newest = ids[::-1]
    recent = lambda **kw: [r["id"] for r in log.recent(**kw)]  # noqa: E731
    assert recent(everyone=True) == newest
    assert recent(limit=2, offset=1, everyone=True) == newest[1:3]
    assert recent(client_id="a") == [ids[1], ids[0]]
    assert recent(client_id="b", species="outlier") == [ids[3]]
    assert recent(client_id="a", everyone=True) == [ids[1], ids[0]]
    assert recent(species="chicken", everyone=True) == [ids[4], ids[1]]
    assert recent() == [] and recent(client_id="nobody") == [] and recent(offset=10, everyone=True) == []
    assert (log.count(), log.count("a"), log.count(everyone=False), log.count("a", everyone=False)) == (5, 2, 0, 2)


def test_unknown_ids_are_refused(log):
    (pid,) = log.record([DOG], columns(answer("dog")), "m", client_id="c")
    for bad in (pid + 1, 0, -1, 2**70):
        with pytest.raises(UnknownPrediction):
            log.get(bad)
        with pytest.raises(UnknownPrediction):
            log.propose_feedback(bad, "dog", admin=True)
        with pytest.raises(UnknownPrediction):
            log.review_feedback(bad, accept=True)
    with pytest.raises(UnknownJob):
        JobLog(log).get("nope")


# --- feedback


def test_feedback_is_a_proposal_only_its_client_or_the_admin_makes(log):
    (mine,) = log.record([DOG], columns(answer("dog")), "m", client_id="a")
    (old,) = log.record([DOG], columns(answer("dog")), "m")  # no client: the admin's
    got = log.propose_feedback(mine, "kangaroo", client_id="a")
    assert got["replaced"] is False and got["id"] == mine
    assert {k: got["feedback"][k] for k in ("species", "status", "client_id", "reviewed_at")} == {
        "species": "kangaroo",
        "status": "proposed",
        "client_id": "a",
        "reviewed_at": None,
    }
    assert log.propose_feedback(mine, "elephant", client_id="a")["replaced"] is True
    assert log.get(mine)["feedback"]["species"] == "elephant"
    with pytest.raises(NotYourPrediction):
        log.propose_feedback(mine, "dog", client_id="b")
    with pytest.raises(NotYourPrediction):
        log.propose_feedback(old, "dog", client_id="a")
    with pytest.raises(NotYourPrediction):
        log.propose_feedback(old, "dog")
    with pytest.raises(FeedbackConflict, match="another client"):
        log.propose_feedback(mine, "dog", admin=True)  # not even the admin overwrites a client's proposal
    with pytest.raises(ValueError, match="'unicorn' is not one of"):
        log.propose_feedback(mine, "unicorn", client_id="a")
    assert log.propose_feedback(old, "outlier", admin=True)["feedback"]["client_id"] is None
    assert log.propose_feedback(old, "chicken", admin=True)["replaced"] is True


def test_only_accepted_feedback_trains_once_per_point_and_review_is_final(log):
    a = log.record(
        [DOG, DOG, CHICKEN, ODD],
        columns(answer("dog"), answer("dog"), answer("chicken"), answer("outlier")),
        "m",
        client_id="a",
    )
    for pid, label in zip(a, ["kangaroo", "kangaroo", "outlier", "dog"], strict=True):
        log.propose_feedback(pid, label, client_id="a")
    assert len(log.accepted_points()) == 0
    assert [r["id"] for r in log.feedback_proposals()] == a
    for pid in a[:3]:
        assert log.review_feedback(pid, accept=True)["feedback"]["status"] == "accepted"
    rejected = log.review_feedback(a[3], accept=False)["feedback"]
    assert rejected["status"] == "rejected" and rejected["reviewed_at"] >= rejected["proposed_at"]
    accepted = log.accepted_points()
    assert accepted.to_dict("records") == [{**DOG, "label": "kangaroo"}, {**CHICKEN, "label": "outlier"}]
    assert [r["id"] for r in log.feedback_proposals("accepted")] == a[:3]
    assert [r["id"] for r in log.feedback_proposals("rejected")] == [a[3]]
    assert log.feedback_proposals() == []
    with pytest.raises(FeedbackConflict, match="no pending proposal"):
        log.review_feedback(a[0], accept=False)
    with pytest.raises(FeedbackConflict, match="is final"):
        log.propose_feedback(a[3], "dog", client_id="a")
    with pytest.raises(ValueError, match="status 'maybe'"):
        log.feedback_proposals("maybe")


def test_no_accepted_feedback_gives_an_empty_frame_with_the_columns(log):
    log.record([DOG], columns(answer("dog")), "m")
    points = log.accepted_points()
    assert len(points) == 0
    assert list(points.columns) == ["walks_on_n_legs", "height", "weight", "has_wings", "has_tail", "label"]


# --- monitoring


def test_window_species_over_time_and_export(log):
    a = log.record(*batch(3, "dog"), "m1", client_id="a")
    b = log.record(*batch(2, "chicken"), "m2", client_id="b")
    window = bulk.window(log, 4)
    assert window.species.tolist() == ["dog", "dog", "chicken", "chicken"]
    assert list(window.columns) == [*DOG, "species", "model_version", "created_at"]
    assert window.has_wings.dtype == bool and window.walks_on_n_legs.dtype == "int64"
    backdate(log, 2, a[-1])  # a's rows, two days ago
    days = bulk.species_over_time(log, "day", everyone=True)
    assert days[["species", "count"]].values.tolist() == [["dog", 3], ["chicken", 2]]
    assert days.start.iloc[0] < days.start.iloc[1] and str(days.start.dt.tz) == "UTC"
    assert bulk.species_over_time(log, "hour", client_id="b")[["species", "count"]].values.tolist() == [["chicken", 2]]
    assert len(bulk.species_over_time(log, "minute")) == 0
    assert [r["id"] for r in bulk.export(log, client_id="a")] == a
    assert [r["id"] for r in bulk.export(log, everyone=True)] == a + b
    assert list(bulk.export(log)) == []
    assert next(bulk.export(log, client_id="b")) == log.get(b[0])


def test_export_reads_every_row_a_page_at_a_time(log, monkeypatch):
    monkeypatch.setattr(bulk, "EXPORT_PAGE", 3)
    ids = log.record(*batch(7), "m", client_id="a")
    assert [r["id"] for r in bulk.export(log, client_id="a")] == ids


# --- retention


def test_prune_keeps_the_newest_rows_and_the_accepted_feedback(log):
    ids = log.record(*batch(10), "m", client_id="a")
    for pid in ids[:3]:
        log.propose_feedback(pid, "kangaroo", client_id="a")
    log.review_feedback(ids[0], accept=True)
    log.review_feedback(ids[1], accept=False)
    assert bulk.prune(log, max_rows=4) == 6
    assert [r["id"] for r in log.recent(everyone=True)] == ids[:-5:-1]
    assert log.accepted_points().label.tolist() == ["kangaroo"]  # its prediction is gone; the point stays
    assert log.feedback_proposals("rejected") == [] and log.feedback_proposals() == []
    assert bulk.prune(log, max_rows=4) == 0 and bulk.prune(log) == 0
    backdate(log, 40, ids[7])
    assert bulk.prune(log, max_age_days=30) == 2
    assert log.count() == 2
    assert bulk.prune(log, max_rows=0) == 2 and log.count() == 0
    with pytest.raises(ValueError, match="cannot be negative"):
        bulk.prune(log, max_rows=-1)


# --- training jobs


def test_a_job_is_queued_claimed_renewed_and_finished_by_its_owner(log):
    jobs = JobLog(log)
    job = jobs.create({"seed": 3, "n": 2000, "include_feedback": True, "activate": True})
    assert (job["state"], job["request"]["seed"], job["progress"], job["stage"]) == ("queued", 3, 0.0, "")
    assert len(job["id"]) == 12 and int(job["id"], 16) >= 0
    later = jobs.create({"seed": 4})
    assert [j["id"] for j in jobs.recent()] == [later["id"], job["id"]]
    running = jobs.claim("host:1")
    assert (running["id"], running["state"], running["owner"]) == (job["id"], "running", "host:1")
    assert running["lease_until"] > running["started_at"]
    assert jobs.claim("host:2") is None  # one at a time
    renewed = jobs.update(job["id"], "host:1", stage="fitting", progress=0.5)
    assert (renewed["stage"], renewed["progress"]) == ("fitting", 0.5)
    assert renewed["lease_until"] >= running["lease_until"]
    with pytest.raises(NotJobOwner, match="host:2 cannot change it"):
        jobs.update(job["id"], "host:2", progress=0.9)
    with pytest.raises(ValueError, match="no field"):
        jobs.update(job["id"], "host:1", lease_until="never")
    done = jobs.finish(job["id"], "host:1", "trained", version_id="v9", result={"gate": {"accuracy": 0.97}})
    assert (done["state"], done["version_id"], done["result"], done["lease_until"]) == (
        "trained",
        "v9",
        {"gate": {"accuracy": 0.97}},
        None,
    )
    assert done["finished_at"] >= done["started_at"]
    with pytest.raises(NotJobOwner, match="is trained"):
        jobs.finish(job["id"], "host:1", "failed", error="twice")
    assert jobs.claim("host:2")["id"] == later["id"]  # the next one, once the first ended
    with pytest.raises(UnknownJob):
        jobs.update("nope", "host:1")


def test_a_job_whose_trainer_died_fails_and_frees_the_queue(log):
    jobs = JobLog(log)
    dead = jobs.create({"seed": 1})
    waiting = jobs.create({"seed": 2})
    jobs.claim("dead:1")
    assert jobs.expire() == []
    assert jobs.expire(now=datetime.now(UTC) + timedelta(seconds=jobs.lease_s + 1)) == [dead["id"]]
    failed = jobs.get(dead["id"])
    assert failed["state"] == "failed" and "dead:1 stopped renewing the lease" in failed["error"]
    with pytest.raises(NotJobOwner):
        jobs.update(dead["id"], "dead:1", progress=0.9)
    jobs.lease_s = -1.0  # a lease that is over as soon as it is given: the next claim finds it stale
    jobs.claim("slow:2")
    third = jobs.create({"seed": 3})
    assert jobs.claim("fresh:3")["id"] == third["id"]
    assert jobs.get(waiting["id"])["state"] == "failed"


# --- faults


def make_read_only(log: PredictionLog, location: str) -> None:
    "Refuse every write from now on: SQLite's `query_only` (as a read-only file does), PostgreSQL's read-only default."
    if isinstance(log, SQLitePredictionLog):
        log.db.execute("PRAGMA query_only = ON")
        return
    import psycopg

    with psycopg.connect(location, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {location.rsplit('/', 1)[1]} SET default_transaction_read_only = on")
    log.pool.clear()  # the next connections are read-only


def test_a_read_only_history_refuses_every_write_and_says_why(log, location):
    (pid,) = log.record([DOG], columns(answer("dog")), "m", client_id="a")
    jobs = JobLog(log)
    job = jobs.create({"seed": 1})
    log.check_writable()
    make_read_only(log, location)
    writes = [
        lambda: log.record([DOG], columns(answer("dog")), "m"),
        lambda: log.record(*batch(3), "m"),
        lambda: log.propose_feedback(pid, "dog", client_id="a"),
        lambda: bulk.prune(log, max_rows=0),
        log.check_writable,
        lambda: jobs.create({"seed": 2}),
        lambda: jobs.claim("me"),
    ]
    for write in writes:
        with pytest.raises(HistoryError, match=rf"cannot \w+( \w+)* {log.location}: read-only"):
            write()
    assert log.get(pid)["id"] == pid and jobs.get(job["id"])["state"] == "queued"  # reads still work


def test_a_history_that_cannot_be_opened_says_where_and_why(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(HistoryError, match="cannot open the prediction history .*file/history.sqlite"):
        open_history(tmp_path / "file" / "history.sqlite")
    (tmp_path / "not-a-db.sqlite").write_text("hello, I am a text file" * 100)
    with pytest.raises(HistoryError, match="the file is not a SQLite database"):
        open_history(tmp_path / "not-a-db.sqlite")


def test_an_unreachable_postgres_is_named_with_its_password_hidden():
    from servers import free_port

    port = free_port()
    with pytest.raises(HistoryError) as e:
        open_history(f"postgresql://ac:secret@127.0.0.1:{port}/history")
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}" in str(e.value)
    assert "postgresql://ac:***@127.0.0.1" in str(e.value) and "secret" not in str(e.value)


def test_a_postgres_server_stopped_mid_run_fails_every_call_in_words_then_serves_again(postgres_bin):
    with postgres_server(postgres_bin) as server, open_history(server.url) as log:
        (pid,) = log.record([DOG], columns(answer("dog")), "m", client_id="a")
        jobs = JobLog(log)
        job = jobs.create({"seed": 1})
        server.stop()
        calls = [
            lambda: log.record(*batch(5), "m"),
            lambda: log.record([DOG], columns(answer("dog")), "m"),
            lambda: log.propose_feedback(pid, "dog", client_id="a"),
            lambda: log.review_feedback(pid, accept=True),
            lambda: bulk.prune(log, max_rows=0),
            log.check_writable,
            lambda: jobs.claim("me"),
            lambda: log.recent(everyone=True),
            lambda: jobs.get(job["id"]),
        ]
        for call in calls:
            with pytest.raises(HistoryError, match=f"cannot reach PostgreSQL at 127.0.0.1:{server.port}"):
                call()
        server.start()
        assert len(log.record(*batch(5), "m")) == 5
        assert log.count() == 6 and jobs.claim("me")["id"] == job["id"]


# --- many threads and processes


def test_threads_write_and_read_at_once(log):
    def write(i: int) -> list[int]:
        return log.record([DOG, CHICKEN], columns(answer("dog"), answer("chicken")), f"m{i}", client_id=f"c{i % 4}")

    def read(i: int) -> int:
        return len(log.recent(limit=10, client_id=f"c{i % 4}"))

    with ThreadPoolExecutor(16) as pool:
        writes = [pool.submit(write, i) for i in range(200)]
        reads = [pool.submit(read, i) for i in range(200)]
        ids = [i for f in writes for i in f.result()]
        assert all(f.result() <= 10 for f in reads)
    assert len(set(ids)) == 400 and log.count() == 400
    assert sorted(ids) == sorted(r["id"] for r in bulk.export(log, everyone=True))


def _write_from_process(location: str, n: int, worker: int) -> list[int]:
    with open_history(location) as log:
        ids = []
        for i in range(n):
            ids += log.record([DOG], columns(answer("dog")), f"worker{worker}", client_id=f"w{worker}")
            if i % 10 == 0:
                ids += log.record(*batch(5, "chicken"), f"worker{worker}", client_id=f"w{worker}")
        return ids


def test_processes_write_one_history_without_losing_rows(log, location):
    with mp.get_context("spawn").Pool(3) as pool:
        results = pool.starmap(_write_from_process, [(location, 60, w) for w in range(3)])
    per_worker = 60 + 6 * 5
    ids = [i for r in results for i in r]
    assert len(ids) == len(set(ids)) == 3 * per_worker
    assert log.count() == 3 * per_worker
    for w, mine in enumerate(results):
        assert sorted(mine, reverse=True) == [r["id"] for r in log.recent(limit=1000, client_id=f"w{w}")]


def _claim_from_process(location: str, owner: str, start, results) -> None:
    with open_history(location) as log:
        start.wait()  # every process is connected: claim at once
        job = JobLog(log).claim(owner)
        results.put((owner, job and job["id"]))


def test_concurrent_claims_from_processes_have_one_winner(log, location):
    jobs = JobLog(log)
    first, second = jobs.create({"seed": 1}), jobs.create({"seed": 2})
    ctx, n = mp.get_context("spawn"), 4
    start, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_claim_from_process, args=(location, f"p{i}", start, results)) for i in range(n)]
    for p in procs:
        p.start()
    claims = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    winners = {owner: job for owner, job in claims.items() if job}
    assert list(winners.values()) == [first["id"]]
    assert jobs.get(first["id"])["owner"] == next(iter(winners))
    assert jobs.get(second["id"])["state"] == "queued"


# --- SQLite only: the WAL


def test_a_background_thread_keeps_the_wal_small(tmp_path):
    wal_bytes = {}
    for every in (0.05, 3600.0):
        path = tmp_path / f"every-{every}.sqlite"
        with SQLitePredictionLog(path, checkpoint_every=every) as log:
            for _ in range(20):
                log.record(*batch(500), "m")
                time.sleep(0.08)
            wal_bytes[every] = Path(f"{path}-wal").stat().st_size
    assert wal_bytes[0.05] < wal_bytes[3600.0] / 4


def test_a_postgres_history_made_before_client_ids_and_explanations_gains_them_and_keeps_its_rows(postgres_url):
    "An older database (no `client_id`, no `explanation`): opening it adds the columns; its rows stay, the admin's."
    import psycopg

    url = create_database(postgres_url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE predictions (id BIGSERIAL PRIMARY KEY, created_at TEXT NOT NULL,"
                " model_version TEXT NOT NULL, walks_on_n_legs BIGINT NOT NULL, height DOUBLE PRECISION NOT NULL,"
                " weight DOUBLE PRECISION NOT NULL,"
                " has_wings BOOLEAN NOT NULL, has_tail BOOLEAN NOT NULL, species TEXT NOT NULL, reasons TEXT NOT NULL,"
                " probabilities TEXT NOT NULL, confidence DOUBLE PRECISION, confidence_low DOUBLE PRECISION,"
                " confidence_high DOUBLE PRECISION, conformal_set TEXT NOT NULL)"
            )
            conn.execute(
                "INSERT INTO predictions (created_at, model_version, walks_on_n_legs, height, weight, has_wings,"
                " has_tail, species, reasons, probabilities, confidence, confidence_low, confidence_high,"
                " conformal_set)"
                " VALUES ('2026-11-01T10:00:00.000+00:00', 'v0', 4, 0.6, 20, false, true, 'dog', '[]',"
                " '{\"dog\": 0.9}', 0.9, 0.85, 0.95, '[\"dog\"]')"
            )
        with open_history(url) as log:
            (old,) = log.recent(everyone=True)
            assert (old["species"], old["client_id"], old["explanation"], old["model_version"]) == (
                "dog",
                None,
                None,
                "v0",
            )
            assert log.recent(client_id="a" * 16) == []  # it belongs to no client: only the admin sees it
            (new,) = log.record([CHICKEN], columns(answer("chicken")), "v1", client_id="a" * 16)
            assert [r["id"] for r in log.recent(client_id="a" * 16)] == [new]
            assert log.get(new)["explanation"]["group"] == "chicken"
    finally:
        drop_database(postgres_url, url)
