"""Train one lesion grid cell x fold; write model, history and val/test predictions, and, when
the rule names the external test set's inputs (`ext_images`, `ext_index`, `ext_splits`, and
`ext_masks` / `ext_cams` as the cell needs) and the output `predictions_external`, its
predictions too (HAM10000 models: predictions_isic2019.csv) in the same job."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from selcn.lesion import train_lesion_fold

torch.set_num_threads(snakemake.threads)
w = snakemake.wildcards
inputs = snakemake.input
out_dir = Path(snakemake.output.model).parent
external = None
if "predictions_external" in snakemake.output.keys():
    external = {"images_npy": inputs.ext_images, "index_csv": inputs.ext_index,
                "splits_csv": inputs.ext_splits, "masks_npy": inputs.get("ext_masks"),
                "cams_npy": inputs.get("ext_cams")}
    target = Path(snakemake.output.predictions_external)
    name = target.stem.removeprefix("predictions_")
    if target != out_dir / f"predictions_{name}.csv":
        raise ValueError(f"output predictions_external {target} must be "
                         f"{out_dir}/predictions_<dataset>.csv")
train_lesion_fold(
    images_npy=inputs.images,
    index_csv=inputs.index,
    splits_csv=inputs.splits,
    out_dir=out_dir,
    cfg=snakemake.config,
    classifier_mask=w.classifier_mask,
    symmetry_mask=w.symmetry_mask,
    fold=int(w.fold),
    dataset=w.lesion_dataset,
    masks_npy=inputs.get("masks"),
    cams_npy=inputs.get("cams"),
    hpo_best=inputs.get("hpo"),
    external=external,
    external_name=name if external is not None else "isic2019",
    progress=False,           # one line per epoch in the log instead of progress bars
)
