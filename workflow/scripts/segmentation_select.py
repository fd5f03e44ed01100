"""Pick the segmentation architecture with the best test metric."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.segmentation import select_architecture, write_json

selected = select_architecture(list(snakemake.input.metrics), snakemake.params.metric)
print(selected)
write_json(selected, snakemake.output.selected)
