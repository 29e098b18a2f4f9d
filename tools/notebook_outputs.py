"""Keep the outputs of the chapters that are read as results (the EDA and labeling chapters) in the notebooks.

`02a_explore` and `04_labeling` are committed with their outputs, so that the notebook opened as a file (in
JupyterLab, on GitHub) shows its tables and plots; the other chapters stay without outputs, as nbdev_clean leaves
them. `make notebooks` runs this script, which executes each of those notebooks as `nbdev_test` and the docs build
do (execnb, in `nbs/`, cells marked `#| eval: false` skipped), cleans it as `nbdev_clean` does (so a later
`nbdev_clean` changes nothing: `clear_all = False` in settings.ini keeps outputs) and stamps it.

The stamp (`metadata.animal_challenge.outputs` in the notebook) holds two SHA-256 digests:

- `sources`: the notebook's code cells, and every module of the project that its code imports, followed through
  the project's own imports (`animal_challenge.*` and the data service's `animal_data_service.*`): what the outputs
  were computed from. Prose is left out: editing a sentence does not call for a new run.
- `outputs`: the outputs themselves, as committed.

`--check` (CI) recomputes both from the committed files. It fails when a source changed since the outputs were
made, when outputs were edited, removed or stripped, when a stamped notebook has no outputs at all, when an output
shows a path of this machine, a temporary folder or a time stamp (outputs must be the same on every machine and
every run: fixed seeds, nothing from the clock), and when a notebook that is not on the list carries outputs. It
executes nothing, so it takes well under a second; a digest cannot tell whether a rerun would draw the same pixels
(fonts differ between machines), which is why the sources are compared and not the images.

    python tools/notebook_outputs.py [--check] [NOTEBOOK ...]
"""

import argparse
import ast
import hashlib
import json
import os
import re
import sys
from pathlib import Path

from build_docs import _skip
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.clean import clean_nb
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("nbs/02a_explore.ipynb", "nbs/04_labeling.ipynb")  # the chapters committed with their outputs
PACKAGES = {  # import name -> folder of its sources in this repository
    "animal_challenge": ROOT / "animal_challenge",
    "animal_data_service": ROOT / "data-service" / "animal_data_service",
}
STAMP = "animal_challenge"  # the notebook metadata key (listed in settings.ini's allowed_metadata_keys)
UNSTABLE = re.compile(  # what must not appear in a committed output
    "|".join(
        [
            re.escape(str(ROOT)),
            re.escape(str(Path.home())) + r"/",
            r"/tmp/",
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}",  # a date and time
            r"\b\d{8}T\d{6}Z",  # the registry's version ids carry their creation time
            r"\b(?:127\.0\.0\.1|localhost):\d+",  # a server on a port chosen at run time
        ]
    )
)


def _source(text: str) -> str:
    return "".join(text) if isinstance(text, list) else text


def module_file(name: str) -> Path | None:
    "The source file of the project module `name` (e.g. `animal_challenge.data`), or None if it is not ours."
    top, *rest = name.split(".")
    if top not in PACKAGES:
        return None
    base = PACKAGES[top].joinpath(*rest)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(code: str, package: str | None = None) -> set[str]:
    "The modules `code` imports (relative imports resolved against `package`); code that does not parse: none."
    try:
        tree = ast.parse(code)
    except SyntaxError:  # a cell with IPython syntax (%magic, !shell)
        tree = ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and package:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import module`
    return found


def source_closure(code: str) -> list[Path]:
    "Every project source file `code` depends on through imports, followed transitively, in a stable order."
    seen: dict[str, Path] = {}
    todo = list(imported_modules(code))
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__.py and a/b/__init__.py too
            prefix = ".".join(parts[:i])
            path = module_file(prefix)
            if path is None or prefix in seen:
                continue
            seen[prefix] = path
            package = prefix if path.name == "__init__.py" else prefix.rpartition(".")[0]
            todo += imported_modules(path.read_text(), package)
    return sorted(set(seen.values()))


def sources_digest(nb) -> str:
    "SHA-256 of the notebook's code cells and of the project sources they import."
    code = [_source(c.source) for c in nb.cells if c.cell_type == "code"]
    h = hashlib.sha256()
    for text in code:
        h.update(b"cell\0" + text.encode() + b"\0")
    for path in source_closure("\n".join(code)):
        h.update(b"file\0" + str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def outputs_digest(nb) -> str:
    "SHA-256 of every code cell's outputs, as committed."
    outputs = [c.get("outputs", []) for c in nb.cells if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest()


def output_texts(nb) -> list[tuple[int, str]]:
    "(cell number, text) of every textual output: streams, errors and the text forms of rich outputs."
    texts = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if "text" in out:
                texts.append((i, _source(out["text"])))
            if "traceback" in out:
                texts.append((i, "\n".join(out["traceback"])))
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    texts.append((i, _source(value) if not isinstance(value, dict) else json.dumps(value)))
    return texts


def clean(nb) -> None:
    "What `nbdev_clean` does to a notebook, with this project's settings."
    cfg = get_config()
    keys, cell_keys = cfg.get("allowed_metadata_keys").split(), cfg.get("allowed_cell_metadata_keys").split()
    clean_nb(nb, cfg.clear_all, keys, cell_keys, cfg.clean_ids)


def regenerate(path: Path) -> None:
    "Execute the notebook at `path` in its folder, clean it and stamp it."
    nb = read_nb(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    os.environ["IN_TEST"] = "1"
    with working_directory(path.parent):
        CaptureShell(path).run_all(nb, exc_stop=True, preproc=_skip)
    clean(nb)
    nb.metadata[STAMP] = {"outputs": {"sources": sources_digest(nb), "outputs": outputs_digest(nb)}}
    write_nb(nb, path)
    if problems := check(path, stamped=True):
        raise SystemExit(f"{path.relative_to(ROOT)}: " + "; ".join(problems))


def check(path: Path, stamped: bool) -> list[str]:
    "What is wrong with the committed notebook at `path` (`stamped`: it must carry fresh outputs; else none)."
    nb = read_nb(path)
    has_outputs = any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    if not stamped:
        return ["carries outputs, but only the chapters listed in tools/notebook_outputs.py keep them"] * has_outputs
    stamp = nb.metadata.get(STAMP, {}).get("outputs")
    if not stamp or not has_outputs:
        return ["has no outputs (or no stamp): run `make notebooks`"]
    problems = []
    if stamp.get("sources") != sources_digest(nb):
        problems.append("its code or a module it imports changed since its outputs were made: run `make notebooks`")
    if stamp.get("outputs") != outputs_digest(nb):
        problems.append("its outputs are not those `make notebooks` made (edited or stripped): run `make notebooks`")
    for cell, text in output_texts(nb):
        for shown in sorted({m.group(0) for m in UNSTABLE.finditer(text)}):
            problems.append(f"cell {cell + 1} shows {shown!r}, which differs between machines or runs")
    if any(out.get("output_type") == "error" for c in nb.cells for out in c.get("outputs", [])):
        problems.append("an output is an error")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if outputs are missing or stale; execute nothing")
    parser.add_argument("notebooks", nargs="*", help=f"notebooks to regenerate (default: {', '.join(NOTEBOOKS)})")
    args = parser.parse_args()
    listed = {ROOT / n for n in NOTEBOOKS}
    if args.check:
        problems = []
        for path in sorted((ROOT / "nbs").glob("*.ipynb")):
            problems += [f"{path.relative_to(ROOT)}: {p}" for p in check(path, stamped=path in listed)]
        for p in problems:
            print(f"notebook outputs check failed: {p}", file=sys.stderr)
        if not problems:
            print(f"notebook outputs are fresh: {', '.join(NOTEBOOKS)}; the other notebooks carry none")
        return 1 if problems else 0
    for name in args.notebooks or NOTEBOOKS:
        path = (Path.cwd() / name).resolve()
        if path not in listed:
            raise SystemExit(f"{name} is not one of the notebooks kept with outputs ({', '.join(NOTEBOOKS)})")
        print(f"running {path.relative_to(ROOT)}", file=sys.stderr, flush=True)
        regenerate(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
