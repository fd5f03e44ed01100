"""Train one lesion grid cell x fold; write model, history and val/test predictions, and, when
the rule names an external test set (`params.external_name`, inputs `ext_images`, `ext_index`,
`ext_splits` and `ext_masks` / `ext_cams` as the cell needs), its predictions too
(HAM10000 models: predictions_isic2019.csv) in the same job."""
import sys
from pathlib import Path

from selcn.joblog import start_job

# lock the job's folder (a second process of it fails, naming this one's PID), then the log,
# continuing the one of an earlier, interrupted attempt
sys.stderr = sys.stdout = start_job(snakemake.log[0], Path(snakemake.output.model).parent)

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
    Training.of(snakemake.config, "lesion", inputs.get("hpo"),
                gpus=snakemake.resources.get("gpu", 0)),
    external=None if name is None else (name, StageInputs.named(inputs, "ext_")),
)
