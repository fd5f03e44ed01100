"""Train one lesion grid cell x fold; write model, history and val/test predictions, and, when
the rule names an external test set (`params.external_name`, inputs `ext_images`, `ext_index`,
`ext_splits` and `ext_masks` / `ext_cams` as the cell needs), its predictions too
(HAM10000 models: predictions_isic2019.csv) in the same job."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from selcn.lesion import train_lesion_fold

torch.set_num_threads(snakemake.threads)
w, inputs, name = snakemake.wildcards, snakemake.input, snakemake.params.external_name
external = None if name is None else {
    "images_npy": inputs.ext_images, "index_csv": inputs.ext_index,
    "splits_csv": inputs.ext_splits, "masks_npy": inputs.get("ext_masks"),
    "cams_npy": inputs.get("ext_cams")}
train_lesion_fold(
    images_npy=inputs.images,
    index_csv=inputs.index,
    splits_csv=inputs.splits,
    out_dir=Path(snakemake.output.model).parent,
    cfg=snakemake.config,
    classifier_mask=w.classifier_mask,
    symmetry_mask=w.symmetry_mask,
    fold=int(w.fold),
    dataset=w.lesion_dataset,
    masks_npy=inputs.get("masks"),
    cams_npy=inputs.get("cams"),
    hpo_best=inputs.get("hpo"),
    external=external,
    external_name=name or "isic2019",
    progress=False,           # one line per epoch in the log instead of progress bars
)
