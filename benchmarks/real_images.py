"""What the real images show (issue 20, ``docs/real-images.md``): the hair filters on PH², and the
CAM localisation of the PH² runs with and without the remedies.

Not a test: prints markdown tables.

``hair`` — every image of a PH² folder (default ``resources/data/PH2Dataset``, the sample or all
200 cases) at its stored resolution, each hair filter of ``selcn.data.preprocess.HAIR_METHODS``
(``thesis``, ``thesis_code``, ``pigment_sparing``): the share of the image and of the lesion
(PH²'s expert mask) it marks as hair, on the images as they are and, to measure what a filter
still finds, with synthetic hairs drawn over them (the demo renderer's strands: 4-17 quadratic
curves, 2-4 px wide at PH²'s size, dark brown, seeded per image): the share of the drawn hair
pixels each filter marks (recall). The images with real hair (found by eye in the 40-case
sample) are listed on their own.

``runs`` — for results folders of ``config/ph2.yaml`` runs (``name=folder``), models 1, 3, 5
and the symmetry variants: pointing game (undilated / dilated mask), its chance level (the
lesion's share of the image), the centre-point rate, where the CAM maxima fall
(``argmax_region``) and the test accuracy (Tables 6b / 8b), on the test split the workflow
localises (``localisation*.csv``); with ``--all-images`` the same localisation recomputed on
every image of the sample (``selcn.engine.localise`` with no split: the CAMs of the best fold's
model, training images included).

Usage::

    .venv/bin/python benchmarks/real_images.py hair
    .venv/bin/python benchmarks/real_images.py runs black=results_ph2 mean=results_ph2_mean \\
        --all-images
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd

#: PH² sample images with real hair, found by eye (the rest have little or none)
HAIRY = ("IMD049", "IMD166", "IMD226", "IMD378", "IMD411", "IMD014", "IMD144")
FILTERS = ("thesis", "thesis_code", "pigment_sparing")


def draw_hair(image_rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The demo renderer's hair (:func:`selcn.data.synthetic.render.hair_strands`) over an RGB
    image: ``(image with hair, bool (H, W) the strands' pixels at >= 50 % opacity)``."""
    from selcn.data.synthetic.render import hair_strands

    layer = hair_strands(rng, *image_rgb.shape[:2])
    a = layer.astype(np.float32)[..., None] / 255 * 0.9
    out = image_rgb.astype(np.float32) * (1 - a) + np.array([25, 28, 35], np.float32) * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), layer >= 128


def hair(args: argparse.Namespace) -> None:
    from selcn.data.preprocess import hair_mask
    from selcn.data.readers import read_dataset

    root = Path(args.ph2)
    table = read_dataset("ph2", {"xlsx": str(root / "PH2_dataset.xlsx"),
                                 "images_root": str(root / "PH2 Dataset images")})
    from selcn.data.preprocess import load_image, load_mask

    rows = []
    for k, item in enumerate(table.itertuples()):
        rgb = load_image(item.path)
        lesion = load_mask(item.mask_path) > 0
        hairy, strands = draw_hair(rgb, np.random.default_rng([args.seed, k]))
        row = {"image_id": item.image_id}
        for f in FILTERS:
            found = hair_mask(np.ascontiguousarray(rgb[..., ::-1]), f) > 0
            row[f"image_{f}"] = found.mean()
            row[f"lesion_{f}"] = found[lesion].mean()
            drawn = hair_mask(np.ascontiguousarray(hairy[..., ::-1]), f) > 0
            row[f"recall_{f}"] = drawn[strands].mean()
            row[f"recall_lesion_{f}"] = drawn[strands & lesion].mean() if (strands & lesion).any() \
                else np.nan
        rows.append(row)
    per = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(f"{len(per)} PH² images of {root}\n")
    print("| filter | image marked (mean) | lesion marked (mean / median / max) | images with "
          "> 10 % of the lesion | synthetic hair found (mean / min) | ... of it over the lesion |")
    print("| --- | --- | --- | --- | --- | --- |")
    for f in FILTERS:
        les = per[f"lesion_{f}"]
        print(f"| {f} | {per[f'image_{f}'].mean():.1%} | {les.mean():.1%} / {les.median():.1%} / "
              f"{les.max():.1%} ({per.loc[les.idxmax(), 'image_id']}) | "
              f"{(les > 0.10).sum()} of {len(per)} | {per[f'recall_{f}'].mean():.1%} / "
              f"{per[f'recall_{f}'].min():.1%} | {per[f'recall_lesion_{f}'].mean():.1%} |")
    hairy_rows = per[per["image_id"].isin(HAIRY)]
    if len(hairy_rows):
        print("\nImages with real hair (by eye): share of the image / of the lesion marked\n")
        print("| image | " + " | ".join(FILTERS) + " |")
        print("| --- |" + " --- |" * len(FILTERS))
        for r in hairy_rows.itertuples():
            print(f"| {r.image_id} | " + " | ".join(
                f"{getattr(r, 'image_' + f):.1%} / {getattr(r, 'lesion_' + f):.1%}"
                for f in FILTERS) + " |")
    if args.csv:
        per.to_csv(args.csv, index=False)


# ---- the runs -------------------------------------------------------------------------------
SYMMETRY_VARIANTS = ("scratch-none", "scratch-seg", "scratch-lae")
LESION_MODELS = {1: "none-off", 3: "none-seg", 5: "seg-off"}


def _fold_scores(files: list[Path], balanced: bool) -> float:
    """Mean over the folds' ``predictions_test.csv`` of the accuracy (balanced: the mean recall
    over the classes present)."""
    scores = []
    for f in files:
        t = pd.read_csv(f)
        hit = t["pred"] == t["target"]
        scores.append(hit.groupby(t["target"]).mean().mean() if balanced else hit.mean())
    return float(np.mean(scores)) if scores else float("nan")


def _accuracy(results: Path) -> dict[str, float]:
    """Test accuracy of the lesion models (as Table 8b: mean over folds) and balanced accuracy of
    the symmetry variants (as Table 6b's balanced column), from the prediction files."""
    out = {}
    for number, name in LESION_MODELS.items():
        files = sorted((results / "lesion" / "ph2" / name).glob("fold*/predictions_test.csv"))
        out[f"lesion {number}"] = _fold_scores(files, balanced=False)
    for variant in SYMMETRY_VARIANTS:
        files = sorted((results / "symmetry" / variant).glob("fold*/predictions_test.csv"))
        out[f"symmetry {variant}"] = _fold_scores(files, balanced=True)
    return out


def _localisation_files(results: Path) -> dict[str, Path]:
    files = {f"symmetry {v}": results / "symmetry" / v / "localisation_ph2.csv"
             for v in SYMMETRY_VARIANTS}
    files.update({f"lesion {n}": results / "lesion" / "ph2" / m / "localisation.csv"
                  for n, m in LESION_MODELS.items()})
    return {k: v for k, v in files.items() if v.is_file()}


def _summary(table: pd.DataFrame) -> dict[str, object]:
    regions = table["argmax_region"].value_counts()
    where = ", ".join(f"{r} {int(regions.get(r, 0))}" for r in
                      ("lesion", "edge", "skin", "vignette", "masked") if regions.get(r, 0))
    return {"n": len(table), "pointing": table["pointing"].mean(),
            "pointing_dilated": table["pointing_dilated"].mean()
            if "pointing_dilated" in table else np.nan,
            "chance": table["gt_fraction_undilated"].mean(),
            "centre": table["centre_in_gt"].mean(), "maxima": where}


def _all_images(results: Path, key: str, cfg: dict) -> pd.DataFrame:
    """The best fold's localisation recomputed on every image of the sample (the CAMs of the
    fold ``best_fold.json`` names, as the workflow localised it on the test split)."""
    import json

    from selcn import lesion, symmetry
    from selcn.data.inputs import StageInputs
    from selcn.engine import localise

    network, name = key.split(" ")
    if network == "symmetry":
        folder, kind, mask, cam = results / "symmetry" / name, symmetry, name.split("-")[1], None
    else:
        name = LESION_MODELS[int(name)]
        folder, kind = results / "lesion" / "ph2" / name, lesion
        mask, cam = name.split("-")
    best = json.loads((folder / "best_fold.json").read_text())["fold"]
    saved = kind.open_model(folder / f"fold{best}" / "model.pt")
    cache = results / "cache" / "ph2"
    inputs = StageInputs(
        images=str(cache / "images.npy"), index=str(cache / "index.csv"),
        splits=str(results / "splits" / "ph2.csv"),
        masks=str(results / "masks" / "ph2.npy") if mask != "none" else None,
        cams=str(results / "cams" / cam / "ph2.npy") if cam not in (None, "off") else None,
        gt_masks=str(cache / "gt_masks.npy"))
    return localise(saved, inputs.open(), None, cfg["cams"])


def runs(args: argparse.Namespace) -> None:
    import yaml

    from selcn.config import validate_config

    cfg = validate_config(yaml.safe_load((REPO / "config" / "ph2.yaml").read_text()))
    header = ("| run | network | test accuracy* | images | pointing | pointing (dilated) | "
              "chance | centre | maxima on |")
    print(header)
    print("| --- " * 9 + "|")
    for spec in args.runs:
        name, folder = spec.split("=", 1)
        results = Path(folder)
        acc = _accuracy(results)
        for key, path in _localisation_files(results).items():
            table = pd.read_csv(path, keep_default_na=False, dtype={"argmax_region": str})
            views = [("test", table)]
            if args.all_images:
                views.append(("all", _all_images(results, key, cfg)))
            for what, t in views:
                s = _summary(t)
                print(f"| {name} | {key} | {acc.get(key, np.nan):.3f} | {s['n']} ({what}) | "
                      f"{s['pointing']:.3f} | {s['pointing_dilated']:.3f} | {s['chance']:.3f} | "
                      f"{s['centre']:.3f} | {s['maxima']} |")
    print("\n*: lesion models accuracy, symmetry networks balanced accuracy (test split, mean "
          "over the folds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser("hair", help="the hair filters on PH²")
    h.add_argument("--ph2", default=str(REPO / "resources" / "data" / "PH2Dataset"))
    h.add_argument("--seed", type=int, default=42)
    h.add_argument("--csv", default=None, help="also write the per-image table here")
    r = sub.add_parser("runs", help="CAM localisation of config/ph2.yaml runs")
    r.add_argument("runs", nargs="+", help="name=results_folder")
    r.add_argument("--all-images", action="store_true",
                   help="also localise every image of the sample (the best fold's CAMs)")
    args = parser.parse_args()
    {"hair": hair, "runs": runs}[args.command](args)


if __name__ == "__main__":
    main()
