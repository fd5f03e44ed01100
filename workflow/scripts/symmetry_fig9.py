"""Figure 9 (report): input / Grad-CAM++ pairs of the symmetry network per masking strategy,
drawn from the symmetry stage's figure data."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.report.cam_figures import figure9

figure9(snakemake.input.data, snakemake.output.figure)
