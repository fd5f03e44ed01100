"""The lesion stage: train one grid cell x fold, predict, pick the best fold, localise its CAMs.

A grid cell is ``(dataset, classifier_mask, symmetry_mask)``: ``classifier_mask`` (none | seg |
lae) masks the lesion network's input with the predicted lesion masks, ``symmetry_mask``
(off | none | seg | lae) selects the symmetry CAMs fed to the E-Layer (``off`` = baseline).

Files (``docs/contracts.md``, lesion stage), per fold ``k`` under
``results/lesion/{dataset}/{classifier_mask}-{symmetry_mask}/fold{k}/``:

- ``model.pt`` — ``{"arch", "num_classes", "use_cam", "input_size", "output_stride",
  "classifier_mask", "symmetry_mask", "class_names", "fold", "best_epoch", "state_dict"}``
  (:func:`save_lesion_model` / :func:`load_lesion_model`);
- ``history.csv`` — the training core's per-epoch history;
- ``predictions_val.csv``, ``predictions_test.csv`` (and, for HAM10000 models,
  ``predictions_isic2019.csv``, written by the training job itself when given the ISIC 2019
  inputs, ``train_lesion_fold(external=...)``, or by :func:`predict_split`) —
  ``image_id,target,pred,prob_<class>...``.

Per cell: ``best_fold.json`` (:func:`select_best_fold`, plus what was localised) and
``localisation.csv`` (``image_id,split,iou,overlap,pointing,...,iou_encoder,overlap_encoder,
pointing_encoder``, :func:`localise_best_fold`): Grad-CAM++ of the best fold, target =
predicted class, at its own target layer (E-Layer output, or the encoder's last feature layer
for baselines) and, like for like, at the encoder's last feature layer for every model,
against the HAM10000 ground-truth masks: of **every HAM10000 image** under ``protocol:
thesis`` (as the thesis), of the **test split** under ``leakage_free``. ISIC 2016 has no
ground-truth masks; its models are localised on the same HAM10000 images (as the thesis'
Table 15 does), fed with the HAM10000 symmetry CAMs and masks.

Protocols (``config.protocol``):

- ``leakage_free`` — the split table's folds are grouped by lesion; the training part (every
  other fold) is balanced **inside** the fold; validation = the fold's own images, unaugmented;
  the best fold is chosen on validation accuracy.
- ``thesis`` — the pooled training + validation images are balanced first and the balanced table
  (augmented copies included) is cut into stratified folds, so copies of one image may land on
  both sides; the best fold is chosen on test accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from selcn import classifier
from selcn.checkpoints import load_model_file, save_model_file
from selcn.classifier import PROTOCOLS, SavedClassifier, plain_table
from selcn.config import balance_of, train_params
from selcn.data.tables import class_names_of
from selcn.grid import CAM_OFF, CAM_SOURCES
from selcn.models.lesion import LesionClassifier, cam_target_layer, create_lesion_model
from selcn.selection import FOLD_METRICS

__all__ = [
    "PROTOCOLS", "SYMMETRY_MASKS", "fold_tables", "balanced_table", "fit_lesion",
    "output_stride", "save_lesion_model", "load_lesion_model", "open_model",
    "train_lesion_fold", "predict_split",
    "select_best_fold", "best_fold_criterion", "lesion_cams", "localise_model",
    "localise_best_fold", "LOCALISATION_LAYERS",
]

#: ``symmetry_mask`` values: the symmetry CAMs fed to the E-Layer (``off`` = no E-Layer)
SYMMETRY_MASKS: tuple[str, ...] = CAM_SOURCES
#: the validation metric the best fold is chosen on (``protocol: leakage_free``)
VAL_METRIC = FOLD_METRICS["lesion"]
#: the Grad-CAM++ layers of the localisation (Tables 9, 15): each model's own layer (the
#: thesis), then the encoder's last feature layer of every model (the like-for-like one)
LOCALISATION_LAYERS: tuple[str, ...] = ("own", "encoder")


# ---- tables ---------------------------------------------------------------------------------
def fold_tables(splits: pd.DataFrame, fold: int, *, protocol: str = "leakage_free",
                target_per_class: int | None = 2000, max_copies: int = 3,
                seed: int = 0) -> dict[str, pd.DataFrame]:
    """The ``train``, ``val`` and ``test`` tables of one fold: ``row,transform,target``.

    ``train`` is balanced with :func:`selcn.data.splits.balance` (transform 0 identity,
    1 h-flip, 2 v-flip, 3 rot90; ``target_per_class=None``: not balanced, the original images
    only); ``val``/``test`` are unaugmented (transform 0) except under ``protocol: thesis``
    (see the module docstring). Rows marked ``excluded`` are never used.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
    folds, raw = classifier.fold_parts(splits, fold)

    def balanced(part: pd.DataFrame) -> pd.DataFrame:
        if target_per_class is None:
            return plain_table(part)
        return balanced_table(part, target_per_class, max_copies, seed)

    if protocol == "leakage_free":
        train, val = balanced(raw["train"]), plain_table(raw["val"])
    else:
        from sklearn.model_selection import StratifiedKFold

        pool = balanced(splits[splits["split"].astype(str).str.startswith("fold")])
        cv = StratifiedKFold(n_splits=len(folds), shuffle=True, random_state=seed)
        split_at = list(cv.split(np.zeros(len(pool)), pool["target"]))[folds.index(f"fold{fold}")]
        train, val = pool.iloc[split_at[0]], pool.iloc[split_at[1]]
    parts = {"train": train.reset_index(drop=True), "val": val.reset_index(drop=True),
             "test": plain_table(raw["test"])}
    for part, table in parts.items():
        if table.empty:
            raise ValueError(f"split table: the {part} part of fold{fold} is empty")
    return parts


def balanced_table(part: pd.DataFrame, target_per_class: int, max_copies: int,
                   seed: int) -> pd.DataFrame:
    """The balanced epoch ``row,transform,target`` of a training part (``row,target``):
    :func:`selcn.data.splits.balance` (originals first, then flipped / rotated copies)."""
    from selcn.data.splits import balance

    table = balance(part.reset_index(drop=True), target_per_class, max_copies, seed)
    target_of = dict(zip(part["row"], part["target"]))
    return pd.DataFrame({"row": table["row"].to_numpy(np.int64),
                         "transform": table["transform"].to_numpy(np.int64),
                         "target": table["row"].map(target_of).to_numpy(np.int64)})


def _check_inputs(classifier_mask: str, symmetry_mask: str, masks, cams) -> None:
    """The lesion network's two mask roles: ``classifier_mask`` masks the input,
    ``symmetry_mask`` names the symmetry CAMs of the E-Layer (``off``: none)."""
    if symmetry_mask not in SYMMETRY_MASKS:
        raise ValueError(f"unknown symmetry_mask {symmetry_mask!r} "
                         f"({', '.join(SYMMETRY_MASKS)})")
    classifier.check_inputs(classifier_mask, masks, use_cam=symmetry_mask != CAM_OFF, cams=cams,
                            cam_source=f"symmetry_mask={symmetry_mask!r}")


# ---- the network ----------------------------------------------------------------------------
def output_stride(section: Mapping) -> int:
    """The encoder's output stride of a ``lesion`` config section or a ``model.pt``'s meta
    (``output_stride``; 32, timm's default, when absent: files written before the key)."""
    return int(section.get("output_stride", 32))


def _builder(cfg: Mapping, num_classes: int, use_cam: bool):
    """The network factory of ``lesion.architecture`` at ``lesion.output_stride`` (ImageNet
    weights from the local cache when ``lesion.pretrained``)."""
    from selcn.weights import pretrained_cache

    def build() -> LesionClassifier:
        return create_lesion_model(cfg["lesion"]["architecture"], num_classes, use_cam=use_cam,
                                   pretrained_cache=pretrained_cache(cfg, "lesion"),
                                   output_stride=output_stride(cfg["lesion"]))

    return build


def fit_lesion(images: np.ndarray, train: pd.DataFrame, val: pd.DataFrame, out_dir: str | Path,
               cfg: Mapping, params: Mapping, *, num_classes: int, classifier_mask: str = "none",
               symmetry_mask: str = CAM_OFF, masks: np.ndarray | None = None,
               cams: np.ndarray | None = None, progress: bool = True,
               job_key: Mapping | None = None):
    """Train one lesion model (:func:`selcn.classifier.fit_classifier`).

    Args:
        images: uint8 ``(N, S, S, 3)`` RGB cache; ``train``, ``val``: ``row,transform,target``.
        cfg: validated config (``seed``, ``device``, ``lesion``, ``weights``).
        params: training hyper-parameters (:func:`selcn.config.train_params`).
        num_classes: 7 (HAM10000) or 2 (ISIC 2016).
        masks: uint8 ``(N, S, S)`` predicted lesion masks (``classifier_mask != none``).
        cams: float ``(N, R, R)`` symmetry CAMs in [0, 1] (``symmetry_mask != off``).
        job_key: the resume key (:func:`selcn.classifier.job_key`).
    """
    _check_inputs(classifier_mask, symmetry_mask, masks, cams)
    build = _builder(cfg, num_classes, use_cam=symmetry_mask != CAM_OFF)
    return classifier.fit_classifier(build, images, train, val, out_dir, cfg, params,
                                     num_classes=num_classes,
                                     input_size=cfg["lesion"]["input_size"],
                                     mask=classifier_mask, masks=masks, cams=cams,
                                     progress=progress, job_key=job_key)


def save_lesion_model(model: LesionClassifier, path: str | Path, **meta) -> None:
    """Write ``model.pt``: the state dict and ``meta`` (arch, input_size, masks, classes, ...)."""
    if "class_names" in meta:
        meta["class_names"] = list(meta["class_names"])
    meta.update(num_classes=int(model.num_classes), use_cam=bool(model.use_cam))
    save_model_file(path, model, required=("arch", "input_size", "classifier_mask",
                                           "symmetry_mask", "class_names"), **meta)


def load_lesion_model(path: str | Path,
                      device: str | torch.device = "cpu") -> tuple[LesionClassifier, dict]:
    """Rebuild a model written by :func:`save_lesion_model`: ``(model in eval mode, meta)``."""
    blob = load_model_file(path, what="lesion model",
                           required=("arch", "num_classes", "use_cam", "input_size",
                                     "classifier_mask", "symmetry_mask", "class_names"))
    model = create_lesion_model(blob["arch"], blob["num_classes"], use_cam=blob["use_cam"],
                                output_stride=output_stride(blob))
    model.load_state_dict(blob["state_dict"])
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    meta["output_stride"] = output_stride(blob)
    return model.to(device).eval(), meta


def open_model(path: str | Path, device: str | torch.device = "cpu") -> SavedClassifier:
    """A lesion ``model.pt`` for prediction and Grad-CAM++ (its own target layer: the
    E-Layer output, or the encoder's last feature layer of a baseline; ``layers["encoder"]``:
    the encoder's last feature layer for every model, before the E-Layer)."""
    model, meta = load_lesion_model(path, device)
    return SavedClassifier(model, meta, mask=meta["classifier_mask"],
                           use_cam=bool(meta["use_cam"]), layer=cam_target_layer(model),
                           layers={"encoder": cam_target_layer(model, "encoder")})


# ---- one grid cell x fold -------------------------------------------------------------------
def train_lesion_fold(*, images_npy: str | Path, index_csv: str | Path, splits_csv: str | Path,
                      out_dir: str | Path, cfg: Mapping, classifier_mask: str,
                      symmetry_mask: str, fold: int, masks_npy: str | Path | None = None,
                      cams_npy: str | Path | None = None, hpo_best: str | Path | None = None,
                      dataset: str | None = None, num_classes: int | None = None,
                      external: Mapping[str, str | Path | None] | None = None,
                      external_name: str = "isic2019", progress: bool = True) -> dict:
    """Train fold ``fold`` of a grid cell and write ``model.pt``, ``history.csv``,
    ``predictions_val.csv`` and ``predictions_test.csv`` into ``out_dir``
    (:func:`selcn.classifier.train_fold`).

    ``dataset`` (``ham10000`` | ``isic2016``) names the classes from :mod:`selcn.data.labels`;
    without it they are read from the index.

    With ``external`` (the external test set's ``images_npy``, ``index_csv``, ``splits_csv``
    and, as the cell needs, ``masks_npy`` / ``cams_npy``: its predicted masks and symmetry
    CAMs), the same job then predicts that set's ``test`` split with the saved model
    (:func:`predict_split`) and writes ``predictions_<external_name>.csv`` (HAM10000 models:
    ``predictions_isic2019.csv``), so no separate prediction job reloads the model.

    Returns the fold's summary (plus ``<external_name>_accuracy`` with ``external``).
    """
    use_cam = symmetry_mask != CAM_OFF
    masks_npy = masks_npy if classifier_mask != "none" else None
    cams_npy = cams_npy if use_cam else None
    data = classifier.open_stage_data(index_csv, images_npy, splits_csv, masks_npy=masks_npy,
                                      cams_npy=cams_npy)
    names = class_names_of(data.index, num_classes, source=str(index_csv), dataset=dataset)
    _check_inputs(classifier_mask, symmetry_mask, data.masks, data.cams)
    bal = balance_of(cfg, dataset)
    parts = fold_tables(data.splits, fold, protocol=cfg["protocol"],
                        target_per_class=bal["target_per_class"] if bal else None,
                        max_copies=bal["max_copies"] if bal else 0,
                        seed=cfg["seed"])   # one seed: thesis folds cut one balanced pool
    params = train_params(cfg, "lesion", hpo_best)
    les = cfg["lesion"]
    key = classifier.job_key(
        cfg, "lesion", params=params, balance=bal,
        wildcards={"dataset": dataset, "classifier_mask": classifier_mask,
                   "symmetry_mask": symmetry_mask, "fold": int(fold)},
        inputs=[images_npy, index_csv, splits_csv, masks_npy, cams_npy, hpo_best])

    def save(model: LesionClassifier, path: Path, best_epoch: int) -> None:
        save_lesion_model(model, path, arch=les["architecture"], input_size=les["input_size"],
                          output_stride=output_stride(les), classifier_mask=classifier_mask,
                          symmetry_mask=symmetry_mask, class_names=names, fold=int(fold),
                          best_epoch=best_epoch)

    tag = f"[lesion] {classifier_mask}-{symmetry_mask} fold{fold}"
    if external is not None:
        external = _external_inputs(external, classifier_mask, use_cam)
    summary = classifier.train_fold(
        stage="lesion", build_model=_builder(cfg, len(names), use_cam), data=data, parts=parts,
        out_dir=out_dir, cfg=cfg, params=params, class_names=names,
        input_size=les["input_size"], save_model=save, key=key, mask=classifier_mask,
        use_cam=use_cam, progress=progress, tag=tag)
    if external is not None:
        out_csv = Path(out_dir) / f"predictions_{external_name}.csv"
        table = predict_split(Path(out_dir) / "model.pt", out_csv=out_csv, split="test",
                              batch_size=params["batch_size"],
                              num_workers=params.get("num_workers", 0), device=cfg["device"],
                              **external)
        summary[f"{external_name}_accuracy"] = float((table["pred"] == table["target"]).mean())
        print(f"{tag}: {external_name} {len(table)} images, accuracy "
              f"{summary[f'{external_name}_accuracy']:.4f} -> {out_csv}", flush=True)
    return summary


def _external_inputs(external: Mapping, classifier_mask: str, use_cam: bool) -> dict:
    """The external set's inputs a cell's model needs (masks only for a masked input, CAMs
    only with an E-Layer), checked before the training starts."""
    unknown = sorted(set(external) - {"images_npy", "index_csv", "splits_csv", "masks_npy",
                                      "cams_npy"})
    if unknown:
        raise ValueError(f"external: unknown input(s) {unknown}")
    missing = [k for k in ("images_npy", "index_csv", "splits_csv") if not external.get(k)]
    if classifier_mask != "none" and not external.get("masks_npy"):
        missing.append("masks_npy")
    if use_cam and not external.get("cams_npy"):
        missing.append("cams_npy")
    if missing:
        raise ValueError(f"external: missing input(s) {missing}")
    return {"images_npy": external["images_npy"], "index_csv": external["index_csv"],
            "splits_csv": external["splits_csv"],
            "masks_npy": external.get("masks_npy") if classifier_mask != "none" else None,
            "cams_npy": external.get("cams_npy") if use_cam else None}


def predict_split(model_pt: str | Path, **inputs) -> pd.DataFrame:
    """Predict the ``split`` rows of another dataset (ISIC 2019) with a saved lesion model;
    the keyword arguments of :func:`selcn.classifier.predict_split`.

    The dataset's targets must use the model's classes (ISIC 2019 uses the HAM10000 order);
    its labels are checked against the model's class names.
    """
    return classifier.predict_split(open_model, model_pt, **inputs)


# ---- best fold, Grad-CAM++ and localisation -------------------------------------------------
def best_fold_criterion(protocol: str) -> classifier.FoldCriterion:
    """``(split, metric, criterion)``: validation accuracy, or test accuracy under ``thesis``."""
    return classifier.best_fold_criterion(protocol, VAL_METRIC)


def select_best_fold(prediction_csvs: Mapping[int, str | Path], *,
                     protocol: str = "leakage_free") -> dict:
    """``best_fold.json`` of a cell (:func:`selcn.classifier.select_best_fold` on
    :func:`best_fold_criterion`)."""
    return classifier.select_best_fold(prediction_csvs, best_fold_criterion(protocol))


def lesion_cams(model: LesionClassifier, images: np.ndarray, rows: np.ndarray, *,
                input_size: int, classifier_mask: str = "none", masks: np.ndarray | None = None,
                cams: np.ndarray | None = None, out_size: int | None = None,
                batch_size: int = 16,
                device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM++ of the lesion network for ``images[rows]`` (target: the predicted class) on
    :func:`selcn.models.lesion.cam_target_layer`, the symmetry CAM passed as the model's
    second input (:func:`selcn.classifier.grad_cams`).

    Returns:
        ``(cams float32 (n, out, out) in [0, 1], predicted classes int64 (n,))``.
    """
    return classifier.grad_cams(model, images, rows, layer=cam_target_layer(model),
                                input_size=input_size, mask=classifier_mask, masks=masks,
                                cams=cams, out_size=out_size, batch_size=batch_size,
                                device=device)


def localise_model(model_pt: str | Path, **inputs) -> pd.DataFrame:
    """Table 9 / 15 rows of one model: ``image_id,split,iou,overlap,pointing,...`` per image
    at its own layer and, with ``layers=LOCALISATION_LAYERS``, ``iou_encoder,...`` at the
    encoder's last feature layer.

    ``inputs`` are the HAM10000 cache (the dataset with ground-truth masks), its masks and
    symmetry CAMs and the config's ``cams`` block: the keyword arguments of
    :func:`selcn.classifier.localise_model`.
    """
    return classifier.localise_model(open_model, model_pt, **inputs)


def localise_best_fold(model_pts: Mapping[int, str | Path],
                       prediction_csvs: Mapping[int, str | Path], *, protocol: str,
                       out_csv: str | Path, best_json: str | Path, **inputs) -> dict:
    """Pick a cell's best fold, write ``best_fold.json`` and its ``localisation.csv``.

    The images are :func:`selcn.classifier.localisation_split` of ``protocol`` (every
    HAM10000 image under ``thesis``, the test split under ``leakage_free``) unless ``split``
    is given; the CAMs are scored at :data:`LOCALISATION_LAYERS` (own layer, then the encoder's
    last feature layer: columns ``<metric>_encoder``) unless ``layers`` is given.

    Args:
        model_pts: fold -> ``model.pt``.
        prediction_csvs: fold -> prediction file of the selection split
            (:func:`best_fold_criterion`).
        inputs: the keyword arguments of :func:`localise_model` (HAM10000 cache, masks, CAMs).

    Returns:
        the content of ``best_fold.json``.
    """
    inputs.setdefault("split", classifier.localisation_split(protocol))
    inputs.setdefault("layers", LOCALISATION_LAYERS)
    return classifier.localise_best_fold(open_model, model_pts, prediction_csvs,
                                         criterion=best_fold_criterion(protocol),
                                         out_csv=out_csv, best_json=best_json, tag="[lesion]",
                                         **inputs)
