"""Aggregation rule: per-class table (thesis Tables 11 / 12) of one lesion model."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.html import run_note, write_table  # noqa: E402
from selcn.report.tables import per_class_spec, per_class_table  # noqa: E402

table = per_class_table(list(snakemake.input.files))
spec = per_class_spec(int(snakemake.params.number), name=snakemake.wildcards.name)
write_table(table, spec, snakemake.output.csv, snakemake.output.html,
            note=run_note(snakemake.config))
print(table.to_string())
