"""Figures of the data stage: hair removal examples (thesis Fig. 5) and the class
distribution before / after balancing (thesis Fig. 6)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from selcn.atomic import save_figure
from selcn.data.preprocess import hair_mask, load_image, remove_hair
from selcn.data.splits import balance

__all__ = ["class_counts", "plot_class_distribution", "hair_fraction", "hair_fractions",
           "pick_hairy", "plot_hair_removal"]



def class_counts(index: pd.DataFrame, splits: pd.DataFrame, classes: Sequence[str], *,
                 target_per_class: int, max_copies: int, seed: int = 0,
                 val_fold: str = "fold0") -> pd.DataFrame:
    """Long table ``class, stage, count`` with three stages: ``all images`` (the dataset),
    ``training part`` (every fold but ``val_fold``; test and excluded rows left out) and
    ``balanced training part`` (:func:`selcn.data.splits.balance` of that part, as one
    training run sees it)."""
    table = splits.merge(index[["image_id", "row"]], on="image_id", how="left")
    train = table[table["split"].str.startswith("fold") & (table["split"] != val_fold)]
    bal = balance(train[["row", "target"]], target_per_class, max_copies, seed)
    bal = bal.merge(table[["row", "target"]], on="row", how="left")
    rows = []
    for stage, t in (("all images", table), ("training part", train),
                     ("balanced training part", bal)):
        counts = t["target"].value_counts()
        rows += [{"class": c, "stage": stage, "count": int(counts.get(i, 0))}
                 for i, c in enumerate(classes)]
    return pd.DataFrame(rows)


def plot_class_distribution(counts: pd.DataFrame, out_path: str | Path, *,
                            target_per_class: int | None = None, title: str = "") -> Path:
    """Grouped bar chart of :func:`class_counts` (Fig. 6), counts written on the bars."""
    import seaborn as sns  # here: the figure scripts that do not plot bars stay light

    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.barplot(data=counts, x="class", y="count", hue="stage", ax=ax, palette="deep")
    for cont in ax.containers:
        ax.bar_label(cont, fontsize=7, padding=1)
    if target_per_class:
        ax.axhline(target_per_class, color="0.3", ls="--", lw=1)
        ax.text(ax.get_xlim()[1], target_per_class, f" target {target_per_class}",
                va="center", fontsize=8)
    ax.set(xlabel="class", ylabel="images", title=title)
    ax.legend(title=None, fontsize=8)
    return save_figure(fig, out_path, dpi=120, bbox_inches="tight")


def hair_fraction(path: str | Path) -> float:
    """Fraction of the image's pixels in the thesis' hair mask (:func:`hair_mask`: grey ->
    black-hat, 17 x 17 cross -> threshold 10), on the image as stored (full resolution)."""
    mask = hair_mask(np.ascontiguousarray(load_image(path)[..., ::-1]))
    return float(np.count_nonzero(mask)) / mask.size


def hair_fractions(paths: Sequence[str | Path], *, threads: int = 1) -> np.ndarray:
    """:func:`hair_fraction` of every image, float64 ``(len(paths),)`` (``threads`` decode
    in parallel; OpenCV and PIL release the GIL)."""
    paths = [str(p) for p in paths]
    if threads > 1 and len(paths) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=int(threads)) as pool:
            return np.fromiter(pool.map(hair_fraction, paths), np.float64, len(paths))
    return np.fromiter((hair_fraction(p) for p in paths), np.float64, len(paths))


def pick_hairy(paths: Sequence[str | Path], n: int = 3, *,
               threads: int = 1) -> list[tuple[str, float]]:
    """The ``n`` images with the **largest hair-mask fraction** (:func:`hair_fraction`) among
    all ``paths``, largest first (ties: the earlier path), as ``(path, fraction)`` pairs."""
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("pick_hairy: no images given")
    score = hair_fractions(paths, threads=threads)
    order = np.argsort(-score, kind="stable")[:n]
    return [(paths[i], float(score[i])) for i in order]


def plot_hair_removal(paths: Sequence[str | Path], out_path: str | Path, *,
                      fractions: Sequence[float] | None = None) -> Path:
    """Fig. 5: each image before (top row) and after hair removal (bottom row); with
    ``fractions``, each top title gives the image's hair-mask fraction."""
    n = len(paths)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 5.0), squeeze=False)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for j, p in enumerate(paths):
        rgb = load_image(p)
        clean = remove_hair(np.ascontiguousarray(rgb[..., ::-1]))[..., ::-1]
        for i, (img, what) in enumerate(((rgb, "with hair"), (clean, "hair removed"))):
            if i == 0 and fractions is not None:
                what += f" ({100 * fractions[j]:.1f} % hair mask)"
            ax = axes[i, j]
            ax.imshow(img)
            ax.set_axis_off()
            ax.set_title(f"({letters[i * n + j]}) {Path(p).stem}, {what}", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=120, bbox_inches="tight")
