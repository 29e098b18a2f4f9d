"""Watching the model in use, through a real `animal-challenge api` process and the contract's `ApiClient`: drift
reports on in-distribution and shifted traffic, `/metrics` scraped with Prometheus' own parser, the history as CSV
and its counts per species, and bad parameters refused with the field named.

The model is trained the way the system trains one (`train_and_store` on 10 000 points of the real data service), so
the report compares traffic with the training sample the API stored with it. In-distribution traffic comes from the
data service's generator; shifted traffic is made here, from the generator's process with wider ranges, more noise
or another class mix (the data service itself stays as it is). Each test sends its own window and asks about exactly
that many of the newest predictions (`last=`), so the tests do not depend on one another's order.
"""

import io
import secrets
from collections import Counter
from dataclasses import replace

import httpx
import pandas as pd
import pytest
from animal_data_service.generator import DEFAULT_SPEC, GenerationSpec, generate
from prometheus_client.parser import text_string_to_metric_families
from servers import BIN, data_service, free_port, running

from animal_challenge.client import ApiClient, ApiError
from animal_challenge.config import MAX_DRIFT_WINDOW, Settings
from animal_challenge.contract import EXPORT_COLUMNS
from animal_challenge.drift import DEFAULT_THRESHOLDS
from animal_challenge.metrics import reason_kind
from animal_challenge.training import train_and_store

TOKEN = "monitoring-test-token-0123"
WINDOW = 500  # the default drift window, as the settings have it
assert Settings().drift_window == WINDOW


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> str:
    "The base URL of an API process serving a model trained on 10 000 points of the real data service."
    tmp = tmp_path_factory.mktemp("monitoring")
    with data_service() as service:
        train_and_store(42, 10_000, Settings(data_dir=tmp, data_service_url=service))
    port = free_port()
    cmd = [str(BIN / "animal-challenge"), "api", "--port", str(port), "--data-dir", str(tmp)]
    env = {"ANIMAL_CHALLENGE_API_TOKEN": TOKEN, "ANIMAL_CHALLENGE_RATE_BATCH": "1000"}
    env["ANIMAL_CHALLENGE_RATE_BULK"] = "1000"
    url = f"http://127.0.0.1:{port}"
    with running(cmd, url + "/ready", env, name="API"):
        yield url


def client(url: str, token: str | None = None) -> ApiClient:
    "A client of its own (a fresh client id), as each browser of the dashboard is."
    return ApiClient(url, token=token, timeout=60, client_id=f"test-{secrets.token_hex(8)}")


def send(api: ApiClient, points: list[dict]) -> list:
    "Classify `points` in batches; the stored predictions."
    return [p for i in range(0, len(points), 5000) for p in api.predict_batch(points[i : i + 5000]).predictions]


def widened(f: float) -> GenerationSpec:
    "The service's process with every species' ranges wider: low bounds times 1 - f, high bounds times 1 + f."
    grow = lambda lo_hi: (lo_hi[0] * (1 - f), lo_hi[1] * (1 + f))  # noqa: E731
    return replace(
        DEFAULT_SPEC,
        animals=tuple(replace(a, height=grow(a.height), weight=grow(a.weight)) for a in DEFAULT_SPEC.animals),
    )


def mixed(species: str, share: float) -> GenerationSpec:
    "The service's process with `species` at `share` of the animals, the others equal."
    others = (1 - share) / (len(DEFAULT_SPEC.animals) - 1)
    return replace(
        DEFAULT_SPEC, class_weights=tuple(share if a.name == species else others for a in DEFAULT_SPEC.animals)
    )


def scraped(url: str) -> dict:
    "The metrics at `url`, parsed by prometheus_client's own parser: {name: {labels: value}}."
    text = httpx.get(f"{url}/metrics", timeout=30).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def moved(before: dict, after: dict, name: str, **labels) -> float:
    "How much the metric `name` with `labels` grew."
    key = tuple(sorted(labels.items()))
    return after.get(name, {}).get(key, 0) - before.get(name, {}).get(key, 0)


def grown(before: dict, after: dict, name: str, label: str) -> Counter:
    "How much the metric `name` grew for each value of its one `label` (values that did not grow left out)."
    old = {dict(k)[label]: v for k, v in before.get(name, {}).items()}
    return Counter({dict(k)[label]: v - old.get(dict(k)[label], 0) for k, v in after[name].items()}) + Counter()


def test_in_distribution_traffic_is_no_drift(api):
    user = client(api)
    send(user, generate(seed=1001, n=WINDOW))
    report = user.drift()  # the default window: the last 500
    assert (report.drift, report.enough_data, report.window, report.reasons) == (False, True, WINDOW, [])
    assert report.training_size == 2000 and report.thresholds == DEFAULT_THRESHOLDS
    assert all(f.value <= f.threshold for f in report.features)


@pytest.mark.parametrize(
    "spec, moved_checks",
    [
        (widened(0.3), {"height", "weight"}),  # every species' ranges 30 % wider
        (replace(DEFAULT_SPEC, noise_share=0.2), {"outlier rate"}),  # four times the noise
        (mixed("dog", 0.05), {"species mix"}),  # dogs rare
    ],
    ids=["wider ranges", "more noise", "another class mix"],
)
def test_shifted_traffic_is_drift_and_the_reasons_name_what_moved(api, spec, moved_checks):
    user = client(api)
    send(user, generate(seed=2002, n=WINDOW, spec=spec))
    report = user.drift(last=WINDOW)
    assert report.drift and report.enough_data, report.reasons
    said = " ".join(report.reasons)
    for check in moved_checks:
        assert f"{check} moved" in said, report.reasons
    drifted = {f.feature for f in report.features if f.drifted}
    if moved_checks == {"height", "weight"}:
        assert drifted >= {"height", "weight"}
    if moved_checks == {"outlier rate"}:
        assert report.outlier_drifted and report.outlier_rate_recent > report.outlier_rate_training
    if moved_checks == {"species mix"}:
        assert report.species_mix_drifted and report.species_mix_recent["dog"] < report.species_mix_training["dog"]


def test_a_window_too_small_gets_no_verdict_even_when_it_moved(api):
    user = client(api)
    send(user, generate(seed=3003, n=100, spec=widened(0.5)))
    admin, anyone = client(api, TOKEN).drift(last=100), user.drift(last=100)
    for report in (admin, anyone):
        assert (report.drift, report.enough_data, report.window) == (False, False, 100)
    too_few = f"only 100 recent predictions: a verdict needs at least {DEFAULT_THRESHOLDS.min_window}"
    assert admin.reasons == [too_few] and sum(admin.features[1].recent_counts) == 100
    assert anyone.reasons[0] == too_few and anyone.features[1].recent_counts == []  # the others' points stay hidden


def test_bad_parameters_are_refused_naming_the_field(api):
    user = client(api)
    for last in (0, MAX_DRIFT_WINDOW + 1, "ten"):
        r = httpx.get(f"{api}/monitoring/drift", params={"last": last}, timeout=30)
        assert (r.status_code, [e["key"] for e in r.json()["extra"]]) == (400, ["last"]), r.text
    r = httpx.get(f"{api}/predictions/species", params={"bucket": "week"}, headers={"X-Client-Id": user.client_id})
    assert (r.status_code, [e["key"] for e in r.json()["extra"]]) == (400, ["bucket"]), r.text
    with pytest.raises(ApiError, match="The API cannot report on drift with these values: last: "):
        user.drift(last=0)
    with pytest.raises(ApiError, match="The API cannot count the predictions with these values: bucket: "):
        user.species_counts("fortnight")


def test_metrics_parse_and_move_with_the_requests_made(api):
    user = client(api)
    before = scraped(api)
    answers = send(user, generate(seed=4004, n=300))
    single = user.predict(generate(seed=4005, n=1)[0])
    user.drift(last=300)
    httpx.get(f"{api}/monitoring/drift", params={"last": 0}, timeout=30)
    after = scraped(api)
    assert (
        moved(before, after, "animal_challenge_requests_total", route="/predict/batch", method="POST", status="200")
        == 1
    )
    assert moved(before, after, "animal_challenge_requests_total", route="/predict", method="POST", status="200") == 1
    drift_route = {"route": "/monitoring/drift", "method": "GET"}
    assert moved(before, after, "animal_challenge_requests_total", **drift_route, status="200") == 1
    assert moved(before, after, "animal_challenge_requests_total", **drift_route, status="400") == 1
    for status in ("200", "400"):  # each answer's time, by its status
        assert (
            moved(before, after, "animal_challenge_request_seconds_count", route="/monitoring/drift", status=status)
            == 1
        )
    made = Counter(p.species for p in [*answers, single])
    assert grown(before, after, "animal_challenge_predictions_total", "species") == made
    reasons = Counter(reason_kind(r) for p in [*answers, single] for r in p.reasons)
    assert grown(before, after, "animal_challenge_outliers_total", "reason") == reasons
    assert after["animal_challenge_active_model"] == {(("version", user.active_model().id),): 1.0}
    everyone = pd.read_csv(io.BytesIO(client(api, TOKEN).export_history(everyone=True)))
    assert after["animal_challenge_history_predictions"][()] == len(everyone)


def test_the_export_holds_exactly_the_callers_rows(api):
    alice, bob = client(api), client(api)
    mine = send(alice, generate(seed=5005, n=2500))  # more than one page of the export
    theirs = send(bob, generate(seed=5006, n=10))
    r = httpx.get(f"{api}/predictions/export", headers={"X-Client-Id": alice.client_id}, timeout=60)
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="animal-challenge-history-')
    table = pd.read_csv(io.BytesIO(alice.export_history()))
    assert list(table.columns) == list(EXPORT_COLUMNS)
    assert table.id.tolist() == [p.id for p in mine]
    assert table.species.tolist() == [p.species for p in mine]
    assert set(table.client_id) == {alice.client_id}
    dog = [p.probabilities.get("dog", float("nan")) for p in mine]  # an outlier has no probabilities: empty cells
    assert table.probability_dog.tolist() == pytest.approx(dog, nan_ok=True)
    admin = client(api, TOKEN)
    everyone = pd.read_csv(io.BytesIO(admin.export_history(everyone=True)))
    assert {p.id for p in mine + theirs} <= set(everyone.id)
    only_bob = httpx.get(
        f"{api}/predictions/export", params={"client": bob.client_id}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert pd.read_csv(io.BytesIO(only_bob.content)).id.tolist() == [p.id for p in theirs]
    assert httpx.get(f"{api}/predictions/export").status_code == 401  # nobody: says what to send
    forbidden = httpx.get(
        f"{api}/predictions/export", params={"client": bob.client_id}, headers={"X-Client-Id": alice.client_id}
    )
    assert forbidden.status_code == 403


def test_species_counts_add_up_to_the_predictions_made(api):
    user = client(api)
    answers = send(user, generate(seed=6006, n=700))
    made = Counter(p.species for p in answers)
    for bucket in ("minute", "hour", "day"):
        counts = user.species_counts(bucket)
        per_species = Counter()
        for c in counts:
            per_species[c.species] += c.count
            assert pd.Timestamp(c.start).tzinfo is not None
        assert per_species == made, bucket
    admin = client(api, TOKEN)
    assert sum(c.count for c in admin.species_counts("day", everyone=True)) >= len(answers)
