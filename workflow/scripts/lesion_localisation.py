"""Best fold and Grad-CAM++ localisation of one grid cell's model of every lesion dataset
(Tables 9 and 15): one job, the same HAM10000 images and inputs for each."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.lesion import localise_best_fold

torch.set_num_threads(snakemake.threads)
inputs, output = snakemake.input, snakemake.output
folds = snakemake.params.folds
for dataset in snakemake.params.datasets:
    print(f"[lesion] {dataset} model of {snakemake.wildcards.classifier_mask}-"
          f"{snakemake.wildcards.symmetry_mask}", flush=True)
    localise_best_fold(
        dict(zip(folds, inputs[f"models_{dataset}"])),
        dict(zip(folds, inputs[f"predictions_{dataset}"])),
        protocol=snakemake.params.protocol,
        out_csv=output[f"localisation_{dataset}"],
        best_json=output[f"best_{dataset}"],
        images_npy=inputs.images,
        index_csv=inputs.index,
        splits_csv=inputs.splits,
        gt_masks_npy=inputs.gt_masks,
        masks_npy=inputs.get("masks"),
        cams_npy=inputs.get("cams"),
        cams_cfg=snakemake.params.cams,
        device=snakemake.config["device"],
    )
