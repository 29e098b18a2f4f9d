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
step "notebooks as tests (nbdev_test), measuring the library lines their exported cells run"
$B/python tools/nbdev_test_cov.py --data-file .coverage-notebooks --n_workers 2 --timing
step "pytest with coverage of animal_challenge"
$B/python -m pytest --cov --cov-report= --durations=15
step "coverage of animal_challenge by the notebooks and pytest together (floor ${COVERAGE_FLOOR}%)"
echo "notebooks alone: $($B/coverage report --data-file=.coverage-notebooks --format=total --precision=1)%," \
  "pytest alone: $($B/coverage report --format=total --precision=1)%"
$B/coverage combine --append --keep .coverage-notebooks
$B/coverage report --show-missing --skip-covered --fail-under="$COVERAGE_FLOOR"
