"""Report figures: heat-maps of the 3 x 4 model grid and the training curves (thesis Fig. 11-13)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from selcn.atomic import save_figure
from selcn.grid import CAM_SOURCES, MASK_LABELS, MASKS, Model
from selcn.report.tables import (
    METRIC_LABELS,
    fold_metrics,
    localisation_table,
    parse_result_path,
    summarise,
)

__all__ = ["grid_cells", "grid_heatmap", "heatmap_from_files", "read_history",
           "training_curves", "HEATMAP_METRICS"]

#: panels of the heat-map: metric -> where it comes from
HEATMAP_METRICS: tuple[str, ...] = ("accuracy", "f1", "iou")
_PANEL_TITLES = {"accuracy": "Accuracy (test)", "f1": "Macro F1 (test)",
                 "iou": "CAM IoU (best fold)"}



def grid_cells(prediction_paths: Iterable[str | Path],
               localisation_paths: Iterable[str | Path] = ()) -> pd.DataFrame:
    """Long table ``classifier_mask, symmetry_mask, metric, mean, std`` of the model grid:
    accuracy and macro F1 over folds from the prediction files, CAM IoU over the images of
    each model's ``localisation.csv``."""
    rows = []
    per = fold_metrics(prediction_paths, average="macro")
    summary = summarise(per, ("classifier_mask", "symmetry_mask"), ("accuracy", "f1"))
    for _, r in summary.iterrows():
        for m in ("accuracy", "f1"):
            rows.append({"classifier_mask": r["classifier_mask"],
                         "symmetry_mask": r["symmetry_mask"], "metric": m,
                         "mean": r[f"{m}_mean"], "std": r[f"{m}_std"]})
    localisation_paths = list(localisation_paths)
    if localisation_paths:
        loc = localisation_table(localisation_paths)
        for _, r in loc.iterrows():
            rows.append({"classifier_mask": r["classifier_mask"],
                         "symmetry_mask": r["symmetry_mask"], "metric": "iou",
                         "mean": r["iou_mean"], "std": r["iou_std"]})
    return pd.DataFrame(rows, columns=["classifier_mask", "symmetry_mask", "metric", "mean",
                                       "std"])


def grid_heatmap(cells: pd.DataFrame, out_path: str | Path, *,
                 metrics: Sequence[str] = HEATMAP_METRICS, title: str = "",
                 dpi: int = 120) -> Path:
    """One heat-map panel per metric: rows = classifier input mask, columns = symmetry CAM
    mask, colour = mean, annotation = ``mean ± std`` and the thesis' model number.
    Cells absent from ``cells`` stay blank."""
    import seaborn as sns

    metrics = [m for m in metrics if (cells["metric"] == m).any()]
    if not metrics:
        raise ValueError("grid_heatmap: no metric to draw")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    rows = [MASK_LABELS[m] for m in MASKS]
    cols = [MASK_LABELS[m] for m in CAM_SOURCES]
    for ax, metric in zip(axes[0], metrics):
        mean = np.full((len(MASKS), len(CAM_SOURCES)), np.nan)
        annot = np.full(mean.shape, "", dtype=object)
        for _, c in cells[cells["metric"] == metric].iterrows():
            model = Model(c["classifier_mask"], c["symmetry_mask"])
            i, j = MASKS.index(model.classifier_mask), CAM_SOURCES.index(model.cam_source)
            mean[i, j] = c["mean"]
            std = "" if pd.isna(c["std"]) else f"\n± {c['std']:.3f}"
            annot[i, j] = (f"{c['mean']:.3f}{std}\n"
                           f"(model {model.number})")
        sns.heatmap(pd.DataFrame(mean, index=rows, columns=cols), annot=annot, fmt="",
                    cmap="viridis", ax=ax, cbar=True, linewidths=0.5, linecolor="white",
                    annot_kws={"fontsize": 8})
        ax.set_title(_PANEL_TITLES.get(metric, METRIC_LABELS.get(metric, metric)))
        ax.set_xlabel("Symmetry CAM (mask of the symmetry network)")
        ax.set_ylabel("Classifier input mask")
        plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
        plt.setp(ax.get_yticklabels(), rotation=0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=dpi, bbox_inches="tight")


def heatmap_from_files(prediction_paths: Iterable[str | Path],
                       localisation_paths: Iterable[str | Path], out_path: str | Path, *,
                       title: str = "") -> Path:
    """:func:`grid_heatmap` of the test predictions and localisation files of one dataset."""
    return grid_heatmap(grid_cells(prediction_paths, localisation_paths), out_path, title=title)


_ACC_PATTERN = re.compile(r"^(train|val)_(acc|accuracy)$")


def read_history(path: str | Path) -> pd.DataFrame:
    """A ``history.csv`` (``epoch, train_loss, val_loss, <metrics>...``), checked."""
    path = Path(path)
    df = pd.read_csv(path)
    for col in ("epoch", "train_loss", "val_loss"):
        if col not in df.columns:
            raise ValueError(f"{path}: missing column '{col}' (have: {', '.join(df.columns)})")
    return df


def _accuracy_columns(df: pd.DataFrame) -> list[str]:
    cols = [c for c in df.columns if _ACC_PATTERN.match(c)]
    if not any(c.startswith("val_") for c in cols) and "accuracy" in df.columns:
        cols.append("accuracy")          # validation accuracy logged without a prefix
    return cols


def training_curves(history_paths: Sequence[str | Path], out_path: str | Path, *,
                    title: str = "", dpi: int = 100) -> Path:
    """Thesis Figures 11-13: per model (one row each, thesis order) the training and
    validation loss and accuracy per epoch of its first fold's ``history.csv``: columns
    ``train_loss``, ``val_loss``, ``train_accuracy`` (accuracy on the training batches of the
    epoch, recorded on the fly) and ``accuracy`` / ``val_accuracy`` (validation); an older
    history without ``train_accuracy`` shows the validation accuracy alone, and says so."""
    items = []
    for path in history_paths:
        keys = parse_result_path(path)
        items.append((keys.get("model", 0), keys, read_history(path), Path(path)))
    if not items:
        raise ValueError("training_curves: no history files given")
    items.sort(key=lambda t: t[0])
    fig, axes = plt.subplots(len(items), 2, figsize=(10, 2.3 * len(items)), squeeze=False)
    for row, (number, keys, df, path) in enumerate(items):
        name = (f"Model {number} — classifier: {MASK_LABELS[keys['classifier_mask']]}; "
                f"symmetry CAM: {MASK_LABELS[keys['symmetry_mask']]} "
                f"(fold {keys.get('fold', 0)})"
                if "classifier_mask" in keys else path.parent.as_posix())
        ax_loss, ax_acc = axes[row]
        ax_loss.plot(df["epoch"], df["train_loss"], marker=".", label="train")
        ax_loss.plot(df["epoch"], df["val_loss"], marker=".", label="validation")
        ax_loss.set_ylabel("loss")
        ax_loss.set_title(name, fontsize=9, loc="left")
        acc_cols = _accuracy_columns(df)
        for c in acc_cols:
            label = "train" if c.startswith("train") else "validation"
            ax_acc.plot(df["epoch"], df[c], marker=".", label=label)
        if not acc_cols:
            ax_acc.text(0.5, 0.5, "no accuracy logged", ha="center", va="center",
                        transform=ax_acc.transAxes)
        elif not any(c.startswith("train") for c in acc_cols):
            ax_acc.text(0.02, 0.02, "training accuracy not in this history", fontsize=7,
                        transform=ax_acc.transAxes, color="0.4")
        ax_acc.set_ylabel("accuracy")
        best = df.loc[df["val_loss"].idxmin(), "epoch"] if df["val_loss"].notna().any() else None
        for ax in (ax_loss, ax_acc):
            if best is not None:
                ax.axvline(best, color="grey", linestyle="--", linewidth=0.8,
                           label="best epoch (kept)" if ax is ax_loss else None)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=dpi, bbox_inches="tight")
