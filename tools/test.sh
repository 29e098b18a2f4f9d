#!/usr/bin/env bash
# Every check CI runs, in order, stopping at the first failure. Called by `make test` (after it installs .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
B=.venv/bin
COVERAGE_FLOOR=${COVERAGE_FLOOR:-90}
step() { printf '\n=== %s\n' "$*"; }

step "ruff check"
$B/ruff check .
step "ruff format --check"
$B/ruff format --check .
step "nbdev: notebooks clean, library in sync with notebooks"
$B/python tools/check_nbdev.py ${CI:+--strict}
step "README.md generated from nbs/index.ipynb"
$B/python tools/make_readme.py --check
step "notebooks as tests (nbdev_test)"
$B/nbdev_test --n_workers 2 --timing
step "pytest with coverage of animal_challenge (floor ${COVERAGE_FLOOR}%)"
$B/python -m pytest --cov --cov-report=term-missing:skip-covered --cov-fail-under="$COVERAGE_FLOOR"
