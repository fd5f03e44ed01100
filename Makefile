# Two entry points: `make demo` and `make test` (README). Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: demo test venv lint plan clean

$(BIN)/snakemake: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[workflow,test]'
	touch $(BIN)/snakemake

venv: $(BIN)/snakemake

demo: venv
	$(BIN)/snakemake --cores $(CORES) --printshellcmds
	$(BIN)/snakemake --cores $(CORES) --report results/report.html
	@echo "report: results/report.html"

test: venv
	$(BIN)/python -m pytest -q tests

lint: venv
	$(BIN)/snakemake --lint

plan: venv
	$(BIN)/python workflow/scripts/plan_compute.py --configfile config/paper.yaml

clean:
	rm -rf results .snakemake
