"""Figure 9's data: input / Grad-CAM++ / prediction of the best symmetry model of each masking
strategy on a few SymDerm test images (drawn by the report rule fig9_symmetry_cams)."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

import torch

from selcn import symmetry
from selcn.atomic import write_npz
from selcn.data.inputs import StageInputs
from selcn.device import job_device
from selcn.selection import best_model_path

device = job_device(snakemake.config, snakemake.resources.get("gpu", 0),
                    job=f"rule {snakemake.rule}")
torch.set_num_threads(snakemake.threads)
inputs = snakemake.input
models = {mask: symmetry.open_model(best_model_path(inputs[f"best_{mask}"],
                                                    inputs[f"models_{mask}"]), device)
          for mask in snakemake.params.variants}
data = StageInputs.named(inputs).open()
arrays = symmetry.figure9_data(models, data, snakemake.params.n_per_class)
write_npz(arrays, snakemake.output.data)
print(f"figure 9: {len(arrays['image_ids'])} images x {len(models)} masking strategies")
