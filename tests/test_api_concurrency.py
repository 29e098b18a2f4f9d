"""Eight clients predict against the real server while a retrain runs: no errors, every answer from one complete
model, and exactly one history row per prediction."""

import random
import threading
import time

import httpx
import pytest
from animal_data_service.generator import generate
from servers import BIN, data_service, free_port, running
from test_api import AUTH, TOKEN, animal_model, save_version  # noqa: F401 (a fixture)

from animal_challenge.model import TRUSTED_TYPES
from animal_challenge.postgres import open_history
from animal_challenge.registry import LocalModelStore

CLIENTS = 8


@pytest.fixture(scope="module")
def api(tmp_path_factory, animal_model):  # noqa: F811
    "The API as `animal-challenge api` (uvicorn, one worker) over a store holding one model, and the data service."
    tmp = tmp_path_factory.mktemp("concurrency")
    store = LocalModelStore(tmp / "models", trusted=TRUSTED_TYPES)
    first = save_version(store, animal_model)
    port = free_port()
    with data_service() as service_url:
        cmd = [str(BIN / "animal-challenge"), "api", "--port", str(port), "--store", str(tmp / "models")]
        cmd += ["--db", str(tmp / "history.sqlite"), "--data-service-url", service_url]
        # eight clients on one address: lift the per-address limits (a rate limit is its own test)
        env = {"ANIMAL_CHALLENGE_API_TOKEN": TOKEN, "ANIMAL_CHALLENGE_RATE_BATCH": "100000"}
        with running(cmd, f"http://127.0.0.1:{port}/health", env | {"ANIMAL_CHALLENGE_RATE_PREDICT": "100000"}):
            yield f"http://127.0.0.1:{port}", store, first.id, tmp / "history.sqlite"


def test_predictions_flow_while_a_retrain_runs(api):
    url, store, first_id, db = api
    points = generate(seed=11, n=2000)
    answers: list[tuple[dict, dict]] = []
    errors: list[str] = []
    training_done = threading.Event()

    def client(k: int) -> None:
        rng = random.Random(k)
        with httpx.Client(base_url=url, timeout=30) as http:
            deadline = time.monotonic() + 120
            extra = 20  # requests after the swap, so that the new model is seen answering
            while extra > 0 and time.monotonic() < deadline:
                if training_done.is_set():
                    extra -= 1
                if k == 0:  # one client sends batches
                    batch = rng.sample(points, 50)
                    r = http.post("/predict/batch", json={"points": batch})
                    pairs = zip(batch, r.json()["predictions"], strict=True) if r.status_code == 200 else []
                else:
                    point = rng.choice(points)
                    r = http.post("/predict", json=point)
                    pairs = [(point, r.json())] if r.status_code == 200 else []
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
                answers.extend(pairs)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # predictions are flowing before training starts
    job = httpx.post(f"{url}/models/train", json={"seed": 3, "n": 5_000}, headers=AUTH, timeout=30).json()
    while job["state"] in ("queued", "running"):
        time.sleep(0.1)
        job = httpx.get(f"{url}/models/jobs/{job['id']}").json()
    training_done.set()
    for t in threads:
        t.join()

    assert errors == []
    assert job["state"] == "succeeded", job
    new_id = job["version_id"]
    versions = {a["model_version"] for _, a in answers}
    assert versions == {first_id, new_id}  # both models answered, and no other
    # Every answer is exactly what one complete model (the one it names) says for that point.
    models = {v: store.load(v)[0] for v in versions}
    for point, answer in answers:
        expected = models[answer["model_version"]].predict_one(point)
        exact = ("species", "reasons", "conformal_set")
        assert {k: answer[k] for k in exact} == {k: expected[k] for k in exact}, (point, answer)
        assert answer["probabilities"] == pytest.approx(expected["probabilities"])
        numbers = ("confidence", "confidence_low", "confidence_high")
        if expected["species"] == "outlier":  # no probability for what is none of the species
            assert [answer[k] for k in numbers] == [None, None, None]
        else:
            assert [answer[k] for k in numbers] == pytest.approx([expected[k] for k in numbers], rel=1e-6)
    # One history row per prediction made, each with the version that answered.
    with open_history(db) as log:
        assert log.count() == len(answers)
        stored = {r["id"]: r["model_version"] for r in log.recent(limit=len(answers), everyone=True)}
    assert stored == {a["id"]: a["model_version"] for _, a in answers}
