"""tools/nbdev_test_cov.py on a tiny nbdev project: the notebooks' exported cells count as lines of its library.

Each test builds the project in a temporary folder (settings.ini, two notebooks, `nbdev_export`), runs the notebooks
with the script in two worker processes, as `tools/test.sh` does, and reads the coverage data it leaves. The data
carries one context per notebook, which tells apart a line run by a notebook's own copy of a function from the same
line run by the imported module.
"""

import os
import subprocess
import sys
from pathlib import Path

import coverage
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tools" / "nbdev_test_cov.py"
BIN = Path(sys.executable).parent

SETTINGS = """[DEFAULT]
repo = tinylib
lib_name = tinylib
lib_path = tinylib
nbs_path = nbs
version = 0.0.1
user = tiny
author = tiny
tst_flags = notest
update_pyproject = False
jupyter_hooks = False
"""
# `omit` is relative, as in this project's pyproject.toml, while the notebooks run in nbs/.
PYPROJECT = '[tool.coverage.run]\nsource = ["tinylib"]\nomit = ["tinylib/_modidx.py"]\n'

HALVE = """#| export
def halve(x):
    "Half of `x`."
    if x < 0:
        raise ValueError("no negatives")
    return x / 2"""
QUARTER = """#| export
from tinylib.core import halve


def quarter(x):
    return halve(halve(x))"""


def code(source: str):
    return nbformat.v4.new_code_cell(source)


def tiny_project(root: Path, *core_cells: str) -> Path:
    "A project whose `core` notebook exports `halve` and `more` exports `quarter`; `core_cells` end `core`."
    (root / "settings.ini").write_text(SETTINGS)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "nbs").mkdir()
    core = [code("#| default_exp core"), nbformat.v4.new_markdown_cell("# Core\n> Halves."), code(HALVE)]
    core += [code("assert halve(4) == 2")]  # the only call of the notebook's own `halve`
    core += [code("#| eval: false\nhalve(-1)"), code("#| notest\nhalve(-2)")]  # skipped, as nbdev_test skips them
    core += map(code, core_cells)
    more = [code("#| default_exp more"), code(QUARTER), code("assert quarter(8) == 2")]
    for name, cells in (("00_core", core), ("01_more", more)):
        nb = nbformat.v4.new_notebook()
        nb.cells = cells
        nbformat.write(nb, root / "nbs" / f"{name}.ipynb")
    subprocess.run([BIN / "nbdev_export"], cwd=root, env=unmeasured(), check=True, capture_output=True, timeout=120)
    return root


def unmeasured() -> dict[str, str]:
    "The environment without pytest-cov's variables: these processes measure `tinylib` or nothing, not this package."
    return {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}


def run_notebooks(root: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, RUNNER, "--n_workers", "2"]
    return subprocess.run(cmd, cwd=root, env=unmeasured(), capture_output=True, text=True, timeout=300)


def line_of(path: Path, text: str) -> int:
    "Number of the one line of `path` that reads `text` (indent aside)."
    (n,) = [i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip() == text]
    return n


def contexts(root: Path, module: str) -> dict[int, set[str]]:
    "The notebooks that ran each line of `tinylib/{module}.py`, by line number."
    data = coverage.CoverageData(str(root / ".coverage-notebooks"))
    data.read()
    by_line = data.contexts_by_lineno(str(root / "tinylib" / f"{module}.py"))
    return {n: set(c) for n, c in by_line.items()}


@pytest.fixture(scope="module")
def passed(tmp_path_factory) -> Path:
    "The tiny project after a passing run."
    root = tiny_project(tmp_path_factory.mktemp("tiny"))
    r = run_notebooks(root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success." in r.stdout
    assert "2 of 2 exported cells run counted as library lines" in r.stderr
    return root


def test_a_body_only_a_notebook_cell_calls_counts_in_the_module(passed):
    core = passed / "tinylib" / "core.py"
    by_line = contexts(passed, "core")
    # 00_core never imports tinylib.core: only its own copy of `halve`, compiled as core.py, can have run this line.
    assert "notebook 00_core.ipynb" in by_line[line_of(core, "return x / 2")]
    assert "notebook 00_core.ipynb" in by_line[line_of(core, "def halve(x):")]


def test_a_line_no_cell_runs_stays_missed(passed):
    core = passed / "tinylib" / "core.py"
    assert line_of(core, 'raise ValueError("no negatives")') not in contexts(passed, "core")  # eval: false, notest


def test_the_import_nbdev_made_relative_is_matched(passed):
    more = passed / "tinylib" / "more.py"
    by_line = contexts(passed, "more")  # tinylib.more is never imported: all of this comes from the notebook's cell
    assert by_line[line_of(more, "from .core import halve")] == {"notebook 01_more.ipynb"}
    assert by_line[line_of(more, "return halve(halve(x))")] == {"notebook 01_more.ipynb"}


def test_omit_applies_in_the_workers_folder(passed):
    data = coverage.CoverageData(str(passed / ".coverage-notebooks"))
    data.read()
    assert sorted(Path(f).name for f in data.measured_files()) == ["__init__.py", "core.py", "more.py"]


def test_a_cell_that_differs_from_its_module_is_not_counted(tmp_path):
    root = tiny_project(tmp_path)
    core = root / "tinylib" / "core.py"
    core.write_text(core.read_text().replace("return x / 2", "return x * 0.5"))  # a module not exported again
    stale = line_of(core, "return x * 0.5")
    r = run_notebooks(root)
    assert r.returncode == 0, r.stdout + r.stderr  # the notebook still runs and passes with its own code
    assert "1 of 2 exported cells run counted as library lines, not counted:" in r.stderr
    assert f"00_core.ipynb #{nbformat.read(root / 'nbs/00_core.ipynb', 4).cells[2].id}: line 5 differs" in r.stderr
    # 01_more's `quarter` calls the imported module's `halve`; 00_core's copy is counted nowhere.
    assert contexts(root, "core")[stale] == {"notebook 01_more.ipynb"}


def test_a_failing_notebook_fails_the_run_and_its_traceback_names_the_module_line(tmp_path):
    root = tiny_project(tmp_path, "halve(-3)")
    core = root / "tinylib" / "core.py"
    r = run_notebooks(root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "nbdev Tests Failed On The Following Notebooks" in r.stderr and "\t00_core.ipynb" in r.stderr
    raised = line_of(core, 'raise ValueError("no negatives")')
    assert f'File "{core}", line {raised}, in halve\n    raise ValueError("no negatives")' in r.stderr
    assert raised in contexts(root, "core")  # the data of the failed run is kept
