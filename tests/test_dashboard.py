"""The dashboard's widgets against the real API in process (Litestar's TestClient), with a model trained on the real
data service: what the dashboard chapter cannot host, since it may import only the contract (its examples use a
stand-in that answers in the contract's types). The browser and Voila are in `test_dashboard_browser.py`."""

import ast
import base64
import csv
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from animal_data_service.generator import DEFAULT_SPEC, generate
from litestar.testing import TestClient
from servers import data_service, free_port

from animal_challenge.api import create_app
from animal_challenge.client import ApiClient
from animal_challenge.config import Settings
from animal_challenge.dashboard import Dashboard
from animal_challenge.dashboard_server import (
    KERNEL_STOP_WAIT,
    REFILL_AFTER,
    TEMPLATE,
    VOILA_MAIN,
    dashboard_env,
    dashboard_notebook,
    template_root,
    voila_command,
)
from animal_challenge.model import TRUSTED_TYPES
from animal_challenge.registry import LocalModelStore
from animal_challenge.schema import LABELS
from animal_challenge.training import train_and_store

TOKEN = "dashboard-test-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
ELEPHANT = {"walks_on_n_legs": 4, "height": 3.1, "weight": 5200.0, "has_wings": False, "has_tail": True}
CHICKEN = {"walks_on_n_legs": 2, "height": 0.3, "weight": 2.0, "has_wings": True, "has_tail": True}
NOISE = {"walks_on_n_legs": 3, "height": 7.0, "weight": 300.0, "has_wings": True, "has_tail": False}
SHORT_KANGAROO = {"walks_on_n_legs": 2, "height": 1.5, "weight": 60.0, "has_wings": False, "has_tail": True}  # < 1.6 m
MONSTER = {"walks_on_n_legs": 7, "height": 1.5, "weight": 3000.0, "has_wings": True, "has_tail": True}


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with data_service() as url:
        yield url


@pytest.fixture(scope="module")
def trained(tmp_path_factory, service) -> Path:
    "A model store holding one active version trained on 1000 points of seed 1."
    data_dir = tmp_path_factory.mktemp("trained")
    train_and_store(1, 1000, Settings(data_dir=data_dir, data_service_url=service))
    return data_dir / "models"


def quick_trainer(seed, n, settings, store, extra_points=None, activate=True, progress=None):
    "`train_and_store`'s signature: stores the active model and its sample again as a new version, in milliseconds."
    model, version = store.load()
    progress("fitting the model", 0.5)
    provenance = {**version.provenance.model_dump(), "seed": seed, "n": n}
    new = store.save(model, {"metrics": version.metrics, "provenance": provenance}, store.sample(version.id))
    return store.activate(new.id) if activate else new


@pytest.fixture
def api(tmp_path, trained, service) -> Iterator[TestClient]:
    "The real API over a copy of the trained store and a fresh history."
    shutil.copytree(trained, tmp_path / "models")
    settings = Settings(data_dir=tmp_path, data_service_url=service, api_token=TOKEN)
    with TestClient(create_app(settings, trainer=quick_trainer)) as client:
        yield client


@pytest.fixture
def dash(api) -> Iterator[Dashboard]:
    "A page over the real API, closed at the end (its thread that follows the API's active version stops)."
    with closing(Dashboard(ApiClient(str(api.base_url), http=api), page_size=2)) as page:
        yield page.wait_for_sample(timeout=60)


def fill(dash: Dashboard, point: dict) -> None:
    form = dash.predict
    form.legs.value, form.height.value, form.weight.value = point["walks_on_n_legs"], point["height"], point["weight"]
    form.wings.value, form.tail.value = point["has_wings"], point["has_tail"]


def predict(dash: Dashboard, point: dict) -> None:
    fill(dash, point)
    dash.predict.on_predict()


# --- Predict


def test_predict_shows_the_verdict_and_stores_the_point(dash, api):
    predict(dash, ELEPHANT)
    assert "<h3 class='ac-species'>Elephant</h3>" in dash.predict.result.value
    assert dash.predict.result.value.count("class='ac-prob'") == 4
    assert "Cannot be ruled out at 95 %: elephant." in dash.predict.result.value
    assert "Decided by: inside the elephant size range" in dash.predict.result.value
    assert dash.predict.result.value.count("<td>elephant</td>") == 3  # the nearest training points, with their labels
    assert dash.predict.message.value == ""
    mine = api.get("/predictions", headers={"X-Client-Id": dash.api.client_id}).json()
    assert mine[0]["point"] == ELEPHANT and mine[0]["client_id"] == dash.api.client_id


def test_the_plot_places_the_point_among_the_training_data(dash, api):
    version = api.get("/models").json()[0]
    assert dash.predict.sample_version == version["id"]
    assert len(dash.predict.sample) == 1000  # all of this small model's points: SAMPLE_SIZE is larger
    stored = LocalModelStore(Path(api.app.state.settings.store_location), TRUSTED_TYPES).sample(version["id"])
    assert dash.predict.sample.equals(stored)  # the points and labels stored with the version, not drawn again
    assert set(dash.predict.sample.label) <= set(LABELS)
    assert dash.predict.plot_note.value == (
        f"Training data of model {version['id']}: 1000 of its 1000 points (seed 1), coloured by the labels its "
        "training gave them."
    )
    predict(dash, ELEPHANT)
    assert dash.predict.last == (ELEPHANT, "elephant")
    assert dash.predict.plot.value[:4] == b"\x89PNG"


def test_a_noise_point_is_not_one_of_the_known_animals_with_reasons(dash):
    predict(dash, NOISE)
    assert "Not one of the known animals" in dash.predict.result.value
    assert "walks on 3 legs" in dash.predict.result.value
    assert "%" not in dash.predict.result.value  # no species probability for what is none of the species


def test_rejections_say_why_and_give_no_probability_in_the_api_and_the_page(dash, api):
    "A kangaroo shorter than any in the training data (1.6 to 2.0 m) and an absurd creature: one verdict each."
    kangaroo = api.post("/predict", json=SHORT_KANGAROO).json()
    assert kangaroo["species"] == "outlier"
    assert kangaroo["reasons"][0].startswith("height/weight far from every known animal: 1.50 m, 60 kg (kangaroo: 1.5")
    assert (kangaroo["explanation"]["rule"], kangaroo["explanation"]["group"]) == ("size", "kangaroo")
    assert kangaroo["explanation"]["decided_by"].endswith(": 1.50 m is below it")
    assert {n["label"] for n in kangaroo["explanation"]["nearest"]} == {"kangaroo"}
    monster = api.post("/predict", json=MONSTER).json()
    assert monster["reasons"] == ["walks on 7 legs: known animals walk on 2 or 4"]
    assert (monster["explanation"]["rule"], monster["explanation"]["group"]) == ("legs", None)
    for answer in (kangaroo, monster):
        assert (answer["confidence"], answer["confidence_low"], answer["confidence_high"]) == (None, None, None)
        assert answer["probabilities"] == {} and answer["conformal_set"] == []
        assert len(answer["explanation"]["nearest"]) == 3
    predict(dash, SHORT_KANGAROO)
    page = dash.predict.result.value
    assert "Not one of the known animals" in page and "<li>height/weight far from every known animal: 1.50 m" in page
    assert "Decided by: outside the kangaroo size range (1.5" in page and "1.50 m is below it." in page
    assert page.count("<td>kangaroo</td>") == 3 and "%" not in page and "ac-prob" not in page
    predict(dash, MONSTER)
    page = dash.predict.result.value
    assert "<li>walks on 7 legs: known animals walk on 2 or 4</li>" in page
    assert "Decided by: the legs rule (walks on 7 legs" in page and "%" not in page


def test_values_the_api_refuses_name_the_field(dash):
    fill(dash, ELEPHANT)
    dash.predict.height.min = 0.0  # widgets bound what a user can type; a refusal must still be readable
    dash.predict.height.value = 0.0
    dash.predict.on_predict()
    assert "The API cannot predict with these values: height: Input should be greater than 0." in (
        dash.predict.message.value
    )


def test_a_missing_model_is_said_in_words(tmp_path, service):
    settings = Settings(data_dir=tmp_path, data_service_url=service)
    with (
        TestClient(create_app(settings, store=LocalModelStore(tmp_path / "empty"))) as client,
        closing(Dashboard(ApiClient(str(client.base_url), http=client))) as dash,
    ):
        dash.wait_for_sample(timeout=60)
        assert dash.predict.plot_note.value == "No model version is active yet, so there is no training data to show."
        dash.predict.on_predict()
        assert "The API cannot predict right now: " in dash.predict.message.value
        assert "holds no model yet" in dash.predict.message.value


def test_api_down_keeps_the_inputs_and_recovers(dash, api):
    working = dash.predict.api
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    dash.predict.api = ApiClient(url, timeout=2)
    fill(dash, ELEPHANT)
    dash.predict.on_predict()
    assert f"The API at {url} does not answer. Start it with <code>animal-challenge api</code>" in (
        dash.predict.message.value
    )
    assert dash.predict.point() == ELEPHANT
    dash.predict.api = working  # the API is back
    dash.predict.on_predict()
    assert dash.predict.message.value == ""
    assert "Elephant" in dash.predict.result.value


def test_an_unexpected_failure_is_a_sentence_not_a_traceback():
    def explode(request):
        raise RuntimeError("boom")

    http = httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(explode))
    with closing(Dashboard(ApiClient("http://api.test", http=http), load_samples=False)) as dash:
        dash.predict.on_predict()
    assert dash.predict.message.value == (
        "<div class='ac-notice ac-error'>Something unexpected went wrong (RuntimeError: boom). "
        "Try again; if it keeps happening, the dashboard&#x27;s log has the details.</div>"
    )


def test_an_answer_that_is_not_json_means_a_wrong_address():
    http = httpx.Client(
        base_url="http://web.test", transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>"))
    )
    with closing(Dashboard(ApiClient("http://web.test", http=http), load_samples=False)) as dash:
        dash.predict.on_predict()
    assert "http://web.test answered /predict with something that is not the API&#x27;s answer" in (
        dash.predict.message.value
    )


# --- History


def ids(dash: Dashboard) -> list[int]:
    "The prediction ids on the History page, as offered for correction (one per row, in table order)."
    return [value for _, value in dash.history.feedback_id.options]


def test_history_pages_newest_first_and_filters(dash):
    for point in (ELEPHANT, CHICKEN, NOISE):
        predict(dash, point)
    dash.history.refresh()
    assert ids(dash) == [3, 2]
    assert dash.history.table.value.count("<tr") == 3  # header and two rows
    assert (dash.history.prev_button.disabled, dash.history.next_button.disabled) == (True, False)
    assert dash.history.page_label.value == "predictions 1 to 2"
    dash.history.turn_page(+1)
    assert ids(dash) == [1]
    assert (dash.history.prev_button.disabled, dash.history.next_button.disabled) == (False, True)
    dash.history.species_filter.value = "chicken"  # filtering starts again from the newest
    assert (dash.history.offset, ids(dash)) == (0, [2])


def test_an_empty_history_says_so(dash):
    dash.history.refresh()
    assert dash.history.table.value == "<p class='ac-history-table ac-empty'>No predictions here yet.</p>"
    assert dash.history.feedback_id.options == ()


def test_a_correction_is_stored_and_shown(dash, api):
    predict(dash, NOISE)
    dash.history.refresh()
    dash.history.feedback_id.value, dash.history.feedback_species.value = 1, "chicken"
    dash.history.on_feedback()
    assert "Your correction of prediction #1 (chicken) is recorded as a proposal" in dash.history.message.value
    assert "<td>chicken (proposed)</td>" in dash.history.table.value
    assert api.get("/predictions", headers=ADMIN).json()[0]["feedback"]["species"] == "chicken"


def test_a_correction_without_a_choice_says_what_to_do(dash):
    dash.history.on_feedback()
    assert "Choose a prediction to correct first" in dash.history.message.value


# --- Models


def test_training_needs_the_token_then_follows_the_job_to_the_new_active_version(dash, api):
    dash.models.refresh()
    first = api.get("/models").json()[0]["id"]
    dash.models.seed.value, dash.models.size.value = 7, 1000
    dash.models.on_train()
    assert "To train a model, the API needs its admin token: type it in the Token field" in dash.models.message.value
    dash.token.value = TOKEN
    dash.models.on_train()
    dash.models.job_thread.join(timeout=20)
    assert "is trained and active: it answers predictions now." in dash.models.job_status.value
    assert (dash.models.job_progress.value, dash.models.train_button.disabled) == (1.0, False)
    versions = api.get("/models").json()
    new = next(v for v in versions if v["active"])
    assert new["id"] != first and (new["provenance"]["seed"], new["provenance"]["n"]) == (7, 1000)
    assert dash.models.version_choice.options[0] == (f"{new['id']} (active)", new["id"])
    assert dash.models.table.value.count("✔") == 1


def test_a_wrong_token_is_refused_in_words(dash):
    dash.token.value = "not-the-token"
    dash.models.on_train()
    assert "The token is wrong: the API refused to train a model." in dash.models.message.value


def test_activating_another_version(dash, api):
    dash.token.value = TOKEN
    dash.models.on_train()
    dash.models.job_thread.join(timeout=20)
    old = next(v["id"] for v in api.get("/models").json() if not v["active"])
    dash.models.version_choice.value = old
    dash.models.on_activate()
    assert f"Version {old} answers predictions now." in dash.models.message.value
    assert api.get("/ready").json()["model_version"] == old


def test_a_page_follows_a_version_activated_elsewhere(dash, api):
    "A page may wait in Voila's pool while the admin activates another version: its plot then shows that version's."
    first = dash.predict.sample_version
    dash.token.value, dash.models.activate_new.value = TOKEN, False
    dash.models.on_train()
    dash.models.job_thread.join(timeout=20)
    new = next(v["id"] for v in api.get("/models").json() if not v["active"])
    assert api.post(f"/models/{new}/activate", headers=ADMIN).status_code == 200  # not through this page
    assert dash.predict.sample_version == first
    follower = threading.Thread(target=dash.predict._follow_active, args=(0.05,))  # sooner than every FOLLOW_EVERY s
    follower.start()
    deadline = time.monotonic() + 60
    while dash.predict.sample_version != new and time.monotonic() < deadline:
        time.sleep(0.05)
    dash.wait_for_sample(timeout=60).close()
    follower.join(timeout=10)
    assert (dash.predict.sample_version, follower.is_alive()) == (new, False)  # followed, then stopped by close
    assert dash.predict.plot_note.value.startswith(f"Training data of model {new}: ")


def test_a_token_in_the_dashboards_settings_is_never_used(api, monkeypatch):
    "Any visitor can drive a page's kernel: a page built from settings that hold the admin token must not hold it."
    monkeypatch.setattr(httpx, "Client", lambda **kwargs: api)
    with closing(Dashboard.from_settings(Settings(api_url=str(api.base_url), api_token=TOKEN))) as dash:
        assert dash.api.token is None
        dash.models.on_train()
        assert "needs its admin token" in dash.models.message.value


def test_the_plot_needs_no_data_service(tmp_path, trained):
    "The API's data service is down: the training data comes from the store, through the API, all the same."
    shutil.copytree(trained, tmp_path / "models")
    settings = Settings(data_dir=tmp_path, data_service_url=f"http://127.0.0.1:{free_port()}")
    with (
        TestClient(create_app(settings)) as client,
        closing(Dashboard(ApiClient(str(client.base_url), http=client))) as dash,
    ):
        dash.wait_for_sample(timeout=60)
        assert dash.predict.plot_note.value.startswith("Training data of model "), dash.predict.plot_note.value
        assert len(dash.predict.sample) == 1000


def test_a_version_stored_without_training_data_leaves_a_plot_that_says_so(api):
    "A version saved before versions kept their sample: the plot has no background, and the page says why."
    store = LocalModelStore(Path(api.app.state.settings.store_location), TRUSTED_TYPES)
    model, version = store.load()
    bare = store.save(model, {"metrics": version.metrics, "provenance": version.provenance.model_dump()})
    assert api.post(f"/models/{bare.id}/activate", headers=ADMIN).status_code == 200
    with closing(Dashboard(ApiClient(str(api.base_url), http=api))) as dash:
        note = dash.wait_for_sample(timeout=60).predict.plot_note.value
        assert note == (
            f"The training data cannot be shown: The API cannot show the training data: version {bare.id} was saved "
            "without a training sample; train a new version."
        )
        assert dash.predict.sample_version is None
        predict(dash, ELEPHANT)  # the page works all the same
        assert "Elephant" in dash.predict.result.value and dash.predict.plot.value[:4] == b"\x89PNG"


# --- serving


def test_the_voila_notebook_ships_in_the_package():
    nb = dashboard_notebook()
    assert nb.parent.name == "notebooks" and nb.parent.parent.name == "animal_challenge"
    assert "Dashboard.from_settings(Settings())" in nb.read_text()


def test_the_shipped_notebook_ends_with_the_training_data_in_the_page(api, monkeypatch):
    "What the notebook shows when Voila has run it is what a connecting page gets: the plot's note is already there."
    monkeypatch.setattr(ApiClient, "from_settings", classmethod(lambda cls, settings: cls("http://api", http=api)))
    code = json.loads(dashboard_notebook().read_text())["cells"][0]["source"]
    *body, last = ast.parse("".join(code)).body
    namespace = {}
    exec(compile(ast.Module(body, []), "dashboard.ipynb", "exec"), namespace)
    with closing(eval(compile(ast.Expression(last.value), "dashboard.ipynb", "eval"), namespace)) as page:
        assert page.predict.plot_note.value.startswith("Training data of model "), page.predict.plot_note.value


def test_voila_command_serves_the_shipped_notebook_with_pool_and_culling():
    cmd = voila_command(Settings(host="0.0.0.0", dashboard_port=9001), pool_size=3, cull_after=45)
    assert cmd[:4] == [sys.executable, "-c", VOILA_MAIN, str(dashboard_notebook())]
    for flag in [
        "--Voila.ip=0.0.0.0",
        "--Voila.port=9001",
        "--Voila.port_retries=0",
        "--preheat_kernel=True",
        "--pool_size=3",
        "--MappingKernelManager.cull_idle_timeout=45",
        "--VoilaConfiguration.multi_kernel_manager_class=animal_challenge.kernel_guard.GuardedKernelManager",
        "--show_tracebacks=False",
        "--template=animal",
        f"--VoilaKernelManager.fill_delay={REFILL_AFTER}",
        f"--KernelManager.shutdown_wait_time={KERNEL_STOP_WAIT}",
    ]:
        assert flag in cmd


def test_voila_finds_the_shipped_template_through_the_dashboards_jupyter_path(monkeypatch):
    from voila.paths import collect_template_paths

    env = dashboard_env(Settings(), base={"JUPYTER_PATH": "/elsewhere"})
    assert env["JUPYTER_PATH"].split(os.pathsep) == [str(template_root()), "/elsewhere"]
    assert dashboard_env(Settings(), base=env)["JUPYTER_PATH"] == env["JUPYTER_PATH"]  # applying it twice: same path
    monkeypatch.setenv("JUPYTER_PATH", env["JUPYTER_PATH"])
    paths = collect_template_paths(["voila", "nbconvert"], TEMPLATE, prune=True)
    ours = template_root() / "voila" / "templates" / TEMPLATE
    assert paths[0] == str(ours)  # ours first, then what it extends: Voila's lab template, nbconvert's lab and base
    assert any(p.endswith(os.path.join("voila", "templates", "lab")) for p in paths)
    assert json.loads((ours / "conf.json").read_text()) == {"base_template": "lab"}


def notebook_css(template: Path) -> str:
    "The `notebook_css` block of a Jinja template, without the part Voila adds only for `show_margins`."
    block = re.search(r"block notebook_css -%}(.*?){%- endblock notebook_css", template.read_text(), re.S).group(1)
    return re.sub(r"{% if resources.show_margins %}.*?{% endif %}", "", block, flags=re.S)


def css_selectors(block: str) -> set[str]:
    "The selectors of the CSS rules in a block's `<style>` elements."
    css = re.sub(r"/\*.*?\*/", "", "".join(re.findall(r"<style>(.*?)</style>", block, re.S)), flags=re.S)
    return {selector.strip() for selector in re.findall(r"([^{}]+){", css)}


def test_the_template_keeps_everything_voilas_lab_styles_add_but_the_cdn_links():
    "Our block re-adds Voila's by hand, so a Voila release that adds to its block fails here instead of going unseen."
    from voila.paths import collect_template_paths

    voila_lab = Path(collect_template_paths(["voila"], "lab", prune=True)[0]) / "index.html.j2"
    theirs = notebook_css(voila_lab)
    ours = notebook_css(template_root() / "voila" / "templates" / TEMPLATE / "index.html.j2")
    expressions = re.compile(r"{{\s*(.*?)\s*}}")
    assert set(expressions.findall(theirs)) - {"super()"} <= set(expressions.findall(ours))
    assert css_selectors(theirs) <= css_selectors(ours)
    hrefs = re.findall(r'<link[^>]*href="([^"]+)"', theirs)
    assert hrefs and all(href.startswith("https://cdn.jsdelivr.net/") for href in hrefs)  # all we leave out
    assert "<link" not in ours


def test_the_kernels_learn_the_api_url_and_never_the_token():
    settings = Settings(api_url="http://api:8000", api_token="s3cret-admin-token")
    base = {"HOME": "/h", "ANIMAL_CHALLENGE_API_TOKEN": "from-the-environment"}
    assert dashboard_env(settings, base=base) == {
        "HOME": "/h",
        "ANIMAL_CHALLENGE_API_URL": "http://api:8000",
        "JUPYTER_PATH": str(template_root()),
    }


CLIENT_SIDE = {"schema", "config", "drift", "artifacts", "contract", "client", "views"}  # all a page loads,
CLIENT_SIDE |= {"predict_tab", "history_tab", "model_tabs", "dashboard"}  # with the page's own chapters


def test_a_page_kernel_loads_the_client_side_only():
    "The shipped notebook's imports, in a fresh interpreter as a Voila kernel runs them: a client of the API only."
    code = json.loads(dashboard_notebook().read_text())["cells"][0]["source"]
    imports = "".join(line for line in code if line.startswith(("from ", "import ")))
    probe = imports + (
        "import sys\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skops', 'scipy', 'sqlite3')))\n"
        "print(sorted(m.split('.')[1] for m in sys.modules if m.startswith('animal_challenge.')))\n"
    )
    unmeasured = {k: v for k, v in os.environ.items() if not k.startswith(("COV_", "COVERAGE_"))}  # it loads sqlite3
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=unmeasured)
    heavy, ours = r.stdout.splitlines()
    assert heavy == "[]", r.stdout + r.stderr  # no model library, no history database
    assert set(ast.literal_eval(ours)) == CLIENT_SIDE  # drift and artifacts for the types of their answers only


# --- each browser its own history; the admin's review and training controls


def test_two_pages_each_see_their_own_predictions_and_the_admin_sees_all(api):
    with (
        closing(Dashboard(ApiClient(str(api.base_url), http=api), load_samples=False)) as one,
        closing(Dashboard(ApiClient(str(api.base_url), http=api), load_samples=False)) as two,
    ):
        predict(one, ELEPHANT)
        predict(two, CHICKEN)
        for page in (one, two):
            page.history.refresh()
        assert [label for label, _ in one.history.feedback_id.options] == ["#1 (elephant)"]
        assert [label for label, _ in two.history.feedback_id.options] == ["#2 (chicken)"]
        one.history.everyone.value = True  # without the token: says what it needs
        assert "type the admin token" in one.history.message.value
        one.token.value = TOKEN
        one.history.refresh()
        assert [value for _, value in one.history.feedback_id.options] == [2, 1]


def test_a_correction_enters_training_only_once_the_admin_accepts_it(api):
    with closing(Dashboard(ApiClient(str(api.base_url), http=api), load_samples=False)) as dash:
        predict(dash, NOISE)
        dash.history.refresh()
        dash.history.feedback_id.value, dash.history.feedback_species.value = 1, "chicken"
        dash.history.on_feedback()
        dash.history.show_proposals()  # no token: refused in words
        assert "needs its admin token" in dash.history.message.value
        dash.token.value = TOKEN
        dash.history.show_proposals()
        assert dash.history.review_id.options == (("#1: outlier → chicken", 1),)
        dash.history.on_review(True)
        assert "The correction of prediction #1 is accepted" in dash.history.message.value
        assert api.get("/feedback", params={"status": "accepted"}, headers=ADMIN).json()[0]["id"] == 1
        dash.history.show_proposals()
        assert "No correction waits for review." in dash.history.proposals.value


def test_training_with_corrections_and_without_activation_then_compare(dash, api):
    first = api.get("/models/active").json()["id"]
    dash.token.value, dash.models.include_feedback.value, dash.models.activate_new.value = TOKEN, True, False
    dash.models.on_train()
    dash.models.job_thread.join(timeout=60)
    assert "is trained, not activated (it was not asked to be activated)" in dash.models.job_status.value
    assert api.get("/models/active").json()["id"] == first  # still serving the first
    new = next(v["id"] for v in api.get("/models").json() if not v["active"])
    dash.models.refresh()
    dash.models.version_choice.value = new
    dash.models.on_compare()
    assert f"{new}</th>" in dash.models.comparison.value and f"{first} (active)</th>" in dash.models.comparison.value


# --- CSV in and out, the history over time, the Monitoring tab (issue 13)

CSV_HEADER = "walks_on_n_legs,height,weight,has_wings,has_tail"


def as_csv(points: list[dict]) -> bytes:
    "Points as the CSV file a user uploads."
    lines = [CSV_HEADER, *(",".join(str(p[f]).lower() for f in CSV_HEADER.split(",")) for p in points)]
    return "\n".join(lines).encode() + b"\n"


def saved(link_html: str) -> str:
    "The file a download link of the page saves."
    return base64.b64decode(re.search("base64,([^']+)'", link_html).group(1)).decode()


def test_a_csv_file_is_classified_with_one_batch_call_and_downloaded(dash, api):
    dash.predict.classify_csv(as_csv([ELEPHANT, CHICKEN, NOISE]), "zoo.csv")
    assert dash.predict.batch_message.value == ""
    mine = api.get("/predictions", headers={"X-Client-Id": dash.api.client_id}).json()[::-1]  # oldest first
    assert [r["point"] for r in mine] == [ELEPHANT, CHICKEN, NOISE]  # stored under this page's client id
    species = [r["species"] for r in mine]
    assert species == ["elephant", "chicken", "outlier"]
    assert f"zoo.csv: 3 points classified by model {mine[0]['model_version']}: 1 elephant, 1 chicken, 1 outlier." in (
        dash.predict.batch_result.value
    )
    rows = list(csv.DictReader(io.StringIO(saved(dash.predict.batch_result.value))))
    assert [r["species"] for r in rows] == species
    assert [int(r["prediction_id"]) for r in rows] == [r["id"] for r in mine]


def test_a_batch_beyond_the_apis_limit_is_refused_in_words(tmp_path, trained, service):
    shutil.copytree(trained, tmp_path / "models")
    settings = Settings(data_dir=tmp_path, data_service_url=service, max_batch=2)
    with (
        TestClient(create_app(settings)) as client,
        closing(Dashboard(ApiClient(str(client.base_url), http=client), load_samples=False)) as dash,
    ):
        dash.predict.classify_csv(as_csv([ELEPHANT, CHICKEN, NOISE]), "zoo.csv")
        assert "a batch holds at most 2 points, this one has 3: split it" in dash.predict.batch_message.value
        assert dash.predict.batch_result.value == ""


def test_the_history_downloads_as_the_apis_csv_and_plots_counts_per_species(dash, api):
    for point in (ELEPHANT, CHICKEN, NOISE):
        predict(dash, point)
    dash.history.refresh()
    assert dash.history.plot.layout.display is None and dash.history.plot.value[:4] == b"\x89PNG"
    assert dash.history.plot_caption.value.startswith("3 of your predictions per hour (UTC), by label")
    dash.history.on_export()
    expected = api.get("/predictions/export", headers={"X-Client-Id": dash.api.client_id}).text
    assert saved(dash.history.download.value) == expected
    assert "(3 predictions)" in dash.history.download.value


def test_monitoring_says_no_drift_then_drift_with_what_moved(dash, api):
    dash.monitoring.refresh()
    assert "No predictions yet: nothing to judge" in dash.monitoring.drift_verdict.value
    assert api.post("/predict/batch", json={"points": generate(seed=5, n=600)}).status_code == 200
    dash.monitoring.refresh()
    assert dash.monitoring.message.value == ""
    assert "No drift: the last 500 predictions look like the training data" in dash.monitoring.drift_verdict.value
    assert dash.monitoring.drift_table.value.count("<tr") == 8  # the header and seven checks
    assert dash.monitoring.drift_plot.value[:4] == b"\x89PNG"
    assert dash.monitoring.timeline_caption.value.startswith(
        "No predictions to show over time yet (this browser"
    )  # not its own
    dash.token.value = TOKEN  # the admin sees everyone's over time
    dash.monitoring.refresh()
    assert bytes(dash.monitoring.timeline.value[:4]) == b"\x89PNG" and dash.monitoring.timeline.layout.display is None
    assert dash.monitoring.timeline_caption.value.startswith(
        "Per hour, everyone&#x27;s predictions (the admin&#x27;s view)"
    )
    wider = replace(DEFAULT_SPEC, noise_share=0.2)
    assert api.post("/predict/batch", json={"points": generate(seed=6, n=600, spec=wider)}).status_code == 200
    dash.monitoring.refresh()
    report = api.get("/monitoring/drift").json()
    assert report["drift"] and "Drift: the last 500 predictions do not look like the training data" in (
        dash.monitoring.drift_verdict.value
    )
    for reason in report["reasons"]:
        assert html.escape(reason) in dash.monitoring.drift_verdict.value  # the API's own words
    assert "Train a new version (admin)" in dash.monitoring.drift_verdict.value
