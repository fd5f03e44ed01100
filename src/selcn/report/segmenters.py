"""The segmenter as a grid axis (``segmentation.mode: axis``): what each segmentation network's
masks do downstream.

Every lesion model that reads masks (models 3-12: a masked input, or the CAMs of a symmetry
network trained on masked inputs) is trained once per segmenter, from that segmenter's own
masks (``results/lesion/<dataset>/<model>/<segmenter>/fold<k>/``). The table
(:func:`segmenter_table`) has one row per such model and segmenter: the segmenter's Dice on the
validation part and the test split of the segmentation dataset (its ``metrics_test.csv``, Table
5) and the lesion model's test metrics, mean ± std over its folds (as Table 8b). The figure
(:func:`segmenter_figure`) draws the segmenter's test Dice against the test accuracy of every
model that uses its masks: one line per model across the segmenters.

Both read result files only (``docs/contracts.md``); no network is loaded here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from selcn.atomic import save_figure
from selcn.grid import SEGMENTER_LABELS, SEGMENTERS, Model
from selcn.report.tables import (
    _BINARY_ONLY,
    LESION_METRICS,
    METRIC_LABELS,
    fold_metrics,
    parse_result_path,
    summarise,
)

__all__ = ["SEGMENTER_KEYS", "SEGMENTER_DICE", "segmenter_table", "segmenter_figure",
           "segmenter_figure_from_table"]

#: the row keys of the table: the lesion model and the segmenter whose masks it reads
SEGMENTER_KEYS: tuple[str, ...] = ("model", "classifier_mask", "symmetry_mask", "segmenter")
#: the segmenter's own columns (one value each: ``<name>_mean``, ``<name>_std`` empty)
SEGMENTER_DICE: tuple[str, ...] = ("segmenter_val_dice", "segmenter_test_dice")
METRIC_LABELS.update({"segmenter_val_dice": "Segmenter Dice (validation)",
                      "segmenter_test_dice": "Segmenter Dice (test)"})


def _segmenter_scores(paths: Iterable[str | Path]) -> dict[str, dict[str, float]]:
    """``{arch: {"segmenter_val_dice", "segmenter_test_dice"}}`` of ``metrics_test.csv`` files
    (the test Dice in ``dice``, the validation one in ``val_dice``); errors name the file."""
    out: dict[str, dict[str, float]] = {}
    for path in paths:
        df = pd.read_csv(path)
        for col in ("arch", "dice", "val_dice"):
            if col not in df.columns:
                raise ValueError(f"{path}: missing column '{col}' (have: {', '.join(df.columns)})")
        if len(df) != 1:
            raise ValueError(f"{path}: expected one row, found {len(df)}")
        row = df.iloc[0]
        out[str(row["arch"])] = {"segmenter_val_dice": float(row["val_dice"]),
                                 "segmenter_test_dice": float(row["dice"])}
    return out


def segmenter_table(paths: Sequence[str | Path], *,
                    metrics: Sequence[str] = LESION_METRICS) -> pd.DataFrame:
    """The downstream effect of the segmenter on lesion ``dataset``.

    Args:
        paths: the segmentation networks' ``metrics_test.csv`` (Table 5's files) and the test
            prediction files of every fold of every lesion model that carries a segmenter
            (``results/lesion/<dataset>/<model>/<segmenter>/fold<k>/predictions_test.csv``),
            in any order: told apart by their paths.

    Returns:
        One row per (model, segmenter), thesis order then the segmenters' order in the files:
        :data:`SEGMENTER_KEYS`, ``n_folds``, ``segmenter_val_dice_mean`` /
        ``segmenter_test_dice_mean`` (``_std`` empty) and ``<m>_mean`` / ``<m>_std`` of the
        lesion ``metrics`` (macro averages over folds, ``np.std``).
    """
    paths = [str(p) for p in paths]
    kinds = {p: parse_result_path(p)["stage"] for p in paths}
    seg_files = [p for p in paths if kinds[p] == "segmentation"]
    predictions = [p for p in paths if kinds[p] == "lesion"]
    other = [p for p in paths if kinds[p] not in ("segmentation", "lesion")]
    if other:
        raise ValueError(f"segmenter_table: {other[0]} is neither a segmentation metrics file "
                         "nor a lesion prediction file")
    if not predictions:
        raise ValueError("segmenter_table: no lesion prediction files given")
    scores = _segmenter_scores(seg_files)
    per = fold_metrics(predictions, average="macro")
    if "segmenter" not in per.columns or per["segmenter"].isna().any():
        bad = per.loc[per.get("segmenter", pd.Series(index=per.index, dtype=object)).isna(),
                      "model"]
        raise ValueError(f"segmenter_table: the predictions of model {int(bad.iloc[0])} carry "
                         "no segmenter folder (segmentation.mode: axis)")
    if per["split"].nunique() != 1 or per["dataset"].nunique() != 1:
        raise ValueError("segmenter_table: the predictions mix splits or datasets")
    missing = sorted(set(per["segmenter"]) - set(scores))
    if missing:
        raise ValueError(f"segmenter_table: no metrics_test.csv of segmenter(s) {missing}")
    metrics = tuple(metrics) + tuple(m for m in _BINARY_ONLY
                                     if m in per.columns and m not in metrics)
    table = summarise(per, SEGMENTER_KEYS, metrics)
    order = {s: i for i, s in enumerate(dict.fromkeys([*scores, *SEGMENTERS]))}
    table = table.assign(_s=table["segmenter"].map(order)).sort_values(
        ["model", "_s"], kind="stable").drop(columns="_s").reset_index(drop=True)
    table["model"] = table["model"].astype(int)
    for col in SEGMENTER_DICE:
        values = table["segmenter"].map(lambda s, c=col: scores[s][c])
        table.insert(table.columns.get_loc("n_folds") + 1, f"{col}_std", np.nan)
        table.insert(table.columns.get_loc("n_folds") + 1, f"{col}_mean", values)
    return table


def segmenter_figure(table: pd.DataFrame, out_path: str | Path, *, metric: str = "accuracy",
                     title: str = "") -> None:
    """Each segmenter's test Dice (x) against the test ``metric`` (mean over folds, y) of the
    lesion models that use its masks: one line per model (its segmenters in Dice order),
    the segmenters named on the x axis; PNG at ``out_path``."""
    need = ("model", "segmenter", "segmenter_test_dice_mean", f"{metric}_mean")
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"segmenter_figure: the table lacks column(s) {missing}")
    if table.empty:
        raise ValueError("segmenter_figure: the table has no rows")
    fig, ax = plt.subplots(figsize=(7.2, 4.6), dpi=120)
    cmap = plt.get_cmap("tab10")
    for i, (number, rows) in enumerate(table.groupby("model", sort=True)):
        rows = rows.sort_values("segmenter_test_dice_mean")
        model = Model.of_number(int(number))
        ax.plot(rows["segmenter_test_dice_mean"], rows[f"{metric}_mean"], "-o", ms=4, lw=1.2,
                color=cmap(i % 10), label=f"{int(number)} ({model.name})")
    dice = table.drop_duplicates("segmenter").sort_values("segmenter_test_dice_mean")
    for _, r in dice.iterrows():
        ax.axvline(r["segmenter_test_dice_mean"], color="grey", lw=0.6, ls=":")
    ax.set_xticks(dice["segmenter_test_dice_mean"].to_numpy())
    ax.set_xticklabels([f"{SEGMENTER_LABELS.get(s, s)}\n{d:.3f}" for s, d in
                        zip(dice["segmenter"], dice["segmenter_test_dice_mean"])], fontsize=8)
    ax.set_xlabel("segmenter: test Dice of its masks (segmentation dataset)")
    ax.set_ylabel(f"lesion {METRIC_LABELS.get(metric, metric).lower()} (test, mean over folds)")
    ax.set_title(title or "Segmenter quality and lesion classification")
    ax.grid(alpha=0.3)
    ax.legend(title="model", fontsize=7, title_fontsize=8, loc="center left",
              bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    save_figure(fig, out_path, dpi=fig.dpi)


def segmenter_figure_from_table(table_csv: str | Path, out_path: str | Path, *,
                                title: str = "") -> None:
    """:func:`segmenter_figure` of the CSV :func:`segmenter_table` wrote."""
    segmenter_figure(pd.read_csv(table_csv), out_path, title=title)
