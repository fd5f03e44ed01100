"""Aggregation rule: per-class table (thesis Tables 11 / 12) of one lesion model."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.html import write_table
from selcn.report.tables import per_class_spec, per_class_table

table = per_class_table(list(snakemake.input.files))
spec = per_class_spec(int(snakemake.params.number), name=snakemake.wildcards.name)
write_table(table, spec, snakemake.output.csv, snakemake.output.html,
            snakemake.input.get("reference") or None, note=snakemake.params.note)
print(table.to_string())
