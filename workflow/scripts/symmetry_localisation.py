"""Localisation of a symmetry model's Grad-CAM++ on HAM10000 (Table 7): the protocol's
localisation split (every image with a ground-truth mask under protocol thesis, the test split
under leakage_free)."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

import torch

from selcn import symmetry
from selcn.atomic import write_csv
from selcn.data.inputs import StageInputs
from selcn.device import job_device
from selcn.protocol import policy
from selcn.selection import best_model_path

device = job_device(snakemake.config, snakemake.resources.get("gpu", 0),
                    job=f"rule {snakemake.rule}")
torch.set_num_threads(snakemake.threads)
inputs = snakemake.input
protocol = policy(snakemake.params.protocol)
saved = symmetry.open_model(best_model_path(inputs.best, inputs.models), device)
data = StageInputs.named(inputs).only(masks=saved.view.needs_masks, cams=False).open()
table = symmetry.localise_symmetry(saved, data, protocol.localisation_split,
                                   snakemake.params.cams)
write_csv(table, snakemake.output.localisation)
print(f"[symmetry] {snakemake.wildcards.variant}: {len(table)} images "
      f"({protocol.localised_on}), "
      + ", ".join(f"{c}={table[c].mean():.3f}" for c in ("iou", "overlap", "pointing")))
