"""Aggregation rule: the table "shared vs per-model search" of one lesion dataset (hpo.scope:
per_model): values, best epochs, metrics and the paired statistics by lesion."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.search import SearchComparisonFiles, write_search_comparison

i, p = snakemake.input, snakemake.params
table = write_search_comparison(
    SearchComparisonFiles(list(i.predictions), list(i.histories), list(i.searches), i.splits),
    (snakemake.output.csv, snakemake.output.html),
    title=p.title, intervals=p.intervals, note=p.note)
print(table.to_string())
