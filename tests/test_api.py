"""The REST API: every endpoint and error path through Litestar's test client, and end to end with real servers."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pandas as pd
import pytest
import uvicorn
from animal_data_service.background import running_service
from animal_data_service.generator import generate
from litestar import Litestar
from litestar.testing import TestClient
from moto.server import ThreadedMotoServer
from servers import BIN, CHROMIUM, data_service, free_port, launch_chromium, running

from animal_challenge.api import TrainRequest, create_app
from animal_challenge.config import Settings
from animal_challenge.history import HistoryError, SQLitePredictionLog, open_history
from animal_challenge.model import TRUSTED_TYPES, AnimalModel, train_model
from animal_challenge.registry import LocalModelStore, ModelStore, ModelVersion, open_store
from animal_challenge.schema import OUTLIER, validate_points

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOG = {"walks_on_n_legs": 4, "height": 0.5, "weight": 20.0, "has_wings": False, "has_tail": True}
CHICKEN = {"walks_on_n_legs": 2, "height": 0.3, "weight": 2.0, "has_wings": True, "has_tail": True}
KANGAROO = {"walks_on_n_legs": 2, "height": 1.8, "weight": 60.0, "has_wings": False, "has_tail": True}
SPIDER = {"walks_on_n_legs": 8, "height": 0.02, "weight": 0.01, "has_wings": False, "has_tail": False}
PROVENANCE = {"service_url": "http://test", "seed": 0, "n": 0, "n_outliers": 0, "label_counts": {}}


@pytest.fixture(scope="session")
def animal_model() -> AnimalModel:
    "A real AnimalModel, trained on 2000 labeled points from the data service's generator."
    df = pd.DataFrame(generate(seed=1, n=2000, labeled=True))
    return train_model(validate_points(df), df.label.replace({"noise": OUTLIER}))


@pytest.fixture(scope="session")
def service_url() -> Iterator[str]:
    "The real data service, in a thread of this process."
    with running_service() as url:
        yield url


def save_version(store: ModelStore, model: AnimalModel, activate: bool = True) -> ModelVersion:
    "Store `model` as a new version (active unless told otherwise)."
    version = store.save(model, {"metrics": model.metrics, "provenance": PROVENANCE})
    return store.activate(version.id) if activate else version


def instant_trainer(model: AnimalModel):
    "A trainer with `train_and_store`'s signature that stores `model` again instead of training (for error paths)."

    def train(seed, n, settings, store, extra_points=None, activate=True, progress=None) -> ModelVersion:
        progress("fitting the model", 0.5)
        return save_version(store, model, activate)

    return train


def app_for(tmp_path: Path, store: ModelStore | None = None, **settings) -> Litestar:
    "An app over a fresh history; the data service is down unless `data_service_url` is given."
    settings = {"data_service_url": "http://127.0.0.1:9", **settings}
    return create_app(Settings(data_dir=tmp_path, api_token=TOKEN, **settings), store=store)


@pytest.fixture
def store(tmp_path, animal_model) -> LocalModelStore:
    store = LocalModelStore(tmp_path / "models", trusted=TRUSTED_TYPES)
    save_version(store, animal_model)
    return store


@pytest.fixture
def client(tmp_path, store) -> Iterator[TestClient]:
    with TestClient(app_for(tmp_path, store, max_batch=50)) as client:
        yield client


def keys(response) -> list[str]:
    "The fields a 400 answer names."
    return [e.get("key") for e in response.json().get("extra", [])]


@contextmanager
def serving(app: Litestar) -> Iterator[str]:
    "Run `app` with uvicorn (one worker, in a thread of this process) on a free port; yields its base URL."
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# --- health and readiness


def test_health_says_alive(client):
    assert client.get("/health").json() == {"status": "alive"}


def test_ready_with_a_model_but_no_data_service_is_degraded(client, store):
    r = client.get("/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded"
    assert body["model_version"] == store.active_id()
    assert list(body["problems"]) == ["data_service"]
    assert "cannot reach the data service at http://127.0.0.1:9" in body["problems"]["data_service"]


def test_ready_without_a_model_says_how_to_train_one(tmp_path):
    empty = LocalModelStore(tmp_path / "empty")
    with TestClient(app_for(tmp_path, empty)) as client:
        r = client.get("/ready")
        assert r.status_code == 503
        assert r.json()["status"] == "not ready"
        assert "holds no model yet; train one with `animal-challenge train" in r.json()["problems"]["model"]
        refused = client.post("/predict", json=DOG)
        assert refused.status_code == 503
        assert "holds no model yet" in refused.json()["detail"]


def test_train_if_empty_trains_a_first_model(tmp_path, service_url, monkeypatch):
    monkeypatch.setattr("animal_challenge.api.FIRST_TRAINING", TrainRequest(seed=5, n=2000))
    empty = LocalModelStore(tmp_path / "empty", trusted=TRUSTED_TYPES)
    settings = Settings(data_dir=tmp_path, api_token=TOKEN, data_service_url=service_url)
    with TestClient(create_app(settings, store=empty, train_if_empty=True)) as client:
        assert "the first model is being trained" in client.post("/predict", json=DOG).json()["detail"]
        deadline = time.monotonic() + 60
        while not client.get("/ready").json()["model_version"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.post("/predict", json=DOG).json()["model_version"] == empty.active_id()
        assert empty.get(empty.active_id()).provenance.seed == 5


# --- predictions


def test_predict_answers_200_with_the_whole_answer_and_stores_it(client, store):
    r = client.post("/predict", json=DOG)
    assert r.status_code == 200
    body = r.json()
    served, version = store.load()
    assert body == {"id": 1, "model_version": version.id, **served.predict_one(DOG)}
    assert body["species"] == "dog" and body["conformal_set"] == ["dog"] and body["reasons"] == []
    assert body["probabilities"].keys() == {"kangaroo", "elephant", "chicken", "dog"}
    assert body["confidence_low"] <= body["confidence"] <= body["confidence_high"]
    stored = client.get("/predictions").json()
    assert len(stored) == 1
    assert stored[0]["point"] == DOG
    assert stored[0]["species"] == "dog" and stored[0]["id"] == 1


def test_an_unknown_but_possible_animal_is_an_outlier_not_an_error(client):
    r = client.post("/predict", json=SPIDER)
    assert r.status_code == 200
    assert r.json()["species"] == "outlier"
    assert r.json()["reasons"] == ["walks on 8 legs: known animals walk on 2 or 4"]


BAD_POINTS = [
    ({k: v for k, v in DOG.items() if k != "weight"}, "weight"),  # missing
    ({**DOG, "has_wings": "yes"}, "has_wings"),  # no "yes" for a bool
    ({**DOG, "height": "1.5"}, "height"),  # no "1.5" for a float
    ({**DOG, "walks_on_n_legs": 4.5}, "walks_on_n_legs"),
    ({**DOG, "height": -1.0}, "height"),
    ({**DOG, "weight": 0}, "weight"),
    ({**DOG, "walks_on_n_legs": -1}, "walks_on_n_legs"),
    ({**DOG, "walks_on_n_legs": 1001}, "walks_on_n_legs"),
    ({**DOG, "colour": "brown"}, "colour"),  # unknown extra field
    ({**DOG, "has_tail": None}, "has_tail"),
]


@pytest.mark.parametrize(("point", "field"), BAD_POINTS)
def test_bad_points_are_refused_naming_the_field(client, point, field):
    r = client.post("/predict", json=point)
    assert r.status_code == 400
    assert keys(r) == [field]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_naming_the_field(client, value):
    body = json.dumps(DOG).replace("20.0", value)
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert keys(r) == ["weight"]
    assert r.json()["extra"][0]["message"] == "Input should be a finite number"


def test_nan_inside_a_batch_names_the_point(client):
    body = json.dumps({"points": [DOG, DOG]}).replace("20.0", "NaN", 2)
    r = client.post("/predict/batch", content=body, headers={"content-type": "application/json"})
    assert keys(r) == ["points.0.weight", "points.1.weight"]


def test_a_body_that_is_not_json_or_not_a_point_is_400(client):
    for body in ["{not json", "[1, 2]", '"dog"', ""]:
        r = client.post("/predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, body


def test_an_oversized_body_is_413(client):
    r = client.post("/predict", content=json.dumps({**DOG, "pad": "x" * 20_000}))
    assert r.status_code == 413
    huge = {"points": [DOG] * 2000}  # over the batch body limit for max_batch=50
    assert client.post("/predict/batch", json=huge).status_code == 413


def test_batch_answers_in_order_and_stores_each_point(client, animal_model):
    points = [DOG, CHICKEN, SPIDER, DOG]
    r = client.post("/predict/batch", json={"points": points})
    assert r.status_code == 200
    body = r.json()
    assert [p["species"] for p in body["predictions"]] == ["dog", "chicken", "outlier", "dog"]
    one_by_one = [animal_model.predict_one(p) for p in points]
    for got, want in zip(body["predictions"], one_by_one, strict=True):
        assert got["probabilities"] == pytest.approx(want["probabilities"])
        assert (got["conformal_set"], got["reasons"]) == (want["conformal_set"], want["reasons"])
    assert [p["id"] for p in body["predictions"]] == [1, 2, 3, 4]
    stored = client.get("/predictions", params={"limit": 10}).json()
    assert [s["point"] for s in stored] == points[::-1]


def test_batch_over_the_limit_says_the_limit(client):
    r = client.post("/predict/batch", json={"points": [DOG] * 51})
    assert r.status_code == 400
    assert r.json()["detail"] == "a batch holds at most 50 points, this one has 51: split it"
    assert keys(r) == ["points"]
    assert client.get("/predictions").json() == []  # nothing was stored


def test_an_empty_batch_is_refused(client):
    r = client.post("/predict/batch", json={"points": []})
    assert r.status_code == 400 and keys(r) == ["points"]


def test_a_history_that_cannot_be_written_gives_503_not_an_unlogged_answer(tmp_path, store):
    class BrokenLog(SQLitePredictionLog):
        def record(self, *args, **kwargs):
            raise HistoryError("disk full")

    settings = Settings(data_dir=tmp_path, api_token=TOKEN)
    app = create_app(settings, store=store, log=BrokenLog(tmp_path / "h.sqlite"))
    with TestClient(app) as client:
        r = client.post("/predict", json=DOG)
        assert r.status_code == 503
        assert r.json()["detail"] == "the prediction was not stored, so it is not returned: disk full"


# --- history and feedback


def test_predictions_are_listed_newest_first_with_paging_and_filter(client):
    client.post("/predict/batch", json={"points": [DOG, CHICKEN, SPIDER, DOG, CHICKEN]})
    ids = lambda **params: [p["id"] for p in client.get("/predictions", params=params).json()]  # noqa: E731
    assert ids() == [5, 4, 3, 2, 1]
    assert ids(limit=2, offset=1) == [4, 3]
    assert ids(species="chicken") == [5, 2]
    assert ids(species="outlier") == [3]
    assert ids(species="elephant") == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"species": "unicorn"}])
def test_bad_paging_parameters_are_400(client, params):
    r = client.get("/predictions", params=params)
    assert r.status_code == 400
    assert keys(r) == list(params)


def test_feedback_is_stored_and_checked(client):
    pid = client.post("/predict", json=KANGAROO).json()["id"]
    r = client.post(f"/predictions/{pid}/feedback", json={"species": "kangaroo"})
    assert r.status_code == 200
    assert r.json()["feedback"] == "kangaroo" and r.json()["species"] == "kangaroo"
    assert client.get("/predictions").json()[0]["feedback"] == "kangaroo"
    assert client.post(f"/predictions/{pid + 1}/feedback", json={"species": "dog"}).status_code == 404
    bad = client.post(f"/predictions/{pid}/feedback", json={"species": "unicorn"})
    assert bad.status_code == 400 and keys(bad) == ["species"]
    assert keys(client.post(f"/predictions/{pid}/feedback", json={"label": "dog"})) == ["species", "label"]
    client.app.state.log.review_feedback(pid, accept=False)  # reviewed: final
    assert client.post(f"/predictions/{pid}/feedback", json={"species": "dog"}).status_code == 409


# --- models


def test_models_are_listed_and_shown_with_metrics_and_provenance(client, store, animal_model):
    active = store.active_id()
    listed = client.get("/models").json()
    assert [m["id"] for m in listed] == [active]
    assert listed[0]["active"] is True
    shown = client.get(f"/models/{active}").json()
    assert shown["metrics"]["accuracy"] == animal_model.metrics["accuracy"] > 0.9
    assert shown["provenance"]["service_url"] == "http://test"
    assert shown["libraries"]["scikit-learn"]
    assert client.get("/models/20000101T000000Z-abcdef").status_code == 404
    assert client.get("/models/not-an-id").status_code == 404


def test_activation_needs_the_token_and_swaps_the_model_at_once(client, store, animal_model):
    old = store.active_id()
    new = save_version(store, animal_model, activate=False).id
    assert client.post(f"/models/{new}/activate").status_code == 401
    wrong = client.post(f"/models/{new}/activate", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert client.post("/predict", json=DOG).json()["model_version"] == old
    r = client.post(f"/models/{new}/activate", headers=AUTH)
    assert r.status_code == 200 and r.json()["id"] == new and r.json()["active"] is True
    assert client.post("/predict", json=DOG).json()["model_version"] == new
    assert store.active_id() == new
    assert client.post("/models/20000101T000000Z-abcdef/activate", headers=AUTH).status_code == 404


def test_a_tampered_version_is_not_activated(client, store, tmp_path, animal_model):
    new = save_version(store, animal_model, activate=False).id
    artifact = tmp_path / "models" / "versions" / new / "model.skops"
    artifact.write_bytes(artifact.read_bytes() + b"x")
    r = client.post(f"/models/{new}/activate", headers=AUTH)
    assert r.status_code == 409
    assert "checksum mismatch" in r.json()["detail"]
    assert client.post("/predict", json=DOG).json()["model_version"] != new


def test_without_a_configured_token_training_and_activation_say_how_to_set_one(tmp_path, store):
    app = create_app(Settings(data_dir=tmp_path), store=store)
    with TestClient(app) as client:
        for r in [
            client.post(f"/models/{store.active_id()}/activate", headers=AUTH),
            client.post("/models/train", json={}, headers=AUTH),
        ]:
            assert r.status_code == 403
            assert "ANIMAL_CHALLENGE_API_TOKEN" in r.json()["detail"] and "--token" in r.json()["detail"]


def wait_for_job(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/models/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_training_runs_as_a_job_and_swaps_in_the_new_model(tmp_path, store, service_url):
    with TestClient(app_for(tmp_path, store, data_service_url=service_url)) as client:
        pid = client.post("/predict", json=KANGAROO).json()["id"]
        client.post(f"/predictions/{pid}/feedback", json={"species": "kangaroo"})
        client.app.state.log.review_feedback(pid, accept=True)  # a proposal trains once the admin accepts it
        assert client.post("/models/train", json={"seed": 3, "n": 500}).status_code == 401
        r = client.post("/models/train", json={"seed": 3, "n": 2000, "include_feedback": True}, headers=AUTH)
        assert r.status_code == 202
        job = r.json()
        assert job["state"] in ("queued", "running") and job["seed"] == 3
        done = wait_for_job(client, job["id"])
        assert done["state"] == "succeeded" and done["progress"] == 1.0 and done["error"] is None
        assert done["version_id"] == store.active_id()
        assert client.post("/predict", json=DOG).json()["model_version"] == done["version_id"]
        provenance = client.get(f"/models/{done['version_id']}").json()["provenance"]
        assert (provenance["seed"], provenance["n"], provenance["n_feedback"]) == (3, 2000, 1)
        assert client.get("/models/jobs/nope").status_code == 404


def test_a_failed_training_job_keeps_the_model_and_says_why(tmp_path, store, monkeypatch):
    monkeypatch.setattr("animal_challenge.api.data_service_answers", lambda url: None)

    def broken(**kwargs):
        raise RuntimeError("the data service vanished")

    settings = Settings(data_dir=tmp_path, api_token=TOKEN)
    with TestClient(create_app(settings, store=store, trainer=broken)) as client:
        before = store.active_id()
        job = client.post("/models/train", json={"n": 500}, headers=AUTH).json()
        done = wait_for_job(client, job["id"])
        assert done["state"] == "failed"
        assert done["error"] == "RuntimeError: the data service vanished"
        assert client.post("/predict", json=DOG).json()["model_version"] == before


def test_training_with_the_data_service_down_is_503_with_the_reason(client):
    r = client.post("/models/train", json={"n": 500}, headers=AUTH)
    assert r.status_code == 503
    assert r.json()["detail"].startswith("cannot train now, the data service is unavailable: cannot reach")


@pytest.mark.parametrize("body", [{"n": "500"}, {"n": 10}, {"seed": -1}, {"include_feedback": "yes"}, {"x": 1}])
def test_bad_training_requests_name_the_field(client, body):
    r = client.post("/models/train", json=body, headers=AUTH)
    assert r.status_code == 400
    assert keys(r) == list(body)


# --- a store that goes away


@contextmanager
def own_moto() -> Iterator[ThreadedMotoServer]:
    "A moto S3 server this test may stop."
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        yield server
    finally:
        with suppress(Exception):  # already stopped by the test
            server.stop()


def test_predictions_continue_when_the_s3_store_goes_down(tmp_path, service_url, animal_model):
    with own_moto() as moto:
        host, port = moto.get_host_and_port()
        settings = Settings(
            data_dir=tmp_path,
            api_token=TOKEN,
            store="s3://models/api",
            s3_endpoint=f"{host}:{port}",
            data_service_url=service_url,
        )
        store = open_store(settings.store_location, settings, TRUSTED_TYPES)
        version = save_version(store, animal_model)
        with TestClient(create_app(settings)) as client:
            assert client.get("/ready").json()["status"] == "ready"
            moto.stop()
            assert client.post("/predict", json=DOG).json()["model_version"] == version.id
            ready = client.get("/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert "cannot reach the S3 server" in ready.json()["problems"]["store"]
            train = client.post("/models/train", json={"n": 500}, headers=AUTH)
            assert train.status_code == 503
            assert "the model store is unavailable" in train.json()["detail"]
            assert client.get("/models").status_code == 503
            assert client.post(f"/models/{version.id}/activate", headers=AUTH).status_code == 503
            assert len(client.get("/predictions").json()) == 1  # nothing stored was lost


def test_the_api_starts_with_the_store_down_and_says_so(tmp_path):
    settings = Settings(data_dir=tmp_path, api_token=TOKEN, store="s3://models/api", s3_endpoint="127.0.0.1:9")
    with TestClient(create_app(settings)) as client:
        r = client.get("/ready")
        assert r.status_code == 503
        assert "cannot reach the S3 server" in r.json()["problems"]["model"]
        assert "cannot reach the S3 server" in client.post("/predict", json=DOG).json()["detail"]


# --- docs


def test_docs_render_from_local_assets_and_the_spec_is_served(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "https://" not in page.text  # no CDN: every asset comes from the API itself
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js", "favicon-32x32.png"]:
        assert f"/docs/assets/{asset}" in page.text
        assert client.get(f"/docs/assets/{asset}").status_code == 200
    spec = client.get("/docs/openapi.json").json()
    assert set(spec["paths"]) == {
        "/health",
        "/ready",
        "/predict",
        "/predict/batch",
        "/predictions",
        "/predictions/{prediction_id}/feedback",
        "/models",
        "/models/train",
        "/models/jobs/{job_id}",
        "/models/{version_id}",
        "/models/{version_id}/activate",
    }
    assert spec["paths"]["/predict"]["post"]["responses"].keys() >= {"200", "400", "413", "503"}
    assert spec["paths"]["/models/train"]["post"]["security"] == [{"bearer": []}]


# --- end to end: the console script, the real data service, the S3 store on a moto server


def wait_for(http: httpx.Client, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_end_to_end_with_real_servers_and_s3(tmp_path, moto_s3):
    port = free_port()
    env = {
        "ANIMAL_CHALLENGE_S3_ENDPOINT": moto_s3.endpoint,
        "ANIMAL_CHALLENGE_S3_ACCESS_KEY": moto_s3.access_key,
        "ANIMAL_CHALLENGE_S3_SECRET_KEY": moto_s3.secret_key,
        "ANIMAL_CHALLENGE_API_TOKEN": TOKEN,
    }
    with data_service() as service_url:
        cmd = [str(BIN / "animal-challenge"), "api", "--port", str(port), "--store", "s3://e2e/models"]
        cmd += ["--db", str(tmp_path / "history.sqlite"), "--data-service-url", service_url]
        with (
            running([*cmd, "--train-if-empty"], f"http://127.0.0.1:{port}/health", env),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            # A first model is trained from the data service and stored in S3.
            wait_for(http, lambda: http.get("/ready").json()["model_version"])
            assert http.get("/ready").json() == {
                "status": "ready",
                "model_version": http.get("/models").json()[0]["id"],
                "problems": {},
            }
            first = http.get("/ready").json()["model_version"]
            assert http.get(f"/models/{first}").json()["provenance"]["service_url"] == service_url

            answer = http.post("/predict", json=KANGAROO).json()
            assert (answer["species"], answer["model_version"]) == ("kangaroo", first)
            batch = http.post("/predict/batch", json={"points": [DOG, CHICKEN, SPIDER]}).json()
            assert [p["species"] for p in batch["predictions"]] == ["dog", "chicken", "outlier"]
            assert http.post(f"/predictions/{answer['id']}/feedback", json={"species": "kangaroo"}).status_code == 200
            with open_history(tmp_path / "history.sqlite") as history:  # the admin accepts it, from another process
                history.review_feedback(answer["id"], accept=True)

            job = http.post("/models/train", json={"seed": 9, "n": 3000, "include_feedback": True}, headers=AUTH)
            assert job.status_code == 202
            wait_for(http, lambda: http.get(f"/models/jobs/{job.json()['id']}").json()["state"] == "succeeded")
            second = http.get(f"/models/jobs/{job.json()['id']}").json()["version_id"]
            assert http.post("/predict", json=DOG).json()["model_version"] == second
            assert http.get(f"/models/{second}").json()["provenance"]["n_feedback"] == 1

            assert http.post(f"/models/{first}/activate", headers=AUTH).json()["active"] is True
            assert http.post("/predict", json=DOG).json()["model_version"] == first
            assert "/docs/assets/swagger-ui-bundle.js" in http.get("/docs").text
            made = len(http.get("/predictions", params={"limit": 1000}).json())
            assert made == 6

        # Restarted on the same store and history: the active version comes back, nothing stored was lost.
        with (
            running(cmd, f"http://127.0.0.1:{port}/health", env),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            assert http.get("/ready").json()["model_version"] == first
            assert [m["id"] for m in http.get("/models").json()] == [second, first]
            assert len(http.get("/predictions", params={"limit": 1000}).json()) == made
            assert http.post("/predict", json=DOG).json()["id"] == made + 1


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}")
def test_docs_render_in_a_browser_with_no_internet(tmp_path, store):
    sync_api = pytest.importorskip("playwright.sync_api")
    with serving(app_for(tmp_path, store)) as url, sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        outside: list[str] = []

        def only_the_api(route):  # anything not served by the API itself is what "no internet" would break
            if route.request.url.startswith(url):
                return route.continue_()
            outside.append(route.request.url)
            return route.abort()

        page.route("**/*", only_the_api)
        page.goto(f"{url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "Animal Challenge API" in page.inner_text(".swagger-ui .info .title")
        assert page.locator(".opblock").count() == 11  # every endpoint is listed
        browser.close()
    assert outside == []
