"""Report figures: heat-maps of the 3 x 4 model grid and the training curves (thesis Fig. 11-13)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from selcn.atomic import save_figure
from selcn.grid import CAM_LABELS, CAM_SOURCES, MASK_LABELS, MASKS, Model
from selcn.metrics import ECE_BINS
from selcn.report.tables import (
    METRIC_LABELS,
    fold_metrics,
    localisation_table,
    parse_result_path,
    summarise,
)

__all__ = ["grid_cells", "grid_heatmap", "heatmap_from_files", "read_history",
           "training_curves", "HEATMAP_METRICS", "HEATMAP_FONTS", "reliability_diagrams",
           "reliability_from_files"]

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


#: the font sizes (pt) of a heat-map cell: the mean, the standard deviation, the model number;
#: the figure is :data:`HEATMAP_PANEL_INCHES` per panel (no colour bar: the numbers are in the
#: cells; short tick labels), so that a report showing it 900 px wide (a 1280 px window beside
#: the report's menu) draws the mean about 15 px and the standard deviation 13 px high
HEATMAP_FONTS: dict[str, float] = {"mean": 12.5, "std": 10.5, "model": 8.5}
HEATMAP_PANEL_INCHES = (3.2, 3.7)
#: the short tick labels of the heat-map's rows (classifier mask) and columns (CAM source)
_SHORT = {"off": "no CAM", "none": "none", "seg": "seg", "lae": "LAE"}


def _heatmap_figure(cells: pd.DataFrame, metrics: Sequence[str], title: str):
    """The heat-map figure (see :func:`grid_heatmap`) and its cell texts."""
    import seaborn as sns

    width, height = HEATMAP_PANEL_INCHES
    fig, axes = plt.subplots(1, len(metrics), figsize=(width * len(metrics) + 0.6, height),
                             squeeze=False)
    rows = [_SHORT[m] for m in MASKS]
    cols = [_SHORT[m] for m in CAM_SOURCES]
    texts = []
    for k, (ax, metric) in enumerate(zip(axes[0], metrics)):
        mean = np.full((len(MASKS), len(CAM_SOURCES)), np.nan)
        for _, c in cells[cells["metric"] == metric].iterrows():
            model = Model(c["classifier_mask"], c["symmetry_mask"])
            i, j = MASKS.index(model.classifier_mask), CAM_SOURCES.index(model.cam_source)
            mean[i, j] = c["mean"]
            std = "" if pd.isna(c["std"]) else f"±{c['std']:.3f}"
            colour = "white" if _dark(c["mean"], cells, metric) else "black"
            for dy, text, key in ((-0.2, f"{c['mean']:.3f}", "mean"), (0.1, std, "std"),
                                  (0.34, f"model {model.number}", "model")):
                if text:
                    texts.append(ax.text(j + 0.5, i + 0.5 + dy, text, ha="center",
                                         va="center", fontsize=HEATMAP_FONTS[key], color=colour,
                                         fontweight="bold" if key == "mean" else "normal"))
        sns.heatmap(pd.DataFrame(mean, index=rows, columns=cols), annot=False, cmap="viridis",
                    ax=ax, cbar=False, linewidths=1, linecolor="white")
        ax.set_title(_PANEL_TITLES.get(metric, METRIC_LABELS.get(metric, metric)), fontsize=11)
        ax.set_xlabel("CAM source (symmetry network's mask)", fontsize=9)
        ax.set_ylabel("Classifier input mask" if k == 0 else "", fontsize=9)
        ax.tick_params(labelsize=9, length=0)
        plt.setp(ax.get_yticklabels(), rotation=0)
        if k:
            ax.set_yticklabels([])
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig, texts


def _dark(value: float, cells: pd.DataFrame, metric: str) -> bool:
    """Whether ``value`` falls on viridis' dark half (white text there)."""
    values = cells.loc[cells["metric"] == metric, "mean"].astype(float)
    lo, hi = values.min(), values.max()
    return bool(not np.isnan(value) and (hi <= lo or (value - lo) / (hi - lo) < 0.5))


def grid_heatmap(cells: pd.DataFrame, out_path: str | Path, *,
                 metrics: Sequence[str] = HEATMAP_METRICS, title: str = "",
                 dpi: int = 110) -> Path:
    """One heat-map panel per metric: rows = classifier input mask, columns = CAM source (the
    mask of the symmetry network), colour = mean (viridis, per panel), in each cell the mean
    (bold), ``± std`` and the thesis' model number (:data:`HEATMAP_FONTS`). Cells absent from
    ``cells`` stay blank."""
    metrics = [m for m in metrics if (cells["metric"] == m).any()]
    if not metrics:
        raise ValueError("grid_heatmap: no metric to draw")
    fig, _ = _heatmap_figure(cells, metrics, title)
    return save_figure(fig, out_path, dpi=dpi)


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
                f"symmetry CAM: {CAM_LABELS[keys['symmetry_mask']]} "
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


# ---- calibration ----------------------------------------------------------------------------
def reliability_diagrams(ensembles: Mapping[int, pd.DataFrame], out_path: str | Path, *,
                         title: str = "", n_bins: int = ECE_BINS, dpi: int = 100) -> Path:
    """Reliability diagrams of fold ensembles: one panel per model (rows = classifier input
    mask, columns = CAM source, as the grid; only those of ``ensembles``), accuracy against
    mean confidence in :func:`selcn.metrics.reliability_bins`' ``n_bins`` equal-width bins of
    the top-label confidence (blue bars: accuracy, red lines: mean confidence; a calibrated
    model's bars reach its red lines and the diagonal), the share of images per bin (grey,
    right scale) and the expected calibration error in the panel's title.

    Args:
        ensembles: model number -> its fold ensemble's prediction frame
            (:func:`selcn.ensemble.ensembles_by_model`).
    """
    from selcn.metrics import expected_calibration_error, reliability_bins
    from selcn.predictions import probabilities

    if not ensembles:
        raise ValueError("reliability_diagrams: no model to draw")
    models = {n: _model_of(n) for n in ensembles}
    row_masks = [m for m in MASKS if any(x.classifier_mask == m for x in models.values())]
    col_sources = [c for c in CAM_SOURCES if any(x.cam_source == c for x in models.values())]
    fig, axes = plt.subplots(len(row_masks), len(col_sources),
                             figsize=(2.7 * len(col_sources), 2.5 * len(row_masks) + 0.4),
                             squeeze=False, sharex=True, sharey=True)
    for ax in axes.ravel():
        ax.set_visible(False)
    width = 1.0 / n_bins
    for number, frame in sorted(ensembles.items()):
        model = models[number]
        ax = axes[row_masks.index(model.classifier_mask), col_sources.index(model.cam_source)]
        ax.set_visible(True)
        y, probs = frame["target"].to_numpy(), probabilities(frame)
        bins = reliability_bins(y, probs, n_bins=n_bins)
        full = bins[bins["n"] > 0]
        centres = (full["lower"] + full["upper"]) / 2
        ax.bar(centres, full["accuracy"], width=width, color="#4477aa", edgecolor="white")
        ax.hlines(full["confidence"], full["lower"], full["upper"], color="#cc3311",
                  linewidth=2)
        ax.plot([0, 1], [0, 1], color="0.3", linestyle="--", linewidth=0.8)
        share = ax.twinx()
        share.bar(centres, full["n"] / bins["n"].sum(), width=width * 0.35, color="0.55",
                  alpha=0.8)
        share.set_ylim(0, 1)
        share.set_yticks([])
        ece = expected_calibration_error(y, probs, n_bins=n_bins)
        ax.set_title(f"model {number}: ECE {ece:.3f}", fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=8)
    for i, mask in enumerate(row_masks):
        axes[i][0].set_ylabel(f"{MASK_LABELS[mask]}\naccuracy", fontsize=9)
    for j, source in enumerate(col_sources):
        axes[-1][j].set_xlabel(f"confidence\n(CAM: {MASK_LABELS[source]})", fontsize=9)
    fig.suptitle((title + "\n" if title else "") + f"Reliability of the fold ensembles (test "
                 f"split, {n_bins} bins of the confidence): blue = accuracy, red = mean "
                 "confidence, grey = share of images", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=dpi)


def _model_of(number: int) -> Model:
    return next(Model(cm, cs) for cm in MASKS for cs in CAM_SOURCES
                if Model(cm, cs).number == number)


def reliability_from_files(prediction_paths: Iterable[str | Path], out_path: str | Path, *,
                           title: str = "") -> Path:
    """:func:`reliability_diagrams` of the fold ensembles of one dataset's test predictions."""
    from selcn.ensemble import ensembles_by_model

    return reliability_diagrams(ensembles_by_model(list(prediction_paths)), out_path,
                                title=title)
