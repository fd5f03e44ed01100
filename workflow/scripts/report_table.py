"""Aggregation rule: one thesis table (CSV + HTML twin with the thesis' values) from
per-model files. params.table names the table (selcn.report.registry.TABLE_REGISTRY)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from dataclasses import replace

from selcn.report.html import write_table
from selcn.report.registry import TABLE_REGISTRY, build_table

name = snakemake.params.table
table = build_table(name, list(snakemake.input.files), **snakemake.params.options)
reference = snakemake.input.get("reference") or None
spec = replace(TABLE_REGISTRY[name].spec, title=snakemake.params.title)  # its role's dataset
write_table(table, spec, snakemake.output.csv, snakemake.output.html,
            reference, note=snakemake.params.note)
print(table.to_string())
