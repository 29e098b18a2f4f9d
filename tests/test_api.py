"""The REST API where the API chapter cannot go: a store that goes away, a first model trained at start, the console
script against real servers and S3, and the docs in a real browser (every endpoint's behaviour is in 09c_api)."""

import itertools
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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

from animal_challenge.api import create_app
from animal_challenge.artifacts import ModelVersion
from animal_challenge.config import Settings
from animal_challenge.contract import TrainRequest
from animal_challenge.model import TRUSTED_TYPES, AnimalModel, train_model
from animal_challenge.process import patience
from animal_challenge.registry import LocalModelStore, ModelStore
from animal_challenge.s3store import open_store
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


@contextmanager
def serving(app: Litestar) -> Iterator[str]:
    "Run `app` with uvicorn (one worker, in a thread of this process) on a free port; yields its base URL."
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + patience(30)
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# --- a first model, trained at start


def test_train_if_empty_trains_a_first_model(tmp_path, service_url, monkeypatch):
    monkeypatch.setattr("animal_challenge.api.FIRST_MODEL", TrainRequest(seed=5, n=2000))
    empty = LocalModelStore(tmp_path / "empty", trusted=TRUSTED_TYPES)
    settings = Settings(data_dir=tmp_path, api_token=TOKEN, data_service_url=service_url)
    with TestClient(create_app(settings, store=empty, train_if_empty=True)) as client:
        assert "the first model is being trained" in client.post("/predict", json=DOG).json()["detail"]
        deadline = time.monotonic() + 60
        while not client.get("/ready").json()["model_version"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.post("/predict", json=DOG).json()["model_version"] == empty.active_id()
        assert empty.get(empty.active_id()).provenance.seed == 5


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
            assert len(client.get("/predictions", headers=AUTH).json()) == 1  # nothing stored was lost


def test_the_api_starts_with_the_store_down_and_says_so(tmp_path):
    settings = Settings(data_dir=tmp_path, api_token=TOKEN, store="s3://models/api", s3_endpoint="127.0.0.1:9")
    with TestClient(create_app(settings)) as client:
        r = client.get("/ready")
        assert r.status_code == 503
        assert "cannot reach the S3 server" in r.json()["problems"]["model"]
        assert "cannot reach the S3 server" in client.post("/predict", json=DOG).json()["detail"]


# --- a signed store


def test_a_signed_api_refuses_forged_and_unsigned_versions_with_a_409(tmp_path, animal_model):
    key = "the signing key of the API tests"
    signed = open_store(str(tmp_path / "models"), Settings(signing_key=key), TRUSTED_TYPES)
    good, forged = save_version(signed, animal_model), save_version(signed, animal_model, activate=False)
    record = signed.folder / "versions" / forged.id / "metadata.json"
    record.write_text(record.read_text().replace('"seed": 0', '"seed": 1'))  # an edit without the key
    unsigned = save_version(LocalModelStore(tmp_path / "plain", TRUSTED_TYPES), animal_model)
    with TestClient(app_for(tmp_path, signing_key=key)) as client:
        assert client.post("/predict", json=DOG).json()["model_version"] == good.id
        refused = client.post(f"/models/{forged.id}/activate", headers=AUTH)
        assert (refused.status_code, refused.json()["detail"]) == (
            409,
            f"signature mismatch for version {forged.id}: its record does not verify with this store's signing key; "
            "it was changed after it was saved, or signed with another key. It is not used: activate another version "
            "or train a new one.",
        )
        assert client.get(f"/models/{forged.id}").status_code == 409
        assert client.post("/predict", json=DOG).json()["model_version"] == good.id
    keyed = Settings(data_dir=tmp_path / "second", store=str(tmp_path / "plain"), signing_key=key)
    with TestClient(create_app(keyed)) as client:  # a key set on a store written without one
        listed = client.get("/models")
        assert listed.status_code == 409 and f"version {unsigned.id} is not signed" in listed.json()["detail"]


# --- end to end: the console script, the real data service, the S3 store on a moto server


def wait_for(http: httpx.Client, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + patience(timeout)
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
                "job": None,
            }
            first = http.get("/ready").json()["model_version"]
            assert http.get(f"/models/{first}").json()["provenance"]["service_url"] == service_url

            me = {"X-Client-Id": "end-to-end-client-01"}
            answer = http.post("/predict", json=KANGAROO, headers=me).json()
            assert (answer["species"], answer["model_version"]) == ("kangaroo", first)
            batch = http.post("/predict/batch", json={"points": [DOG, CHICKEN, SPIDER]}).json()
            assert [p["species"] for p in batch["predictions"]] == ["dog", "chicken", "outlier"]
            proposal = http.post(f"/predictions/{answer['id']}/feedback", json={"species": "kangaroo"}, headers=me)
            assert proposal.json()["feedback"]["status"] == "proposed"
            review = http.post(f"/feedback/{answer['id']}/review", json={"accept": True}, headers=AUTH)
            assert review.json()["feedback"]["status"] == "accepted"  # only an accepted correction trains

            job = http.post("/models/train", json={"seed": 9, "n": 3000, "include_feedback": True}, headers=AUTH)
            assert job.status_code == 202
            wait_for(
                http, lambda: http.get(f"/models/jobs/{job.json()['id']}").json()["state"] not in ("queued", "running")
            )
            assert http.get(f"/models/jobs/{job.json()['id']}").json()["state"] == "succeeded"  # past the gate
            second = http.get(f"/models/jobs/{job.json()['id']}").json()["version_id"]
            assert http.post("/predict", json=DOG).json()["model_version"] == second
            assert http.get(f"/models/{second}").json()["provenance"]["n_feedback"] == 1

            assert http.post(f"/models/{first}/activate", headers=AUTH).json()["active"] is True
            assert http.post("/predict", json=DOG).json()["model_version"] == first
            assert "/docs/assets/swagger-ui-bundle.js" in http.get("/docs").text
            made = len(http.get("/predictions", params={"limit": 1000}, headers=AUTH).json())
            assert made == 6

        # Restarted on the same store and history: the active version comes back, nothing stored was lost.
        with (
            running(cmd, f"http://127.0.0.1:{port}/health", env),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            assert http.get("/ready").json()["model_version"] == first
            assert [m["id"] for m in http.get("/models").json()] == [second, first]
            assert len(http.get("/predictions", params={"limit": 1000}, headers=AUTH).json()) == made
            assert http.post("/predict", json=DOG).json()["id"] == made + 1


HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


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
        page.wait_for_selector(".swagger-ui .info .title", timeout=patience(30) * 1000)
        assert "Animal Challenge API" in page.inner_text(".swagger-ui .info .title")
        spec = httpx.get(f"{url}/docs/openapi.json").json()
        operations = sum(len(methods.keys() & HTTP_METHODS) for methods in spec["paths"].values())
        assert operations >= 19 and page.locator(".opblock").count() == operations  # every endpoint is listed
        browser.close()
    assert outside == []


def test_an_api_started_with_its_store_down_serves_once_the_store_is_back(tmp_path, animal_model):
    "S3 down when the API starts, then back: the API keeps trying and serves the active model, no restart needed."
    port = free_port()
    settings = Settings(data_dir=tmp_path, store="s3://models/api", s3_endpoint=f"127.0.0.1:{port}")
    with TestClient(create_app(settings)) as client:
        down = client.get("/ready").json()
        assert down["status"] == "not ready" and "cannot reach the S3 server" in down["problems"]["store"]
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        try:
            version = save_version(open_store(settings.store_location, settings, TRUSTED_TYPES), animal_model)
            deadline = time.monotonic() + patience(10)
            while client.get("/ready").json()["model_version"] != version.id:
                assert time.monotonic() < deadline, "the API did not load the model once S3 was back"
                time.sleep(0.1)
            assert client.post("/predict", json=DOG).json()["model_version"] == version.id
        finally:
            moto.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    "A TCP server that accepts connections and never answers (a hung S3 endpoint); yields its port."
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            with suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def test_a_hung_store_is_reported_within_seconds_and_blamed_alone(tmp_path, store, service_url):
    "S3 accepts connections and never answers: /models says so in at most ~3 s; /ready under 8 callers blames it alone."
    with silent_server() as port:
        settings = Settings(
            data_dir=tmp_path, store="s3://models/hung", s3_endpoint=f"127.0.0.1:{port}", data_service_url=service_url
        )
        start = time.monotonic()
        with TestClient(create_app(settings)) as client:  # its start asks the store once
            models = client.get("/models")
            took = time.monotonic() - start
            assert models.status_code == 503 and took < patience(4), (models.status_code, took)
            print(f"a hung store: the app started and /models said so in {took:.2f} s")
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _: client.get("/ready"), range(8)))
            for answer in answers:
                body = answer.json()
                assert set(body["problems"]) <= {"model", "store"}, body  # not the history, not the data service
                assert "store" in body["problems"]


def raw_post(port: int, path: str, length: int, sent: bytes) -> socket.socket:
    "A connection that has sent a JSON POST's headers for a body of `length` bytes, and the first bytes `sent`."
    conn = socket.create_connection(("127.0.0.1", port), timeout=patience(30))
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    conn.sendall(head.encode() + sent)
    return conn


def test_a_body_that_does_not_arrive_is_a_408_and_a_hang_up_one_log_line(tmp_path, store, monkeypatch, caplog):
    "A slowloris gets a 408 at the deadline; a client gone mid-body is one INFO line, no 500, nothing stored."
    monkeypatch.setattr("animal_challenge.security.BODY_DEADLINE", 1.0)
    app = create_app(Settings(data_dir=tmp_path), store=store)
    with serving(app) as url, caplog.at_level(logging.INFO):
        port = int(url.rsplit(":", 1)[1])
        with raw_post(port, "/predict", 100, b'{"walks_on') as slow:
            answer = slow.recv(65536)  # nothing more is sent: the server ends it
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"the body did not arrive within 1 s" in answer
        for _ in range(20):  # twenty hang-ups, halfway through a batch
            raw_post(port, "/predict/batch", 1000, b'{"points": [').close()
        deadline = time.monotonic() + patience(10)
        while sum("went away before its body" in r.getMessage() for r in caplog.records) < 20:
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records][-5:]
            time.sleep(0.05)
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []  # no defect reported
        assert app.state.log.count() == 0


def test_a_flood_from_one_address_is_cut_off_while_another_is_served(tmp_path, store):
    "Over real HTTP: one address (127.0.0.2) floods /predict past its limit and gets 429s; 127.0.0.1 is still served."
    app = create_app(Settings(data_dir=tmp_path, api_token=TOKEN, rate_predict=50), store=store)
    with serving(app) as url:
        flood = httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
        other = httpx.Client(base_url=url, timeout=10)
        statuses = [flood.post("/predict", json=DOG).status_code for _ in range(80)]
        assert statuses.count(200) == 50 and statuses[-1] == 429
        refused = flood.post("/predict", json=DOG)
        assert "too many requests from your address: at most 50 a minute" in refused.json()["detail"]
        assert other.post("/predict", json=DOG).status_code == 200
        assert app.state.log.count() == 51  # what was refused was not stored


def test_stopping_while_the_job_worker_reads_the_history_does_not_crash(tmp_path):
    "The app's shutdown closed the history under the training worker's query: SQLite crashed the process (SIGSEGV)."
    script = f"""
from litestar.testing import TestClient
from animal_challenge.api import create_app
from animal_challenge.config import Settings
from animal_challenge.registry import LocalModelStore

store = LocalModelStore({str(tmp_path / "models")!r})
for _ in range(40):
    app = create_app(Settings(data_dir={str(tmp_path)!r}), store=store)
    app.state.jobs.every = 0  # the worker looks at the queue without pause: always in a query
    with TestClient(app):
        pass
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=patience(300))
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_short_prune_interval_keeps_the_history_under_its_bound_while_predictions_arrive(tmp_path, store):
    "Batches of 50 points over real HTTP, a bound of 100 rows pruned every 0.2 s: it is pruned as they arrive."
    settings = Settings(data_dir=tmp_path, history_max_rows=100, history_prune_every=0.2, rate_batch=10_000)
    app = create_app(settings, store=store)
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        seen, deadline = [], time.monotonic() + patience(10)
        while not any(b < a for a, b in itertools.pairwise(seen)):  # until a prune falls between two batches
            assert time.monotonic() < deadline, f"no prune while batches arrived: {seen[-5:]} rows"
            assert http.post("/predict/batch", json={"points": [DOG] * 50}).status_code == 200
            seen.append(app.state.log.count())
        deadline = time.monotonic() + patience(5)
        while app.state.log.count() > 100:
            assert time.monotonic() < deadline, f"still {app.state.log.count()} rows"
            time.sleep(0.05)


def test_head_is_answered_wherever_get_is(tmp_path, store):
    "Over real HTTP, every GET route of the app answers HEAD with the GET's status and headers, without a body."
    app = app_for(tmp_path, store)
    values = {"{version_id:str}": store.active_id(), "{prediction_id:int}": "1", "{job_id:str}": "j", "{path:str}": "x"}
    paths = [r.path for r in app.routes if "GET" in getattr(r, "methods", ()) and "{file_path" not in r.path]
    assert {"/health", "/ready", "/models", "/docs", "/predictions"} <= set(paths)
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        for path in paths:
            for name, value in values.items():
                path = path.replace(name, value)
            got, head = http.get(path), http.head(path)
            assert (head.status_code, head.content) == (got.status_code, b""), path
            assert head.headers["content-type"] == got.headers["content-type"], path
            assert head.headers["x-frame-options"] == "DENY", path
