"""Gather one grid model (or the best on validation) into a self-contained bundle."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import json
from pathlib import Path

from selcn.data.labels import classes
from selcn.export import (
    BundleFiles,
    BundleProvenance,
    BundleSettings,
    config_hash,
    export_bundle,
    select_model,
    validation_metrics,
)
from selcn.grid import Fold, Model, grid

inputs, params = snakemake.input, snakemake.params


def by_fold(paths):
    return {Fold.parse(Path(p).parent.name).index: p for p in paths}


models = {m.number: m for m in map(Model.parse, params.models)}
if snakemake.wildcards.selection == "best":
    selection = select_model({n: by_fold(inputs[f"model{n}_val"]) for n in models})
else:
    selection = {"number": next(iter(models)), "criterion": "export.model"}
number = selection["number"]
model = models[number]
arch = json.loads(Path(inputs.selected).read_text())["arch"]
segmentation = [p for p in inputs.segmentation if Path(p).parent.name == arch]
if len(segmentation) != 1:
    raise ValueError(f"{inputs.selected}: selected architecture {arch!r} has no model.pt among "
                     f"{list(inputs.segmentation)}")
symmetry, sym_best = None, None
if model.takes_cam:
    # the fold whose CAMs the lesion model was trained with (results/cams/<mask>/...)
    sm = model.cam_source
    sym_best = json.loads(Path(inputs[f"symmetry_{sm}_best"]).read_text())
    symmetry = by_fold(inputs[f"symmetry_{sm}_models"])[int(sym_best["fold"])]
lesion = by_fold(inputs[f"model{number}_folds"])
# what the networks learnt from: data.source, protocol (and the real datasets' files) of the
# declared config sections `params.cfg` (selcn.jobs.MODEL_CONFIG_KEYS)
roles = grid(snakemake.config)             # the datasets of the config's roles
datasets = {"segmentation": roles.segmentation_dataset,
            "lesion": snakemake.wildcards.lesion_dataset}
if symmetry is not None:
    datasets["symmetry"] = roles.symmetry_dataset
provenance = BundleProvenance.of_config(json.loads(params.cfg), datasets)
manifest = export_bundle(
    snakemake.output.bundle,
    BundleFiles(segmentation_pt=segmentation[0], symmetry_pt=symmetry, lesion_pts=lesion),
    BundleSettings(number=number, dataset=snakemake.wildcards.lesion_dataset,
                   image_size=params.image_size, hair_removal=params.hair_removal,
                   cam_size=params.cam_size, cfg_hash=config_hash(params.cfg)),
    # macro-F1 over the classes of the model's dataset (PH²: 3, HAM10000: 7)
    validation=validation_metrics(by_fold(inputs[f"model{number}_val"]),
                                  classes(snakemake.wildcards.lesion_dataset)),
    selection=selection,
    provenance=provenance,
    sources={"segmentation": str(segmentation[0]), "segmentation_selection": json.loads(
        Path(inputs.selected).read_text()), "symmetry": str(symmetry) if symmetry else None,
        "symmetry_best_fold": sym_best, "lesion": {str(k): str(v) for k, v in lesion.items()}},
)
print(f"exported model {number} ({model}) to "
      f"{snakemake.output.bundle}; selection {selection}; mean validation "
      f"{manifest['validation']['mean']}; trained on {provenance.source} data "
      f"({', '.join(f'{k}: {v}' for k, v in datasets.items())}), protocol {provenance.protocol}")
