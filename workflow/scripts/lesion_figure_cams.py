"""Figure 10's data: one HAM10000 test image's Grad-CAM++ across every lesion model (best
folds), drawn by the report rule fig10_lesion_cams."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

import numpy as np
import torch

from selcn import lesion
from selcn.atomic import write_npz
from selcn.data.inputs import StageInputs
from selcn.device import job_device
from selcn.grid import Model
from selcn.selection import best_model_path

device = job_device(snakemake.config, snakemake.resources.get("gpu", 0),
                    job=f"rule {snakemake.rule}")
torch.set_num_threads(snakemake.threads)
inputs, params = snakemake.input, snakemake.params
n = len(params.folds)
models = {}
for i, name in enumerate(params.models):
    fold_models = dict(zip(params.folds, inputs.models[i * n:(i + 1) * n]))
    models[Model.parse(name)] = lesion.open_model(best_model_path(inputs.best[i], fold_models),
                                                  device)
cams = {k.removeprefix("cams_"): np.load(v, mmap_mode="r") for k, v in inputs.items()
        if k.startswith("cams_")}
data = StageInputs.named(inputs).open()
arrays = lesion.figure10_data(models, data, cams, params.image_id)
write_npz(arrays, snakemake.output.data)
print(f"figure 10: {arrays['image_id']} x {len(models)} models")
