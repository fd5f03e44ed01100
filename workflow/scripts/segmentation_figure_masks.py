"""Figure 3's data: a few HAM10000 test images with a non-empty predicted mask (drawn by the
report rule fig3_masking_strategies)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.atomic import write_npz
from selcn.data.inputs import StageInputs
from selcn.segmentation import figure3_data

arrays = figure3_data(StageInputs.named(snakemake.input).open(), n=snakemake.params.n)
write_npz(arrays, snakemake.output.data)
print(f"figure 3: {list(arrays['image_ids'])}")
