"""Pick the segmentation architecture: the best validation metric under protocol leakage_free,
the best test metric under protocol thesis (the thesis' choice)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.atomic import write_json
from selcn.selection import select_architecture

protocol = snakemake.params.get("protocol", snakemake.config["protocol"])
selected = select_architecture(list(snakemake.input.metrics), snakemake.params.metric,
                               protocol=protocol)
print(selected)
write_json(selected, snakemake.output.selected)
