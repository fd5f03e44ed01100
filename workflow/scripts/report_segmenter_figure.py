"""Aggregation rule: each segmenter's test Dice against the test accuracy of the lesion models
using its masks (segmentation.mode: axis), from the segmenter table."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.segmenters import segmenter_figure_from_table

segmenter_figure_from_table(snakemake.input.table, snakemake.output.figure,
                            title=snakemake.params.title)
