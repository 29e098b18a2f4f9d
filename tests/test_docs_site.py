"""The documentation site, built offline (tools/build_docs.py: nbdev's processing, then Sphinx) and opened page by page
in headless Chromium from file:// URLs, as a reader who opens `_docs/index.html` would."""

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from fastcore.docments import docments
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from build_docs import TableRenderer, anchors, chapters, drop_missing_anchors, page_name, relink, sidebar  # noqa: E402
from servers import CHROMIUM, launch_chromium  # noqa: E402

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")
HOST = "https://animal-challenge.github.io/animal_challenge"


def exported_module(chapter: str) -> str | None:
    "The module a chapter exports to (`#| default_exp NAME`), if any."
    m = re.search(r"#\|\s*default_exp\s+([\w.]+)", (ROOT / "nbs" / chapter).read_text())
    return f"animal_challenge.{m[1]}" if m else None


def documented_functions(chapter: str) -> dict[str, dict]:
    "The public functions a chapter exports that have docments comments, with those comments by parameter."
    if not (name := exported_module(chapter)):
        return {}
    module = importlib.import_module(name)
    found = {}
    for sym in getattr(module, "__all__", []):
        obj = getattr(module, sym, None)
        if inspect.isfunction(obj) and obj.__module__ == name:
            comments = {k: v for k, v in docments(obj).items() if k not in ("return", "self") and v}
            if comments:
                found[sym] = comments
    return found


def as_rendered(comment: str) -> str:
    "A docments comment as its table cell reads: code spans without their backticks, emphasis marks dropped elsewhere."
    parts = re.split(r"(`[^`]*`)", comment)
    return "".join(p[1:-1] if p.startswith("`") else p.replace("*", "") for p in parts)


def test_a_comment_reads_as_rendered():
    assert as_rendered("its `drift_*` fields, **not** *these*") == "its drift_* fields, not these"


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("site")
    cmd = [sys.executable, ROOT / "tools" / "build_docs.py", "--out", out]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out, r.stdout + r.stderr


@pytest.fixture(scope="module")
def site(build) -> Path:
    return build[0]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def open_page(browser, site):
    "Open a page of the site; it records the page's JS errors and every request that leaves file://."
    pages = []

    def _open(name: str):
        page = browser.new_page()
        page.errors, page.outside = [], []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else page.outside.append(r.url))
        page.goto((site / name).as_uri())
        pages.append(page)
        return page

    yield _open
    for page in pages:
        page.close()


# The builder's pieces, without building a site


def test_the_sidebar_lists_every_chapter_in_reading_order():
    notebooks = sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))
    assert chapters()[0] == "index.ipynb"
    assert chapters()[1:] == [n for n in notebooks if n != "index.ipynb"]


def test_sidebar_sections_keep_their_titles_and_order():
    quarto = {
        "website": {
            "sidebar": {
                "contents": [
                    "index.ipynb",
                    {"section": "Core", "contents": ["00_a.ipynb", {"href": "01_b.ipynb", "text": "B"}]},
                    "02_c.ipynb",
                ]
            }
        }
    }
    assert sidebar(quarto) == [(None, ["index.ipynb"]), ("Core", ["00_a.ipynb", "01_b.ipynb"]), (None, ["02_c.ipynb"])]


def test_links_to_notebooks_and_to_the_doc_host_become_links_between_pages():
    pages = {"02_data.ipynb": "data.md", "data.html": "data.md", "schema.html": "schema.md"}
    md = (
        f"[`validate_points`]({HOST}/schema.html#validate_points), [the data](02_data.ipynb), "
        "[answer](02_data.ipynb#the-answer), [nbdev](https://nbdev.fast.ai), [gone](99_gone.ipynb)"
    )
    assert relink(md, HOST, pages) == (
        "[`validate_points`](schema.md#validate_points), [the data](data.md), "
        "[answer](data.md#the-answer), [nbdev](https://nbdev.fast.ai), [gone](99_gone.ipynb)"
    )


def test_a_link_to_an_undocumented_symbol_lands_on_its_page():
    sources = {
        "a.md": "# A\n\n```python\n# not a heading\n```\n\n### ModelStore.save\n\nsee [b](b.md#gone) and [x](b.md#x_y)",
        "b.md": "# B\n\n## X_y `z`\n",
    }
    assert anchors(sources["a.md"]) == {"a", "modelstore.save"}
    assert anchors(sources["b.md"]) == {"b", "x_y-z"}
    fixed = drop_missing_anchors({**sources, "b.md": "# B\n\n## x_y\n"})
    assert fixed["a.md"].endswith("see [b](b.md) and [x](b.md#x_y)")


def legs_are_plausible(
    n: int,  # how many legs the animal walks on
    allowed: tuple = (2, 4),  # leg counts that real animals have
    note: str | None = None,  # a union type holds a `|`, which must not split the row
) -> bool:  # whether `n` is one of `allowed`
    "True when `n` is a leg count some animal has."
    return n in allowed


def test_show_doc_puts_the_docments_in_a_parameter_table():
    md = TableRenderer(legs_are_plausible)._repr_markdown_()
    assert md.startswith("### legs_are_plausible\n")
    assert "```python\ndef legs_are_plausible(n:int, allowed:tuple=(2, 4), note:str | None=None)->bool:\n```" in md
    assert "*True when `n` is a leg count some animal has.*" in md
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert rows[0].split("|")[2:5] == [" **Type** ", " **Default** ", " **Details** "]
    assert rows[2] == "| n | int |  | how many legs the animal walks on |"
    assert rows[3] == "| allowed | tuple | (2, 4) | leg counts that real animals have |"
    assert rows[4] == "| note | str \\| None | None | a union type holds a `\\|`, which must not split the row |"
    assert rows[5] == "| **Returns** | **bool** |  | **whether `n` is one of `allowed`** |"


# The built site


def test_the_build_reports_no_warnings(build):
    _, log = build
    assert [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line] == []


@needs_chromium
def test_every_chapter_has_a_page_in_sidebar_order(site, open_page):
    page = open_page("index.html")
    hrefs = page.eval_on_selector_all(".sidebar-tree a.reference", "els => els.map(e => e.getAttribute('href'))")
    assert [urlparse(h).path or "index.html" for h in hrefs] == [page_name(c) for c in chapters()]
    assert all((site / page_name(c)).is_file() for c in chapters())


@needs_chromium
@pytest.mark.parametrize("chapter", chapters())
def test_page_loads_with_title_images_working_links_and_no_errors(site, open_page, chapter):
    page = open_page(page_name(chapter))
    title = page.locator("article h1").first.inner_text().strip()
    assert title and page.title().startswith(title)
    text = page.locator("article").inner_text()
    assert "Traceback (most recent call last)" not in text
    assert page.locator(".cell-error").count() == 0
    assert page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)") == []
    for href in page.eval_on_selector_all("article a[href]", "els => els.map(e => e.getAttribute('href'))"):
        url = urlparse(href)
        if url.scheme in ("http", "https", "mailto", "data"):  # data: a download the page carries itself
            continue
        target = site / unquote(url.path) if url.path else site / page_name(chapter)
        assert target.is_file(), f"{chapter}: broken link {href}"
        if url.fragment:  # a link to a section must land on an element of the target page
            assert f'id="{url.fragment}"' in target.read_text(), f"{chapter}: link {href} names a missing anchor"
    assert page.errors == []
    assert page.outside == []  # fonts, scripts and styles all come with the site


@needs_chromium
@pytest.mark.parametrize("chapter", chapters())
def test_on_this_page_lists_the_sections_of_the_page(open_page, chapter):
    page = open_page(page_name(chapter))
    sections = page.eval_on_selector_all(
        "article section section > :is(h2, h3, h4, h5, h6)",
        "els => els.map(h => '#' + h.parentElement.id)",
    )
    toc = page.eval_on_selector_all(".toc-tree a.reference", "els => els.map(a => a.getAttribute('href'))")
    assert sections, f"{chapter} has no sections"
    assert page.locator(".toc-title").inner_text().strip().lower() == "on this page"
    assert page.locator(".toc-drawer").is_visible()
    assert [h for h in toc if h != "#"] == sections


@needs_chromium
@pytest.mark.parametrize("chapter", [c for c in chapters() if documented_functions(c)])
def test_the_api_reference_shows_a_parameter_table_for_each_documented_function(open_page, chapter):
    page = open_page(page_name(chapter))
    for name, comments in documented_functions(chapter).items():
        rows = page.evaluate(
            """name => {
                const headings = [...document.querySelectorAll('article section > :is(h2, h3, h4, h5, h6)')];
                const cells = tr => [...tr.cells].map(c => c.innerText.trim());
                for (const h of headings.filter(h => h.firstChild.textContent.trim() === name)) {
                    const table = h.parentElement.querySelector(':scope > .table-wrapper > table');
                    if (table) return [...table.querySelectorAll('tr')].map(cells);
                }
                return null;
            }""",
            name,
        )
        assert rows is not None, f"{chapter}: no parameter table under {name}"
        assert rows[0][-1] == "Details"
        documented = {r[0]: r[-1] for r in rows[1:]}
        for param, comment in comments.items():
            assert documented.get(param) == as_rendered(comment), f"{name}({param})"


@needs_chromium
def test_headings_show_no_pilcrow_and_their_permalink_only_on_hover(open_page):
    page = open_page(page_name(chapters()[1]))
    heading = page.locator("article h2").first
    assert "¶" not in page.locator("article").inner_text()
    link = heading.locator(".headerlink")
    assert link.evaluate("a => getComputedStyle(a).visibility") == "hidden"
    heading.hover()
    assert link.evaluate("a => getComputedStyle(a).visibility") == "visible"


def _search_targets() -> list[tuple[str, str]]:
    "`validate_points`, and the first documented function of the last chapter that has one, with their pages."
    documented = [(c, documented_functions(c)) for c in chapters()]
    schema = next(c for c, fns in documented if "validate_points" in fns)
    last, fns = next((c, fns) for c, fns in reversed(documented) if fns)
    return [("validate_points", page_name(schema)), (next(iter(fns)), page_name(last))]


@needs_chromium
@pytest.mark.parametrize("name, documented_at", _search_targets())
def test_search_for_a_function_lands_on_the_page_that_documents_it(open_page, name, documented_at):
    page = open_page("index.html")
    page.locator("input.sidebar-search").fill(name)
    page.keyboard.press("Enter")
    result = page.locator("#search-results ul.search li a", has_text=re.compile(rf"(^|> ){re.escape(name)}$")).first
    result.wait_for()
    result.click()
    page.wait_for_load_state()
    url = urlparse(page.url)
    assert Path(url.path).name == documented_at
    heading = page.locator(f"section[id='{unquote(url.fragment)}'] > :is(h1, h2, h3, h4, h5, h6)")
    expect(heading).to_have_text(re.compile(rf"^{re.escape(name)}#?$"))
    expect(heading).to_be_in_viewport()  # the page scrolls to it (smoothly, so this waits)
    assert page.errors == []
