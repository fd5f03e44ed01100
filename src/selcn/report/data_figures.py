"""Figures of the data stage: hair removal examples (thesis Fig. 5) and the class
distribution before / after balancing (thesis Fig. 6); the per-image shares each hair filter
marks as hair (:func:`hair_table`: of the image and of the lesion's ground-truth pixels, the
report's hair table)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from selcn.atomic import save_figure
from selcn.data.preprocess import hair_mask, hair_method, load_image, load_mask, remove_hair
from selcn.data.splits import balance

__all__ = ["class_counts", "plot_class_distribution", "hair_fraction", "hair_fractions",
           "pick_hairy", "plot_hair_removal", "HAIR_TABLE_METHODS", "hair_shares", "hair_table"]

#: the filters :func:`hair_table` scores every image with (``off`` marks nothing)
HAIR_TABLE_METHODS: tuple[str, ...] = ("thesis", "thesis_code", "pigment_sparing")
#: the filter Figure 5 always shows (the thesis'), a hair filter's name
_THESIS_FILTER = HAIR_TABLE_METHODS[0]


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


def hair_fraction(path: str | Path, method: str = "thesis") -> float:
    """Fraction of the image's pixels in the hair mask of ``method`` (:func:`hair_mask`; the
    thesis': grey -> black-hat, 17 x 17 cross -> threshold 10), on the image as stored (full
    resolution)."""
    mask = hair_mask(np.ascontiguousarray(load_image(path)[..., ::-1]), method)
    return float(np.count_nonzero(mask)) / mask.size


def _mapped(function, items: Sequence, threads: int) -> list:
    """``[function(item) ...]``, ``threads`` at a time (OpenCV and PIL release the GIL)."""
    if threads > 1 and len(items) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=int(threads)) as pool:
            return list(pool.map(function, items))
    return [function(item) for item in items]


def hair_fractions(paths: Sequence[str | Path], *, threads: int = 1,
                   method: str = "thesis") -> np.ndarray:
    """:func:`hair_fraction` of every image, float64 ``(len(paths),)`` (``threads`` decode
    in parallel)."""
    paths = [str(p) for p in paths]
    return np.asarray(_mapped(lambda p: hair_fraction(p, method), paths, threads), np.float64)


def pick_hairy(paths: Sequence[str | Path], n: int = 3, *, threads: int = 1,
               method: str = "thesis") -> list[tuple[str, float]]:
    """The ``n`` images with the **largest hair-mask fraction** (:func:`hair_fraction` of
    ``method``) among all ``paths``, largest first (ties: the earlier path), as
    ``(path, fraction)`` pairs."""
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("pick_hairy: no images given")
    score = hair_fractions(paths, threads=threads, method=method)
    order = np.argsort(-score, kind="stable")[:n]
    return [(paths[i], float(score[i])) for i in order]


def hair_shares(path: str | Path, mask_path: str | Path | None = None,
                methods: Sequence[str] = HAIR_TABLE_METHODS) -> dict[str, float]:
    """What each hair filter of ``methods`` marks as hair on one image as stored (full
    resolution): ``{"image_<method>": share of the image's pixels, "lesion_<method>": share
    of the lesion's pixels (the ground-truth mask ``mask_path``; NaN without one or for an
    empty mask)}``."""
    bgr = np.ascontiguousarray(load_image(path)[..., ::-1])
    lesion = load_mask(mask_path) > 0 if mask_path else None
    if lesion is not None and lesion.shape != bgr.shape[:2]:
        raise ValueError(f"{mask_path}: mask {lesion.shape} differs from its image "
                         f"{bgr.shape[:2]} ({path})")
    out: dict[str, float] = {}
    for method in methods:
        hair = hair_mask(bgr, method) > 0
        out[f"image_{method}"] = float(hair.mean())
        out[f"lesion_{method}"] = (float(hair[lesion].mean())
                                   if lesion is not None and lesion.any() else float("nan"))
    return out


def hair_table(table: pd.DataFrame, *, methods: Sequence[str] = HAIR_TABLE_METHODS,
               threads: int = 1) -> pd.DataFrame:
    """:func:`hair_shares` of every image of a reader table (``image_id``, ``path`` and, where
    the dataset has masks, ``mask_path``): one row per image, ``image_id,path,mask_path,
    image_<method>,lesion_<method>...`` (``threads`` images at a time)."""
    if table.empty:
        raise ValueError("hair_table: no images given")
    masks = (table["mask_path"].fillna("").astype(str).tolist() if "mask_path" in table
             else [""] * len(table))
    items = list(zip(table["path"].astype(str), masks))
    rows = _mapped(lambda item: hair_shares(item[0], item[1] or None, methods), items, threads)
    out = pd.DataFrame.from_records(rows)
    out.insert(0, "image_id", table["image_id"].astype(str).to_numpy())
    out.insert(1, "path", [p for p, _ in items])
    out.insert(2, "mask_path", masks)
    return out


def _outline(image: np.ndarray, lesion: np.ndarray | None) -> np.ndarray:
    """``image`` with the lesion mask's outline drawn in green (2 px per 600 px of side)."""
    if lesion is None or not lesion.any():
        return image
    import cv2

    out = np.ascontiguousarray(image).copy()
    contours, _ = cv2.findContours(lesion.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (0, 230, 0), max(1, round(2 * max(out.shape) / 600)))
    return out


def _shares_text(hair: np.ndarray, lesion: np.ndarray | None) -> str:
    text = f"{100 * hair.mean():.1f} % of image"
    if lesion is not None and lesion.any():
        text += f", {100 * hair[lesion].mean():.1f} % of lesion"
    return text


def _titled(letter: str, stem: str, title: str) -> str:
    """A panel's title: ``(letter) stem, title``; a two-part title (``head: rest``) over two
    lines so that three panels fit side by side."""
    head, _, rest = title.partition(": ")
    return f"({letter}) {stem}, {head}" + (f":\n{rest}" if rest else "")


def plot_hair_removal(paths: Sequence[str | Path], out_path: str | Path, *,
                      fractions: Sequence[float] | None = None,
                      mask_paths: Sequence[str | Path | None] | None = None,
                      method: str = "thesis") -> Path:
    """Fig. 5: per image (a column), the image as stored (top row; with ``fractions``, its
    hair-mask fraction in the title), the hair masks (middle row: the thesis' filter in
    magenta and, when ``method`` is another filter, that filter's in cyan, each with the share
    of the image and of the lesion it marks) and the image after hair removal with ``method``
    (bottom row; unchanged for ``off``). With ``mask_paths`` (the ground-truth lesion masks,
    None where an image has none) every panel draws the lesion's outline in green."""
    method = hair_method(method)
    n = len(paths)
    masks = list(mask_paths) if mask_paths is not None else [None] * n
    if len(masks) != n:
        raise ValueError(f"plot_hair_removal: {len(masks)} masks for {n} images")
    fig, axes = plt.subplots(3, n, figsize=(3.2 * n, 7.6), squeeze=False)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for j, p in enumerate(paths):
        rgb = load_image(p)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        lesion = load_mask(masks[j]) > 0 if masks[j] else None
        thesis = hair_mask(bgr, _THESIS_FILTER) > 0
        shown = rgb.copy()
        shown[thesis] = (255, 0, 255)
        what = f"hair masks: thesis' (magenta) {_shares_text(thesis, lesion)}"
        if method not in (_THESIS_FILTER, "off"):       # a second filter to show
            own = hair_mask(bgr, method) > 0
            shown[own] = (0, 255, 255)
            what += f"\n{method} (cyan) {_shares_text(own, lesion)}"
        clean = remove_hair(bgr, method)[..., ::-1]
        first = "as stored" + (f" ({100 * fractions[j]:.1f} % hair mask)"
                               if fractions is not None else "")
        last = ("no hair removal (data.hair_removal off)" if method == "off"
                else f"after hair removal ({method})")
        for i, (img, title) in enumerate(((rgb, first), (shown, what), (clean, last))):
            ax = axes[i, j]
            ax.imshow(_outline(img, lesion))
            ax.set_axis_off()
            ax.set_title(_titled(letters[(i * n + j) % 26], Path(p).stem, title), fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=120, bbox_inches="tight")
