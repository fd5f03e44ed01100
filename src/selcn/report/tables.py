"""The thesis' tables, recomputed from the per-model files of the stages (``docs/contracts.md``).

Every table is a :class:`pandas.DataFrame` with the *key* columns of its rows (``model``,
``classifier_mask``, ``symmetry_mask`` / ``variant`` / ``arch`` ...) followed, per metric, by
``<metric>_mean`` and ``<metric>_std`` (mean and standard deviation over the cross-validation
folds, or over images for the localisation tables). Table 5 has one value per metric.
Rows come in the thesis' order (model numbers 1-12, :attr:`selcn.grid.Model.number`).

Every standard deviation is the population one, ``np.std`` (``ddof = 0``), as the thesis'
code prints it (``np.std`` over the folds in ``train_classifier_final_cv.py``,
``np.nanstd`` over the images in ``evaluate_cam.py``).

Tables 8b, 10 and 14 (one test set for every fold) also hold, beyond the thesis, the **fold
ensemble** of each model (:func:`selcn.ensemble.fold_ensemble`: mean class probability over
its K fold models, arg-max -> one prediction per image): a key column ``estimate`` tells the
rows apart (``folds`` = mean ± std over folds, as the thesis; ``ensemble`` = the metrics of
the ensemble's predictions, no std). The ensemble rows follow the 12 fold rows.

The row keys are read from the contract paths themselves
(:func:`selcn.paths.parse_result_path`), e.g.
``results/lesion/ham10000/seg-lae/fold2/predictions_test.csv`` -> model 8, fold 2, so a
Snakemake script passes its input list unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.grid import (
    CAM_LABELS,
    CAM_SOURCES,
    DATASET_LABELS,
    MASK_LABELS,
    MASKS,
    MULTITASK,
    SEGMENTER_LABELS,
    SPLIT_LABELS,
    SYMMETRY_MODEL_NUMBERS,
    SymmetryVariant,
)
from selcn.paths import parse_result_path
from selcn.predictions import class_names, probabilities, read_predictions
from selcn.selection import SEGMENTATION_METRICS  # Table 5's columns: metrics_test.csv

__all__ = [
    "TableSpec", "METRIC_LABELS", "LESION_METRICS", "SYMMETRY_METRICS",
    "LOCALISATION_METRICS", "SEGMENTATION_METRICS", "SYMMETRY_MODEL_NUMBERS",
    "parse_result_path", "fold_metrics", "summarise",
    "segmentation_table", "lesion_table", "symmetry_table", "symmetry_row_number",
    "architecture_table",
    "localisation_table", "per_class_table", "ensemble_table",
    "per_class_name", "per_class_spec", "per_class_of", "PER_CLASS_DATASETS",
    "LOCALISATION_EXTRA", "LOCALISATION_ENCODER",
    "LOCALISATION_BASELINES",
    "ESTIMATE_FOLDS",
    "ESTIMATE_ENSEMBLE", "LESION_SHOWN", "RECALL_IS_BALANCED", "COST_METRICS",
    "multitask_cost_table",
]

#: metrics of Tables 8, 10, 13, 14 (macro averages) as computed (the CSV columns): the thesis'
#: five, the balanced multiclass accuracy (ISIC 2018 / 2019's ranking metric; it equals the
#: macro recall, so the HTML shows it once, as the "Recall" column: :data:`LESION_SHOWN`),
#: and, beyond the thesis, the one-vs-rest AUROC (macro) and the expected calibration error
#: (:func:`selcn.metrics.probability_metrics`)
LESION_METRICS: tuple[str, ...] = ("accuracy", "kappa", "precision", "recall", "f1",
                                   "balanced_accuracy", "auroc", "ece")
#: the columns Tables 8, 10, 13, 14 show (the balanced accuracy is the Recall column; the
#: average precision of the positive class only in a binary task's tables, ISIC 2016's)
LESION_SHOWN: tuple[str, ...] = ("accuracy", "kappa", "precision", "recall", "f1", "auroc",
                                 "average_precision", "ece")
#: metrics of a binary task only (added to the lesion tables where the files have them)
_BINARY_ONLY: tuple[str, ...] = ("average_precision",)
#: the header of the Recall column of the lesion tables (macro recall = balanced accuracy)
RECALL_IS_BALANCED = {"recall": "Recall = balanced multiclass accuracy"}
#: metrics of Table 6 (weighted averages)
SYMMETRY_METRICS: tuple[str, ...] = ("balanced_accuracy", "kappa", "precision", "recall", "f1")
#: Tables 7, 9, 15: per-image CAM localisation, mean +- std over the images of the best fold
#: (``pointing`` on the undilated mask, as the thesis; IoU and overlap on the dilated one)
LOCALISATION_METRICS: tuple[str, ...] = ("iou", "overlap", "pointing")
#: optional extra column of the localisation files (``cams.pointing_dilated``), not in the thesis
LOCALISATION_EXTRA: tuple[str, ...] = ("pointing_dilated",)
#: Tables 9, 15: the same metrics of every lesion model's Grad-CAM++ at the encoder's last
#: feature layer (before the E-Layer; the like-for-like comparison, not in the thesis), the
#: ``<metric>_encoder`` columns of the lesion localisation files (optional)
LOCALISATION_ENCODER: tuple[str, ...] = tuple(f"{m}_encoder" for m in
                                              LOCALISATION_METRICS + LOCALISATION_EXTRA)
#: the images' own baselines (``selcn.cams.localisation_baselines``, not in the thesis): the
#: chance level of the pointing game (share of the image the undilated / dilated mask covers)
#: and the score of a CAM that always points at the image centre
LOCALISATION_BASELINES: tuple[str, ...] = ("gt_fraction_undilated", "gt_fraction", "centre_in_gt")
#: every optional localisation column, shown when all files of a table have it
_LOCALISATION_OPTIONAL = LOCALISATION_EXTRA + LOCALISATION_ENCODER + LOCALISATION_BASELINES
#: values of the ``estimate`` key of Tables 8b, 10, 14
ESTIMATE_FOLDS, ESTIMATE_ENSEMBLE = "folds", "ensemble"
PER_CLASS_METRICS: tuple[str, ...] = ("precision", "recall", "f1", "auroc")

METRIC_LABELS: dict[str, str] = {
    "accuracy": "Accuracy", "balanced_accuracy": "Balanced acc.", "kappa": "Kappa",
    "precision": "Precision", "recall": "Recall", "f1": "F1", "iou": "IoU",
    "overlap": "Overlap", "pointing": "Pointing game",
    "pointing_dilated": "Pointing game, dilated mask", "iou_encoder": "IoU, encoder layer",
    "overlap_encoder": "Overlap, encoder layer", "pointing_encoder": "Pointing game, encoder layer",
    "pointing_dilated_encoder": "Pointing game, dilated mask, encoder layer",
    "gt_fraction_undilated": "Chance (pointing game)", "gt_fraction": "Chance (dilated mask)",
    "centre_in_gt": "Centre point", "dice": "Dice index",
    "jaccard": "Jaccard", "sensitivity": "Pixel sensitivity",
    "specificity": "Pixel specificity", "support": "Support",
    "auroc": "AUROC (one-vs-rest, macro)", "ece": "ECE (15 bins)",
    "average_precision": "Average precision (malignant)",
}

@dataclass(frozen=True)
class TableSpec:
    """What a table holds: its file name, title, row keys and metric columns."""

    name: str
    title: str
    keys: tuple[str, ...]
    metrics: tuple[str, ...]
    #: ``mean_std`` (``<m>_mean``/``<m>_std`` columns) or ``value`` (one ``<m>`` column)
    kind: str = "mean_std"
    #: rows are grouped (best value in bold per group) by this key, if any
    group: str | None = None
    #: the thesis publishes this table (a ``config/reference/<name>.csv`` exists)
    has_reference: bool = True
    #: column headers of this table that differ from :data:`METRIC_LABELS` (metric -> header)
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, metric: str) -> str:
        """The header of ``metric``'s column in this table."""
        return self.labels.get(metric, METRIC_LABELS.get(metric, metric))


_LESION_KEYS = ("model", "classifier_mask", "symmetry_mask")
#: keys of the tables with fold-ensemble rows (8b, 10, 14)
_ENSEMBLE_KEYS = _LESION_KEYS + ("estimate",)
_SD = "mean ± std over folds (np.std, ddof = 0)"
# The spec of every thesis table lives in the report registry
# (selcn.report.registry.TABLE_REGISTRY, TABLES), next to its files, builder and report labels.

#: the thesis' Tables 11 and 12 are (by their captions) the per-class tables of models 1 and 3
PER_CLASS_TABLE_NUMBERS: dict[int, int] = {1: 11, 3: 12}
#: the lesion datasets with per-class tables (the multi-class ones: HAM10000, the thesis'
#: Tables 11 / 12, and PH²'s 3 clinical classes); the first is the thesis', unsuffixed
PER_CLASS_DATASETS: tuple[str, ...] = ("ham10000", "ph2")
_PER_CLASS = re.compile(r"(?:table\d+_)?per_class_model(?P<number>\d+)(?:_(?P<dataset>\w+))?")


def per_class_name(number: int, dataset: str = PER_CLASS_DATASETS[0]) -> str:
    """File name of the per-class table of model ``number`` on ``dataset``:
    ``table11_per_class_model1``, ``table12_per_class_model3`` (the thesis' Tables 11 / 12),
    else ``per_class_model<n>``; on another dataset than HAM10000 suffixed ``_<dataset>``
    (``table11_per_class_model1_ph2``). ``config/reference/<name>.csv`` holds the thesis' values
    of Tables 11 and 12 (HAM10000 only)."""
    table = PER_CLASS_TABLE_NUMBERS.get(number)
    name = f"table{table}_per_class_model{number}" if table else f"per_class_model{number}"
    return name if dataset == PER_CLASS_DATASETS[0] else f"{name}_{dataset}"


def per_class_of(name: str) -> tuple[int, str]:
    """``(model number, lesion dataset)`` of a per-class table name
    (``table11_per_class_model1_ph2`` -> ``(1, "ph2")``); ValueError for another name or
    dataset."""
    match = _PER_CLASS.fullmatch(str(name))
    dataset = (match.group("dataset") or PER_CLASS_DATASETS[0]) if match else None
    if match is None or dataset not in PER_CLASS_DATASETS:
        raise ValueError(f"not a per-class table name: {name!r} (per_class_model<N>[_<dataset>],"
                         f" dataset one of {', '.join(PER_CLASS_DATASETS[1:])})")
    return int(match.group("number")), dataset


def per_class_spec(number: int, name: str | None = None) -> TableSpec:
    """Spec of the per-class table (test split) of lesion model ``number``, on the dataset its
    ``name`` says (:func:`per_class_of`; default HAM10000's table)."""
    name = name or per_class_name(number)
    dataset = per_class_of(name)[1]
    table = PER_CLASS_TABLE_NUMBERS.get(number)
    prefix = f"Table {table} — " if table else ""
    return TableSpec(
        name,
        f"{prefix}Per-class metrics of model {number} on the {DATASET_LABELS[dataset]} test "
        f"split, {_SD}",
        ("class",), PER_CLASS_METRICS + ("support",),
        has_reference=table is not None and dataset == PER_CLASS_DATASETS[0],
        labels={"auroc": "AUROC (one-vs-rest)"})


# ---- reading -----------------------------------------------------------------------------
# Prediction files are read (and checked, errors naming file and field) by selcn.predictions.


# ---- aggregation -------------------------------------------------------------------------
def fold_metrics(paths: Iterable[str | Path], *, average: str = "macro") -> pd.DataFrame:
    """One row per prediction file: its path wildcards,
    :func:`selcn.metrics.classification_metrics` of ``target`` vs ``pred`` and
    :func:`selcn.metrics.probability_metrics` of ``target`` vs the ``prob_<class>`` columns
    (``auroc``, ``auroc_<class>``, ``ece``; ``average_precision`` for two classes)."""
    from selcn.metrics import classification_metrics, probability_metrics

    rows = []
    for path in paths:
        keys = parse_result_path(path)
        df = read_predictions(path)
        if df.empty:
            raise ValueError(f"{path}: prediction file has no rows")
        metrics = classification_metrics(df["target"].to_numpy(), df["pred"].to_numpy(),
                                         average=average)
        metrics.update(probability_metrics(df["target"].to_numpy(), probabilities(df),
                                           class_names(df)))
        rows.append({**keys, "n_images": len(df), **metrics})
    if not rows:
        raise ValueError("fold_metrics: no prediction files given")
    return pd.DataFrame(rows)


def summarise(per_fold: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str], *,
              ddof: int = 0, count: str = "n_folds") -> pd.DataFrame:
    """Mean and standard deviation (``ddof``; 0 = ``np.std``, the thesis' convention) of
    ``metrics`` per group of ``keys``, as ``<metric>_mean`` / ``<metric>_std`` columns, plus
    the group size in ``count``. A group of one value has no spread: its std is empty (NaN),
    not 0. Groups keep their first appearance's order."""
    missing = [m for m in list(keys) + list(metrics) if m not in per_fold.columns]
    if missing:
        raise ValueError(f"summarise: missing columns {missing}")
    grouped = per_fold.groupby(list(keys), sort=False, dropna=False)
    out = grouped.size().rename(count).reset_index()
    for m in metrics:
        stats = grouped[m].agg(["mean", lambda s: s.std(ddof=ddof) if len(s) > max(ddof, 1)
                                else np.nan])
        stats.columns = [f"{m}_mean", f"{m}_std"]
        out = out.merge(stats.reset_index(), on=list(keys), how="left")
    return out


def _lesion_order(table: pd.DataFrame) -> pd.DataFrame:
    table = table.sort_values("model", kind="stable").reset_index(drop=True)
    table["model"] = table["model"].astype(int)
    return table


def _check_single(per: pd.DataFrame, key: str, what: str) -> None:
    values = per[key].dropna().unique() if key in per.columns else []
    if len(values) > 1:
        raise ValueError(f"{what}: files mix several {key}s: {sorted(map(str, values))}")


def lesion_table(paths: Iterable[str | Path], *, metrics: Sequence[str] = LESION_METRICS,
                 ddof: int = 0, ensemble: bool = False) -> pd.DataFrame:
    """Tables 8, 10, 13, 14: one row per lesion model (thesis order), macro averages,
    mean ± std over folds, from ``results/lesion/{dataset}/{cm}-{sm}/fold{k}/predictions_*.csv``;
    ``metrics`` (default :data:`LESION_METRICS`) and, for a binary task, the average precision.

    With ``ensemble`` (a test set shared by the folds: Tables 8b, 10, 14) a key column
    ``estimate`` is added (``folds`` for these rows) and one more row per model follows the
    fold rows: the metrics of its fold ensemble (``estimate = ensemble``, ``<m>_mean`` = the
    ensemble's value, ``<m>_std`` empty, ``n_folds`` = the ensemble's members)."""
    paths = list(paths)
    per = fold_metrics(paths, average="macro")
    if (per["stage"] != "lesion").any():
        raise ValueError("lesion_table: every file must be a lesion prediction file")
    _check_single(per, "split", "lesion_table")
    _check_single(per, "dataset", "lesion_table")
    metrics = tuple(metrics) + tuple(m for m in _BINARY_ONLY
                                     if m in per.columns and m not in metrics)
    table = _lesion_order(summarise(per, _LESION_KEYS, metrics, ddof=ddof))
    if not ensemble:
        return table
    table.insert(len(_LESION_KEYS), "estimate", ESTIMATE_FOLDS)
    return pd.concat([table, ensemble_table(paths, metrics)], ignore_index=True)


def ensemble_table(paths: Iterable[str | Path], metrics: Sequence[str] = LESION_METRICS,
                   *, average: str = "macro") -> pd.DataFrame:
    """One row per lesion model: ``model, classifier_mask, symmetry_mask, estimate
    (= "ensemble"), n_folds`` and ``<m>_mean`` (the metric of the fold ensemble's predictions,
    :func:`selcn.ensemble.ensembles_by_model`), ``<m>_std`` (empty), thesis order."""
    from selcn.ensemble import ensembles_by_model
    from selcn.metrics import classification_metrics, probability_metrics

    paths = list(paths)
    members: dict[int, int] = {}
    keys: dict[int, dict] = {}
    for path in paths:
        k = parse_result_path(path)
        members[k["model"]] = members.get(k["model"], 0) + 1
        keys[k["model"]] = k
    rows = []
    for number, frame in ensembles_by_model(paths).items():
        values = classification_metrics(frame["target"].to_numpy(), frame["pred"].to_numpy(),
                                        average=average)
        values.update(probability_metrics(frame["target"].to_numpy(), probabilities(frame),
                                          class_names(frame)))
        row = {"model": int(number), "classifier_mask": keys[number]["classifier_mask"],
               "symmetry_mask": keys[number]["symmetry_mask"], "n_folds": members[number],
               "estimate": ESTIMATE_ENSEMBLE}
        for m in metrics:
            row[f"{m}_mean"], row[f"{m}_std"] = float(values[m]), np.nan
        rows.append(row)
    columns = list(_ENSEMBLE_KEYS) + ["n_folds"] + [f"{m}_{s}" for m in metrics
                                                     for s in ("mean", "std")]
    return pd.DataFrame(rows, columns=columns)


def _symmetry_order(table: pd.DataFrame) -> pd.DataFrame:
    variants = [None if v == MULTITASK.name else SymmetryVariant.parse(v)
                for v in table["variant"]]            # model 13 (one network): last
    table = table.assign(
        _n=table["model"].fillna(99).astype(int),
        _m=[len(MASKS) if v is None else MASKS.index(v.mask) for v in variants],
        _p=[True if v is None else v.pretrained for v in variants])
    table = table.sort_values(["_n", "_p", "_m"], kind="stable").drop(columns=["_n", "_m", "_p"])
    table["model"] = table["model"].astype("Int64")
    return table.reset_index(drop=True)


def symmetry_row_number(variant: str) -> int:
    """The ``model`` number of a Table 6 / 7 row: the thesis' row of ``variant``
    (:data:`SYMMETRY_MODEL_NUMBERS`: 1 from scratch, 2-4 ImageNet-pretrained without / with
    segmentation / with LAE masks), or, for a variant the thesis did not train (from scratch
    with a mask: the grid's CAM models when ``symmetry.pretrained`` is false, e.g. the demo),
    the number of the row it stands in for, the pretrained row of the same mask (3 or 4). Its
    ``variant`` column still says "from scratch"; no thesis value is joined to it (the
    reference is matched on ``variant``). Model 13's symmetry head (``variant`` ``multitask``,
    one network) is row 13."""
    if variant == MULTITASK.name:
        return MULTITASK.number
    if variant in SYMMETRY_MODEL_NUMBERS:
        return SYMMETRY_MODEL_NUMBERS[variant]
    v = SymmetryVariant.parse(variant)
    return SYMMETRY_MODEL_NUMBERS[str(SymmetryVariant(True, v.mask))]


def symmetry_table(paths: Iterable[str | Path], *, metrics: Sequence[str] = SYMMETRY_METRICS,
                   ddof: int = 0) -> pd.DataFrame:
    """Table 6a/6b: one row per symmetry variant, weighted averages, mean ± std over folds,
    from ``results/symmetry/{variant}/fold{k}/predictions_{split}.csv``. ``model`` is the
    thesis' row number (:func:`symmetry_row_number`: a variant the thesis did not train, e.g.
    ``scratch-seg``, takes the number of the row it stands in for)."""
    per = fold_metrics(paths, average="weighted")
    if (per["stage"] != "symmetry").any():
        raise ValueError("symmetry_table: every file must be a symmetry prediction file")
    _check_single(per, "split", "symmetry_table")
    per["model"] = per["variant"].map(symmetry_row_number)
    return _symmetry_order(summarise(per, ("model", "variant"), metrics, ddof=ddof))


def architecture_table(paths: Iterable[str | Path], *,
                       arch_variants: Mapping[str, str] | None = None,
                       metrics: Sequence[str] = SYMMETRY_METRICS,
                       ddof: int = 0) -> pd.DataFrame:
    """The symmetry architecture comparison: one row per architecture and split
    (``val`` first), weighted averages, mean ± std over folds, from
    ``results/symmetry_arch/{arch}/fold{k}/predictions_{split}.csv`` and, for an architecture a
    Table 6 variant already trains (``arch_variants``: arch -> variant, as
    :attr:`selcn.grid.Grid.symmetry_arch_variants`, e.g. ``{"squeezenet1_0": "scratch-none"}``),
    ``results/symmetry/{variant}/fold{k}/predictions_{split}.csv``."""
    variant_archs = {v: a for a, v in (arch_variants or {}).items()}
    paths = list(paths)
    for path in paths:
        keys = parse_result_path(path)
        if keys["stage"] != "symmetry_arch" and keys.get("variant") not in variant_archs:
            raise ValueError(f"architecture_table: {path} is neither under "
                             "results/symmetry_arch/ nor a variant of arch_variants "
                             f"{dict(arch_variants or {})}")
    per = fold_metrics(paths, average="weighted")
    if "variant" in per:
        own = per["variant"].isin(list(variant_archs))
        per.loc[own, "arch"] = per.loc[own, "variant"].map(variant_archs)
    per = per.sort_values("split", key=lambda s: s.map({"val": 0, "test": 1}), kind="stable")
    return summarise(per, ("arch", "split"), metrics, ddof=ddof).reset_index(drop=True)


def _read_localisation(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    df = pd.read_csv(path, dtype={"image_id": str})
    for col in ("image_id",) + LOCALISATION_METRICS:
        if col not in df.columns:
            raise ValueError(f"{path}: missing column '{col}' (have: {', '.join(df.columns)})")
    for col in LOCALISATION_METRICS + tuple(c for c in _LOCALISATION_OPTIONAL if c in df.columns):
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            raise ValueError(f"{path}: column '{col}' must be numeric "
                             f"(found {df.loc[values.isna(), col].iloc[0]!r})")
        df[col] = values.astype(float)
    return df


def localisation_table(paths: Iterable[str | Path], *, ddof: int = 0) -> pd.DataFrame:
    """Tables 7, 9, 15: mean ± std over images of IoU, overlap and pointing game (the rate),
    one row per model, from the per-image ``localisation*.csv`` of each model's best fold;
    also of ``pointing_dilated`` and of the encoder-layer columns ``<metric>_encoder`` (lesion
    models) when every file has that column."""
    frames = []
    for path in paths:
        keys = parse_result_path(path)
        df = _read_localisation(path)
        if df.empty:
            raise ValueError(f"{path}: localisation file has no rows")
        for k in ("model", "variant", "classifier_mask", "symmetry_mask"):
            if k in keys:
                df[k] = keys[k]
        df["stage"] = keys["stage"]
        frames.append(df)
    if not frames:
        raise ValueError("localisation_table: no localisation files given")
    per = pd.concat(frames, ignore_index=True)
    stages = per["stage"].unique()
    if len(stages) != 1 or stages[0] not in ("lesion", "symmetry"):
        raise ValueError(f"localisation_table: expected files of one stage, got {list(stages)}")
    metrics = LOCALISATION_METRICS + tuple(
        c for c in _LOCALISATION_OPTIONAL if all(c in f.columns for f in frames))
    if stages[0] == "lesion":
        return _lesion_order(summarise(per, _LESION_KEYS, metrics, ddof=ddof,
                                       count="n_images"))
    per["model"] = per["variant"].map(symmetry_row_number)
    return _symmetry_order(summarise(per, ("model", "variant"), metrics,
                                     ddof=ddof, count="n_images"))


def segmentation_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Table 5: from the one-row ``metrics_test.csv`` of each segmentation architecture, one
    row per architecture and split: ``val`` (its ``val_<metric>`` columns, the validation
    part of the HAM10000 training lesions; only when the files have them) first, then
    ``test`` (its ``<metric>`` columns)."""
    frames = {"val": [], "test": []}
    for path in paths:
        df = pd.read_csv(path)
        for col in ("arch",) + SEGMENTATION_METRICS:
            if col not in df.columns:
                raise ValueError(f"{path}: missing column '{col}' "
                                 f"(have: {', '.join(df.columns)})")
        if len(df) != 1:
            raise ValueError(f"{path}: expected one row, found {len(df)}")
        frames["test"].append(df[["arch", *SEGMENTATION_METRICS]].assign(part="test"))
        val = [f"val_{m}" for m in SEGMENTATION_METRICS]
        if any(c in df.columns for c in val):
            missing = [c for c in val if c not in df.columns]
            if missing:
                raise ValueError(f"{path}: missing column '{missing[0]}' "
                                 f"(have: {', '.join(df.columns)})")
            part = df[["arch", *val]].rename(columns=dict(zip(val, SEGMENTATION_METRICS)))
            frames["val"].append(part.assign(part="val"))
    if not frames["test"]:
        raise ValueError("segmentation_table: no metrics files given")
    table = pd.concat(frames["val"] + frames["test"], ignore_index=True)
    return table[["arch", "part", *SEGMENTATION_METRICS]]


def per_class_table(paths: Iterable[str | Path], *, ddof: int = 0) -> pd.DataFrame:
    """Tables 11/12: per-class precision / recall / F1 and, beyond the thesis, one-vs-rest
    AUROC (:func:`selcn.metrics.probability_metrics`; mean ± std over folds) and support of
    one model, from its fold prediction files; classes in label order."""
    from selcn.metrics import per_class_report, probability_metrics

    frames = []
    models = set()
    for path in paths:
        keys = parse_result_path(path)
        models.add(keys.get("model"))
        df = read_predictions(path)
        names = class_names(df)
        if not names:
            raise ValueError(f"{path}: no prob_<class> columns to name the classes")
        report = per_class_report(df["target"].to_numpy(), df["pred"].to_numpy(), names)
        report = report.reset_index() if "class" not in report.columns else report
        if "class" not in report.columns:
            report = report.rename(columns={report.columns[0]: "class"})
        report = report[report["class"].isin(names)].copy()
        auroc = probability_metrics(df["target"].to_numpy(), probabilities(df), names)
        report["auroc"] = [auroc[f"auroc_{c}"] for c in report["class"]]
        report["fold"] = keys.get("fold")
        frames.append(report)
    if not frames:
        raise ValueError("per_class_table: no prediction files given")
    if len(models) > 1:
        raise ValueError(f"per_class_table: files of several models {sorted(models)}")
    per = pd.concat(frames, ignore_index=True)
    out = summarise(per, ("class",), PER_CLASS_METRICS, ddof=ddof)
    support = per.groupby("class", sort=False)["support"].mean().round().astype(int)
    return out.merge(support.rename("support").reset_index(), on="class")


def display_labels() -> Mapping[str, Mapping[str, str]]:
    """Readable values of the key columns (for the HTML tables)."""
    return {
        "classifier_mask": {m: MASK_LABELS[m] for m in MASKS},
        "symmetry_mask": {m: CAM_LABELS[m] for m in (*CAM_SOURCES, MULTITASK.cam_source)},
        "split": dict(SPLIT_LABELS),
        "part": {"val": "validation (one training fold)", "test": "test split"},
        "estimate": {ESTIMATE_FOLDS: "mean ± std over folds",
                     ESTIMATE_ENSEMBLE: "fold ensemble (beyond the thesis)"},
        "segmenter": dict(SEGMENTER_LABELS),
    }


#: the cost table's columns (:func:`multitask_cost_table`)
COST_METRICS: tuple[str, ...] = ("parameters_m", "gmacs_per_image", "training_gpu_hours",
                                 "images_per_s", "speedup")
METRIC_LABELS.update({
    "parameters_m": "Parameters (millions)", "gmacs_per_image": "GMACs per image",
    "training_gpu_hours": "Training GPU-hours (plan)", "images_per_s": "Images/s (CPU)",
    "speedup": "Images/s vs the cascade"})


def multitask_cost_table(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The cost of the cascade and of model 13 from the one ``cost.csv`` of
    :func:`selcn.multitask.cost_table` (rows ``cascade``, ``lesion network`` — the cascade's
    last network alone, where measured —, ``model 13``, ``ratio``): one row per system,
    ``system, input_size, batch_size, threads`` and :data:`COST_METRICS` (parameters in
    millions, multiply-accumulates per image in G, the plan's training GPU-hours, CPU images/s,
    and images/s relative to the cascade's)."""
    paths = list(paths)
    if len(paths) != 1:
        raise ValueError(f"multitask_cost_table: expected one cost.csv, got {len(paths)}")
    df = pd.read_csv(paths[0])
    need = ("system", "parameters", "macs_per_image", "training_gpu_hours", "images_per_s",
            "input_size", "batch_size", "threads")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{paths[0]}: missing column '{missing[0]}' "
                         f"(have: {', '.join(df.columns)})")
    rows = df[df["system"].isin(["cascade", "lesion network", "model 13"])].reset_index(drop=True)
    if list(rows["system"]).count("cascade") != 1 or list(rows["system"]).count("model 13") != 1:
        raise ValueError(f"{paths[0]}: needs one row of system 'cascade' and one of 'model 13'")
    cascade = float(rows.loc[rows["system"] == "cascade", "images_per_s"].iloc[0])
    return pd.DataFrame({
        "system": rows["system"], "input_size": rows["input_size"],
        "batch_size": rows["batch_size"], "threads": rows["threads"],
        "parameters_m": rows["parameters"] / 1e6, "gmacs_per_image": rows["macs_per_image"] / 1e9,
        "training_gpu_hours": pd.to_numeric(rows["training_gpu_hours"], errors="coerce"),
        "images_per_s": rows["images_per_s"], "speedup": rows["images_per_s"] / cascade})
