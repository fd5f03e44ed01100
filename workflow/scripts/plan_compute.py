#!/usr/bin/env python
"""Plan compute before spending GPU hours: jobs per rule, the GPU-hours their time limits add
up to and an estimate from throughput (config `plan`), from a Snakemake dry run of the config.

    python workflow/scripts/plan_compute.py --configfile config/paper.yaml
    python workflow/scripts/plan_compute.py --configfile config/paper.yaml --forceall
    python workflow/scripts/plan_compute.py --configfile config/paper.yaml \
        -- --config hpo='{enabled: true}'

Without --forceall only the jobs still to run are counted (what a resumed run would cost).
Arguments after `--` go to Snakemake unchanged (targets, --config, ...); the estimate reads
config/config.yaml with the --configfile on top (as the Snakefile does), not those overrides.
"""
import argparse
import sys
from pathlib import Path

import yaml

from selcn.config import ConfigError, deep_merge, validate_config
from selcn.plan import (
    DEFAULT_GROUP_BY,
    Estimator,
    dry_run,
    format_plan,
    format_totals,
    parse_dry_run,
    plan_table,
    plan_totals,
)

REPO = Path(__file__).resolve().parents[2]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--configfile", default="config/config.yaml")
parser.add_argument("--forceall", action="store_true", help="plan the whole workflow")
parser.add_argument("--by", default=",".join(DEFAULT_GROUP_BY),
                    help="wildcards that split a rule's row (default: %(default)s)")
parser.add_argument("--csv", help="also write the table to this CSV file")
parser.add_argument("snakemake_args", nargs="*", help="after `--`: passed to snakemake")
args = parser.parse_args()

sm_args = ["--configfile", args.configfile, *(["--forceall"] if args.forceall else []),
           *args.snakemake_args]
try:
    run = dry_run(sm_args, workdir=REPO)
    raw = [yaml.safe_load(Path(REPO, f).read_text()) or {}
           for f in dict.fromkeys(["config/config.yaml", args.configfile])]
    estimator = Estimator.of(validate_config(deep_merge(raw[0], raw[-1]), source=args.configfile))
except (RuntimeError, ConfigError, OSError) as err:
    sys.exit(str(err))
table = plan_table(parse_dry_run(run.text), group_by=[b for b in args.by.split(",") if b],
                   estimate=estimator.hours)
print(f"snakemake -n {' '.join(sm_args)}  "
      f"({run.seconds:.1f} s wall, {run.cpu_seconds:.1f} s CPU)")
print(format_plan(table))
print(format_totals(plan_totals(table), estimator))
if args.csv:
    table.to_csv(args.csv, index=False)
