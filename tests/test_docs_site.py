"""The documentation site, built offline and opened page by page in headless Chromium."""

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from build_docs import chapters, page_name  # noqa: E402
from servers import CHROMIUM, launch_chromium  # noqa: E402

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, ROOT / "tools" / "build_docs.py", "--out", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def test_the_sidebar_lists_every_chapter_in_reading_order():
    notebooks = sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))
    assert chapters()[0] == "index.ipynb"
    assert chapters()[1:] == [n for n in notebooks if n != "index.ipynb"]


def test_every_chapter_has_a_page(site):
    assert sorted(p.name for p in site.glob("*.html")) == sorted(page_name(c) for c in chapters())


@pytest.mark.parametrize("chapter", chapters())
def test_page_loads_with_title_working_links_and_no_errors(site, browser, chapter):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((site / page_name(chapter)).as_uri())
    title = page.locator("h1.title").inner_text().strip()
    assert title and page.title().startswith(title)
    assert errors == []
    text = page.locator("main").inner_text()
    assert "Traceback (most recent call last)" not in text
    assert page.locator(".output_error, [data-mime-type='application/vnd.jupyter.stderr'] .ansi-red-fg").count() == 0
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        url = urlparse(href)
        if url.scheme in ("http", "https", "mailto"):
            continue
        target = site / url.path if url.path else site / page_name(chapter)
        assert target.is_file(), f"{chapter}: broken link {href}"
        if url.fragment and not url.path:  # a link within the page must land on a heading of it
            assert f'id="{url.fragment}"' in target.read_text(), f"{chapter}: link {href} names a missing anchor"
    page.close()
