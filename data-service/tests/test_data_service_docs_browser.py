"""`/docs` in a real headless browser: it renders and works with no request leaving the service.

Needs Debian's `chromium` and the `playwright` Python package (never `playwright install`); skipped without them.
"""

from __future__ import annotations

import shutil

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser installed")

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_docs_render_offline_and_try_it_out_works(live_server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            elsewhere: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(live_server) else elsewhere.append(r.url))
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

            page.goto(live_server + "/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=20_000)
            paths = [e.inner_text() for e in page.query_selector_all(".opblock-summary-path")]
            assert sorted(paths) == ["/api/v1/animals/data", "/api/v1/animals/schema"]

            page.click(".opblock-post .opblock-summary")
            page.click(".opblock-post .try-out__btn")
            page.click(".opblock-post .execute")  # sends the example body {"seed": 42, "number_of_datapoints": 3}
            status = page.wait_for_selector(".opblock-post .live-responses-table .response .response-col_status")
            assert status.inner_text().strip() == "200"
            assert "1.8966201999039332" in page.inner_text(".opblock-post .live-responses-table")
        finally:
            browser.close()
    assert elsewhere == []  # nothing from a CDN
    assert console_errors == []
