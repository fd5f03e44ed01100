"""Aggregation rule: heat-map of the 3 x 4 model grid (accuracy, macro F1, CAM IoU)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.figures import heatmap_from_files

heatmap_from_files(list(snakemake.input.predictions), list(snakemake.input.localisation),
                   snakemake.output.figure, title=snakemake.params.title)
