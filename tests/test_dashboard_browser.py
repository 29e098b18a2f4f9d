"""The dashboard in a real browser: Debian Chromium driven by Playwright, against a real data service, a real API
(with a model trained on the data service's points) and Voila started by `serve_dashboard`.

The servers and the page are shared by the module, and the tests run in file order like a user going through the
page: predict two animals, find them in the History, correct one, retrain, and finally lose the API and get it back.
Each test states what the page must show and, where it matters, checks the API's own answer too.
"""

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from animal_data_service.generator import DEFAULT_SPEC, generate
from servers import BIN, CHROMIUM, free_port, launch_chromium, running

from animal_challenge.config import Settings
from animal_challenge.contract import ANSWER_COLUMNS
from animal_challenge.dashboard_server import PAGE_HEADERS, dashboard_env, voila_command
from animal_challenge.process import ServerProcess, patience
from animal_challenge.training import train_and_store

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}")
TOKEN = "browser-test-token-0123456789"
WAIT_MS = 30_000  # what a page action may take on a quiet machine (most take < 1 s); `waits` stretches it when busy
SCREENSHOT = Path(__file__).resolve().parents[1] / "nbs" / "dashboard.png"
ELEPHANT = {"legs": "4", "height": "3.1", "weight": "5200", "wings": False, "tail": True}
NOISE = {"legs": "3", "height": "7", "weight": "300", "wings": True, "tail": False}  # no animal walks on 3 legs
SHORT_KANGAROO = {"legs": "2", "height": "1.5", "weight": "60", "wings": False, "tail": True}  # trained: 1.6 to 2 m
MONSTER = {"legs": "7", "height": "1.5", "weight": "3000", "wings": True, "tail": True}


@dataclass
class Stack:
    "The running servers: the API can be stopped and started again on the same port."

    api_url: str
    api_cmd: list[str]
    dashboard_url: str
    servers: ExitStack
    data_service: ServerProcess | None = None
    api: ServerProcess | None = None
    dashboard_log: Path | None = None

    def start_api(self) -> None:
        self.api = self.servers.enter_context(running(self.api_cmd, self.api_url + "/health", name="API"))

    def stop_api(self) -> None:
        self.api.stop()

    def api_get(self, path: str):
        "The API's answer to `path`, asked as the admin (who sees every client's predictions)."
        return httpx.get(self.api_url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    "Data service, API with a first model (1000 points, seed 1) and token, and the dashboard, on free ports."
    data_dir = tmp_path_factory.mktemp("dashboard")
    with ExitStack() as servers:
        port = free_port()
        service = f"http://127.0.0.1:{port}"
        cmd = [str(BIN / "animal-data-service"), "run", "--host", "127.0.0.1", "--port", str(port)]
        service_process = servers.enter_context(running(cmd, service + "/api/v1/animals/schema", name="data service"))
        train_and_store(1, 1000, Settings(data_dir=data_dir, data_service_url=service))
        api_port, dashboard_port = free_port(), free_port()
        api_cmd = [str(BIN / "animal-challenge"), "api", "--port", str(api_port), "--token", TOKEN]
        api_cmd += ["--data-dir", str(data_dir), "--data-service-url", service]
        stack = Stack(f"http://127.0.0.1:{api_port}", api_cmd, f"http://127.0.0.1:{dashboard_port}/", servers)
        stack.data_service = service_process
        stack.start_api()
        settings = Settings(api_url=stack.api_url)  # the page holds no token: the user types it
        # the tests' visitors (several browsers, reloads) all come from 127.0.0.1: no share per address here
        voila = voila_command(settings, port=dashboard_port, max_pages_per_address=20)
        stack.dashboard_log = data_dir / "voila.log"  # read when a test fails: what the server and kernels said
        ready = stack.dashboard_url + "voila/static/voila.js"
        servers.enter_context(running(voila, ready, dashboard_env(settings), log=stack.dashboard_log))
        yield stack


@pytest.fixture(scope="module")
def requested() -> list[str]:
    "Every URL the page has asked for, in order."
    return []


@pytest.fixture(scope="module")
def violations() -> list[str]:
    "Every breach of the page's Content-Security-Policy the browser reported, as directive and blocked URI."
    return []


REPORT_VIOLATIONS = (  # runs before the page's own scripts, on every load of the page
    "document.addEventListener('securitypolicyviolation', e => console.error("
    "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber))"
)


@pytest.fixture(scope="module")
def page(stack, requested, violations):
    "The dashboard open in headless Chromium, ready to take input."
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.on("request", lambda request: requested.append(request.url))
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", lambda m: violations.append(m.text) if m.text.startswith("CSP violation") else None)
        page.set_default_timeout(waits())
        page.goto(stack.dashboard_url)
        page.locator(".ac-predict").wait_for()
        yield page
        browser.close()


def fill_form(page, values: dict) -> None:
    "Type a point into the Predict form."
    for name in ("legs", "height", "weight"):
        page.locator(f".ac-{name} input").fill(values[name])
    for name in ("wings", "tail"):
        page.locator(f".ac-{name} input").set_checked(values[name])


def predict(page, values: dict) -> None:
    "Fill the form, press Predict and wait for a new verdict."
    before = page.locator(".ac-result").inner_text()
    fill_form(page, values)
    page.locator(".ac-predict").click()
    page.wait_for_function(
        "before => document.querySelector('.ac-result').innerText !== before"
        " || document.querySelector('.ac-predict-message').innerText !== ''",
        arg=before,
    )


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def waits() -> float:
    "Milliseconds a page action or an expectation may take now: `WAIT_MS`, stretched by the machine's load."
    return patience(WAIT_MS / 1000) * 1000


def expect(locator):
    sync_api.expect.set_options(
        timeout=waits()
    )  # Playwright's default, 5 s, is short for a Voila page on a busy machine
    return sync_api.expect(locator)


def test_the_page_asks_nothing_of_any_other_host(page, stack, requested):
    "Scripts, styles, fonts and the kernel all come from the dashboard's own server: no CDN, so it works offline."
    assert any(url.endswith("voila.js") for url in requested)
    own = (stack.dashboard_url, "blob:" + stack.dashboard_url, "data:")  # blob: the plot, made in the page
    elsewhere = [url for url in requested if not url.startswith(own)]
    assert elsewhere == []


def test_predict_an_elephant(page, tmp_path):
    note = page.locator(".ac-plot-note")
    expect(note).to_contain_text("Training data of model")  # before any prediction: a lost note stays lost until one
    predict(page, ELEPHANT)
    expect(page.locator(".ac-result .ac-species")).to_have_text("Elephant")
    expect(page.locator(".ac-result .ac-prob")).to_have_count(4)  # a bar per species
    expect(page.locator(".ac-result .ac-interval")).to_contain_text("Probability of elephant:")
    expect(page.locator(".ac-result .ac-conformal")).to_contain_text("Cannot be ruled out at 95 %: elephant")
    expect(page.locator(".ac-result .ac-decided")).to_contain_text("Decided by: inside the elephant size range")
    expect(page.locator(".ac-result .ac-nearest tbody tr")).to_have_count(3)
    expect(note).to_contain_text("Training data of model")  # the plot still has its background
    expect(page.locator(".ac-plot-star")).to_have_text("The black star is your animal (elephant): 5200 kg, 3.1 m.")
    expect(page.locator(".ac-predict-message")).to_have_text("")
    page.wait_for_timeout(300)  # the new image has arrived (the caption follows it); let the browser draw it
    # the docs' screenshot is refreshed on request only, so a test run leaves the working tree as it was
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / "dashboard.png"
    page.locator(".ac-predict-tab").screenshot(path=shot)
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_a_noise_point_is_not_one_of_the_known_animals(page):
    predict(page, NOISE)
    expect(page.locator(".ac-result .ac-species")).to_have_text("Not one of the known animals")
    expect(page.locator(".ac-result .ac-reasons")).to_contain_text("walks on 3 legs")


def test_history_shows_both_newest_first_and_filters(page, stack):
    open_tab(page, "History")  # opening the tab lists what the API has now
    rows = page.locator(".ac-history-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("outlier")
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("elephant")
    expect(rows.nth(0).locator("td").nth(3)).to_have_text("none (outlier)")  # no percentage for an outlier
    page.locator(".ac-history-species select").select_option("elephant")
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("elephant")
    page.locator(".ac-history-species select").select_option("all")
    expect(rows).to_have_count(2)


def test_correct_a_prediction(page, stack):
    outlier_id = stack.api_get("/predictions?species=outlier")[0]["id"]
    page.locator(".ac-feedback-id select").select_option(label=f"#{outlier_id} (outlier)")
    page.locator(".ac-feedback-species select").select_option("chicken")
    page.locator(".ac-feedback-send").click()
    expect(page.locator(".ac-history-message")).to_contain_text(f"correction of prediction #{outlier_id} (chicken)")
    row = page.locator(".ac-history-table tbody tr").nth(0)
    expect(row.locator("td").nth(9)).to_have_text("chicken (proposed)")  # the "corrected to" column
    assert stack.api_get("/predictions?species=outlier")[0]["feedback"]["status"] == "proposed"


def test_retrain_needs_the_token_then_activates_the_new_version(page, stack):
    open_tab(page, "Models")
    rows = page.locator(".ac-models-table tbody tr")
    expect(rows).to_have_count(1)
    first = stack.api_get("/models")[0]["id"]
    page.locator(".ac-train-seed input").fill("7")
    page.locator(".ac-train-n input").fill("1000")
    page.locator(".ac-train").click()
    expect(page.locator(".ac-models-message")).to_contain_text("the API needs its admin token: type it in the Token")
    page.locator(".ac-token input").fill(TOKEN)
    page.locator(".ac-train").click()
    expect(page.locator(".ac-train-status")).to_contain_text("is trained and active", timeout=3 * waits())
    expect(rows).to_have_count(2)
    versions = stack.api_get("/models")
    new = next(v for v in versions if v["active"])
    assert new["id"] != first and new["provenance"]["seed"] == 7 and new["provenance"]["n"] == 1000
    active_row = rows.filter(has_text=new["id"])
    expect(active_row.locator("td").nth(2)).to_have_text("✔")


# --- the training controls, a wrong token, dropdowns that show their choice (while the data service is up)


def selected_text(page, css: str) -> str:
    "The text a dropdown shows: its selected option's, or '' when it selects none (it looks empty)."
    js = "s => s.selectedIndex < 0 ? '' : s.options[s.selectedIndex].text"
    return page.locator(f"{css} select").evaluate(js).replace("\xa0", " ")  # ipywidgets writes spaces as nbsp


def test_the_dropdowns_show_a_choice_once_they_have_options(page, stack):
    "Both dropdowns get their options from the kernel after the page is drawn; each must then show one of them."
    open_tab(page, "History")
    rows = page.locator(".ac-history-table tbody tr")
    expect(rows.first).to_be_visible()
    page.wait_for_function("() => document.querySelector('.ac-feedback-id select').options.length > 0")
    shown = [f"#{r.locator('td').nth(0).inner_text()} ({r.locator('td').nth(2).inner_text()})" for r in rows.all()]
    assert selected_text(page, ".ac-feedback-id") in shown
    open_tab(page, "Models")
    versions = stack.api_get("/models")
    page.wait_for_function(
        f"() => document.querySelector('.ac-activate-version select').options.length === {len(versions)}"
    )
    labels = [v["id"] + (" (active)" if v["active"] else "") for v in versions]
    assert selected_text(page, ".ac-activate-version") in labels


def test_a_wrong_token_is_reported_as_wrong(page):
    open_tab(page, "Models")
    page.locator(".ac-token input").fill("not-the-token")
    try:
        page.locator(".ac-train").click()
        message = page.locator(".ac-models-message")
        expect(message).to_contain_text("The token is wrong: the API refused to train a model.")
        assert "type it in the Token field" not in message.inner_text()
    finally:
        page.locator(".ac-token input").fill(TOKEN)  # the tests after this one act as the admin


def test_train_with_the_accepted_corrections_without_activating_then_compare(page, stack):
    "The feedback loop closed from the page: accept the correction, train with it, keep the active version, compare."
    open_tab(page, "History")
    page.locator(".ac-review-list").click()
    (proposed,) = stack.api_get("/feedback?status=proposed")  # the page's correction of its outlier, earlier
    outlier_id = proposed["id"]
    page.wait_for_function("() => document.querySelector('.ac-review-id select').options.length > 0")
    page.locator(".ac-review-id select").select_option(label=f"#{outlier_id}: outlier → chicken")
    page.locator(".ac-accept").click()
    expect(page.locator(".ac-history-message")).to_contain_text(
        f"The correction of prediction #{outlier_id} is accepted"
    )
    open_tab(page, "Models")
    active = next(v["id"] for v in stack.api_get("/models") if v["active"])
    page.locator(".ac-train-feedback input").set_checked(True)
    page.locator(".ac-train-activate input").set_checked(False)
    page.locator(".ac-train-seed input").fill("11")
    page.locator(".ac-train").click()
    status = page.locator(".ac-train-status")
    expect(status).to_contain_text("is trained, not activated", timeout=3 * waits())
    versions = stack.api_get("/models")
    assert next(v["id"] for v in versions if v["active"]) == active  # still the one answering
    new = next(v for v in versions if v["provenance"]["seed"] == 11)
    assert new["provenance"]["n_feedback"] == 1 and not new["active"]
    page.locator(".ac-activate-version select").select_option(new["id"])
    page.locator(".ac-compare").click()
    headers = page.locator(".ac-compare-table thead th")
    expect(headers).to_have_text(["figure", new["id"], f"{active} (active)"])
    expect(page.locator(".ac-compare-table tbody tr").filter(has_text="corrections added")).to_contain_text("1")


def test_api_down_is_said_in_words_inputs_kept_and_page_recovers(page, stack):
    open_tab(page, "Predict")
    stack.stop_api()
    predict(page, ELEPHANT)
    message = page.locator(".ac-predict-message")
    expect(message).to_contain_text(f"The API at {stack.api_url} does not answer. Start it with animal-challenge api")
    expect(page.locator(".ac-weight input")).to_have_value("5200")  # what the user typed is still there
    assert "Traceback" not in page.content()
    stack.start_api()
    page.locator(".ac-predict").click()
    expect(message).to_have_text("")
    expect(page.locator(".ac-result .ac-species")).to_have_text("Elephant")
    expect(page.locator(".ac-result .ac-version")).to_contain_text("Prediction #3")


def test_with_the_data_service_stopped_a_new_page_still_shows_the_training_data(page, stack):
    "The plot's points travel with the model version: the API serves them from the store, no data service needed."
    stack.data_service.stop()
    active = next(v for v in stack.api_get("/models") if v["active"])
    sample = stack.api_get(f"/models/{active['id']}/sample")["columns"]
    context = page.context.browser.new_context()  # another visitor, nothing cached
    fresh = context.new_page()
    fresh.set_default_timeout(waits())
    fresh.goto(stack.dashboard_url)
    fresh.locator(".ac-predict").wait_for()  # the page is drawn (slow on a busy machine), then its note is read
    note = fresh.locator(".ac-plot-note")
    expected = f"Training data of model {active['id']}: {len(sample['label'])} of its"
    expect(note).to_contain_text(expected, timeout=patience(30) * 1000)  # a fresh page: ~13 s at a load of 4
    assert "cannot be shown" not in note.inner_text()
    context.close()


def test_each_browser_sees_only_its_own_predictions_and_keeps_them_over_a_reload(page, stack):
    "Two visitors (two browser contexts: two localStorages) predict different animals; each History is its own."
    browser = page.context.browser
    visitors = [browser.new_context(), browser.new_context()]
    pages = [v.new_page() for v in visitors]
    try:
        for visitor, values in zip(pages, (ELEPHANT, NOISE), strict=True):
            visitor.set_default_timeout(waits())
            visitor.goto(stack.dashboard_url)
            visitor.locator(".ac-predict").wait_for()
            visitor.wait_for_function("() => localStorage.getItem('animal-challenge-client-id') !== null")
            predict(visitor, values)
        ids = [v.evaluate("() => localStorage.getItem('animal-challenge-client-id')") for v in pages]
        assert ids[0] != ids[1]
        for visitor, species in zip(pages, ("elephant", "outlier"), strict=True):
            open_tab(visitor, "History")
            rows = visitor.locator(".ac-history-table tbody tr")
            expect(rows).to_have_count(1)
            expect(rows.nth(0).locator("td").nth(2)).to_have_text(species)
        pages[0].reload()  # a new page (and kernel) in the same browser: the same id, the same history
        pages[0].locator(".ac-predict").wait_for()
        open_tab(pages[0], "History")
        rows = pages[0].locator(".ac-history-table tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.nth(0).locator("td").nth(2)).to_have_text("elephant")
        mine = [r["client_id"] for r in stack.api_get("/predictions?limit=1000")]
        assert mine.count(ids[0]) == 1 and mine.count(ids[1]) == 1
    finally:
        for visitor in visitors:
            visitor.close()


def test_the_predict_tab_says_why_a_rejected_point_is_none_of_the_animals(page):
    "A kangaroo shorter than any the model saw, and an absurd creature: reasons, what decided, no probability."
    result = page.locator(".ac-result")
    predict(page, SHORT_KANGAROO)
    expect(result.locator(".ac-species")).to_have_text("Not one of the known animals")
    expect(result.locator(".ac-reasons")).to_contain_text("height/weight far from every known animal: 1.50 m, 60 kg")
    expect(result.locator(".ac-decided")).to_contain_text("outside the kangaroo size range")
    expect(result.locator(".ac-decided")).to_contain_text("1.50 m is below it")
    expect(result.locator(".ac-nearest tbody tr")).to_have_count(3)
    expect(result.locator(".ac-nearest tbody tr").first.locator("td").first).to_have_text("kangaroo")
    expect(result.locator(".ac-prob")).to_have_count(0)  # no bars, no headline probability
    assert "%" not in result.inner_text()
    predict(page, MONSTER)
    expect(result.locator(".ac-reasons")).to_have_text("walks on 7 legs: known animals walk on 2 or 4")
    expect(result.locator(".ac-decided")).to_contain_text("the legs rule (walks on 7 legs")
    expect(result.locator(".ac-nearest tbody tr")).to_have_count(3)
    assert "%" not in result.inner_text()


# --- issue 13: CSV in and out, the history's download and counts over time, the Monitoring tab

CSV_HEADER = "walks_on_n_legs,height,weight,has_wings,has_tail"


def upload(page, path: Path) -> None:
    "Choose `path` in the upload widget, as a user does (its file input is not in the document: the button opens it)."
    with page.expect_file_chooser() as choosing:
        page.locator(".ac-upload").click()
    choosing.value.set_files(path)


def download(page, link) -> str:
    "Click a download link and return the saved file's text."
    with page.expect_download() as saving:
        link.click()
    return Path(saving.value.path()).read_text()


def test_a_csv_file_is_classified_shown_and_downloaded(page, tmp_path):
    open_tab(page, "Predict")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{CSV_HEADER}\n4,3.1,5200,false,true\n4,tall,1,false,true\n")
    upload(page, bad)
    expect(page.locator(".ac-batch-message")).to_contain_text(
        "bad.csv: column 'height' must hold finite numbers; rows [3] hold ['tall'] (rows counted as lines of the file"
    )
    zoo = tmp_path / "zoo.csv"
    zoo.write_text(f"{CSV_HEADER}\n4,3.1,5200,false,true\n3,7,300,true,false\n2,0.35,2.5,true,true\n")
    upload(page, zoo)
    summary = page.locator(".ac-batch-summary")
    expect(summary).to_contain_text("zoo.csv: 3 points classified by model")
    expect(page.locator(".ac-batch-message")).to_have_text("")
    rows = page.locator(".ac-batch-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td").nth(6)).to_have_text("elephant")
    expect(rows.nth(1).locator("td").nth(6)).to_have_text("outlier")
    saved = download(page, page.locator(".ac-batch-download")).splitlines()
    answer_columns = ",".join([*ANSWER_COLUMNS, "decided_by", "prediction_id", "model_version"])
    assert saved[0] == f"line,{CSV_HEADER},{answer_columns}"  # the columns of the CLI's output and of the history's
    assert [line.split(",")[0] for line in saved[1:]] == ["2", "3", "4"]  # each point's line in the uploaded file
    assert [line.split(",")[6] for line in saved[1:]] == ["elephant", "outlier", "chicken"]
    assert "walks on 3 legs" in saved[2]


def test_a_file_beyond_the_apis_batch_limit_is_refused_in_words(page, tmp_path):
    "12 000 points (about 390 kB: far more than the kernel guard's 64 KiB for other messages) reach the kernel whole."
    big = tmp_path / "big.csv"
    big.write_text(f"{CSV_HEADER}\n" + "4,3.1,5200.0,false,true\n" * 12_000)
    upload(page, big)
    expect(page.locator(".ac-batch-message")).to_contain_text(
        "The API cannot classify the batch with these values: points: a batch holds at most 10000 points, "
        "this one has 12000: split it"
    )
    expect(page.locator(".ac-batch-result")).to_have_text("")


def test_the_history_downloads_as_csv_and_plots_counts_per_species(page, stack):
    open_tab(page, "History")
    page.locator(".ac-history-export").click()
    mine = page.evaluate("() => localStorage.getItem('animal-challenge-client-id')")
    expected = stack.api_get(f"/predictions?limit=1000&client={mine}")
    link = page.locator(".ac-history-csv")
    expect(link).to_contain_text(f"Save my-predictions.csv ({len(expected)} predictions)")
    saved = download(page, link).splitlines()
    assert saved[0].startswith("id,created_at,client_id,model_version,walks_on_n_legs,")
    assert sorted(int(line.split(",")[0]) for line in saved[1:]) == sorted(r["id"] for r in expected)
    expect(page.locator(".ac-history-plot")).to_be_visible()
    expect(page.locator(".ac-history-plot-caption")).to_contain_text(f"{len(expected)} of your predictions per hour")


def send_batch(stack, points: list[dict]) -> None:
    "Classify `points` through the API as another client: traffic the page did not make."
    r = httpx.post(
        stack.api_url + "/predict/batch",
        json={"points": points},
        headers={"X-Client-Id": "monitoring-traffic-0001"},
        timeout=60,
    )
    assert r.status_code == 200, r.text


def test_the_monitoring_tab_shows_the_verdict_and_the_plots(page, stack):
    "In-distribution traffic: no drift, the checks and plots shown; then twenty percent noise: drift, and what to do."
    send_batch(stack, generate(seed=5, n=600))
    open_tab(page, "Monitoring")  # opening the tab asks the API
    verdict = page.locator(".ac-drift-verdict")
    expect(verdict).to_contain_text("No drift: the last 500 predictions look like the training data")
    expect(page.locator(".ac-drift-table tbody tr")).to_have_count(7)  # five features, the outlier rate, the mix
    for plot in (".ac-drift-plot", ".ac-timeline"):
        expect(page.locator(plot)).to_be_visible()
        assert page.locator(plot).evaluate("img => img.naturalWidth") > 500  # a drawn PNG, not a broken image
    expect(page.locator(".ac-drift-caption")).to_contain_text("orange: the last 500 predictions")
    expect(page.locator(".ac-timeline-caption")).to_contain_text("Per hour, everyone")  # the token is typed
    send_batch(stack, generate(seed=6, n=600, spec=replace(DEFAULT_SPEC, noise_share=0.2)))
    page.locator(".ac-monitor-refresh").click()
    expect(verdict).to_contain_text("Drift: the last 500 predictions do not look like the training data")
    expect(verdict.locator(".ac-drift-reasons")).to_contain_text("the outlier rate moved")
    expect(verdict.locator(".ac-drift-advice")).to_contain_text("Train a new version (admin)")
    assert stack.api_get("/monitoring/drift")["drift"] is True  # the page says what the API says


def test_the_page_keeps_its_content_security_policy_and_no_site_can_frame_it(page, stack, violations):
    "After every test above, the browser reported no breach of the CSP; a page of another site cannot frame it."
    answer = httpx.get(stack.dashboard_url, timeout=30)
    assert {k: answer.headers[k] for k in PAGE_HEADERS} == PAGE_HEADERS
    assert violations == []
    other = page.context.browser.new_context()
    try:
        attacker = other.new_page()
        with attacker.expect_event("console", lambda m: "frame-ancestors" in m.text, timeout=waits()) as refused:
            attacker.set_content(f'<iframe src="{stack.dashboard_url}"></iframe>')  # about:blank, not the dashboard
        assert "has been blocked" in refused.value.text
    finally:
        other.close()
