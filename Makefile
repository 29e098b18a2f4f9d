# The two commands of the README: `make run` starts the system, `make test` runs every check CI runs.
# Both create .venv and install the project into it on first use (and again when the dependencies change).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install fmt readme notebooks docs clean

# The pins of constraints.txt (what the image installs) hold for the dev environment too: the suite tests the versions
# that ship, and a newer release on PyPI cannot turn CI red (soupsieve 4.1.4 did: the min_python test read 3.11.0).
$(STAMP): settings.ini setup.py data-service/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e '.[dev]' -e ./data-service
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/animal-challenge up

test: $(STAMP)
	bash tools/test.sh

fmt: $(STAMP)
	$(BIN)/ruff format nbs tools tests bench data-service
	$(BIN)/ruff check --fix nbs tools tests bench data-service
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export

readme: $(STAMP)
	$(BIN)/python tools/make_readme.py

notebooks: $(STAMP)  ## run the chapters kept with their outputs (02a_explore, 04_labeling) and stamp them (tools/notebook_outputs.py)
	$(BIN)/python tools/notebook_outputs.py

docs: $(STAMP)  ## the documentation site in _docs/: nbdev_docs where Quarto is installed, else Sphinx (tools/build_docs.py)
	if command -v quarto >/dev/null; then $(BIN)/nbdev_docs; else $(BIN)/python tools/build_docs.py; fi

clean:
	rm -rf $(VENV) _proc _docs .pytest_cache .ruff_cache .coverage .coverage-notebooks
