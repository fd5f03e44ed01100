"""Test helpers shared by the stage and workflow tests: tiny caches, tiny configs, Snakemake.

Plain functions (and the tiny runs' :data:`TINY_SYNTHETIC` / :data:`SHORT_TRAIN`), imported as
``from helpers import make_cache, tiny_config, run_snakemake``
(pytest puts ``tests/`` on ``sys.path``). They take arguments and are called inside the test
bodies, several times per test and with different arguments, so fixtures would only add a layer.

- :func:`make_cache` writes a cache in the contract's layout (docs/contracts.md:
  ``images.npy`` (N, S, S, 3) uint8, ``gt_masks.npy`` (N, S, S) uint8 in {0, 1}, ``index.csv``,
  ``splits.csv``; for the classifier stages also the predicted ``masks.npy`` and, for the lesion
  stage, ``cams.npy`` (N, S/2, S/2) float16) with images drawn for one stage (:data:`KINDS`);
- :func:`tiny_config` validates a minimal CPU config of one stage;
- :func:`run_snakemake` runs Snakemake in a subprocess on a work directory.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from selcn.config import validate_config

REPO = Path(__file__).resolve().parents[1]

LESION_CLASSES = ["akiec", "bcc", "bkl"]
SYMMETRY_CLASSES = ["asymmetric", "symmetric"]
BINARY_CLASSES = ["benign", "malignant"]

#: the 40 real PH² cases in the published layout (the project's shared data, beside the clone:
#: ``../shared/data/ph2-sample``; never copied into the repository)
PH2_SAMPLE = REPO.parent / "shared" / "data" / "ph2-sample" / "PH2Dataset"
#: ``PH2_SAMPLE / "PH2 Dataset images"``: one folder per case
PH2_SAMPLE_IMAGES = PH2_SAMPLE / "PH2 Dataset images"

#: ``data.synthetic`` of the workflow tests' tiny runs: 42 HAM10000 lesions (4 per class at
#: least) and small SymDerm / ISIC sets of 96 x 72 images, every dataset of the demo present
TINY_SYNTHETIC = {"n_lesions": 42, "min_lesions_per_class": 4, "n_symderm_own": 12,
                  "n_symderm_from_ham": 16, "n_isic2019_new": 16, "n_isic2019_from_ham": 4,
                  "n_isic2016_train": 12, "n_isic2016_test": 6, "width": 96, "height": 72}
#: ``<network>.train`` of a tiny run: one epoch of two batches of 8
SHORT_TRAIN = {"max_epochs": 1, "patience": 1, "batch_size": 8, "max_train_batches": 2}


# ---- tiny caches ---------------------------------------------------------------------------
def _lesion_images(rng, n, side, n_classes):
    """Class c = a disk of colour c on skin (3 classes)."""
    yy, xx = np.mgrid[:side, :side]
    colours = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])
    targets = np.arange(n) % 3
    images = np.empty((n, side, side, 3), np.uint8)
    masks = np.empty((n, side, side), np.uint8)
    for i, t in enumerate(targets):
        cy, cx = rng.uniform(side * 0.35, side * 0.65, size=2)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= (side * 0.25) ** 2
        skin = rng.normal([200, 170, 150], 8, size=(side, side, 3))
        lesion = rng.normal(colours[t], 8, size=(side, side, 3))
        images[i] = np.clip(np.where(disk[..., None], lesion, skin), 0, 255).astype(np.uint8)
        masks[i] = disk
    return images, masks, [LESION_CLASSES[t] for t in targets], targets


def _segmentation_images(rng, n, side, n_classes):
    """Bright disks (lesions) of random radius on noisy skin; one class (nv, target 5)."""
    yy, xx = np.mgrid[:side, :side]
    images = np.empty((n, side, side, 3), np.uint8)
    masks = np.empty((n, side, side), np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(side * 0.3, side * 0.7, size=2)
        r = rng.uniform(side * 0.15, side * 0.3)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
        skin = rng.normal([200, 160, 140], 12, size=(side, side, 3))
        lesion = rng.normal([90, 50, 40], 12, size=(side, side, 3))
        images[i] = np.clip(np.where(disk[..., None], lesion, skin), 0, 255).astype(np.uint8)
        masks[i] = disk
    return images, masks, "nv", 5


def _symmetry_images(rng, n, side, n_classes):
    """SymDerm-like: symmetric = centred ellipse, asymmetric = ellipse + side blob."""
    yy, xx = np.mgrid[:side, :side]
    targets = (np.arange(n) // 6) % 2                     # both classes in every split
    images = np.empty((n, side, side, 3), np.uint8)
    masks = np.empty((n, side, side), np.uint8)
    for i, t in enumerate(targets):
        c = side / 2 + rng.normal(0, 1, 2)
        lesion = ((yy - c[0]) / (side * 0.22)) ** 2 + ((xx - c[1]) / (side * 0.15)) ** 2 <= 1
        if t == 0:
            blob = (yy - c[0] - side * 0.15) ** 2 + (xx - c[1] - side * 0.15) ** 2
            lesion |= blob <= (side * 0.12) ** 2
        skin = rng.normal([205, 170, 150], 6, size=(side, side, 3))
        images[i] = np.clip(np.where(lesion[..., None], [90, 60, 40], skin), 0, 255)
        masks[i] = lesion
    return images, masks, [SYMMETRY_CLASSES[t] for t in targets], targets


def _binary_images(rng, n, side, n_classes):
    """Dark disks on skin; class 1 lesions are larger, so a classifier has something to learn."""
    yy, xx = np.mgrid[:side, :side]
    images = np.empty((n, side, side, 3), np.uint8)
    masks = np.empty((n, side, side), np.uint8)
    targets = np.arange(n) % n_classes
    for i in range(n):
        cy, cx = rng.uniform(side * 0.35, side * 0.65, size=2)
        r = side * (0.12 + 0.12 * targets[i]) * rng.uniform(0.9, 1.1)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
        skin = rng.normal([200, 160, 140], 12, size=(side, side, 3))
        lesion = rng.normal([90, 50, 40], 12, size=(side, side, 3))
        images[i] = np.clip(np.where(disk[..., None], lesion, skin), 0, 255).astype(np.uint8)
        masks[i] = disk
    return images, masks, np.array(BINARY_CLASSES)[targets], targets


#: kind -> (image generator, default n, default side S, default split of row i, lesion groups
#: of row i or None for one lesion per image, files beside images.npy / gt_masks.npy).
KINDS = {
    "lesion": (_lesion_images, 30, 32,
               lambda i: "test" if i % 5 == 0 else f"fold{i % 2}", None, ("masks", "cams")),
    "segmentation": (_segmentation_images, 24, 32,
                     lambda i: "test" if i % 4 == 0 else f"fold{i % 2}", None, ()),
    "symmetry": (_symmetry_images, 36, 48,
                 lambda i: "test" if i % 6 < 2 else "excluded" if i % 6 == 2 else f"fold{i % 3}",
                 None, ("masks",)),
    "binary": (_binary_images, 24, 32,
               lambda i: "test" if i // 2 % 6 == 0 else f"fold{i // 2 % 2}",
               lambda i: f"L{i // 2}", ()),
}
#: kinds whose split table is written in reverse row order (it need not follow the cache).
_REVERSED_SPLITS = {"lesion", "segmentation"}


def make_cache(root: Path, kind: str, n: int | None = None, side: int | None = None,
               seed: int = 0, split_of: Callable[[int], str] | None = None,
               n_classes: int = 2) -> Path:
    """Write a tiny cache of ``n`` images of ``side`` px (defaults per kind) under ``root``.

    ``kind`` picks the images (:data:`KINDS`): ``lesion`` (3 colour classes, with predicted
    masks = the ground truth and CAMs at S/2), ``segmentation`` (one class, disks of random
    radius), ``symmetry`` (2 classes, with predicted masks) or ``binary`` (``n_classes`` disk
    sizes, 2 images per lesion group). ``split_of(i)`` names the split of row ``i``. The same
    arguments give the same bytes. Returns ``root``.
    """
    draw, n_default, side_default, split_default, group_of, extra = KINDS[kind]
    n = n_default if n is None else n
    side = side_default if side is None else side
    rng = np.random.default_rng(seed)
    images, masks, labels, targets = draw(rng, n, side, n_classes)
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "images.npy", images)
    np.save(root / "gt_masks.npy", masks)
    if "masks" in extra:
        np.save(root / "masks.npy", masks)                 # "predicted" masks
    if "cams" in extra:
        cams = (masks[:, ::2, ::2] * rng.uniform(0.5, 1.0, size=(n, 1, 1))).astype(np.float16)
        np.save(root / "cams.npy", cams)                   # (N, R, R), R = S / 2
    ids = [f"ISIC_{i:07d}" for i in range(n)]
    groups = ids if group_of is None else [group_of(i) for i in range(n)]
    index = pd.DataFrame({"row": range(n), "image_id": ids, "label": labels, "target": targets,
                          "group": groups, "source": "synthetic"})
    index.to_csv(root / "index.csv", index=False)
    split_of = split_of or split_default
    splits = index[["image_id", "label", "target", "group"]].assign(
        split=[split_of(i) for i in range(n)])
    if kind in _REVERSED_SPLITS:
        splits = splits.iloc[::-1]
    splits.to_csv(root / "splits.csv", index=False)
    return root


def cache_paths(root: Path) -> dict[str, str]:
    """The stage-input mapping of a cache written by :func:`make_cache` (str paths)."""
    return {"images": str(root / "images.npy"), "gt_masks": str(root / "gt_masks.npy"),
            "index": str(root / "index.csv"), "splits": str(root / "splits.csv")}


def cache_arrays(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """``images`` (N, S, S, 3) uint8 and ``gt_masks`` (N, S, S) uint8 of a cache under ``root``."""
    return np.load(root / "images.npy"), np.load(root / "gt_masks.npy")


# ---- tiny configs --------------------------------------------------------------------------
_TRAIN = {"max_epochs": 5, "patience": 2, "batch_size": 4, "lr": 1e-3}
TINY_CONFIGS = {
    "lesion": {
        "data": {"balance": {"target_per_class": 12, "max_copies": 3}},
        "lesion": {"architecture": "efficientnet_b0", "pretrained": False, "input_size": 32,
                   "folds": 2,
                   "train": {"max_epochs": 1, "patience": 1, "batch_size": 8, "lr": 1e-3}},
    },
    "segmentation": {
        "segmentation": {"encoder": "resnet18", "pretrained": False, "input_size": 32,
                         "train": {"max_epochs": 2, "patience": 2, "batch_size": 4,
                                   "lr": 1e-3}},
    },
    "hpo": {
        "data": {"balance": {"target_per_class": 12, "max_copies": 1}},
        "segmentation": {"architectures": ["unet"], "encoder": "resnet18", "pretrained": False,
                         "input_size": 32, "train": _TRAIN},
        "lesion": {"architecture": "test_efficientnet", "pretrained": False,
                   "input_size": 32, "train": _TRAIN},
        "hpo": {"enabled": True, "n_calls": 2, "n_initial_points": 2, "max_epochs": 1,
                "space": {"batch_size": [4, 8], "lr": [1e-4, 1e-2]}},
    },
}


def tiny_config(stage: str, protocol: str | None = None, **section) -> dict:
    """The validated CPU config (seed 0) of :data:`TINY_CONFIGS` ``[stage]``.

    ``section`` updates the stage's own section (``config[stage]``) key by key, a key replacing
    the whole value (``train={...}`` replaces the train block); ``protocol`` sets the top-level
    protocol (default: the schema's).
    """
    raw = {"device": "cpu", "seed": 0, **copy.deepcopy(TINY_CONFIGS[stage])}
    raw[stage].update(section)
    if protocol is not None:
        raw["protocol"] = protocol
    return validate_config(raw)


# ---- Snakemake ----------------------------------------------------------------------------
def run_snakemake(workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile",
                  timeout: int = 600) -> subprocess.CompletedProcess:
    """``snakemake --snakefile SNAKEFILE --directory WORKDIR ARGS`` (this interpreter's, offline
    hub, in ``workdir``); stdout and stderr captured as text. Raises on ``timeout`` (s)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile),
           "--directory", str(workdir), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env=env)
