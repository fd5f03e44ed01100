"""Train one lesion grid cell x fold; write model, history and val/test predictions, and, when
the rule names an external test set (`params.external_name`, inputs `ext_images`, `ext_index`,
`ext_splits` and `ext_masks` / `ext_cams` as the cell needs), its predictions too
(HAM10000 models: predictions_isic2019.csv) in the same job."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from selcn import lesion
from selcn.data.inputs import StageInputs
from selcn.engine import Training
from selcn.grid import Cell, Fold, Model

torch.set_num_threads(snakemake.threads)
w, inputs, name = snakemake.wildcards, snakemake.input, snakemake.params.external_name
cell = Cell(w.lesion_dataset, Model(w.classifier_mask, w.symmetry_mask))
lesion.train(
    lesion.network(snakemake.config, cell),
    StageInputs.named(inputs),
    Fold.parse(w.fold),
    Path(snakemake.output.model).parent,
    Training.of(snakemake.config, "lesion", inputs.get("hpo")),
    external=None if name is None else (name, StageInputs.named(inputs, "ext_")),
)
