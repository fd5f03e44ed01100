"""Aggregation rule: reliability diagrams of the fold ensembles of one lesion dataset."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.figures import reliability_from_files

reliability_from_files(list(snakemake.input.predictions), snakemake.output.figure,
                       title=snakemake.params.title)
