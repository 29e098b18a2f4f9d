"""Many API processes, one truth: two `animal-challenge api` processes (replicas) on one store and one PostgreSQL
history agree on the active version and on every training job, and a job whose process dies is marked failed by the
other; one `animal-challenge api --workers 2` on SQLite follows activations in every worker and sums their metrics."""

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import psutil
import pytest
from postgres import create_database, drop_database
from prometheus_client.parser import text_string_to_metric_families
from servers import BIN, data_service, free_port, running

from animal_challenge.config import Settings
from animal_challenge.process import patience
from animal_challenge.training import train_and_store

TOKEN = "processes-test-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOG = {"walks_on_n_legs": 4, "height": 0.5, "weight": 20.0, "has_wings": False, "has_tail": True}


def wait(check, seconds: float, what: str):
    "Poll `check` until it returns something true; fail after `seconds` (stretched on a busy machine)."
    deadline = time.monotonic() + patience(seconds)
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.05)
    return found


@pytest.fixture(scope="module")
def service():
    with data_service() as url:
        yield url


@pytest.fixture(scope="module")
def two_apis(tmp_path_factory, service, postgres_url):
    "Two API processes (A and B) on one model folder and one PostgreSQL history, a data service, a first model."
    tmp: Path = tmp_path_factory.mktemp("processes")
    train_and_store(1, 1000, Settings(data_dir=tmp, data_service_url=service))
    db = create_database(postgres_url)
    env = {"ANIMAL_CHALLENGE_API_TOKEN": TOKEN, "ANIMAL_CHALLENGE_JOB_LEASE": "3"}
    urls, procs = [], []
    for _ in range(2):
        port = free_port()
        cmd = [str(BIN / "animal-challenge"), "api", "--port", str(port), "--data-dir", str(tmp), "--db", db]
        cmd += ["--data-service-url", service]
        urls.append(f"http://127.0.0.1:{port}")
        procs.append(running(cmd, urls[-1] + "/health", env, name=f"API {len(urls)}"))
    try:
        with procs[0] as a, procs[1] as b:
            yield {"urls": urls, "servers": (a, b)}
    finally:
        drop_database(postgres_url, db)


def active(url: str) -> str:
    return httpx.get(url + "/models/active", timeout=10).json()["id"]


def job(url: str, job_id: str) -> dict:
    return httpx.get(f"{url}/models/jobs/{job_id}", timeout=10).json()


def test_a_job_started_on_one_is_followed_on_the_other_and_both_serve_its_version(two_apis):
    a, b = two_apis["urls"]
    assert active(a) == active(b)
    started = httpx.post(a + "/models/train", json={"seed": 3, "n": 1000}, headers=AUTH, timeout=10).json()
    seen = job(b, started["id"])  # the other process knows the job
    assert (seen["id"], seen["seed"]) == (started["id"], 3)
    done = wait(lambda: (j := job(b, started["id"]))["state"] not in ("queued", "running") and j, 120, "the job ended")
    assert done["state"] == "succeeded", done
    finished = time.monotonic()
    wait(lambda: active(a) == done["version_id"] == active(b), 2, "both serve the new version")
    assert time.monotonic() - finished < patience(2)
    for url in (a, b):
        assert httpx.post(url + "/predict", json=DOG, timeout=10).json()["model_version"] == done["version_id"]


def test_an_activation_through_one_is_served_by_the_other_within_two_seconds(two_apis):
    a, b = two_apis["urls"]
    versions = httpx.get(a + "/models", timeout=10).json()
    other = next(v["id"] for v in versions if not v["active"])
    assert httpx.post(f"{b}/models/{other}/activate", headers=AUTH, timeout=10).status_code == 200
    wait(lambda: active(a) == other, 2, "A serves the version activated through B")


def test_a_job_whose_process_dies_is_marked_failed_by_the_other(two_apis):
    urls, servers = two_apis["urls"], two_apis["servers"]
    started = httpx.post(urls[0] + "/models/train", json={"seed": 4, "n": 200_000}, headers=AUTH, timeout=10).json()
    running_job = wait(lambda: (j := job(urls[1], started["id"]))["state"] == "running" and j, 60, "the job started")
    trainer = next(k for k, s in enumerate(servers) if f":{s.proc.pid}:" in running_job["owner"])
    os.killpg(servers[trainer].proc.pid, signal.SIGKILL)  # the process training it dies, mid-fit
    survivor = urls[1 - trainer]
    failed = wait(lambda: (j := job(survivor, started["id"]))["state"] == "failed" and j, 30, "the dead job failed")
    assert "stopped renewing the lease" in failed["error"]


@pytest.fixture(scope="module")
def workers(tmp_path_factory, service):
    "`animal-challenge api --workers 2` on SQLite with two stored versions; the metrics folder it made is gone after."
    tmp: Path = tmp_path_factory.mktemp("workers")
    for seed in (1, 2):
        first = train_and_store(seed, 1000, Settings(data_dir=tmp, data_service_url=service), activate=seed == 1)
    port = free_port()
    cmd = [str(BIN / "animal-challenge"), "api", "--port", str(port), "--data-dir", str(tmp), "--workers", "2"]
    env = {"ANIMAL_CHALLENGE_API_TOKEN": TOKEN}  # no PROMETHEUS_MULTIPROC_DIR: the API makes its own
    with running(cmd + ["--data-service-url", service], f"http://127.0.0.1:{port}/ready", env, name="API") as api:
        worker = psutil.Process(api.proc.pid).children()[-1]  # uvicorn's workers have the folder in their environment
        metrics = Path(worker.environ()["PROMETHEUS_MULTIPROC_DIR"])
        yield {"url": f"http://127.0.0.1:{port}", "metrics": metrics, "other": first.id}
    assert not metrics.exists()  # the counts of processes that are gone are no use to the next run


def fresh_get(url: str) -> httpx.Response:
    "A GET on a connection of its own: the kernel hands each new connection to either worker."
    with httpx.Client(timeout=10) as http:
        return http.get(url)


def test_every_worker_follows_an_activation_and_metrics_sum_every_workers_counts(workers):
    url = workers["url"]
    for _ in range(40):
        with httpx.Client(timeout=10) as http:
            assert http.post(url + "/predict", json=DOG).status_code == 200
    pids = {f.stem.rsplit("_", 1)[1] for f in workers["metrics"].glob("counter_*.db")}
    assert len(pids) == 2, pids  # both workers answered some of the 40
    families = {f.name: f for f in text_string_to_metric_families(fresh_get(url + "/metrics").text)}
    predicted = sum(s.value for s in families["animal_challenge_predictions"].samples if s.name.endswith("_total"))
    assert predicted == 40  # one worker's /metrics counts the other's predictions too
    assert httpx.post(f"{url}/models/{workers['other']}/activate", headers=AUTH, timeout=10).status_code == 200
    activated = time.monotonic()
    wait(lambda: time.monotonic() - activated > patience(2), 3, "two seconds passed")
    served = [fresh_get(url + "/models/active").json()["id"] for _ in range(20)]
    assert set(served) == {workers["other"]}, served  # every worker, two seconds after


def test_sigterm_lets_a_request_in_flight_finish_then_exits(tmp_path, service):
    "A batch whose body is still arriving when SIGTERM comes is answered in full; then the process exits, cleanly."
    train_and_store(1, 1000, Settings(data_dir=tmp_path, data_service_url=service))
    port = free_port()
    cmd = [str(BIN / "animal-challenge"), "api", "--port", str(port), "--data-dir", str(tmp_path)]
    with running(cmd, f"http://127.0.0.1:{port}/ready", name="API") as api:
        body = json.dumps({"points": [DOG] * 100}).encode()
        head = "POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=patience(30)) as conn:
            conn.sendall(head.encode())
            said = b""
            while (
                b"\r\n\r\n" not in said
            ):  # "100 Continue": the app has begun to read the body, the request is in flight
                said += conn.recv(1024)
            assert said.startswith(b"HTTP/1.1 100 Continue"), said
            api.terminate()  # SIGTERM
            conn.sendall(body)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 200 OK", answer[:300]
        assert len(json.loads(rest.split(b"\r\n\r\n", 1)[1])["predictions"]) == 100
        assert api.proc.wait(patience(10)) in (0, -signal.SIGTERM)  # uvicorn ends by the signal it handled


def test_the_rate_limit_counts_the_connections_address_whatever_x_forwarded_for_says(tmp_path, service):
    "uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: the API turns that off, so a header picks no address."
    train_and_store(1, 1000, Settings(data_dir=tmp_path, data_service_url=service))
    port = free_port()
    cmd = [str(BIN / "animal-challenge"), "api", "--port", str(port), "--data-dir", str(tmp_path)]
    limited = {"ANIMAL_CHALLENGE_RATE_PREDICT": "5"}
    with (
        running(cmd, f"http://127.0.0.1:{port}/ready", limited, name="API"),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
    ):
        assert [http.post("/predict", json=DOG).status_code for _ in range(6)] == [200] * 5 + [429]
        spoofed = [http.post("/predict", json=DOG, headers={"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(5)]
        assert [r.status_code for r in spoofed] == [429] * 5
