"""Predict the external test set (ISIC 2019, split `test`) with one HAM10000 lesion model."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.lesion import predict_split

torch.set_num_threads(snakemake.threads)
inputs = snakemake.input
table = predict_split(
    inputs.model,
    images_npy=inputs.images,
    index_csv=inputs.index,
    splits_csv=inputs.splits,
    out_csv=snakemake.output.predictions,
    split="test",
    masks_npy=inputs.get("masks"),
    cams_npy=inputs.get("cams"),
    batch_size=snakemake.params.batch_size,
    num_workers=snakemake.params.num_workers,
    device=snakemake.config["device"],
)
print(f"{len(table)} images, accuracy {(table['pred'] == table['target']).mean():.4f}")
