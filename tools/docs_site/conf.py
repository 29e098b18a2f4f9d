"""Sphinx settings of the offline documentation site (built by `tools/build_docs.py`).

The site's title and repository come from the root `_quarto.yml`, the one description of the site that Quarto reads
too; the chapters and their order come from its sidebar (build_docs.py writes them into the home page's toctree).
"""

import configparser
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = yaml.safe_load((ROOT / "_quarto.yml").read_text())["website"]

SETTINGS = configparser.ConfigParser()
SETTINGS.read(ROOT / "settings.ini")

project = SITE["title"]
copyright = SETTINGS["DEFAULT"]["copyright"]
html_title = SITE["title"]
language = "en"
root_doc = "index"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["attrs_block", "attrs_inline"]
myst_heading_anchors = 6  # every heading gets an anchor, also the API reference's (show_doc uses levels 3 and 4)

sys.path.insert(0, str(Path(__file__).parent))
myst_heading_slug_func = "site_anchors.heading_id"  # as Quarto names anchors, so nbdev's links land
suppress_warnings = ["myst.header"]  # show_doc headings may sit one level deeper than the heading before them

html_theme = "furo"
html_static_path = ["static"]
html_css_files = ["site.css"]
html_copy_source = False  # the sources are generated; the notebooks in the repository are the source
html_show_sourcelink = False
html_permalinks_icon = "#"  # Furo shows it only while the pointer is on the heading
html_theme_options = {"top_of_page_buttons": []}
pygments_style = "friendly"
html_show_search_summary = False  # a summary is fetched from its page, which browsers refuse for file:// pages
smartquotes = False  # prose about code quotes values ('yes', "1.5"): they stay as typed
