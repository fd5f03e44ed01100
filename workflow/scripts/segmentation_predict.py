"""Predict a lesion mask for every cached image of a dataset with the selected network (under
`segmentation.mode: axis`, with the job's `{segmenter}`)."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

import json
from pathlib import Path

import torch

from selcn.device import job_device
from selcn.segmentation import write_predicted_masks

device = job_device(snakemake.config, snakemake.resources.get("gpu", 0),
                    job=f"rule {snakemake.rule}")
torch.set_num_threads(snakemake.threads)
arch = (snakemake.wildcards.segmenter if "segmenter" in snakemake.wildcards.keys()
        else json.loads(Path(snakemake.input.selected).read_text())["arch"])
model = next(m for m in snakemake.input.models if Path(m).parent.name == arch)
print(f"predicting {snakemake.wildcards.dataset} masks with {model}")
masks = write_predicted_masks(model, snakemake.input.images, snakemake.output.masks,
                              batch_size=snakemake.params.batch_size,
                              device=device)
print(f"{masks.shape[0]} masks, mean lesion fraction {float(masks.mean()):.3f}")
