"""Where the CAMs point and what the hair filter takes (issue 20): two report tables.

- :func:`cam_regions_table` — "Where the CAM maxima fall": per symmetry variant and lesion model
  (the best fold's Grad-CAM++ on the localisation split, the ``localisation*.csv`` files the
  stage jobs write, :func:`selcn.cams.cam_regions`), the share of images whose CAM maximum falls
  in each region (:data:`selcn.cams.REGIONS`: the masked-out input, the lesion's edge, the
  lesion, the dark vignette, the skin), the mean share of the CAM mass above the threshold in
  each, and the mean share of the image each region covers (where a CAM that knows nothing
  would peak: the chance level of each region).
- :func:`hair_removal_table` — per hair filter (:data:`selcn.data.preprocess.HAIR_METHODS`),
  the share of the image and of the lesion it marks as hair and inpaints, over the images of
  Figure 5's dataset (``results/figures/fig5_hair_removal.csv``,
  :func:`selcn.report.data_figures.hair_table`).

Read result files only (no torch, no stage module).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.paths import parse_result_path

__all__ = ["REGION_NAMES", "REGION_KEYS", "REGION_METRICS", "REGION_LABELS", "cam_regions_table",
           "HAIR_KEYS", "HAIR_METRICS", "HAIR_LABELS", "hair_removal_table"]

#: the regions, in the order of :data:`selcn.cams.REGIONS` (kept here: the report imports no
#: torch; ``tests/test_regions.py`` checks they agree)
REGION_NAMES: tuple[str, ...] = ("masked", "edge", "lesion", "vignette", "skin")
#: the row keys of :func:`cam_regions_table`
REGION_KEYS: tuple[str, ...] = ("network", "model", "inputs")
#: its columns: share of images by the region of their CAM maximum, mean share of the CAM mass
#: above the threshold, mean share of the image, per region
REGION_METRICS: tuple[str, ...] = (
    tuple(f"argmax_{r}" for r in REGION_NAMES) + ("argmax_flat",)
    + tuple(f"mass_{r}" for r in REGION_NAMES) + tuple(f"area_{r}" for r in REGION_NAMES))
_REGION_TEXT = {"masked": "masked-out input", "edge": "lesion edge", "lesion": "lesion",
                "vignette": "dark vignette", "skin": "skin"}
#: the column headers of :func:`cam_regions_table`
REGION_LABELS: dict[str, str] = {
    **{f"argmax_{r}": f"maximum on {t}" for r, t in _REGION_TEXT.items()},
    "argmax_flat": "no maximum (flat CAM)",
    **{f"mass_{r}": f"CAM mass on {t}" for r, t in _REGION_TEXT.items()},
    **{f"area_{r}": f"image share: {t}" for r, t in _REGION_TEXT.items()},
}


def _read_regions(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    df = pd.read_csv(path, dtype={"image_id": str, "argmax_region": str},
                     keep_default_na=False)
    needed = ("argmax_region",) + tuple(f"mass_{r}" for r in REGION_NAMES) \
        + tuple(f"area_{r}" for r in REGION_NAMES)
    for col in needed:
        if col not in df.columns:
            raise ValueError(f"{path}: missing column '{col}' (a localisation file written "
                             "before the CAM regions: run its localisation job again, e.g. "
                             "snakemake --forcerun symmetry_localisation lesion_localisation)")
    if df.empty:
        raise ValueError(f"{path}: localisation file has no rows")
    known = set(REGION_NAMES) | {"flat"}
    bad = ~df["argmax_region"].isin(known)
    if bad.any():
        found = df.loc[bad, "argmax_region"].iloc[0]
        raise ValueError(f"{path}: column 'argmax_region' has {found!r} (one of "
                         f"{', '.join(sorted(known))})")
    for col in needed[1:]:
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            raise ValueError(f"{path}: column '{col}' must be numeric")
        df[col] = values.astype(float)
    return df


def _row_keys(path: str | Path) -> dict:
    keys = parse_result_path(path)
    if keys["stage"] == "symmetry":
        return {"network": "symmetry", "model": keys.get("model"), "inputs": keys["variant"]}
    if keys["stage"] == "lesion":
        return {"network": f"lesion ({keys['dataset']})", "model": keys["model"],
                "inputs": f"{keys['classifier_mask']}-{keys['symmetry_mask']}"}
    raise ValueError(f"{path}: not a symmetry or lesion localisation file")


def cam_regions_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """"Where the CAM maxima fall": one row per localisation file (symmetry variants first, then
    the lesion models by dataset and number), ``network,model,inputs,n_images`` (``inputs``: the
    symmetry variant, or the lesion model's ``{classifier_mask}-{symmetry_mask}``), then
    :data:`REGION_METRICS` — ``argmax_<region>`` the share of images whose CAM arg-max falls in
    the region (``argmax_flat``: no positive value), ``mass_<region>`` the mean share of the CAM
    mass above the threshold, ``area_<region>`` the mean share of the image (the chance level).
    """
    rows = []
    for path in paths:
        df = _read_regions(path)
        row = {**_row_keys(path), "n_images": len(df)}
        counts = df["argmax_region"].value_counts()
        for r in (*REGION_NAMES, "flat"):
            row[f"argmax_{r}"] = float(counts.get(r, 0)) / len(df)
        for r in REGION_NAMES:
            row[f"mass_{r}"] = float(df[f"mass_{r}"].mean())
        for r in REGION_NAMES:
            row[f"area_{r}"] = float(df[f"area_{r}"].mean())
        rows.append(row)
    if not rows:
        raise ValueError("cam_regions_table: no localisation files given")
    table = pd.DataFrame(rows)
    order = table["network"].ne("symmetry").astype(int)
    table = table.assign(_o=order, _m=pd.to_numeric(table["model"], errors="coerce"))
    table = table.sort_values(["_o", "network", "_m", "inputs"], kind="stable")
    table["model"] = [None if pd.isna(m) else int(m) for m in table["model"]]   # no 1.0
    return table.drop(columns=["_o", "_m"]).reset_index(drop=True)[
        [*REGION_KEYS, "n_images", *REGION_METRICS]]


#: the row key of :func:`hair_removal_table` and its columns
HAIR_KEYS: tuple[str, ...] = ("filter",)
HAIR_METRICS: tuple[str, ...] = ("image_mean", "image_max", "lesion_mean", "lesion_median",
                                 "lesion_max", "lesion_over_10")
#: the column headers of :func:`hair_removal_table`
HAIR_LABELS: dict[str, str] = {
    "image_mean": "image marked (mean)", "image_max": "image marked (max)",
    "lesion_mean": "lesion marked (mean)", "lesion_median": "lesion marked (median)",
    "lesion_max": "lesion marked (max)", "lesion_over_10": "images with > 10 % of the lesion",
}


def hair_removal_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Per hair filter of the per-image table(s) (``image_id,image_<filter>,lesion_<filter>...``,
    :func:`selcn.report.data_figures.hair_table`): ``filter,n_images`` and the share of the
    image it marks as hair (mean, max) and of the lesion's ground-truth pixels (mean, median,
    max, and the share of images where it marks more than 10 % of the lesion; NaN without
    masks)."""
    frames = []
    for path in paths:
        df = pd.read_csv(path, dtype={"image_id": str})
        if "image_id" not in df.columns or df.empty:
            raise ValueError(f"{path}: expected a per-image hair table with rows "
                             "(image_id,image_<filter>,lesion_<filter>...)")
        frames.append(df)
    if not frames:
        raise ValueError("hair_removal_table: no hair table given")
    per = pd.concat(frames, ignore_index=True)
    filters = [c.removeprefix("image_") for c in per.columns if c.startswith("image_")
               and c != "image_id"]
    if not filters:
        raise ValueError(f"hair_removal_table: no image_<filter> column in {list(per.columns)}")
    rows = []
    for name in filters:
        image = pd.to_numeric(per[f"image_{name}"], errors="coerce")
        lesion = pd.to_numeric(per.get(f"lesion_{name}", pd.Series(np.nan, per.index)),
                               errors="coerce").dropna()
        rows.append({"filter": name, "n_images": int(image.notna().sum()),
                     "image_mean": float(image.mean()), "image_max": float(image.max()),
                     "lesion_mean": float(lesion.mean()) if len(lesion) else np.nan,
                     "lesion_median": float(lesion.median()) if len(lesion) else np.nan,
                     "lesion_max": float(lesion.max()) if len(lesion) else np.nan,
                     "lesion_over_10": float((lesion > 0.10).mean()) if len(lesion) else np.nan})
    return pd.DataFrame(rows)[[*HAIR_KEYS, "n_images", *HAIR_METRICS]]
