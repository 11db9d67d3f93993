# North Korea telecom notebooks: `make report` builds everything, `make test` checks it.
# Run `make` (or `make help`) for the list of targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules
# Messages from the steps' Python processes appear in the order things happen.
export PYTHONUNBUFFERED := 1
# Independent steps (e.g. 02 and 03, the HTML and the PDF) run side by side; `make -j1` for one at a time.
NPROC := $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
MAKEFLAGS += --jobs=$(NPROC)

VENV      := .venv
VPY       := $(VENV)/bin/python
VENV_OK   := $(VENV)/.installed
BUILD     := .build
RENDERER  ?= nbconvert
RUN_STEP  := $(VPY) -m helpers.pipeline run
TIMED      = tools/timed.sh

REPORT_NB   := reports/executed/04_report.ipynb
REPORT_HTML := reports/report.html
REPORT_PDF  := reports/report.pdf

# The per-step rules are generated from params/*.yaml (keys in_* and out_*), so the Makefile and each
# notebook's parameters cell always name the same inputs and products.
PIPELINE_MK := $(BUILD)/pipeline.mk
NEEDS_PIPELINE := $(filter report pipeline quarto publish scenarios serve reports/% data/% site/%,$(MAKECMDGOALS))
ifneq ($(NEEDS_PIPELINE),)
# One build at a time in this folder: a second `make report` stops here with one line naming the first
# (tools/buildlock.sh holds a flock on .build/build.lock for as long as this make runs).
ifeq ($(MAKELEVEL),0)
BUILD_LOCK := $(shell bash tools/buildlock.sh $$PPID)
ifneq ($(BUILD_LOCK),)
$(error $(BUILD_LOCK))
endif
endif
include $(PIPELINE_MK)
endif

# Steps decide from content (their manifest in .build/manifests/), so their rules always run the check.
.PHONY: FORCE
FORCE:
# A failed or interrupted step writes nothing in place (it runs in .build/staging/); never let make delete
# a product or a manifest either.
.PRECIOUS: $(BUILD)/manifests/%.json data/processed/% reports/figures/% reports/executed/%

.PHONY: help
help: ## List the targets with a one-line description
	@echo "Usage: make <target>   (first run sets up .venv from requirements.lock)"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

## ---- environment -------------------------------------------------------------------------------
$(VENV_OK): requirements.lock pyproject.toml tools/setup_env.sh
	@bash tools/setup_env.sh
	@touch $@

.PHONY: env
env: $(VENV_OK) ## Create/update .venv from requirements.lock (uv, pip fallback) and the Jupyter kernel

.PHONY: lock
lock: $(VENV_OK) ## Re-resolve requirements.lock from pyproject.toml (then update environment.yml)
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 -o requirements.lock
	$(VPY) tools/sync_environment_yml.py

# Every parameters file is checked (helpers.pipeline.params) here, before any kernel starts.
$(PIPELINE_MK): $(wildcard params/*.yaml) $(addprefix src/helpers/pipeline/,__main__.py dag.py makefile.py params.py) data/sources/sources.csv | $(VENV_OK)
	@mkdir -p $(BUILD)
	@$(VPY) -m helpers.pipeline makefile > $@.tmp || { rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@

## ---- pipeline ----------------------------------------------------------------------------------
# The observations are validated before any notebook runs; on a problem make stops here, non-zero, with
# file:line: column: reason for each one, and nothing downstream is overwritten.
VALIDATION := data/processed/observations_validation.txt
OBS_INPUTS := data/raw/observations.csv data/raw/indicators.csv data/raw/events.csv data/raw/glossary.csv \
  data/sources/sources.csv data/SHA256SUMS $(wildcard data/sources/*.txt) $(wildcard data/external/*.csv)
# Every raw table and every external file (against data/SHA256SUMS) is checked here, before any kernel starts,
# in one process (helpers.data.check: the observations, events and external checks in turn, stopping at the first
# that fails, with their own messages and exit codes).
$(VALIDATION): $(OBS_INPUTS) $(wildcard src/helpers/data/*.py) | $(VENV_OK)
	@mkdir -p $(@D)
	@tmp=$@.$$$$.tmp; $(VPY) -m helpers.data.check --observations data/raw/observations.csv > $$tmp || \
	  { cat $$tmp; rm -f $$tmp; exit 1; }; mv $$tmp $@ && cat $@

.PHONY: check
check: $(VENV_OK) ## Validate the raw tables and external files (every problem as file:line: column: reason)
	@$(VPY) -m helpers.data.check --observations data/raw/observations.csv

.PHONY: report pipeline quarto
ifeq ($(RENDERER),quarto)
report: quarto ## Build everything: run the notebooks, write reports/report.html and .pdf (RENDERER=quarto: Quarto edition)
else
report: $(REPORT_HTML) $(REPORT_PDF)
	@echo "report: $(REPORT_HTML) $(REPORT_PDF)"
endif

# Without Quarto: one clear line and exit code 2, before anything runs.
ifneq ($(filter quarto,$(MAKECMDGOALS))$(filter quarto,$(RENDERER)),)
ifeq ($(shell command -v quarto),)
$(error quarto is not on PATH: install Quarto >= 1.4 for RENDERER=quarto (the default renderer needs nothing extra))
endif
endif

quarto: $(STEP_PRODUCTS) ## Quarto edition (HTML + Typst PDF in reports/quarto/) from the executed notebooks; needs quarto >= 1.4
	@$(VPY) -m helpers.render quarto

pipeline: $(STEP_PRODUCTS) ## Run the notebooks (only those whose inputs changed)

# The renders, like the steps, rerun on content: the executed report, the render code it imports
# (helpers.render.__main__ and what it imports), the templates, filters and fonts (.build/manifests/render_*.json).
RENDER_RESOURCES := src/helpers/render/resources
RENDER_FILES := $(sort $(wildcard $(RENDER_RESOURCES)/templates/nkreport/* $(RENDER_RESOURCES)/pandoc/* \
  $(RENDER_RESOURCES)/fonts/* $(RENDER_RESOURCES)/quarto/*))
$(REPORT_HTML): FORCE $(STEP_04_REPORT_MANIFEST) | $(VENV_OK)
	@$(VPY) -m helpers.pipeline guard render_html --step 04_report --module helpers.render.__main__ \
	  --in $(REPORT_NB) $(RENDER_FILES) --out $@ -- $(TIMED) "render html" $(VPY) -m helpers.render html $(REPORT_NB) $@

$(REPORT_PDF): FORCE $(STEP_04_REPORT_MANIFEST) | $(VENV_OK)
	@$(VPY) -m helpers.pipeline guard render_pdf --step 04_report --module helpers.render.__main__ \
	  --in $(REPORT_NB) $(RENDER_FILES) --out $@ -- $(TIMED) "render pdf" $(VPY) -m helpers.render pdf $(REPORT_NB) $@

# Sensitivity sweep: step 02's summary numbers over the data treatments in params/scenarios.yaml, computed in one
# process by helpers.pipeline.scenarios (no notebook); the collected table is an input of the report. Rerun on content
# (.build/manifests/scenarios.json): the grid, step 02's parameters and input files, the helpers modules the sweep
# imports, or the table itself changed. Step 02's notebook is not among them: the sweep does not run it.
SCENARIOS_OUT := data/processed/scenarios.csv
$(SCENARIOS_OUT): FORCE $(STEP_01_CLEAN_MANIFEST) | $(VENV_OK)
	@$(VPY) -m helpers.pipeline guard scenarios --module helpers.pipeline.scenarios \
	  --in params/scenarios.yaml $(filter-out notebooks/%,$(STEP_02_FIT_GROWTH_IN)) --out $@ -- \
	  $(TIMED) "scenarios" $(VPY) -m helpers.pipeline.scenarios run --grid params/scenarios.yaml --jobs 2 --out $@

.PHONY: scenarios
scenarios: $(SCENARIOS_OUT) ## Sensitivity sweep: step 02's numbers over the data treatments in params/scenarios.yaml, one table

SITE_INPUTS = $(REPORT_HTML) $(REPORT_PDF) $(filter data/processed/%.csv,$(STEP_PRODUCTS))
site/index.html: $(SITE_INPUTS) src/helpers/pipeline/publish.py | $(VENV_OK)
	@$(TIMED) "publish site/" $(VPY) -m helpers.pipeline.publish site

.PHONY: publish serve
publish: site/index.html ## Write a static site/ (report, PDF, cleaned CSVs, data README) for any static host

PORT ?= 8000
serve: site/index.html ## Preview site/ on http://127.0.0.1:8000 (PORT=...)
	@echo "serving site/ on http://127.0.0.1:$(PORT) (Ctrl-C to stop)"
	@$(VPY) -m http.server $(PORT) --bind 127.0.0.1 --directory site

## ---- development ----------------------------------------------------------------------------------
.PHONY: test
# Two pytest-xdist workers, each test file whole in one worker (--dist loadfile), the files in the order
# tests/conftest.py gives them (RUN_FIRST: the end-to-end files first, --no-loadscope-reorder keeps it): both
# workers start on an end-to-end file, share ONE built copy (the first to ask builds it under a file lock) and
# give each test that edits files its own `cp -a` of it, then take the short files.
PYTEST_XDIST := -n $(NPROC) --dist loadfile --no-loadscope-reorder
# `make env` compiles only what the build imports; the suite (pytest, JupyterLab, dask, ...) gets the rest of
# the bytecode here, once (compileall skips what is up to date: a fraction of a second after the first run).
BYTECODE_ALL := bash tools/setup_env.sh bytecode all
test: $(VENV_OK) ## Run the test suite (unit tests, pipeline run in a temp copy, JupyterLab smoke test)
	@$(BYTECODE_ALL)
	$(VPY) -m pytest $(PYTEST_XDIST)

.PHONY: test-quick
test-quick: $(VENV_OK) ## The quick tier for the edit-test loop: every test not marked slow (pytest -m "not slow")
	@$(BYTECODE_ALL)
	$(VPY) -m pytest $(PYTEST_XDIST) -m "not slow"

.PHONY: lint
lint: $(VENV_OK) ## Lint and format-check the code with ruff
	$(VENV)/bin/ruff check src tests tools benchmarks
	$(VENV)/bin/ruff format --check src tests tools benchmarks

.PHONY: bench
bench: $(VENV_OK) ## Benchmarks -> reports/bench.json (BENCH=quick: skip the clone/build/test-suite parts; BENCH_SKIP=tests,scripts)
	$(VPY) benchmarks/run.py --out reports/bench.json $(if $(filter quick,$(BENCH)),--mode quick) $(if $(BENCH_SKIP),--skip $(BENCH_SKIP))

.PHONY: hooks
hooks: $(VENV_OK) ## Commit notebooks without outputs whatever Lab saved (git clean filter: tools/nbfmt.py --stdin)
	git config filter.nbfmt.clean "$(VPY) tools/nbfmt.py --stdin"
	git config filter.nbfmt.required true
	@echo "hooks: notebooks/*.ipynb are stored without outputs and Lab metadata (see .gitattributes)"

# The coverage of the saturation interval, with provenance, in a committed file that steps 02 and 04 read
# (in_coverage); rerun it after a change to the estimator or the design, and commit the file.
.PHONY: coverage
coverage: $(VENV_OK) ## Measure the saturation interval's coverage; writes benchmarks/results/coverage_saturation.json
	nice $(VPY) benchmarks/bench_coverage.py --write

.PHONY: lab
lab: $(VENV_OK) ## Open JupyterLab on localhost with the project kernel (extra options: LAB_ARGS=...)
	@$(BYTECODE_ALL)
	@bash tools/lab.sh $(LAB_ARGS)

.PHONY: clean
clean: ## Remove build products (processed data, executed notebooks, figures, reports); keeps .venv
	@# .build/imports-cache.json stays: parsed imports keyed by module content, never stale (helpers.pipeline.manifest)
	find $(BUILD) -mindepth 1 -maxdepth 1 ! -name imports-cache.json -exec rm -rf {} + 2>/dev/null || true
	rm -rf data/processed/* reports/executed reports/figures reports/report.html reports/report.pdf reports/bench.json

.PHONY: distclean
distclean: clean ## Also remove the environment (.venv)
	rm -rf $(VENV)
