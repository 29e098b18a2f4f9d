"""The check that keeps the EDA and labeling chapters committed with fresh outputs (tools/notebook_outputs.py)."""

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from notebook_outputs import NOTEBOOKS, check, source_closure  # noqa: E402


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_committed_notebooks_are_fresh_and_show_their_plots(name):
    assert check(ROOT / name, stamped=True) == []
    cells = json.loads((ROOT / name).read_text())["cells"]
    assert any("image/png" in out.get("data", {}) for c in cells for out in c.get("outputs", []))


@pytest.fixture
def copy(tmp_path):
    "A copy of the EDA chapter to spoil, and its cells."
    path = tmp_path / "02a_explore.ipynb"
    shutil.copy(ROOT / NOTEBOOKS[0], path)
    nb = json.loads(path.read_text())
    return path, nb


def save(path: Path, nb: dict) -> Path:
    path.write_text(json.dumps(nb))
    return path


def first_code_with_output(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == "code" and c.get("outputs"))


def test_a_changed_code_cell_makes_the_outputs_stale(copy):
    path, nb = copy
    first_code_with_output(nb)["source"].append("\nprint('new')")
    assert check(save(path, nb), stamped=True) == [
        "its code or a module it imports changed since its outputs were made: run `make notebooks`"
    ]


def test_prose_may_change_without_a_new_run(copy):
    path, nb = copy
    next(c for c in nb["cells"] if c["cell_type"] == "markdown")["source"].append("\nOne more sentence.")
    assert check(save(path, nb), stamped=True) == []


def test_stripped_or_edited_outputs_are_refused(copy):
    path, nb = copy
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []  # what nbdev_clean --clear_all or a notebook "clear outputs" leaves
    assert check(save(path, nb), stamped=True) == ["has no outputs (or no stamp): run `make notebooks`"]
    nb = json.loads((ROOT / NOTEBOOKS[0]).read_text())
    first_code_with_output(nb)["outputs"].append({"output_type": "stream", "name": "stdout", "text": ["edited\n"]})
    assert check(save(path, nb), stamped=True) == [
        "its outputs are not those `make notebooks` made (edited or stripped): run `make notebooks`"
    ]


def test_a_path_or_a_time_in_an_output_is_refused(copy):
    path, nb = copy
    first_code_with_output(nb)["outputs"].append(
        {"output_type": "stream", "name": "stderr", "text": ["INFO 2026-12-02 01:17:09 wrote /tmp/abc\n"]}
    )
    problems = check(save(path, nb), stamped=True)
    assert any("'2026-12-02 01:17'" in p for p in problems) and any("'/tmp/'" in p for p in problems)


def test_a_chapter_not_on_the_list_may_carry_no_outputs(copy):
    path, _ = copy
    assert check(path, stamped=False) == [
        "carries outputs, but only the chapters listed in tools/notebook_outputs.py keep them"
    ]
    assert check(ROOT / "nbs" / "05_model.ipynb", stamped=False) == []


def test_the_sources_are_the_imported_modules_followed_through_the_project():
    found = {str(p.relative_to(ROOT)) for p in source_closure("from animal_challenge.data import fetch_points")}
    assert {"animal_challenge/data.py", "animal_challenge/config.py", "animal_challenge/schema.py"} <= found
    assert not any("sklearn" in f or "outliers" in f for f in found)  # only what it imports; no third party
