"""Figure 10 (report): one HAM10000 test image's Grad-CAM++ across every lesion model, drawn
from the lesion stage's figure data."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.lesion_figures import figure10

figure10(snakemake.input.data, snakemake.output.figure)
