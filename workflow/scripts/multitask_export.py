"""Gather model 13's fold networks of one lesion dataset into a self-contained bundle that
`selcn predict` reads (selcn.export.export_multitask_bundle)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import json
from pathlib import Path

from selcn.data.labels import classes
from selcn.export import (
    BundleProvenance,
    BundleSettings,
    config_hash,
    export_multitask_bundle,
    validation_metrics,
)
from selcn.grid import MULTITASK, Fold, grid

inputs, params, dataset = snakemake.input, snakemake.params, snakemake.wildcards.lesion_dataset


def by_fold(paths):
    return {Fold.parse(Path(p).parent.name).index: p for p in paths}


roles = grid(snakemake.config)
datasets = {"lesion": dataset, "symmetry": roles.symmetry_dataset}
provenance = BundleProvenance.of_config(json.loads(params.cfg), datasets)
manifest = export_multitask_bundle(
    snakemake.output.bundle,
    by_fold(inputs.folds),
    BundleSettings(number=MULTITASK.number, dataset=dataset, image_size=params.image_size,
                   hair_removal=params.hair_removal, cam_size=0,
                   cfg_hash=config_hash(params.cfg)),
    validation=validation_metrics(by_fold(inputs.val), classes(dataset)),
    provenance=provenance,
    sources={"multitask": {str(k): str(v) for k, v in by_fold(inputs.folds).items()}},
)
print(f"exported model {MULTITASK.number} of {dataset} to {snakemake.output.bundle}; mean "
      f"validation {manifest['validation']['mean']}; trained on {provenance.source} data "
      f"({', '.join(f'{k}: {v}' for k, v in datasets.items())}), protocol {provenance.protocol}")
