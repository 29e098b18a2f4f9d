"""Build the documentation site from the notebooks without Quarto.

`nbdev_docs` needs Quarto, which cannot be installed everywhere (no package exists for it in the registries this
project may use). This builds an equivalent static site:

1. every chapter listed in the root `_quarto.yml` sidebar is executed as `nbdev_test` does (cells marked
   `#| eval: false` skipped), so plots and tables are fresh;
2. nbdev's own docs processors run on it (directives applied, hidden cells dropped, `show_doc` API reference with
   signature, docstring and parameter table inserted for every exported function);
3. nbconvert renders the result to HTML, wrapped in one page template with the site title and a navigation bar in
   the sidebar's order. Links to notebooks and to the configured doc host become relative links between pages.

`python tools/build_docs.py [--out _docs] [--no-exec]`; where Quarto is installed, `nbdev_docs` builds the full site.
"""

import argparse
import html
import os
import re
import sys
from pathlib import Path

import nbformat
import yaml
from execnb.nbio import read_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from nbdev.config import get_config
from nbdev.process import extract_directives
from nbdev.processors import FilterDefaults
from pygments.formatters import HtmlFormatter

ROOT = Path(__file__).resolve().parents[1]

CSS = """
body { margin: 0; font-family: system-ui, "Segoe UI", Roboto, sans-serif; color: #222; line-height: 1.5; }
header { background: #2c3e50; color: #fff; padding: .6rem 1.5rem; }
header a { color: #fff; text-decoration: none; font-weight: 600; font-size: 1.2rem; }
.layout { display: flex; align-items: flex-start; }
nav.sidebar { width: 15rem; flex-shrink: 0; padding: 1rem; position: sticky; top: 0; max-height: 100vh; }
nav.sidebar a { display: block; padding: .25rem .5rem; color: #2c3e50; text-decoration: none; border-radius: 4px; }
nav.sidebar a.active { background: #2c3e50; color: #fff; }
main { flex: 1; min-width: 0; max-width: 60rem; padding: 1rem 2rem 4rem; }
main .description { color: #555; font-size: 1.1rem; margin-top: -.5rem; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; border-radius: 4px; }
.jp-OutputArea pre, .output_area pre { background: #fff; border-left: 3px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
img { max-width: 100%; }
footer.pager { display: flex; justify-content: space-between; margin-top: 3rem; border-top: 1px solid #ddd; }
"""


def page_name(notebook: str) -> str:
    "The HTML page of a notebook, named as nbdev names it: `02_data.ipynb` -> `data.html`."
    stem = Path(notebook).stem
    return re.sub(r"^\d+[a-z]?_", "", stem) + ".html"


def chapters() -> list[str]:
    "The notebooks of the site, in the order of the root `_quarto.yml` sidebar."
    cfg = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    return [c if isinstance(c, str) else c["href"] for c in cfg["website"]["sidebar"]["contents"]]


def _skip(cell) -> bool:
    "True for cells that `nbdev_test` would not run either."
    if cell.cell_type != "code" or "nbdev_export(" in cell.source:
        return True
    directives = extract_directives(cell, remove=False)
    return directives.get("eval:", [""])[0].lower() == "false" or "notest" in directives


def processed(path: Path, execute: bool):
    "The notebook at `path`, executed (unless told not to) and run through nbdev's docs processors."
    nb = read_nb(path)
    first = nb.cells[0].source if nb.cells else ""
    if execute and not re.search(r"skip_exec:\s*true", first):
        shell = CaptureShell(path)
        os.environ["IN_TEST"] = "1"
        with working_directory(path.parent):
            shell.run_all(nb, exc_stop=True, preproc=_skip)
    FilterDefaults()(nb)
    apply_quarto_options(nb)
    return nb


def apply_quarto_options(nb) -> None:
    "Do what Quarto would do with `#| echo: false`, `#| output: false` and `#| include: false`, then drop them."
    kept = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            opts = dict(re.findall(r"^#\|\s*([\w-]+):\s*(.*?)\s*$", _joined(cell.source), flags=re.M))
            cell.source = re.sub(r"^#\|.*\n?", "", _joined(cell.source), flags=re.M)
            if opts.get("include") == "false":
                continue
            if opts.get("output") == "asis" and not cell.source.lstrip().startswith("show_doc"):
                text = "".join(_joined(o.get("text", "")) for o in cell.get("outputs", []) if o.get("name") == "stdout")
                kept.append(nbformat.v4.new_markdown_cell(text))
                continue
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            if opts.get("echo") == "false" or not cell.source.strip():
                tags.append("remove_input")
            if opts.get("output") == "false":
                tags.append("remove_output")
        for output in cell.get("outputs", []):
            if "text/markdown" in output.get("data", {}):  # pandoc attributes Quarto would consume
                md = _joined(output["data"]["text/markdown"])
                output["data"]["text/markdown"] = re.sub(r"\{target=[^}]*\}", "", md)
        kept.append(cell)
    nb.cells = kept


def _joined(value):
    "Notebook text stored as a list of lines, as one string (nbconvert wants strings)."
    return "".join(value) if isinstance(value, list) else value


def as_nbformat(nb) -> nbformat.NotebookNode:
    "An execnb notebook as an nbformat v4 node."
    for cell in nb.cells:
        cell.source = _joined(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _joined(output["text"])
            for mime, value in output.get("data", {}).items():
                output["data"][mime] = _joined(value)
    return nbformat.from_dict(dict(nb, nbformat=4, nbformat_minor=5))


def front_matter(nb) -> tuple[dict, list]:
    "The YAML front matter nbdev put in the first raw cell, and the other cells."
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "raw" and first.source.startswith("---"):
        return yaml.safe_load(first.source.strip().strip("-")) or {}, nb.cells[1:]
    return {}, nb.cells


def relink(body: str, host: str) -> str:
    "Links to notebooks and to the configured doc host, as links between the site's pages."
    body = re.sub(r'href="(?:\./)?(\w+)\.ipynb(#[^"]*)?"', lambda m: f'href="{page_name(m[1])}{m[2] or ""}"', body)
    body = body.replace(f'href="{host}/', 'href="')
    # nbdev links to lowercase anchors (as Quarto makes them); nbconvert keeps the heading's case
    body = re.sub(r'(<h\d id=")([^"]+)"', lambda m: m[1] + m[2].lower() + '"', body)
    return re.sub(r'(href="(?!https?:)[^"#]*#)([^"]+)"', lambda m: m[1] + m[2].lower() + '"', body)


def render(notebooks: list[str], out: Path, execute: bool) -> list[Path]:
    cfg = get_config()
    host = f"{cfg.doc_host.rstrip('/')}{cfg.doc_baseurl.rstrip('/')}"
    site = yaml.safe_load((ROOT / "_quarto.yml").read_text())["website"]
    exporter = HTMLExporter(template_name="basic", exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_input_tags={"remove_input"}, remove_all_outputs_tags={"remove_output"}), True
    )
    pages = []
    for nb_name in notebooks:
        print(f"rendering {nb_name}", flush=True)
        nb = processed(ROOT / "nbs" / nb_name, execute)
        meta, cells = front_matter(nb)
        nb.cells = cells
        body, _ = exporter.from_notebook_node(as_nbformat(nb))
        pages.append((nb_name, meta.get("title", Path(nb_name).stem), meta.get("description", ""), body))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    pygments_css = HtmlFormatter().get_style_defs(".highlight")
    for i, (nb_name, title, description, body) in enumerate(pages):
        nav = "\n".join(
            f'<a href="{page_name(n)}"{" class=active" if n == nb_name else ""}>{html.escape(t)}</a>'
            for n, t, _, _ in pages
        )
        prev = f'<a href="{page_name(pages[i - 1][0])}">← {html.escape(pages[i - 1][1])}</a>' if i else "<span></span>"
        nxt = (
            f'<a href="{page_name(pages[i + 1][0])}">{html.escape(pages[i + 1][1])} →</a>' if i + 1 < len(pages) else ""
        )
        doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} – {html.escape(site["title"])}</title>
<meta name="description" content="{html.escape(description)}">
<style>{CSS}\n{pygments_css}</style></head>
<body><header><a href="index.html">{html.escape(site["title"])}</a></header>
<div class="layout"><nav class="sidebar">{nav}</nav>
<main><h1 class="title">{html.escape(title)}</h1><p class="description">{html.escape(description)}</p>
{relink(body, host)}
<footer class="pager">{prev}{nxt}</footer></main></div></body></html>
"""
        path = out / page_name(nb_name)
        path.write_text(doc)
        written.append(path)
    for asset in (ROOT / "nbs").glob("*.png"):  # screenshots and figures the pages refer to
        (out / asset.name).write_bytes(asset.read_bytes())
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "_docs", help="output folder (default _docs)")
    parser.add_argument("--no-exec", dest="execute", action="store_false", help="render stored outputs only")
    args = parser.parse_args()
    written = render(chapters(), args.out, args.execute)
    print(f"wrote {len(written)} pages to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
