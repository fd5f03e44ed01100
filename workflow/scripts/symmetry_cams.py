"""Grad-CAM++ of the best symmetry fold for every cached image of every dataset of
`params.datasets` in one job (outputs `cams_<dataset>`, inputs `images_<dataset>`,
`index_<dataset>` and, for a masked variant, `masks_<dataset>`)."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

import torch

from selcn import symmetry
from selcn.data.inputs import StageInputs
from selcn.device import job_device
from selcn.engine import export_cams
from selcn.selection import best_model_path

device = job_device(snakemake.config, snakemake.resources.get("gpu", 0),
                    job=f"rule {snakemake.rule}")
torch.set_num_threads(snakemake.threads)
inputs, params = snakemake.input, snakemake.params
saved = symmetry.open_model(best_model_path(inputs.best, inputs.models), device)
export_cams(saved, [(StageInputs(inputs[f"images_{d}"], inputs[f"index_{d}"],
                                 masks=inputs.get(f"masks_{d}")), snakemake.output[f"cams_{d}"])
                    for d in params.datasets],
            cam_size=params.cam_size, batch_size=params.batch_size,
            num_workers=params.num_workers)
