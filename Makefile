# healthgap: the two commands a new user needs are `make demo` and `make test`.
# Both install what they need first (a virtualenv in .venv from PyPI; Chromium from Debian for the
# browser tests), so they work on a fresh Debian machine with Python 3.11 and no conda.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ../shared/data
OUT    ?= out/demo

.PHONY: demo test test-fast install install-test install-bench browser wrk lint bench lowest pre-commit \
        compare clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(VENV)/.installed $(VENV)/.installed-test $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	touch $(VENV)/.installed $(VENV)/.installed-test $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-bench: $(VENV)/.installed-bench

# Headless Chromium for the atlas tests, gdal-bin (ogrinfo/ogr2ogr) for the OGC API test,
# LibreOffice (Calc, Impress) for the board pack tests and poppler-utils (pdfinfo, pdftotext,
# pdftoppm: printed atlas pages and board pack pages) (Debian packages; root or sudo needed
# once). apt-get waits up to 10 min for the dpkg lock another apt/dpkg holds
# (DPkg::Lock::Timeout), and `update` is retried for 5 min while the package lists are locked,
# instead of giving up at once.
browser:
	@{ command -v chromium && command -v ogr2ogr && command -v soffice && command -v pdftoppm \
	   && command -v pdfinfo; } >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  for try in 1 2 3 4 5 6 7 8 9 10; do \
	    $$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq && break; \
	    echo "apt-get update failed (package lists locked?); retrying in 30 s" >&2; sleep 30; \
	  done && \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium gdal-bin \
	    libreoffice-calc libreoffice-impress poppler-utils >/dev/null; }

## Build the bundled synthetic demo area: layers, statistics, models and the HTML atlas.
demo: install
	$(BIN)/healthgap demo --out $(OUT)

# pytest rewrites the asserts of the test modules and of its plugins' packages (hypothesis,
# schemathesis) on import and caches the result as bytecode; PYTHONDONTWRITEBYTECODE=1 in the
# environment would make every run redo it (about 30 s), so the test targets clear it.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest

# The suite runs on every core (pytest-xdist, JOBS=auto; JOBS=0 runs in one process). Each module
# stays on one worker (--dist loadscope), so no module fixture is built twice, and the builds
# several modules read are made once per run for every worker (tests/_builds.py). The
# schemathesis module runs with the rest: its operations' tests get their own node ids
# (tests/services/conftest.py), without which xdist ran only the first of them.
JOBS   ?= auto
XDIST  := -n $(JOBS) --dist loadscope

## Install everything the tests need, then run the whole suite. The last lines give the
## start-up, collection and test times (tests/conftest.py) and pytest's total.
test: install-test browser
	$(PYTEST) -q $(XDIST)

## The quick subset a developer runs before a commit (about 110 s of CPU, spread over every core:
## about a minute on 2 idle cores): the science, the data readers and the package checks, without
## the slow and browser tests, the whole-area builds (services/, most of maps/) and the heaviest
## reference fits listed in FAST_IGNORE. `make test` runs everything.
FAST_PATHS  := tests/geo tests/data tests/test_import_graph.py tests/test_environment_sync.py \
               tests/maps/test_classify.py tests/maps/test_colour_grammar.py \
               tests/maps/test_geometry.py
FAST_IGNORE := tests/geo/test_regression.py tests/geo/test_england.py \
               tests/geo/test_osm_features.py
test-fast: install-test
	$(PYTEST) -q $(XDIST) -m "not slow and not browser" $(FAST_PATHS) \
	  $(addprefix --ignore=,$(FAST_IGNORE))

lint: install-test
	$(BIN)/ruff check healthgap geo maps services data tests benchmarks scripts
	$(BIN)/mypy

# wrk (Debian), the load generator of benchmarks/bench_api_load.py
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk >/dev/null; }

## Every benchmark, each beside its peers (esda, topojson, igraph, pandana: the bench extra).
bench: install-bench wrk
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b --data $(DATA) || exit 1; done

## The lowest allowed version of every dependency (a separate .venv-lowest) and a smoke subset.
lowest:
	PYTHON=$(PYTHON) .ci/lowest

## Install the git pre-commit hook (ruff, mypy, file hygiene; see .pre-commit-config.yaml).
pre-commit: $(VENV)/.installed-dev
	$(BIN)/pre-commit install

## Compare two builds layer by layer: make compare OLD=out/before NEW=out/after
compare: install
	$(BIN)/python scripts/compare_builds.py $(OLD) $(NEW)

clean:
	rm -rf out build .pytest_cache .venv-lowest
