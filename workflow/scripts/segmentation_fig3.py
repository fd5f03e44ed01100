"""Figure 3: test images of HAM10000 with their segmentation and LAE masks."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.segmentation_figures import figure3_from_files

figure3_from_files(snakemake.input.images, snakemake.input.masks, snakemake.input.index,
                   snakemake.input.splits, snakemake.output.figure, n=snakemake.params.n)
