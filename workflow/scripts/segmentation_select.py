"""Pick the segmentation architecture on the protocol's selection split: the best validation
metric under protocol leakage_free, the best test metric under protocol thesis (the thesis'
choice)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.atomic import write_json
from selcn.protocol import policy
from selcn.selection import select_architecture

selected = select_architecture(list(snakemake.input.metrics), policy(snakemake.params.protocol),
                               snakemake.params.metric)
print(selected)
write_json(selected, snakemake.output.selected)
