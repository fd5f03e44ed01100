"""Aggregation rule: the statistics of one lesion dataset (each model against model 1 and
against its group's baseline, by lesion) and its Findings page."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.grid import DATASET_LABELS
from selcn.report.findings import StatisticsJob, write_dataset_statistics

p = snakemake.params
dataset = snakemake.wildcards.lesion_dataset
job = StatisticsJob(DATASET_LABELS.get(dataset, dataset), list(snakemake.input.files),
                    list(snakemake.input.val), snakemake.input.splits, n_boot=int(p.n_boot),
                    confidence=float(p.confidence), seed=int(p.seed),
                    synthetic=bool(p.synthetic), note=p.note)
result = write_dataset_statistics(job, snakemake.output.csv, snakemake.output.html,
                                  snakemake.output.findings)
print(result)
