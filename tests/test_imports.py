"""The shape of the whole: data flows one way through the chapters, and the dashboard reaches the system only through
the API's contract and client. Read from the generated modules, every import counted (lazy ones in functions too)."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the dashboard's chapters
DASHBOARD = ("views", "predict_tab", "history_tab", "model_tabs", "dashboard", "kernel_guard", "dashboard_server")
DASHBOARD_MAY_IMPORT = {"schema", "config", "contract", "client", *DASHBOARD}


def reading_order() -> list[str]:
    "The exported modules in the order of their notebooks (`nbs/NN[a]_name.ipynb`): the order they may import in."
    found = []
    for nb in sorted((ROOT / "nbs").glob("[0-9]*.ipynb")):
        m = re.search(r"#\|\s*default_exp\s+(\w+)", nb.read_text())
        if m:
            found.append(m[1])
    return found


def imported(module: str) -> set[str]:
    "The project's modules that `module` imports anywhere in its code, by name."
    tree = ast.parse((ROOT / "animal_challenge" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y
                names.add(node.module)
            elif node.module and node.module.startswith("animal_challenge."):
                names.add(node.module.split(".")[1])
            elif node.module == "animal_challenge":
                names |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("animal_challenge.")}
    return names & set(reading_order())


def test_reading_order_is_the_issue_order():
    order = reading_order()
    spine = ["schema", "config", "data", "outliers", "labeling", "model", "registry", "training", "history"]
    spine += ["contract", "client", "api", "dashboard", "up", "cli"]
    assert [m for m in order if m in spine] == spine


@pytest.mark.parametrize("module", reading_order())
def test_a_module_imports_only_chapters_before_it(module):
    order = reading_order()
    later = {m for m in imported(module) if order.index(m) >= order.index(module)}
    assert later == set(), f"{module} imports {sorted(later)}, which come after it"


@pytest.mark.parametrize("module", DASHBOARD)
def test_the_dashboard_reaches_the_system_only_through_the_contract_and_client(module):
    assert imported(module) <= DASHBOARD_MAY_IMPORT


def test_the_check_sees_lazy_and_relative_imports():
    assert {"schema", "drift"} <= imported("contract")  # `from .schema import` in the generated module
    assert {"contract", "training", "up"} <= imported("cli")  # inside the commands that use them
