"""The attack of the security issue, replayed: 3 000 anonymous "this elephant is a chicken" corrections, then the
admin retrains with feedback. Unreviewed, they never reach training; even accepted by a careless admin, the promotion
gate keeps the poisoned version from being served. Either way the API still answers "elephant" for an elephant."""

import random
import time

import pytest
from animal_data_service.background import running_service
from litestar.testing import TestClient

from animal_challenge.api import create_app
from animal_challenge.config import Settings
from animal_challenge.process import patience
from animal_challenge.training import train_and_store

TOKEN = "poisoning-test-token-01"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ATTACKER = {"X-Client-Id": "attacker-0123456789"}
ELEPHANT = {"walks_on_n_legs": 4, "height": 3.1, "weight": 5200.0, "has_wings": False, "has_tail": True}
POISON = 3000


def train(client: TestClient) -> dict:
    "Retrain with the accepted corrections, as the admin; the finished job."
    job = client.post("/models/train", json={"seed": 11, "n": 2000, "include_feedback": True}, headers=AUTH).json()
    deadline = time.monotonic() + patience(180)
    while (job := client.get(f"/models/jobs/{job['id']}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    "An API with a model, and 3 000 elephants predicted by one client and proposed as chickens."
    tmp = tmp_path_factory.mktemp("poisoning")
    with running_service() as service:
        settings = Settings(data_dir=tmp, data_service_url=service, api_token=TOKEN, rate_feedback=100_000)
        train_and_store(1, 2000, settings)  # many addresses would get round a per-address limit: lift it here
        with TestClient(create_app(settings)) as client:
            rng = random.Random(0)  # 3 000 different elephants: identical points would count as one correction
            herd = [
                {**ELEPHANT, "height": rng.uniform(2.6, 3.6), "weight": rng.uniform(3500, 6500)} for _ in range(POISON)
            ]
            batch = client.post("/predict/batch", json={"points": herd}, headers=ATTACKER).json()
            ids = [p["id"] for p in batch["predictions"] if p["species"] == "elephant"]
            assert len(ids) > POISON / 2
            for pid in ids:
                proposed = client.post(f"/predictions/{pid}/feedback", json={"species": "chicken"}, headers=ATTACKER)
                assert proposed.status_code == 200
            yield client, ids


def test_unreviewed_corrections_never_reach_training(poisoned):
    client, _ = poisoned
    before = client.get("/models/active").json()["id"]
    job = train(client)
    assert job["state"] == "succeeded", job
    assert client.get(f"/models/{job['version_id']}").json()["provenance"]["n_feedback"] == 0
    assert client.get("/models/active").json()["id"] != before
    assert client.post("/predict", json=ELEPHANT).json()["species"] == "elephant"


def test_accepted_poison_is_held_back_by_the_promotion_gate(poisoned):
    client, ids = poisoned
    for pid in ids:  # a careless admin accepts every one
        assert client.post(f"/feedback/{pid}/review", json={"accept": True}, headers=AUTH).status_code == 200
    served = client.get("/models/active").json()["id"]
    job = train(client)
    assert job["state"] == "trained", job  # trained and stored, not activated
    assert job["result"]["promote"] is False and job["result"]["candidate_score"] < job["result"]["served_score"]
    assert client.get(f"/models/{job['version_id']}").json()["provenance"]["n_feedback"] > 0
    assert client.get("/models/active").json()["id"] == served
    assert client.post("/predict", json=ELEPHANT).json()["species"] == "elephant"
