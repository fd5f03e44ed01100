"""Figure 3 (report): test images of HAM10000 with their segmentation and LAE masks, drawn from
the segmentation stage's figure data."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.segmentation_figures import figure3

figure3(snakemake.input.data, snakemake.output.figure)
