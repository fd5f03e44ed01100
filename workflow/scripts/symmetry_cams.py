"""Grad-CAM++ of the best symmetry fold for every cached image of every dataset of
`params.datasets` in one job (outputs `cams_<dataset>`, inputs `images_<dataset>`,
`index_<dataset>` and, for a masked variant, `masks_<dataset>`)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn import symmetry
from selcn.data.inputs import StageInputs
from selcn.engine import export_cams
from selcn.selection import best_model_path
from selcn.training import resolve_device

torch.set_num_threads(snakemake.threads)
inputs, params = snakemake.input, snakemake.params
saved = symmetry.open_model(best_model_path(inputs.best, inputs.models),
                            resolve_device(snakemake.config["device"]))
export_cams(saved, [(StageInputs(inputs[f"images_{d}"], inputs[f"index_{d}"],
                                 masks=inputs.get(f"masks_{d}")), snakemake.output[f"cams_{d}"])
                    for d in params.datasets],
            cam_size=params.cam_size, batch_size=params.batch_size,
            num_workers=params.num_workers)
