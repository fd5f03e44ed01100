"""Model bundles: everything one trained grid model needs to classify new images, in one folder.

A bundle is written by :func:`export_bundle` (the workflow's ``export_model`` rule) and read by
:func:`load_bundle` (``selcn predict``). Layout::

    <bundle>/manifest.json       what is inside (below), file checksums, package versions
    <bundle>/manifest.sha256     the manifest's own checksum, ``sha256sum`` format
                                 (``<hex>  manifest.json``: ``sha256sum -c manifest.sha256``)
    <bundle>/segmentation.pt     the selected segmentation network (its ``model.pt``)
    <bundle>/symmetry.pt         the symmetry network of the model's symmetry mask (best fold,
                                 chosen on validation); absent for ``symmetry_mask: off``
    <bundle>/lesion_fold<k>.pt   the K lesion fold models (their ``model.pt``)

A bundle of model 13 (:mod:`selcn.multitask`, :func:`export_multitask_bundle`) holds one
network per fold instead, ``multitask_fold<k>.pt`` (``networks.multitask``): no segmentation
or symmetry file, as the network predicts the mask and the symmetry itself.

``manifest.json`` holds ``format``/``format_version``, the model (``number`` 1-12,
``classifier_mask``, ``symmetry_mask``, ``dataset``, ``class_names``), ``preprocessing`` (cache
side ``image_size`` in px, ``hair_removal`` (whether hair was removed) and ``hair_filter`` (which
filter: :data:`selcn.data.preprocess.HAIR_METHODS`), ``lae_scale``, ImageNet ``mean``/``std``,
each network's ``input_size``, the segmentation ``threshold``, the symmetry ``cam_size``, and the
masking of the symmetry and lesion inputs ``symmetry_masking`` / ``lesion_masking``
(``mask_fill``, ``lae_clip``, ``mask_vignette``: :meth:`selcn.data.datasets.View.record`; the
networks' own files record the same, and ``selcn predict`` masks as they say)), the
``networks`` and where they came from, ``validation`` (per-fold and mean validation metrics of
the lesion folds, from their ``predictions_val.csv``), ``selection`` (how the model was chosen),
``data`` (what the networks learnt from: ``source`` ``synthetic`` or ``files``, ``synthetic``
true / false, the ``datasets`` of each network and, for real data, the configured ``paths`` of
those datasets), ``protocol``, ``config_hash`` (digest of the config sections a trained model
depends on), ``project_version`` (selcn), ``versions`` (package versions at export time),
``created`` (UTC, ISO 8601), ``sources`` (provenance: the workflow paths the networks were
copied from; never opened when reading) and ``files`` (``name -> sha256``).

Reading (:func:`validate_bundle`, :func:`load_bundle`) trusts nothing in the folder: the
manifest must match ``manifest.sha256`` (an edited manifest is refused), every file it names must
be a plain file name inside the bundle folder (no ``..``, no absolute path, no symlink leading
out of the folder) and match its sha256, and the networks are read with
``torch.load(weights_only=True)`` (a pickled object other than tensors and plain values is
refused unread). Every problem is one :class:`BundleError` naming the bundle and the file.

Package versions (:func:`compare_versions`) are compared by their public release numbers: a
local tag (``2.14.1+cu126``, ``+cpu``) and a different patch release never matter; the
per-package :data:`VERSION_POLICY` says how many leading numbers must be equal for the bundle to
load (a difference there is a :class:`BundleError`, a warning under ``--ignore-versions``);
any other difference in major.minor is a warning naming both versions.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from selcn.atomic import atomic_dir
from selcn.checkpoints import describe_load_error
from selcn.data.datasets import IMAGENET_MEAN, IMAGENET_STD, View
from selcn.grid import CAM_OFF, CAM_OWN, CAM_SOURCES, MASKS, MULTITASK
from selcn.lesion import load_lesion_model
from selcn.metrics import classification_metrics
from selcn.predictions import read_predictions
from selcn.segmentation import load_segmentation_model
from selcn.symmetry import load_symmetry_model

__all__ = ["BUNDLE_FORMAT", "FORMAT_VERSION", "CHECKED_PACKAGES", "VERSION_POLICY", "MANIFEST",
           "MANIFEST_CHECKSUM", "DATA_SOURCES", "LAE_SCALE", "BundleError", "Bundle",
           "package_versions", "compare_versions", "config_hash", "validation_metrics",
           "select_model", "BundleFiles", "BundleSettings", "BundleProvenance", "export_bundle",
           "export_multitask_bundle", "validate_bundle", "load_bundle"]

BUNDLE_FORMAT = "selcn-bundle"
#: 2: ``manifest.sha256``, ``data``, ``protocol``, ``project_version`` (format 1 had none)
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
#: the manifest's checksum beside it, in ``sha256sum`` format
MANIFEST_CHECKSUM = "manifest.sha256"
#: ``data.source`` of the config: generated demo data or the published files
DATA_SOURCES: tuple[str, ...] = ("synthetic", "files")
#: growth factor of the LAE box (the default of :mod:`selcn.masks` and of training)
LAE_SCALE = 1.4
#: distributions whose version must match the exporting one: they define the networks' layers
#: and state-dict keys (torch, torchvision, timm, smp), the preprocessing (OpenCV) and the
#: cascade itself (selcn)
CHECKED_PACKAGES: tuple[str, ...] = ("selcn", "torch", "torchvision", "timm",
                                     "segmentation-models-pytorch", "opencv-python-headless")
#: per checked package, how many leading release numbers must equal the exporting ones for the
#: bundle to load. 1 (the major) for torch, timm and OpenCV, which keep state-dict keys and
#: layers within a major release, and for torchvision, whose 0.N releases follow torch's minor
#: releases (0.29 <-> torch 2.14); 2 (major.minor) for the 0.x packages whose minor releases
#: may change layers (semantic versioning's 0.x rule): selcn (the cascade itself; the bundle's
#: layout is guarded by ``format_version``) and segmentation-models-pytorch. A difference in
#: the rest of major.minor warns; patch releases and local tags (``+cu126``) never matter.
VERSION_POLICY: dict[str, int] = {"selcn": 2, "torch": 1, "torchvision": 1, "timm": 1,
                                  "segmentation-models-pytorch": 2,
                                  "opencv-python-headless": 1}
#: recorded for information only
_INFO_PACKAGES: tuple[str, ...] = ("numpy", "pillow")


class BundleError(RuntimeError):
    """A bundle is incomplete, altered, unsafe, or was written with other package versions."""


@dataclass
class Bundle:
    """A loaded bundle: the networks in eval mode on ``device`` and their metadata.

    Attributes:
        root: the bundle folder.
        manifest: the parsed ``manifest.json``.
        segmentation: ``(model, meta)`` of :func:`selcn.segmentation.load_segmentation_model`
            (None in a model 13 bundle).
        symmetry: ``(model, meta)`` of :func:`selcn.symmetry.load_symmetry_model`, or None
            (``symmetry_mask: off``, model 13).
        lesion: one ``(model, meta)`` per fold (:func:`selcn.lesion.load_lesion_model`;
            empty in a model 13 bundle).
        device: where the networks are.
        warnings: what the reader should know (package versions that differ), one line each.
        digest: sha256 of ``manifest.json`` (identifies the bundle's content).
    """

    root: Path
    manifest: dict
    segmentation: tuple[nn.Module, dict] | None
    symmetry: tuple[nn.Module, dict] | None
    lesion: list[tuple[nn.Module, dict]]
    device: torch.device
    warnings: list[str] = field(default_factory=list)
    digest: str = ""
    #: model 13: one ``(network, meta)`` per fold (:func:`selcn.multitask.
    #: load_multitask_model`), each predicting mask, symmetry and class in one forward pass
    multitask: list[tuple[nn.Module, dict]] = field(default_factory=list)

    @property
    def symmetry_class_names(self) -> list[str] | None:
        """The symmetry classes the bundle predicts (its symmetry network's, or model 13's),
        None without a symmetry prediction."""
        if self.multitask:
            return list(self.multitask[0][1]["symmetry_class_names"])
        return None if self.symmetry is None else list(self.symmetry[1]["class_names"])

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["model"]["class_names"])

    @property
    def preprocessing(self) -> dict:
        return dict(self.manifest["preprocessing"])

    @property
    def trained_on_synthetic(self) -> bool:
        """Whether the networks learnt from the synthetic demo data (``data.synthetic``)."""
        return bool(self.manifest["data"]["synthetic"])


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


def _release(version: str) -> tuple[int, ...] | None:
    """The public release numbers of a version string (``"2.14.1+cu126"`` -> ``(2, 14, 1)``,
    ``"2.15.0rc1"`` -> ``(2, 15, 0)``), or None when it has none (``"not installed"``)."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", version.split("+", 1)[0])
    return tuple(int(x) for x in match.group(1).split(".")) if match else None


def compare_versions(recorded: Mapping[str, str],
                     installed: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Compare the package versions a bundle was exported with to the installed ones.

    Only the packages of :data:`VERSION_POLICY` present in ``recorded`` are compared, by their
    release numbers (local tags such as ``+cu126`` and pre-release suffixes dropped).

    Returns:
        ``(blocking, warnings)``: one sentence per package, naming both versions. Blocking:
        the leading :data:`VERSION_POLICY` numbers differ (or a version has no release number,
        e.g. ``not installed``); warnings: the rest of major.minor differs. Patch releases and
        local tags never appear.
    """
    blocking, notes = [], []
    for name, parts in VERSION_POLICY.items():
        old = recorded.get(name)
        if old is None:
            continue
        new = installed.get(name, "not installed")
        a, b = _release(str(old)), _release(str(new))
        text = f"exported with {name} {old}, this environment has {name} {new}"
        if a is None or b is None:
            if str(old) != str(new):
                blocking.append(text)
        elif _pad(a)[:parts] != _pad(b)[:parts]:
            blocking.append(text)
        elif _pad(a)[:2] != _pad(b)[:2]:
            notes.append(text + " (another minor release: results may differ slightly)")
    return blocking, notes


def _pad(release: tuple[int, ...]) -> tuple[int, ...]:
    return (release + (0, 0))[:max(len(release), 2)]


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

    ``class_names``: the classes of the model's dataset definition
    (:func:`selcn.data.labels.classes` of its lesion dataset; the files' ``prob_<class>``
    columns must name them); None: the files' own ``prob_<class>`` columns.

    Returns ``{"folds": {fold: {"accuracy", "balanced_accuracy", "f1"}}, "mean": {...}}``;
    ``f1`` is the macro-F1 over the classes of the model's dataset (PH²: its 3 clinical
    classes, not HAM10000's 7; a class of the dataset absent from a fold counts 0).
    """
    if not prediction_csvs:
        raise ValueError("validation_metrics: no prediction file given")
    folds = {}
    for fold, path in sorted(prediction_csvs.items()):
        table = read_predictions(path, class_names)
        if table.empty:
            raise ValueError(f"{path}: prediction file has no rows")
        n_classes = (len(class_names) if class_names is not None
                     else sum(1 for c in table.columns if str(c).startswith("prob_")))
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
        hair_removal: ``data.hair_removal`` as configured (a filter name, true / false, or
            null = the protocol's; resolved with the provenance's protocol,
            :func:`selcn.data.preprocess.hair_method`).
        cam_size: side of the symmetry CAMs the lesion network was trained with (px).
        cfg_hash: :func:`config_hash` of the workflow config.
    """

    number: int
    dataset: str
    image_size: int
    hair_removal: bool | str | None
    cam_size: int
    cfg_hash: str


@dataclass(frozen=True)
class BundleProvenance:
    """What the bundle's networks learnt from (the manifest's ``data`` and ``protocol``).

    Attributes:
        source: the config's ``data.source``: ``synthetic`` (the generated demo data) or
            ``files`` (the published datasets).
        datasets: network (``segmentation``, ``symmetry`` with CAM transfer, ``lesion``) ->
            the dataset it was trained on.
        protocol: the config's ``protocol``.
        paths: for ``files``, dataset -> its configured files (the config's
            ``data.<dataset>`` section); empty for synthetic data.
    """

    source: str
    datasets: Mapping[str, str]
    protocol: str
    paths: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ValueError(f"BundleProvenance: source must be one of {DATA_SOURCES}, "
                             f"got {self.source!r}")

    @classmethod
    def of_config(cls, cfg: Mapping[str, Any], datasets: Mapping[str, str]) -> BundleProvenance:
        """From a config holding ``data`` and ``protocol`` (the whole config, or the
        export rule's declared sections): ``data.source`` and, for real data, the
        ``data.<dataset>`` file settings of every dataset in ``datasets``."""
        data = cfg["data"]
        source = data["source"]
        paths = {d: data[d] for d in sorted(set(datasets.values()))
                 if source == "files" and isinstance(data.get(d), Mapping)}
        return cls(source=source, datasets=dict(datasets), protocol=str(cfg["protocol"]),
                   paths=paths)

    def manifest(self) -> dict[str, Any]:
        """The manifest's ``data`` section."""
        return {"source": self.source, "synthetic": self.source == "synthetic",
                "datasets": dict(self.datasets), "paths": dict(self.paths)}


def export_bundle(out_dir: str | Path, files: BundleFiles, settings: BundleSettings, *,
                  validation: Mapping, selection: Mapping, provenance: BundleProvenance,
                  sources: Mapping[str, Any] | None = None) -> dict:
    """Gather one grid model into the bundle folder ``out_dir`` and write its manifest.

    Args:
        files: the segmentation, symmetry and lesion fold model files (:class:`BundleFiles`).
        settings: model number, dataset, preprocessing sizes and config hash
            (:class:`BundleSettings`).
        validation: :func:`validation_metrics` of the lesion folds.
        selection: how the model was chosen (:func:`select_model`, or ``{"number": N}``).
        provenance: the data source, datasets and protocol (:class:`BundleProvenance`).
        sources: provenance recorded as is (e.g. the paths of the copied files).

    The folder is assembled under a temporary name and renamed when complete. Every model
    file is loaded once to check that the networks fit together (masks, classes, sizes).
    ``manifest.json`` is written with its checksum ``manifest.sha256``. Returns the manifest.
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
        if View.recorded(meta) != View.recorded(first):
            raise ValueError(f"{lesion_pts[fold]}: masking {View.recorded(meta)} differs from "
                             f"fold {next(iter(lesion_metas))}'s {View.recorded(first)}")
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
                **_hair_fields(settings, provenance),
                "lae_scale": LAE_SCALE, "mean": IMAGENET_MEAN.tolist(),
                "std": IMAGENET_STD.tolist(),
                "segmentation_input_size": int(seg_meta["input_size"]),
                "segmentation_threshold": float(seg_meta["threshold"]),
                "symmetry_input_size": int(sym_meta["input_size"]) if sym_meta else None,
                "cam_size": int(settings.cam_size) if sym_meta else None,
                "lesion_input_size": int(first["input_size"]),
                "symmetry_masking": _masking(sym_meta) if sym_meta else None,
                "lesion_masking": _masking(first),
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
        }
        manifest = _write_manifest(tmp, manifest, settings, provenance, sources)
    return manifest


def _write_manifest(tmp: Path, manifest: Mapping, settings: BundleSettings,
                    provenance: BundleProvenance, sources: Mapping[str, Any] | None) -> dict:
    """Complete a bundle's ``manifest`` (its model, preprocessing, networks, validation and
    selection) with what every bundle records — the data source, protocol, config hash,
    versions, date, ``sources`` and the sha256 of every file already in ``tmp`` — and write it
    with its checksum file into ``tmp``. Returns the complete manifest."""
    manifest = {
        **manifest,
        "data": provenance.manifest(),
        "protocol": provenance.protocol,
        "config_hash": settings.cfg_hash,
        "project_version": package_versions(("selcn",))["selcn"],
        "versions": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": dict(sources or {}),
        "files": {p.name: _sha256(p) for p in sorted(tmp.iterdir())},
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (tmp / MANIFEST_CHECKSUM).write_text(f"{_sha256(tmp / MANIFEST)}  {MANIFEST}\n")
    return manifest


def _hair_fields(settings: BundleSettings, provenance: BundleProvenance) -> dict:
    """The manifest's ``hair_removal`` (whether hair was removed: a bundle of an earlier
    version is read by it) and ``hair_filter`` (which filter,
    :func:`selcn.data.preprocess.hair_method` under the provenance's protocol)."""
    from selcn.data.preprocess import hair_method

    method = hair_method(settings.hair_removal, provenance.protocol)
    return {"hair_removal": method != "off", "hair_filter": method}


def _masking(meta: Mapping) -> dict:
    """A network's masking, as its ``model.pt`` records it (:meth:`View.record` fields)."""
    return View(**View.recorded(meta)).record()


def export_multitask_bundle(out_dir: str | Path, fold_pts: Mapping[int, str | Path],
                            settings: BundleSettings, *, validation: Mapping,
                            provenance: BundleProvenance,
                            sources: Mapping[str, Any] | None = None) -> dict:
    """Gather model 13's fold networks (their ``model.pt``, :mod:`selcn.multitask`) into the
    bundle folder ``out_dir``: ``multitask_fold<k>.pt``, ``manifest.json`` and its checksum, as
    :func:`export_bundle` does for a grid model (the same checks, the same ``preprocessing``,
    ``data``, ``versions`` ... fields; ``networks.multitask`` instead of the three networks).
    ``settings.number`` must be 13. Returns the manifest."""
    from selcn.multitask import load_multitask_model

    out_dir = Path(out_dir)
    if not fold_pts:
        raise ValueError("export_multitask_bundle: no fold model given")
    if int(settings.number) != MULTITASK.number:
        raise ValueError(f"export_multitask_bundle: model {settings.number} is not model "
                         f"{MULTITASK.number}")
    metas = {int(k): load_multitask_model(p)[1] for k, p in sorted(fold_pts.items())}
    first = next(iter(metas.values()))
    for fold, meta in metas.items():
        for key in ("arch", "input_size", "decoder_channels", "class_names",
                    "symmetry_class_names", "gate_with_mask", "output_stride"):
            if meta.get(key) != first.get(key):
                raise ValueError(f"{fold_pts[fold]}: {key} {meta.get(key)!r} differs from fold "
                                 f"{next(iter(metas))}'s {first.get(key)!r}")
    with atomic_dir(out_dir) as tmp:
        names = []
        for fold, path in sorted(fold_pts.items()):
            names.append(f"multitask_fold{int(fold)}.pt")
            shutil.copyfile(path, tmp / names[-1])
        manifest = {
            "format": BUNDLE_FORMAT, "format_version": FORMAT_VERSION,
            "model": {"number": MULTITASK.number, "classifier_mask": MULTITASK.classifier_mask,
                      "symmetry_mask": MULTITASK.cam_source, "dataset": settings.dataset,
                      "class_names": list(first["class_names"])},
            "preprocessing": {
                "image_size": int(settings.image_size),
                **_hair_fields(settings, provenance), "lae_scale": LAE_SCALE,
                "mean": IMAGENET_MEAN.tolist(), "std": IMAGENET_STD.tolist(),
                "segmentation_input_size": None,
                "segmentation_threshold": float(first["threshold"]),
                "symmetry_input_size": None, "cam_size": None,
                "lesion_input_size": int(first["input_size"])},
            "networks": {"multitask": {
                "files": names, "arch": first["arch"], "folds": sorted(int(k) for k in metas),
                "decoder_channels": list(first["decoder_channels"]),
                "gate_with_mask": bool(first.get("gate_with_mask", False)),
                "symmetry_class_names": list(first["symmetry_class_names"])}},
            "validation": dict(validation),
            "selection": {"number": MULTITASK.number, "criterion": "multitask.enabled"},
        }
        manifest = _write_manifest(tmp, manifest, settings, provenance, sources)
    return manifest


# ---- reading --------------------------------------------------------------------------------
def _checked_manifest(root: Path) -> tuple[dict, str]:
    """``manifest.json`` parsed, of this format, and equal to ``manifest.sha256``; returns it
    with its sha256."""
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"bundle {root}: missing file {MANIFEST}")
    try:
        raw = manifest_path.read_bytes()
        manifest = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"bundle {root}: {MANIFEST} is not valid JSON ({err})") from None
    except OSError as err:
        raise BundleError(f"bundle {root}: cannot read {MANIFEST} ({err.strerror})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleError(f"bundle {root}: {MANIFEST} is not a {BUNDLE_FORMAT} manifest "
                          f"(format {found!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"bundle {root}: format version {manifest.get('format_version')!r}, "
                          f"this selcn reads version {FORMAT_VERSION} (export the model again "
                          "with this version of the workflow)")
    digest = hashlib.sha256(raw).hexdigest()
    checksum = root / MANIFEST_CHECKSUM
    if not checksum.is_file() or checksum.is_symlink():
        raise BundleError(f"bundle {root}: missing file {MANIFEST_CHECKSUM} (the checksum of "
                          f"{MANIFEST})")
    match = re.fullmatch(rf"([0-9a-f]{{64}}) [ *]{re.escape(MANIFEST)}\s*",
                         checksum.read_text(errors="replace"))
    if match is None:
        raise BundleError(f"bundle {root}: {MANIFEST_CHECKSUM} is not '<sha256>  {MANIFEST}'")
    if match.group(1) != digest:
        raise BundleError(f"bundle {root}: {MANIFEST} differs from the exported one (sha256 "
                          f"mismatch with {MANIFEST_CHECKSUM}): it was edited after export")
    return manifest, digest


def _inside(root: Path, name: Any, where: str) -> Path:
    """The bundle file ``name`` named by the manifest field ``where``: a plain file name whose
    real path (symlinks resolved) is inside ``root``; BundleError otherwise."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
            or "\\" in name or "\x00" in name:
        raise BundleError(f"bundle {root}: {MANIFEST} field {where} names {name!r}: not a file "
                          "name inside the bundle folder")
    path = root / name
    real_root = root.resolve()
    if path.resolve().parent != real_root:
        raise BundleError(f"bundle {root}: {MANIFEST} field {where} names {name!r}, which "
                          f"leads outside the bundle folder (to {path.resolve()})")
    return path


def _field(manifest: Mapping, root: Path, dotted: str) -> Any:
    """The manifest's field ``dotted`` (e.g. ``networks.lesion.files``); BundleError naming
    the first missing part."""
    parts = dotted.split(".")
    value: Any = manifest
    for depth, key in enumerate(parts):
        if not isinstance(value, Mapping) or key not in value:
            raise BundleError(f"bundle {root}: {MANIFEST} lacks the field "
                              f"{'.'.join(parts[:depth + 1])}")
        value = value[key]
    return value


def validate_bundle(path: str | Path, *, check_versions: bool = True) -> dict:
    """Check a bundle folder and return its manifest.

    Raises :class:`BundleError` with one message naming the problem: the folder,
    ``manifest.json`` or ``manifest.sha256`` missing or unreadable, another bundle format, a
    manifest edited after export (its sha256 differs from ``manifest.sha256``), a file name in
    the manifest that leads outside the folder (``..``, an absolute path, a symlink), a file
    listed in the manifest missing or altered (sha256), or (``check_versions``) a package of
    :data:`VERSION_POLICY` installed in an incompatible version (:func:`compare_versions`).
    """
    return _validate(Path(path), check_versions)[0]


def _validate(root: Path, check_versions: bool) -> tuple[dict, str, list[str]]:
    """:func:`validate_bundle`; also returns the manifest's sha256 and the version warnings."""
    try:
        return _checked(root, check_versions)
    except BundleError:
        raise
    except OSError as err:
        raise BundleError(f"bundle {root}: cannot read {err.filename or 'a file'} "
                          f"({err.strerror or err})") from None
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise BundleError(f"bundle {root}: {MANIFEST} is malformed ({type(err).__name__}: "
                          f"{err})") from None


def _checked(root: Path, check_versions: bool) -> tuple[dict, str, list[str]]:
    if not root.is_dir():
        raise BundleError(f"bundle not found: {root} is not a folder")
    manifest, digest = _checked_manifest(root)
    for key in ("model", "preprocessing", "networks", "files", "versions", "data"):
        _field(manifest, root, key)
    if not isinstance(manifest["files"], Mapping) or not isinstance(manifest["versions"],
                                                                    Mapping):
        raise BundleError(f"bundle {root}: {MANIFEST} fields files and versions must be "
                          "mappings")
    data = manifest["data"]
    if _field(manifest, root, "data.source") not in DATA_SOURCES or \
            not isinstance(data.get("synthetic"), bool):
        raise BundleError(f"bundle {root}: {MANIFEST} field data: source must be one of "
                          f"{', '.join(DATA_SOURCES)} and synthetic true / false")
    one_network = "multitask" in manifest["networks"]
    needed = [] if one_network else [("networks.segmentation.file",
                                      _field(manifest, root, "networks.segmentation.file"))]
    where = "networks.multitask.files" if one_network else "networks.lesion.files"
    lesion_files = _field(manifest, root, where)
    if not isinstance(lesion_files, list) or not lesion_files:
        raise BundleError(f"bundle {root}: {MANIFEST} field {where} must list the fold models")
    needed += [(where, name) for name in lesion_files]
    if not one_network and manifest["networks"].get("symmetry"):
        needed.append(("networks.symmetry.file",
                       _field(manifest, root, "networks.symmetry.file")))
    for where, name in needed:
        _inside(root, name, where)
        if name not in manifest["files"]:
            raise BundleError(f"bundle {root}: {MANIFEST} has no checksum of {name}")
    for name, digest_of_file in manifest["files"].items():
        file = _inside(root, name, "files")
        if not file.is_file():
            raise BundleError(f"bundle {root}: missing file {name}")
        if _sha256(file) != digest_of_file:
            raise BundleError(f"bundle {root}: file {name} differs from the exported one "
                              "(sha256 mismatch)")
    blocking, notes = compare_versions(manifest["versions"], package_versions(CHECKED_PACKAGES))
    if blocking and check_versions:
        raise BundleError(f"bundle {root} was {blocking[0]}: install the exporting version "
                          "(or pass --ignore-versions to try anyway)")
    model = manifest["model"]
    sources = (CAM_OWN,) if one_network else CAM_SOURCES
    if model.get("classifier_mask") not in MASKS or model.get("symmetry_mask") not in sources:
        raise BundleError(f"bundle {root}: unknown masks {model.get('classifier_mask')!r} / "
                          f"{model.get('symmetry_mask')!r} in {MANIFEST}")
    warned = [f"bundle {root} was {text}" for text in (notes if check_versions
                                                      else blocking + notes)]
    return manifest, digest, warned


def _load_network(root: Path, name: str, loader: Any, device: torch.device) -> Any:
    """``loader(root / name, device)``; any failure is one BundleError naming the file."""
    try:
        with warnings.catch_warnings():     # a foreign pickle protocol: refused anyway
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return loader(root / name, device)
    except Exception as err:    # unreadable, refused pickle, other layers: name the file
        reason = str(err) if isinstance(err, ValueError) else describe_load_error(err)
        reason = reason.replace(f"{root / name}: ", "")
        raise BundleError(f"bundle {root}: cannot load {name} ({reason})") from None


def load_bundle(path: str | Path, device: str | torch.device = "cpu", *,
                check_versions: bool = True) -> Bundle:
    """:func:`validate_bundle`, then load every network in eval mode on ``device``.

    ``check_versions=False`` (``--ignore-versions``) turns incompatible package versions into
    warnings (:attr:`Bundle.warnings`, with the minor-release ones). Any network that cannot be
    loaded (unreadable, a refused pickle, layers of another shape) is one :class:`BundleError`
    naming the file.
    """
    root = Path(path)
    manifest, digest, notes = _validate(root, check_versions)
    device = torch.device(device)
    nets = manifest["networks"]
    if "multitask" in nets:
        return _load_multitask(root, (manifest, digest, notes), device)
    seg = _load_network(root, nets["segmentation"]["file"], load_segmentation_model, device)
    sym = _load_network(root, nets["symmetry"]["file"], load_symmetry_model, device) \
        if nets.get("symmetry") else None
    lesion = [_load_network(root, name, load_lesion_model, device)
              for name in nets["lesion"]["files"]]
    for _, meta in lesion:
        if list(meta["class_names"]) != list(manifest["model"]["class_names"]):
            raise BundleError(f"bundle {root}: lesion model classes {meta['class_names']} differ "
                              f"from the manifest's {manifest['model']['class_names']}")
        if bool(meta["use_cam"]) != (sym is not None):
            raise BundleError(f"bundle {root}: lesion model use_cam={meta['use_cam']} but the "
                              f"bundle {'has' if sym else 'lacks'} a symmetry network")
    return Bundle(root=root, manifest=manifest, segmentation=seg, symmetry=sym, lesion=lesion,
                  device=device, warnings=notes, digest=digest)


def _load_multitask(root: Path, checked: tuple[dict, str, list[str]],
                    device: torch.device) -> Bundle:
    """The fold networks of a validated model 13 bundle (``checked``: manifest, digest,
    warnings) as a :class:`Bundle` (:attr:`Bundle.multitask`)."""
    from selcn.multitask import load_multitask_model

    manifest, digest, notes = checked
    folds = [_load_network(root, name, load_multitask_model, device)
             for name in manifest["networks"]["multitask"]["files"]]
    for _, meta in folds:
        if list(meta["class_names"]) != list(manifest["model"]["class_names"]):
            raise BundleError(f"bundle {root}: model 13 classes {meta['class_names']} differ "
                              f"from the manifest's {manifest['model']['class_names']}")
    return Bundle(root=root, manifest=manifest, segmentation=None, symmetry=None, lesion=[],
                  device=device, warnings=notes, digest=digest, multitask=folds)
