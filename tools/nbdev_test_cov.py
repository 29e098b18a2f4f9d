"""Run the notebooks with `nbdev_test` and count what their `#| export` cells execute as lines of the library.

`nbdev_test` runs an exported cell's source in the notebook's own IPython namespace, so the test cells below it call
the notebook's copy of a function, never `animal_challenge/*.py`, and coverage.py sees none of it (IPython names a
cell `<ipython-input-N-…>`, and coverage never traces a file name that starts with `<`). Here each exported cell is
compiled under the file name of its module, its line numbers shifted to where nbdev wrote it (below the marker
`# %% ../nbs/NB.ipynb #CELLID`), when and only when the cell's code is the module's text line for line once nbdev's
own import rewrite (`from animal_challenge.x` → `from .x`) is applied. Coverage then records those lines as the
module's, and a traceback through such a cell shows the module's file, line and (identical) text.

The notebooks still run by nbdev's machinery: this script calls `nbdev_test` itself (same flags, `tst_flags`,
`skip_exec`, `#| eval: false`, workers, working directory), only handing it a `CaptureShell` subclass. Each
notebook, in whichever process runs it, measures itself with its own `Coverage` built from this process's
configuration (made absolute, because the workers run in `nbs/`) and saves a data file; at the end they are combined.

Usage: python tools/nbdev_test_cov.py [--data-file .coverage-notebooks] [nbdev_test options, e.g. --n_workers 2]
"""

import argparse
import ast
import contextlib
import functools
import itertools
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import coverage
import nbdev.test
from coverage.control import CONFIG_DATA_PREFIX
from execnb.shell import CaptureShell
from IPython.core.compilerop import CachingCompiler
from nbdev.maker import update_import
from traitlets import Type

ENV = "NBDEV_TEST_COV"  # environment variable with the JSON of `handed_down`
EXPORTS = {"export", "exporti", "exports"}
MARKER = re.compile(r"# %% (?P<nb>\S+\.ipynb) #(?P<id>\S+)$")


@dataclass(frozen=True)
class ExportedCell:
    "Where nbdev wrote one exported cell: its module and the module's lines of it."

    module: Path
    first_line: int  # 1-based line number of the cell's first line in `module`
    lines: tuple[str, ...]  # the cell's text in the module, trailing blank lines dropped


def _trim(lines: list[str]) -> tuple[str, ...]:
    while lines and not lines[-1].strip():
        lines.pop()
    return tuple(lines)


@functools.cache
def exported_cells(lib: Path) -> dict[tuple[Path, str], ExportedCell]:
    "Every cell nbdev exported into the modules under `lib`, by (notebook path, cell id)."
    found = {}
    for py in sorted(lib.rglob("*.py")):
        lines = py.read_text(encoding="utf-8").splitlines()
        heads = [i for i, line in enumerate(lines) if line.startswith("# %% ")]  # cells, and nbdev's `auto` one
        for i, end in itertools.pairwise([*heads, len(lines)]):
            if m := MARKER.match(lines[i]):
                found[(py.parent / m["nb"]).resolve(), m["id"]] = ExportedCell(py, i + 2, _trim(lines[i + 1 : end]))
    return found


def as_exported(code: str, module: Path, lib: Path) -> list[str]:
    "`code` as nbdev's exporter writes it into `module`: imports of the library made relative."
    try:
        tree = ast.parse(code).body
        lines = update_import(code, tree, os.path.relpath(module.parent, lib.parent))
    except (SyntaxError, AssertionError):  # nbdev's exporter leaves such code as it is, or refuses it
        lines = None
    return (code if lines is None else "".join(lines)).splitlines()


@functools.cache
def handed_down() -> dict:
    "What `notebook_coverage` hands the processes that run notebooks: coverage config, library folder, report file."
    return json.loads(os.environ[ENV])


class ModuleCompiler(CachingCompiler):
    """IPython's compiler, which compiles an exported cell as the lines of its module when they are the same text.

    The shell sets `cell` to the exported cell it is about to run; `cache` names the code and `ast_parse` parses it,
    both called once per cell by `InteractiveShell.run_cell_async`."""

    def __init__(self) -> None:
        super().__init__()
        self.notebook: Path | None = None
        self.cell = None  # the exported cell being run, if any
        self.outcomes: list[dict] = []  # one per exported cell run: {"cell": id, "why": "" when it was mapped}
        self._shift: tuple[str, int] | None = None  # (module file, lines to add) for the next ast_parse

    def locate(self, cell, code: str) -> tuple[ExportedCell | None, str]:
        "The module lines `code` of `cell` is, or None and why not."
        lib = Path(handed_down()["lib"])
        where = exported_cells(lib).get((self.notebook, cell.get("id")))
        if where is None:
            return None, "no such cell in the library (run nbdev_export)"
        mine = _trim(as_exported(code, where.module, lib))
        if mine == where.lines:
            return where, ""
        n = next(
            (i for i, (a, b) in enumerate(zip(mine, where.lines, strict=False)) if a != b),
            min(len(mine), len(where.lines)),
        )
        return None, f"line {n + 1} differs from {where.module.name}:{where.first_line + n}"

    def cache(self, transformed_code: str, number: int = 0, raw_code: str | None = None) -> str:
        cell, self.cell = self.cell, None
        if cell is None or self.notebook is None:
            return super().cache(transformed_code, number, raw_code)
        try:
            where, why = self.locate(cell, transformed_code)
        except Exception as e:  # a fault here must not fail the notebook: the cell runs as nbdev_test runs it
            where, why = None, f"{type(e).__name__}: {e}"
        self.outcomes.append({"cell": cell.get("id"), "why": why})
        if where is None:
            return super().cache(transformed_code, number, raw_code)
        # No linecache entry: tracebacks read the module file itself, whose lines are these.
        self._shift = (str(where.module), where.first_line - 1)
        return str(where.module)

    def ast_parse(self, source: str, filename: str = "<unknown>", symbol: str = "exec") -> ast.AST:
        tree = super().ast_parse(source, filename, symbol)
        if self._shift and self._shift[0] == filename:
            ast.increment_lineno(tree, self._shift[1])
            self._shift = None
        return tree


class MeasuredShell(CaptureShell):
    "nbdev's test shell, measuring the notebook it runs and compiling exported cells as their module's lines."

    compiler_class = Type(ModuleCompiler, klass=CachingCompiler)

    def __init__(self, path=None, *args, **kwargs):
        super().__init__(path, *args, **kwargs)
        self.compile.notebook = Path(path).resolve() if path else None

    def cell(self, cell, *args, **kwargs):
        exported = bool(EXPORTS & set(getattr(cell, "directives_", None) or {}))
        self.compile.cell = cell if exported else None
        try:
            return super().cell(cell, *args, **kwargs)
        finally:
            self.compile.cell = None

    def run_all(self, nb, *args, **kwargs):
        name = self.compile.notebook.name if self.compile.notebook else "?"
        cov = coverage.Coverage(config_file=handed_down()["config"], data_suffix=True)
        cov.start()
        cov.switch_context(f"notebook {name}")  # `coverage html --show-contexts` then tells which notebook ran a line
        try:
            return super().run_all(nb, *args, **kwargs)
        finally:
            cov.stop()
            cov.save()
            with open(handed_down()["report"], "a", encoding="utf-8") as f:  # one short line a notebook: atomic
                f.write(json.dumps({"notebook": name, "cells": self.compile.outcomes}) + "\n")


# The processes that run the notebooks import this file again as `__mp_main__` when they are spawned rather than
# forked, so the replacement is made at import, not under `if __name__ == "__main__"`.
if "CaptureShell" not in nbdev.test.test_nb.__code__.co_names:  # else the notebooks would run unmeasured
    sys.exit("nbdev_test_cov: this nbdev's test_nb no longer makes its shell from nbdev.test.CaptureShell")
nbdev.test.CaptureShell = MeasuredShell


def worker_config(data_file: Path) -> str:
    "This project's coverage configuration with every path absolute, for processes that run in another directory."
    cov = coverage.Coverage(data_file=str(data_file), data_suffix=True)
    for option in ("run:omit", "run:include"):  # patterns not starting with a wildcard are relative to the cwd
        patterns = cov.get_option(option) or []
        cov.set_option(option, [p if p.startswith(("*", "?")) else os.path.abspath(p) for p in patterns])
    cov.set_option("run:disable_warnings", [*cov.get_option("run:disable_warnings"), "no-data-collected"])
    return CONFIG_DATA_PREFIX + cov.config.serialize()  # `source` and `data_file` made absolute, as for subprocesses


def summary(report: Path) -> str:
    "How many exported cells counted as library lines, and which did not and why."
    runs = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    cells = [(r["notebook"], c) for r in runs for c in r["cells"]]
    missed = [f"  {nb} #{c['cell']}: {c['why']}" for nb, c in cells if c["why"]]
    head = f"nbdev_test_cov: {len(cells) - len(missed)} of {len(cells)} exported cells run counted as library lines"
    return "\n".join([head + (", not counted:" if missed else ""), *missed])


@contextlib.contextmanager
def notebook_coverage(data_file: Path) -> Iterator[None]:
    "Measure the notebooks run in this block into `data_file` (any earlier data there is replaced)."
    for old in [data_file, *data_file.parent.glob(data_file.name + ".*")]:
        old.unlink(missing_ok=True)
    lib = Path(nbdev.test.get_config().lib_path).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "cells.jsonl"
        report.touch()
        os.environ[ENV] = json.dumps({"config": worker_config(data_file), "lib": str(lib), "report": str(report)})
        try:
            yield
        finally:
            del os.environ[ENV]
            print(summary(report), file=sys.stderr)
            combined = coverage.Coverage(data_file=str(data_file))
            combined.combine(strict=False)
            combined.save()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-file", type=Path, default=Path(".coverage-notebooks"), help="combined data file")
    opts, rest = parser.parse_known_args()
    sys.argv[1:] = rest
    with notebook_coverage(opts.data_file.resolve()):
        nbdev.test.nbdev_test()  # at module level, so fastcore's call_parse reads nbdev_test's options from argv
