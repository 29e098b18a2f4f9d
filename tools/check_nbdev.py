"""Fail when the notebooks and the library disagree, a notebook is not clean, or a module has no notebook.

Runs `nbdev_clean` and `nbdev_export` and compares every notebook and module before and after: any change means the
committed files were out of date (the run leaves the corrected files in place, ready to review and commit). With
`--strict` (CI), any file under `animal_challenge/` or `nbs/` that git does not track, or that differs from the
commit, also fails: a generated module that was never committed would otherwise pass.

It also fails on a test cell that imports and then runs other code: nbdev's docs processor runs every cell with an
import again, in a kernel of its own that holds only the imports and exported cells, where the chapter's other names
do not exist (the docs build then fails while `nbdev_test` passes). Such imports belong in the chapter's import cell;
a cell that stands on its own may say so with `#| exec_doc`.
"""

import argparse
import ast
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def snapshot() -> dict[str, str]:
    "SHA-256 of every notebook and module, by path."
    files = [*ROOT.glob("nbs/**/*.ipynb"), *ROOT.glob("animal_challenge/**/*.py")]
    return {
        str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if "_proc" not in p.parts
    }


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def orphans() -> list[str]:
    "Modules whose notebook does not exist (or exports elsewhere): left behind by a renamed or deleted chapter."
    found = []
    for py in sorted((ROOT / "animal_challenge").glob("*.py")):
        if py.name in ("__init__.py", "_modidx.py"):
            continue
        m = re.search(r"File to edit: \.\./(nbs/\S+\.ipynb)", py.read_text())
        nb = ROOT / m.group(1) if m else None
        if nb is None or not nb.exists() or f"default_exp {py.stem}" not in nb.read_text():
            found.append(str(py.relative_to(ROOT)))
    return found


def rerun_by_the_docs() -> list[str]:
    "Test cells that import and do more (`notebook:cell`), which the docs build would run again out of context."
    found = []
    for path in sorted((ROOT / "nbs").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell["source"])
            lines = [line for line in source.splitlines() if not line.startswith(("#|", "%", "!"))]
            directives = {line[2:].strip().split(":")[0] for line in source.splitlines() if line.startswith("#|")}
            skipped = "eval: false" in source or "nbdev_export()" in source  # nbdev runs neither for the docs
            if cell["cell_type"] != "code" or skipped or directives & {"export", "exports", "exporti", "exec_doc"}:
                continue
            try:
                body = ast.parse("\n".join(lines)).body
            except SyntaxError:
                continue
            imports = [isinstance(node, ast.Import | ast.ImportFrom) for node in body]
            if any(imports) and not all(imports):
                found.append(f"{path.name}:{i}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strict", action="store_true", help="also fail on files git does not have as committed")
    args = parser.parse_args()
    problems = []
    before = snapshot()
    subprocess.run([BIN / "nbdev_clean"], cwd=ROOT, check=True)
    cleaned = snapshot()
    if diff := changed(before, cleaned):
        problems.append(f"notebooks not clean (nbdev_clean changed them): {', '.join(diff)}")
    subprocess.run([BIN / "nbdev_export"], cwd=ROOT, check=True)
    if diff := changed(cleaned, snapshot()):
        problems.append(f"library not in sync with notebooks (nbdev_export changed): {', '.join(diff)}")
    if found := orphans():
        problems.append(f"modules without a notebook that exports them: {', '.join(found)}")
    if found := rerun_by_the_docs():
        problems.append(
            f"test cells that import and run other code (the docs build runs them again without the chapter's names;"
            f" move the imports to the chapter's import cell, or mark a cell that stands alone `#| exec_doc`):"
            f" {', '.join(found)}"
        )
    if args.strict:
        cmd = ["git", "status", "--porcelain", "--untracked-files=all", "--", "animal_challenge", "nbs"]
        status = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        if status:
            problems.append("files under animal_challenge/ or nbs/ differ from the commit:\n" + status)
    for p in problems:
        print(f"nbdev check failed: {p}", file=sys.stderr)
    if problems:
        print("Fix: run `make fmt`, review the changes and commit them.", file=sys.stderr)
        return 1
    print("nbdev checks passed: notebooks clean, library in sync, no orphan modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
