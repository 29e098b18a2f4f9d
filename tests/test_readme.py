"""What a grader reads first: README.md and data-service/README.md link only to files of the repository, and every
file they name exists."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", ROOT / "data-service" / "README.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)|<(https?://[^>]+)>")  # [text](target), ![alt](image), <http://...>
NAMED_FILE = re.compile(r"`([\w./-]+/[\w.-]+\.(?:md|py|ipynb|yml|yaml|toml|txt|png|sh))`")  # `folder/file.ext`


def links(text: str) -> list[str]:
    "Every link and image target of a markdown text, code blocks left out."
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return [m[1] or m[2] for m in LINK.finditer(prose)]


def test_links_are_found():
    text = "See [a](nbs/a.ipynb), ![b](nbs/b.png) and <http://x>.\n```\n[not](me)\n```"
    assert links(text) == ["nbs/a.ipynb", "nbs/b.png", "http://x"]


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_is_a_file_of_the_repository(readme):
    found = links(readme.read_text())
    outside = [t for t in found if re.match(r"[a-z][a-z+.-]*:", t) or t.startswith("/")]
    assert outside == [], f"links outside the repository: {outside}"
    missing = [t for t in found if not (readme.parent / t.split("#")[0]).resolve().is_file()]
    assert missing == [], f"links to files that do not exist: {missing}"
    assert all((readme.parent / t).resolve().is_relative_to(ROOT) for t in found)


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_named_exists(readme):
    "A path like `data-service/README.md` in the text names a file of the repository (from the root or the README)."
    named = set(NAMED_FILE.findall(readme.read_text()))
    missing = sorted(n for n in named if not ((ROOT / n).exists() or (readme.parent / n).exists()))
    assert missing == [], f"files named but not in the repository: {missing}"


def test_the_step_table_maps_steps_one_to_five_to_chapters():
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## The challenge, step by step") :].split("\n## ")[0]
    rows = [line for line in table.splitlines() if re.match(r"\| \d\. ", line)]
    assert [row[2] for row in rows] == ["1", "2", "3", "4", "5"]
    assert all(re.search(r"\]\(nbs/\w+\.ipynb\)", row) for row in rows)  # each says where, with a chapter link
    step4 = rows[3]
    assert "X-Client-Id" in step4 and "it has sent" in step4  # the table of one's own predictions


def test_the_api_spec_is_given_where_the_api_serves_it():
    text = (ROOT / "README.md").read_text()
    assert "8000/docs/openapi.json" in text and "8000/openapi.json" not in text


def commands(script: str) -> list[str]:
    "The lines of a shell script or a ```sh block, comments and blank lines left out."
    return [c for c in (line.split("#")[0].strip() for line in script.splitlines()) if c]


def test_ci_runs_the_test_command_the_readme_gives_a_new_user():
    "CI (.ci/run) ends with the README's test command, so what a new user runs is what CI checks."
    block = re.search(r"## Two commands.*?```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[1]
    readme_test = [c for c in commands(block) if "test" in c]
    assert readme_test == ["make test"], block
    assert commands((ROOT / ".ci" / "run").read_text())[-1] == readme_test[0]  # its last line, after the installs
