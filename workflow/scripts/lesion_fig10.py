"""Figure 10: one HAM10000 test image's Grad-CAM++ across every lesion model (best folds)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import torch

from selcn.report.lesion_figures import figure10_from_files

torch.set_num_threads(snakemake.threads)
inputs = snakemake.input
folds = snakemake.params.folds
n = len(folds)
models = [
    {**m, "best_json": inputs.best[i],
     "model_pts": dict(zip(folds, inputs.models[i * n:(i + 1) * n]))}
    for i, m in enumerate(snakemake.params.models)
]
figure10_from_files(
    models,
    images_npy=inputs.images,
    index_csv=inputs.index,
    splits_csv=inputs.splits,
    gt_masks_npy=inputs.gt_masks,
    out_path=snakemake.output.figure,
    masks_npy=inputs.get("masks"),
    cams_npys={k[len("cams_"):]: v for k, v in inputs.items() if k.startswith("cams_")},
    image_id=snakemake.params.image_id,
    device=snakemake.config["device"],
)
