"""Aggregation rule: thesis Figures 11-13, training curves of the first fold of every model."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.figures import training_curves

training_curves(list(snakemake.input.histories), snakemake.output.figure,
                title=snakemake.params.title)
