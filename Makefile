# Two entry points: `make demo` and `make test` (README). Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: demo test venv lint format plan clean

$(BIN)/snakemake: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[workflow,test,lint]'
	touch $(BIN)/snakemake

venv: $(BIN)/snakemake

demo: venv
	$(BIN)/snakemake --cores $(CORES) --printshellcmds
	$(BIN)/snakemake --cores $(CORES) --report results/report.html
	@echo "report: results/report.html"

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

clean:
	rm -rf results .snakemake
