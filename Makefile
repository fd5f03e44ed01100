# Two entry points: `make demo` and `make test` (README). Both create .venv when missing, with
# $(PYTHON) (`make demo PYTHON=python3.11`), which must be at least pyproject.toml's
# requires-python; a .venv made by an older (or a vanished) interpreter is rebuilt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

# the oldest Python the package supports: `requires-python = ">=3.11"` of pyproject.toml
PYTHON_MIN := $(shell sed -n 's/^requires-python *= *">= *\([0-9.]*\)".*/\1/p' pyproject.toml)
# `$(call py_version,<interpreter>)` (shell): the interpreter's version (3.11.9), or nothing
py_version = $$($(1) --version 2>&1 | sed -n 's/^Python \([0-9][0-9.]*\).*/\1/p')
# `$(call at_least_min,<version>)` (shell): true when the version is >= $(PYTHON_MIN)
at_least_min = printf '%s\n%s\n' '$(PYTHON_MIN)' "$(1)" | sort -V -C

.PHONY: demo test venv python-check lint format plan clean clean-venv report-zip

# PYTHON, the interpreter a new .venv is made with, is recent enough
python-check:
	@v="$(call py_version,$(PYTHON))"; \
	if [ -z "$$v" ] || ! $(call at_least_min,$$v); then \
	  if [ -n "$$v" ]; then is="Python $$v"; else is="not a working Python"; fi; \
	  echo "error: SE-LCN needs Python >= $(PYTHON_MIN) (pyproject.toml: requires-python)," \
	       "but PYTHON=$(PYTHON) ($$(command -v $(PYTHON) || echo 'not found')) is $$is." \
	       "Pass another interpreter, e.g. make demo PYTHON=python3.11" >&2; \
	  exit 1; \
	fi

$(BIN)/snakemake: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(MAKE) --no-print-directory python-check
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[workflow,test,lint]'
	touch $(BIN)/snakemake

# a .venv whose interpreter is too old or gone (made by another PYTHON) is removed first
venv:
	@if [ -e $(VENV) ]; then \
	  v="$(call py_version,$(BIN)/python)"; \
	  if [ -z "$$v" ] || ! $(call at_least_min,$$v); then \
	    echo "$(VENV) was made by Python $${v:-(interpreter gone)}, not >= $(PYTHON_MIN):" \
	         "removing it to make it again with PYTHON=$(PYTHON)"; \
	    rm -rf $(VENV); \
	  fi; \
	fi
	@$(MAKE) --no-print-directory $(BIN)/snakemake

demo: venv
	$(BIN)/snakemake --cores $(CORES) --printshellcmds
	$(BIN)/snakemake --cores $(CORES) --report results/report.html
	@echo "report: results/report.html"

# The report of a finished run as a zip (results/report.zip: report/report.html and one file per
# item, each opened when shown): for real-data reports, too large for one HTML file. The
# stylesheet keeps tall items scrollable to their top (workflow/report/report.css).
report-zip: venv
	$(BIN)/snakemake --report results/report.zip --report-stylesheet workflow/report/report.css

test: venv
	$(BIN)/python -m pytest -q tests

# ruff (pyproject.toml [tool.ruff]), snakefmt ([tool.snakefmt]) and Snakemake's own linter; all
# three run, and the target fails if any of them does.
SMK_FILES := Snakefile rules

lint: venv
	@status=0; \
	echo "ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "snakefmt --check $(SMK_FILES)"; $(BIN)/snakefmt --check $(SMK_FILES) || status=1; \
	echo "snakemake --lint"; $(BIN)/snakemake --lint || status=1; \
	exit $$status

# The mechanical part of `make lint`'s findings: ruff's safe fixes (import order, pyupgrade,
# unused noqa) and snakefmt. Line lengths and the like stay hand fixes.
format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt $(SMK_FILES)

plan: venv
	$(BIN)/python workflow/scripts/plan_compute.py --configfile config/paper.yaml

# results and Snakemake's state; the environment stays (`make clean-venv` removes it)
clean:
	rm -rf results .snakemake
	@echo "kept $(VENV) (make clean-venv removes it)"

clean-venv:
	rm -rf $(VENV)
