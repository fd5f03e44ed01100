"""Model bundles: everything one trained grid model needs to classify new images, in one folder.

A bundle is written by :func:`export_bundle` (the workflow's ``export_model`` rule) and read by
:func:`load_bundle` (``selcn predict``). Layout::

    <bundle>/manifest.json       what is inside (below), file checksums, package versions
    <bundle>/segmentation.pt     the selected segmentation network (its ``model.pt``)
    <bundle>/symmetry.pt         the symmetry network of the model's symmetry mask (best fold,
                                 chosen on validation); absent for ``symmetry_mask: off``
    <bundle>/lesion_fold<k>.pt   the K lesion fold models (their ``model.pt``)

``manifest.json`` holds ``format``/``format_version``, the model (``number`` 1-12,
``classifier_mask``, ``symmetry_mask``, ``dataset``, ``class_names``), ``preprocessing`` (cache
side ``image_size`` in px, ``hair_removal``, ``lae_scale``, ImageNet ``mean``/``std``, each
network's ``input_size``, the segmentation ``threshold``, the symmetry ``cam_size``), the
``networks`` and where they came from, ``validation`` (per-fold and mean validation metrics of
the lesion folds, from their ``predictions_val.csv``), ``selection`` (how the model was chosen),
``config_hash``, ``versions`` (package versions at export time), ``created`` (UTC, ISO 8601) and
``files`` (``name -> sha256``).

:func:`validate_bundle` raises one :class:`BundleError` naming the problem: a missing or
altered file, or a package whose installed version differs from the exporting one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from selcn.atomic import atomic_dir
from selcn.data.datasets import IMAGENET_MEAN, IMAGENET_STD
from selcn.grid import CAM_OFF, CAM_SOURCES, MASKS
from selcn.lesion import load_lesion_model
from selcn.metrics import classification_metrics
from selcn.predictions import read_predictions
from selcn.segmentation import load_segmentation_model
from selcn.symmetry import load_symmetry_model

__all__ = ["BUNDLE_FORMAT", "FORMAT_VERSION", "CHECKED_PACKAGES", "MANIFEST", "LAE_SCALE",
           "BundleError", "Bundle", "package_versions", "config_hash", "validation_metrics",
           "select_model", "BundleFiles", "BundleSettings", "export_bundle", "validate_bundle",
           "load_bundle"]

BUNDLE_FORMAT = "selcn-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: growth factor of the LAE box (the default of :mod:`selcn.masks` and of training)
LAE_SCALE = 1.4
#: distributions whose version must match the exporting one: they define the networks' layers
#: and state-dict keys (torch, torchvision, timm, smp), the preprocessing (OpenCV) and the
#: cascade itself (selcn)
CHECKED_PACKAGES: tuple[str, ...] = ("selcn", "torch", "torchvision", "timm",
                                     "segmentation-models-pytorch", "opencv-python-headless")
#: recorded for information only
_INFO_PACKAGES: tuple[str, ...] = ("numpy", "pillow")


class BundleError(RuntimeError):
    """A bundle is incomplete, altered, or was written with other package versions."""


@dataclass
class Bundle:
    """A loaded bundle: the networks in eval mode on ``device`` and their metadata.

    Attributes:
        root: the bundle folder.
        manifest: the parsed ``manifest.json``.
        segmentation: ``(model, meta)`` of :func:`selcn.segmentation.load_segmentation_model`.
        symmetry: ``(model, meta)`` of :func:`selcn.symmetry.load_symmetry_model`, or None
            (``symmetry_mask: off``).
        lesion: one ``(model, meta)`` per fold (:func:`selcn.lesion.load_lesion_model`).
        device: where the networks are.
    """

    root: Path
    manifest: dict
    segmentation: tuple[nn.Module, dict]
    symmetry: tuple[nn.Module, dict] | None
    lesion: list[tuple[nn.Module, dict]]
    device: torch.device

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["model"]["class_names"])

    @property
    def preprocessing(self) -> dict:
        return dict(self.manifest["preprocessing"])


# ---- helpers --------------------------------------------------------------------------------
def package_versions(names: Sequence[str] = CHECKED_PACKAGES + _INFO_PACKAGES) -> dict[str, str]:
    """Installed version of each distribution in ``names`` (``"not installed"`` when absent)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def config_hash(cfg: Mapping | str) -> str:
    """sha256 (hex, first 16 digits) of a config: a mapping as canonical JSON (sorted keys), or
    a string as is (e.g. the workflow's canonical form of the keys a rule depends on)."""
    text = cfg if isinstance(cfg, str) else json.dumps(cfg, sort_keys=True, default=str,
                                                       separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def validation_metrics(prediction_csvs: Mapping[int, str | Path],
                       class_names: Sequence[str] | None = None) -> dict:
    """Validation metrics of a model's folds from their ``predictions_val.csv``.

    Returns ``{"folds": {fold: {"accuracy", "balanced_accuracy", "f1"}}, "mean": {...}}``;
    ``f1`` is the macro-F1 over every class of the model (absent classes count 0).
    """
    if not prediction_csvs:
        raise ValueError("validation_metrics: no prediction file given")
    folds = {}
    for fold, path in sorted(prediction_csvs.items()):
        table = read_predictions(path, class_names)
        if table.empty:
            raise ValueError(f"{path}: prediction file has no rows")
        n_classes = sum(1 for c in table.columns if str(c).startswith("prob_"))
        scores = classification_metrics(table["target"], table["pred"], average="macro",
                                         labels=list(range(n_classes)))
        folds[str(int(fold))] = {k: scores[k] for k in ("accuracy", "balanced_accuracy", "f1")}
    mean = {k: float(np.mean([f[k] for f in folds.values()]))
            for k in ("accuracy", "balanced_accuracy", "f1")}
    return {"folds": folds, "mean": mean}


def select_model(candidates: Mapping[int, Mapping[int, str | Path]]) -> dict:
    """The grid model with the best mean **validation** macro-F1 over its folds.

    Args:
        candidates: model number -> (fold -> ``predictions_val.csv``). Test predictions are
            never looked at.

    Returns:
        ``{"number", "criterion": "val_macro_f1_mean", "value", "values": {number: value}}``;
        the lowest model number wins a tie.
    """
    if not candidates:
        raise ValueError("select_model: no candidate model")
    values = {int(n): validation_metrics(files)["mean"]["f1"] for n, files in candidates.items()}
    best = max(values, key=lambda n: (values[n], -n))
    return {"number": best, "criterion": "val_macro_f1_mean", "value": values[best],
            "values": {str(n): v for n, v in sorted(values.items())}}


# ---- writing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BundleFiles:
    """The model files one bundle gathers.

    Attributes:
        segmentation_pt: the selected segmentation network's ``model.pt``.
        symmetry_pt: the best fold's ``model.pt`` of the symmetry variant whose mask is the
            lesion model's ``symmetry_mask``; None for ``symmetry_mask: off``.
        lesion_pts: fold -> the lesion fold's ``model.pt``.
    """

    segmentation_pt: str | Path
    symmetry_pt: str | Path | None
    lesion_pts: Mapping[int, str | Path]


@dataclass(frozen=True)
class BundleSettings:
    """What the manifest records about the model besides its networks.

    Attributes:
        number: thesis model number (1-12).
        dataset: the lesion dataset the model was trained on.
        image_size: side of the cached images (px), ``data.image_size``.
        hair_removal: ``data.hair_removal``.
        cam_size: side of the symmetry CAMs the lesion network was trained with (px).
        cfg_hash: :func:`config_hash` of the workflow config.
    """

    number: int
    dataset: str
    image_size: int
    hair_removal: bool
    cam_size: int
    cfg_hash: str


def export_bundle(out_dir: str | Path, files: BundleFiles, settings: BundleSettings, *,
                  validation: Mapping, selection: Mapping,
                  sources: Mapping[str, Any] | None = None) -> dict:
    """Gather one grid model into the bundle folder ``out_dir`` and write its manifest.

    Args:
        files: the segmentation, symmetry and lesion fold model files (:class:`BundleFiles`).
        settings: model number, dataset, preprocessing sizes and config hash
            (:class:`BundleSettings`).
        validation: :func:`validation_metrics` of the lesion folds.
        selection: how the model was chosen (:func:`select_model`, or ``{"number": N}``).
        sources: provenance recorded as is (e.g. the paths of the copied files).

    The folder is assembled under a temporary name and renamed when complete. Every model
    file is loaded once to check that the networks fit together (masks, classes, sizes).
    Returns the manifest.
    """
    segmentation_pt, symmetry_pt, lesion_pts = (files.segmentation_pt, files.symmetry_pt,
                                                files.lesion_pts)
    out_dir = Path(out_dir)
    if not lesion_pts:
        raise ValueError("export_bundle: no lesion fold model given")
    _, seg_meta = load_segmentation_model(segmentation_pt)
    lesion_metas = {int(k): load_lesion_model(p)[1] for k, p in sorted(lesion_pts.items())}
    first = next(iter(lesion_metas.values()))
    for fold, meta in lesion_metas.items():
        for key in ("arch", "input_size", "classifier_mask", "symmetry_mask", "class_names",
                    "use_cam"):
            if meta[key] != first[key]:
                raise ValueError(f"{lesion_pts[fold]}: {key} {meta[key]!r} differs from fold "
                                 f"{next(iter(lesion_metas))}'s {first[key]!r}")
    cm, sm = first["classifier_mask"], first["symmetry_mask"]
    sym_meta = None
    if sm == CAM_OFF:
        if symmetry_pt is not None:
            raise ValueError("export_bundle: a model without CAM transfer (symmetry_mask off) "
                             "takes no symmetry network")
    else:
        if symmetry_pt is None:
            raise ValueError(f"export_bundle: symmetry_mask {sm!r} needs its symmetry network")
        _, sym_meta = load_symmetry_model(symmetry_pt)
        if sym_meta["mask"] != sm:
            raise ValueError(f"{symmetry_pt}: symmetry network of mask {sym_meta['mask']!r}, "
                             f"the lesion model was trained with {sm!r} CAMs")

    with atomic_dir(out_dir) as tmp:              # the bundle appears whole or not at all
        files = {"segmentation": "segmentation.pt"}
        shutil.copyfile(segmentation_pt, tmp / files["segmentation"])
        if symmetry_pt is not None:
            files["symmetry"] = "symmetry.pt"
            shutil.copyfile(symmetry_pt, tmp / files["symmetry"])
        lesion_files = []
        for fold, path in sorted(lesion_pts.items()):
            name = f"lesion_fold{int(fold)}.pt"
            shutil.copyfile(path, tmp / name)
            lesion_files.append(name)
        manifest = {
            "format": BUNDLE_FORMAT,
            "format_version": FORMAT_VERSION,
            "model": {"number": int(settings.number), "classifier_mask": cm,
                      "symmetry_mask": sm, "dataset": settings.dataset,
                      "class_names": list(first["class_names"])},
            "preprocessing": {
                "image_size": int(settings.image_size),
                "hair_removal": bool(settings.hair_removal),
                "lae_scale": LAE_SCALE, "mean": IMAGENET_MEAN.tolist(),
                "std": IMAGENET_STD.tolist(),
                "segmentation_input_size": int(seg_meta["input_size"]),
                "segmentation_threshold": float(seg_meta["threshold"]),
                "symmetry_input_size": int(sym_meta["input_size"]) if sym_meta else None,
                "cam_size": int(settings.cam_size) if sym_meta else None,
                "lesion_input_size": int(first["input_size"]),
            },
            "networks": {
                "segmentation": {"file": files["segmentation"], "arch": seg_meta["arch"],
                                 "encoder": seg_meta["encoder"]},
                "symmetry": None if sym_meta is None else {
                    "file": files["symmetry"], "arch": sym_meta["arch"],
                    "mask": sym_meta["mask"], "pretrained": sym_meta.get("pretrained"),
                    "fold": sym_meta.get("fold"), "class_names": list(sym_meta["class_names"])},
                "lesion": {"files": lesion_files, "arch": first["arch"],
                           "use_cam": bool(first["use_cam"]),
                           "folds": [int(k) for k in sorted(lesion_pts)]},
            },
            "validation": dict(validation),
            "selection": dict(selection),
            "config_hash": settings.cfg_hash,
            "versions": package_versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "sources": dict(sources or {}),
            "files": {p.name: _sha256(p) for p in sorted(tmp.iterdir())},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# ---- reading --------------------------------------------------------------------------------
def validate_bundle(path: str | Path, *, check_versions: bool = True) -> dict:
    """Check a bundle folder and return its manifest.

    Raises :class:`BundleError` with one message naming the problem: the folder or
    ``manifest.json`` missing or unreadable, another bundle format, a file listed in the
    manifest missing or altered (sha256), or (``check_versions``) a package of
    :data:`CHECKED_PACKAGES` installed in another version than the one that exported it.
    """
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"bundle not found: {root} is not a folder")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"bundle {root}: missing file {MANIFEST}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"bundle {root}: {MANIFEST} is not valid JSON ({err})") from None
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"bundle {root}: {MANIFEST} is not a {BUNDLE_FORMAT} manifest "
                          f"(format {manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"bundle {root}: format version {manifest.get('format_version')!r}, "
                          f"this selcn reads version {FORMAT_VERSION}")
    for key in ("model", "preprocessing", "networks", "files", "versions"):
        if key not in manifest:
            raise BundleError(f"bundle {root}: {MANIFEST} lacks the field {key!r}")
    nets = manifest["networks"]
    needed = [nets["segmentation"]["file"], *nets["lesion"]["files"]]
    if nets.get("symmetry"):
        needed.append(nets["symmetry"]["file"])
    for name in needed:
        if name not in manifest["files"]:
            raise BundleError(f"bundle {root}: {MANIFEST} has no checksum of {name}")
    for name, digest in manifest["files"].items():
        file = root / name
        if not file.is_file():
            raise BundleError(f"bundle {root}: missing file {name}")
        if _sha256(file) != digest:
            raise BundleError(f"bundle {root}: file {name} differs from the exported one "
                              "(sha256 mismatch)")
    if check_versions:
        installed = package_versions(CHECKED_PACKAGES)
        for name in CHECKED_PACKAGES:
            recorded = manifest["versions"].get(name)
            if recorded is not None and recorded != installed[name]:
                raise BundleError(
                    f"bundle {root} was exported with {name} {recorded}, this environment has "
                    f"{name} {installed[name]}: install {name}=={recorded} (or pass "
                    "--ignore-versions to try anyway)")
    model = manifest["model"]
    if model.get("classifier_mask") not in MASKS or \
            model.get("symmetry_mask") not in CAM_SOURCES:
        raise BundleError(f"bundle {root}: unknown masks {model.get('classifier_mask')!r} / "
                          f"{model.get('symmetry_mask')!r} in {MANIFEST}")
    return manifest


def load_bundle(path: str | Path, device: str | torch.device = "cpu", *,
                check_versions: bool = True) -> Bundle:
    """:func:`validate_bundle`, then load every network in eval mode on ``device``."""
    manifest = validate_bundle(path, check_versions=check_versions)
    root = Path(path)
    device = torch.device(device)
    nets = manifest["networks"]
    seg = load_segmentation_model(root / nets["segmentation"]["file"], device)
    sym = load_symmetry_model(root / nets["symmetry"]["file"], device) \
        if nets.get("symmetry") else None
    lesion = [load_lesion_model(root / name, device) for name in nets["lesion"]["files"]]
    for _, meta in lesion:
        if list(meta["class_names"]) != list(manifest["model"]["class_names"]):
            raise BundleError(f"bundle {root}: lesion model classes {meta['class_names']} differ "
                              f"from the manifest's {manifest['model']['class_names']}")
        if bool(meta["use_cam"]) != (sym is not None):
            raise BundleError(f"bundle {root}: lesion model use_cam={meta['use_cam']} but the "
                              f"bundle {'has' if sym else 'lacks'} a symmetry network")
    return Bundle(root=root, manifest=manifest, segmentation=seg, symmetry=sym, lesion=lesion,
                  device=device)
