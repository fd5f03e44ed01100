"""Aggregation rule: each lesion model against the baseline of its group (test split)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.grid import DATASET_LABELS
from selcn.report.html import write_stats
from selcn.report.stats import STAT_METRICS, baseline_comparison_from_files

p = snakemake.params
table = baseline_comparison_from_files(list(snakemake.input.files), n_boot=int(p.n_boot),
                                       confidence=float(p.confidence), seed=int(p.seed))
dataset = DATASET_LABELS.get(snakemake.wildcards.lesion_dataset,
                            snakemake.wildcards.lesion_dataset)
write_stats(table, snakemake.output.csv, snakemake.output.html,
            title=f"Each SE-LCN model against its group's baseline ({dataset}, test split)",
            metrics=STAT_METRICS, confidence=float(p.confidence),
            note=snakemake.params.note)
print(table.to_string())
