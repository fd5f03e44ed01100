"""The input and output files of every job of the workflow: the maps ``rules/*.smk`` call.

:class:`Jobs` is built once from the validated config (``Jobs.of(cfg)``) and holds the grid of
wildcard values (:class:`selcn.grid.Grid`), the protocol's policy and the weight files the
config needs. Its methods take values of the vocabulary — a dataset name, a
:class:`selcn.grid.Model`, a :class:`selcn.grid.SymmetryVariant`, a :class:`selcn.grid.Fold`,
an :class:`ExportSelection` — parsed once from a job's wildcards by the rule, and return path
strings built with :mod:`selcn.paths`:

* a *named input map* (``dict[str, str | list[str]]``) is what a rule ``unpack``\\ s: its keys
  are the names a script reads (``snakemake.input.<key>``);
* a *file list* (``list[str]``) is the files of one named input;
* an *output map* holds path patterns with the rule's wildcards (``{fold}`` ...).

Every map is a pure function of the config, except :meth:`Jobs.data_files`, which looks up
which published data files exist (a real-data config is planned before the data is there).
The module imports neither torch nor Snakemake nor any stage module, so it is tested without
them (``tests/test_jobs.py``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selcn.errors import ConfigError
from selcn.grid import CAM_OFF, Fold, Grid, Model, SymmetryVariant, grid, needs_masks
from selcn.hpo.names import parse_search_name, search_name, search_names
from selcn.paths import (
    DATA_CHECK,
    DEMO_PREDICT_INPUT,
    MODEL_PATTERN,
    SEGMENTATION_SELECTED,
    SPLIT_CHECK,
    SYNTHETIC_ROOT,
    cache_files,
    cams_file,
    export_dir,
    gt_masks_file,
    hpo_file,
    lesion_best_fold_file,
    lesion_fold_file,
    lesion_localisation_file,
    predict_dir,
    predicted_masks,
    segmentation_file,
    split_file,
    symmetry_arch_file,
    symmetry_best_fold_file,
    symmetry_file,
    symmetry_localisation_file,
)
from selcn.protocol import Protocol, policy
from selcn.weights import WeightSpec, required_weights, weight_file

__all__ = [
    "Jobs", "ExportSelection", "SEGMENTATION_DATASET", "SYMMETRY_DATASET",
    "LOCALISATION_DATASET", "READS_HAM10000", "MODEL_CONFIG_KEYS", "LESION_FOLD_FILES",
]

#: the segmentation network trains on this dataset's cache (it has ground-truth masks)
SEGMENTATION_DATASET = "ham10000"
#: the symmetry network trains on SymDerm
SYMMETRY_DATASET = "symderm"
#: the CAMs of the symmetry and lesion models are localised on this dataset (ISIC 2016 models
#: too, as the thesis' Table 15 does)
LOCALISATION_DATASET = "ham10000"
#: datasets whose cache and split jobs also read HAM10000's files (SymDerm: the lesion ids of
#: HAM10000 images; ISIC 2019: the HAM10000 image ids the external set must not contain)
READS_HAM10000: tuple[str, ...] = ("symderm", "isic2019")
#: the config sections a trained model depends on (an export manifest's config_hash)
MODEL_CONFIG_KEYS: tuple[str, ...] = (
    "protocol", "seed", "data", "weights", "segmentation", "symmetry", "lesion", "hpo")
#: the named outputs of a lesion training job and their file names (one fold of one model)
LESION_FOLD_FILES: dict[str, str] = {
    "model": "model.pt", "history": "history.csv",
    "predictions_val": "predictions_val.csv", "predictions_test": "predictions_test.csv",
}
#: the fold whose training curves Figures 11-13 show
FIRST_FOLD = Fold(0)
_EXPORT_MODEL = re.compile(r"model(\d+)")


@dataclass(frozen=True)
class ExportSelection:
    """The model an export bundles (the ``{selection}`` wildcard, config ``export.model``):
    ``best`` (:attr:`model` None: the best mean validation macro-F1 of the grid's models) or
    one grid model (``model<N>``)."""

    model: Model | None = None

    @property
    def name(self) -> str:
        """``best`` or ``model<N>``: the bundle's folder name."""
        return "best" if self.model is None else f"model{self.model.number}"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str | int) -> ExportSelection:
        """``"best"``, ``"model3"`` (a wildcard) or ``3`` / ``"3"`` (config) -> the selection;
        ValueError for anything else (and for a number outside 1-12)."""
        text = str(text)
        if text == "best":
            return cls()
        match = _EXPORT_MODEL.fullmatch(text)
        number = match.group(1) if match else text
        if not number.isdigit():
            raise ValueError(f"not an export selection: {text!r} (best or model<N>)")
        return cls(Model.of_number(int(number)))


@dataclass(frozen=True, eq=False)
class Jobs:
    """The file maps of one config's jobs; build it with :meth:`of`.

    Attributes:
        cfg: the validated config (defaults filled in).
        grid: its wildcard values (:func:`selcn.grid.grid`).
        protocol: its protocol's policy (:func:`selcn.protocol.policy`).
        weights: the weight cache files it needs, by name (:func:`selcn.weights.required_weights`).
    """

    cfg: Mapping[str, Any]
    grid: Grid
    protocol: Protocol
    weights: Mapping[str, WeightSpec]
    #: datasets whose missing data files were already reported (once per dataset)
    _warned: set = field(default_factory=set, init=False, repr=False)

    @classmethod
    def of(cls, cfg: Mapping[str, Any]) -> Jobs:
        """The jobs of the validated config ``cfg``. Raises ConfigError for a grid the config
        cannot run, ValueError for two networks needing one weight file from two libraries."""
        return cls(cfg, grid(cfg), policy(cfg["protocol"]),
                   {spec.name: spec for spec in required_weights(cfg)})

    # ---- data ---------------------------------------------------------------------------------
    def data_paths(self, dataset: str) -> dict[str, Any]:
        """The published files of ``dataset`` as config ``data.<dataset>`` names them (CSV
        files, image / mask directories; ``image_dirs`` a list), or the synthetic demo's
        layout under :data:`selcn.paths.SYNTHETIC_ROOT` for ``data.source: synthetic``."""
        if self.cfg["data"]["source"] == "synthetic":
            from selcn.data.synthetic import dataset_paths

            return dataset_paths(SYNTHETIC_ROOT)[dataset]
        return self.cfg["data"][dataset]

    def data_files(self, dataset: str) -> dict[str, str]:
        """The named input files of ``dataset``'s published data: one key per path of
        :meth:`data_paths` (a list ``image_dirs`` -> ``image_dirs0``, ``image_dirs1``, ...).

        Synthetic data: only the CSV files (the generator writes them last; they stand for the
        directories). Real data: only the paths that exist — a config is planned before its
        data is there (``snakemake -n``); the first such call per dataset prints a warning to
        stderr and the cache job names the missing file.
        """
        out: dict[str, str] = {}
        for key, value in self.data_paths(dataset).items():
            if isinstance(value, list):
                out.update({f"{key}{i}": v for i, v in enumerate(value)})
            else:
                out[key] = value
        if self.cfg["data"]["source"] == "synthetic":
            return {k: v for k, v in out.items() if v.endswith(".csv")}
        missing = [v for v in out.values() if not Path(v).exists()]
        if missing and dataset not in self._warned:
            self._warned.add(dataset)
            print(f"WARNING: data.{dataset}: {len(missing)} path(s) not found, e.g. {missing[0]}",
                  file=sys.stderr)
        return {k: v for k, v in out.items() if Path(v).exists()}

    def cache_inputs(self, dataset: str) -> dict[str, str]:
        """Named inputs of caching ``dataset``: its :meth:`data_files`, plus ``ham_metadata``
        (HAM10000's metadata CSV, when found) for the datasets of :data:`READS_HAM10000`."""
        out = self.data_files(dataset)
        if dataset in READS_HAM10000:
            ham = self.data_files("ham10000").get("metadata")
            if ham:
                out["ham_metadata"] = ham
        return out

    def split_inputs(self, dataset: str) -> dict[str, str]:
        """Named inputs of the split table of ``dataset``: its cache ``index``, plus
        ``ham_splits`` (HAM10000's split table) for the datasets of :data:`READS_HAM10000`."""
        out = {"index": cache_files(dataset)["index"]}
        if dataset in READS_HAM10000:
            out["ham_splits"] = split_file("ham10000")
        return out

    def folds_of(self, dataset: str) -> int:
        """The number of cross-validation folds of ``dataset``'s split table: the symmetry
        folds for SymDerm, the lesion folds for every other dataset."""
        section = "symmetry" if dataset == SYMMETRY_DATASET else "lesion"
        return self.cfg[section]["folds"]

    def training_checks(self) -> list[str]:
        """The checks every training and search job waits for (its ``checks`` input), so that
        a failing check stops the run before the first training: the leakage check of every
        split table (:data:`selcn.paths.SPLIT_CHECK`, ``check_splits``) and, with real data
        (``data.source: files``), the check of the published files
        (:data:`selcn.paths.DATA_CHECK`, ``check_data``). The trainings read none of them."""
        checks = [SPLIT_CHECK]
        if self.cfg["data"]["source"] != "synthetic":
            checks.append(DATA_CHECK)
        return checks

    def hair_removal_figure_inputs(self) -> dict[str, str]:
        """Named inputs of Figure 5: HAM10000's :meth:`data_files` and its cache ``index``."""
        return {**self.data_files("ham10000"), "index": cache_files("ham10000")["index"]}

    # ---- weights ------------------------------------------------------------------------------
    def weights_path(self, name: str) -> str:
        """The cache file of weight ``name``: the one present (``.pth`` or ``.safetensors``),
        else the ``.pth`` ``download_weights`` writes."""
        cache_dir = self.cfg["weights"]["cache_dir"]
        return str(weight_file(cache_dir, name) or f"{cache_dir}/{name}.pth")

    def weight_files(self) -> list[str]:
        """Every weight cache file the config needs (the inputs of ``fetch_weights``)."""
        return [self.weights_path(name) for name in self.weights]

    def pretrained_weights(self, network: str, arch: str | None = None) -> list[str]:
        """The weight cache files a training job of ``network`` loads (of ``arch`` only, for
        the symmetry architecture comparison); ``[]`` without pretraining."""
        return [self.weights_path(name) for name, spec in self.weights.items()
                if spec.network == network and (arch is None or spec.model == arch)]

    # ---- hyper-parameter search ---------------------------------------------------------------
    def hpo_best(self, network: str, dataset: str | None = None) -> str | list:
        """The ``best.json`` of the search of ``network`` (the lesion network: of ``dataset``)
        when ``hpo`` is enabled for it, else ``[]`` (an empty named input)."""
        hpo = self.cfg["hpo"]
        if hpo["enabled"] and network in hpo["networks"]:
            return hpo_file(search_name(network, dataset), "best.json")
        return []

    def hpo_searches(self) -> list[str]:
        """The searches of the config (the ``{network}`` values of ``hpo_search``):
        ``segmentation``, ``symmetry``, ``lesion-<dataset>`` per lesion dataset."""
        return search_names(self.cfg["hpo"]["networks"], self.grid.lesion_datasets)

    def hpo_symmetry_mask(self) -> str:
        """The input mask of the symmetry search: the baseline ``none`` when the grid has it,
        else its first mask."""
        masks = self.grid.symmetry_input_masks
        return "none" if "none" in masks else masks[0]

    def hpo_search_inputs(self, search: str) -> dict[str, str]:
        """Named inputs of the search ``search`` (a :func:`selcn.hpo.names.search_name`):
        ``segmentation`` -> :meth:`segmentation_data`; ``symmetry`` -> SymDerm's cache
        (``images``, ``index``), ``splits`` and, for a masked baseline, ``masks``;
        ``lesion-<dataset>`` -> that dataset's cache and ``splits`` (the model ``none-off``)."""
        network, dataset = parse_search_name(search)
        if network == "segmentation":
            return self.segmentation_data()
        if network == "symmetry":
            return self._stage_data(SYMMETRY_DATASET, self.hpo_symmetry_mask())
        return self._stage_data(dataset, "none")

    # ---- segmentation -------------------------------------------------------------------------
    def segmentation_data(self) -> dict[str, str]:
        """The data of segmentation training: ``images``, ``index``, ``gt_masks``, ``splits``
        of :data:`SEGMENTATION_DATASET`."""
        d = SEGMENTATION_DATASET
        return {**cache_files(d), "gt_masks": gt_masks_file(d), "splits": split_file(d)}

    def segmentation_training_inputs(self) -> dict[str, Any]:
        """Named inputs of ``train_segmentation``: :meth:`segmentation_data`, ``hpo`` (the
        search result or ``[]``) and ``weights`` (a list, ``[]`` without pretraining)."""
        return {**self.segmentation_data(), "hpo": self.hpo_best("segmentation"),
                "weights": self.pretrained_weights("segmentation")}

    def segmentation_metrics_files(self) -> list[str]:
        """``metrics_test.csv`` of every segmentation architecture (selection, Table 5)."""
        return [segmentation_file(a, "metrics_test.csv") for a in self.grid.seg_archs]

    def mask_prediction_inputs(self, dataset: str) -> dict[str, Any]:
        """Named inputs of predicting ``dataset``'s masks: its cache ``images``, the
        ``selected`` architecture and every architecture's ``models`` (a list)."""
        return {"images": cache_files(dataset)["images"], "selected": SEGMENTATION_SELECTED,
                "models": [segmentation_file(a, "model.pt") for a in self.grid.seg_archs]}

    def segmentation_figure_inputs(self) -> dict[str, str]:
        """Named inputs of Figure 3's stage job: ``images``, ``index``, ``splits`` and the
        predicted ``masks`` of :data:`SEGMENTATION_DATASET`."""
        d = SEGMENTATION_DATASET
        return {**cache_files(d), "splits": split_file(d), "masks": predicted_masks(d)}

    # ---- symmetry -----------------------------------------------------------------------------
    def _stage_data(self, dataset: str, mask: str) -> dict[str, str]:
        """``images``, ``index``, ``splits`` of ``dataset``, and ``masks`` (its predicted
        masks) when input mask ``mask`` needs them."""
        inputs = {**cache_files(dataset), "splits": split_file(dataset)}
        if needs_masks(mask):
            inputs["masks"] = predicted_masks(dataset)
        return inputs

    def _symmetry_training(self, mask: str, arch: str, pretrained: bool) -> dict[str, Any]:
        """SymDerm's :meth:`_stage_data` for ``mask``, ``hpo`` (when searched) and, when
        ``pretrained``, ``weights`` (the cache files of ``arch``, a list)."""
        inputs: dict[str, Any] = self._stage_data(SYMMETRY_DATASET, mask)
        hpo = self.hpo_best("symmetry")
        if hpo:
            inputs["hpo"] = hpo
        if pretrained:
            inputs["weights"] = self.pretrained_weights("symmetry", arch)
        return inputs

    def symmetry_training_inputs(self, variant: SymmetryVariant) -> dict[str, Any]:
        """Named inputs of ``train_symmetry`` of ``variant``: SymDerm's ``images``, ``index``,
        ``splits``, ``masks`` (masked variants), ``hpo`` (when searched) and, for a pretrained
        variant, ``weights`` (a list)."""
        return self._symmetry_training(variant.mask, self.cfg["symmetry"]["architecture"],
                                       variant.pretrained)

    def symmetry_arch_training_inputs(self, arch: str) -> dict[str, Any]:
        """Named inputs of ``train_symmetry_arch`` of ``arch`` (no mask, initialised as
        ``symmetry.pretrained``): SymDerm's ``images``, ``index``, ``splits``, ``hpo`` (when
        searched) and, when pretrained, ``weights`` (a list)."""
        return self._symmetry_training("none", arch, self.cfg["symmetry"]["pretrained"])

    def symmetry_selection_files(self, variant: SymmetryVariant | str) -> list[str]:
        """The prediction file of the protocol's selection split of every fold of ``variant``
        (the inputs of ``best_symmetry_fold``)."""
        split = self.protocol.selection_split
        return [symmetry_file(variant, k, f"predictions_{split}.csv")
                for k in self.grid.symmetry_folds]

    def symmetry_best_inputs(self, variant: SymmetryVariant | str) -> dict[str, Any]:
        """``best`` (``best_fold.json``) and ``models`` (every fold's ``model.pt``, a list) of
        ``variant``: what a job that loads its best fold reads."""
        return {"best": symmetry_best_fold_file(variant),
                "models": [symmetry_file(variant, k, "model.pt") for k in self.grid.symmetry_folds]}

    def symmetry_cams_inputs(self, mask: str) -> dict[str, Any]:
        """Named inputs of ``symmetry_cams`` of input mask ``mask``: :meth:`symmetry_best_inputs`
        of its CAM variant, and per CAM dataset ``d`` its ``images_<d>``, ``index_<d>`` and,
        for a masked variant, ``masks_<d>``."""
        inputs = self.symmetry_best_inputs(self.grid.cam_variant(mask))
        for d in self.grid.cam_datasets:
            files = cache_files(d)
            inputs[f"images_{d}"], inputs[f"index_{d}"] = files["images"], files["index"]
            if needs_masks(mask):
                inputs[f"masks_{d}"] = predicted_masks(d)
        return inputs

    def symmetry_cams_outputs(self, mask: str = "{mask}") -> dict[str, str]:
        """Named outputs of ``symmetry_cams``: ``cams_<d>`` per CAM dataset ``d``."""
        return {f"cams_{d}": cams_file(mask, d) for d in self.grid.cam_datasets}

    def symmetry_localisation_inputs(self, variant: SymmetryVariant) -> dict[str, Any]:
        """Named inputs of ``symmetry_localisation`` of ``variant``: the
        :data:`LOCALISATION_DATASET`'s ``images``, ``index``, ``splits``, ``masks`` (masked
        variants) and ``gt_masks``, and :meth:`symmetry_best_inputs` of ``variant``."""
        d = LOCALISATION_DATASET
        return {**self._stage_data(d, variant.mask), "gt_masks": gt_masks_file(d),
                **self.symmetry_best_inputs(variant)}

    def symmetry_figure_inputs(self) -> dict[str, Any]:
        """Named inputs of Figure 9's stage job: SymDerm's ``images``, ``index``, ``splits``,
        ``masks`` (when a symmetry input mask needs them), and per symmetry input mask ``m``
        the ``best_<m>`` / ``models_<m>`` of its CAM variant."""
        masked = any(needs_masks(m) for m in self.grid.symmetry_input_masks)
        inputs = self._stage_data(SYMMETRY_DATASET, "seg" if masked else "none")
        for m in self.grid.symmetry_input_masks:
            best = self.symmetry_best_inputs(self.grid.cam_variant(m))
            inputs[f"best_{m}"], inputs[f"models_{m}"] = best["best"], best["models"]
        return inputs

    def symmetry_figure_variants(self) -> dict[str, str]:
        """``{mask: variant name}`` of Figure 9: the CAM variant of every symmetry input mask."""
        return {m: str(self.grid.cam_variant(m)) for m in self.grid.symmetry_input_masks}

    def symmetry_prediction_files(self, split: str) -> list[str]:
        """Every Table 6 variant x fold prediction file of ``split`` (``val`` / ``test``)."""
        return [symmetry_file(v, k, f"predictions_{split}.csv")
                for v in self.grid.symmetry_variants for k in self.grid.symmetry_folds]

    def symmetry_arch_prediction_files(self, split: str) -> list[str]:
        """Every architecture x fold prediction file of the symmetry architecture comparison
        of ``split``; the stage's own architecture reads its Table 6 variant ``<init>-none``
        (the same training, :attr:`selcn.grid.Grid.symmetry_arch_variants`)."""
        variant_of = dict(self.grid.symmetry_arch_variants)
        return [symmetry_file(variant_of[a], k, f"predictions_{split}.csv") if a in variant_of
                else symmetry_arch_file(a, k, f"predictions_{split}.csv")
                for a in self.grid.symmetry_archs for k in self.grid.symmetry_folds]

    def symmetry_localisation_files(self) -> list[str]:
        """Table 7: the localisation file of the CAM variant of every symmetry input mask."""
        return [symmetry_localisation_file(self.grid.cam_variant(m))
                for m in self.grid.symmetry_input_masks]

    # ---- lesion -------------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        """The names (``<classifier_mask>-<cam_source>``) of the grid's lesion models, in the
        thesis' order: the ``models`` param of the rules that read them all."""
        return [m.name for m in self.grid.models()]

    def external_of(self, dataset: str) -> str | None:
        """The external test set a lesion model of ``dataset`` also predicts (ISIC 2019 for
        HAM10000 when configured), else None."""
        return self.grid.external_of.get(dataset)

    def lesion_data(self, dataset: str, model: Model) -> dict[str, str]:
        """What ``model`` reads of ``dataset``: ``images``, ``index``, ``splits``, ``masks``
        (a masked classifier) and ``cams`` (the symmetry CAMs of its source, a CAM model)."""
        inputs = self._stage_data(dataset, model.classifier_mask)
        if model.takes_cam:
            inputs["cams"] = cams_file(model.cam_source, dataset)
        return inputs

    def lesion_training_inputs(self, dataset: str, model: Model) -> dict[str, str]:
        """Named inputs of training ``model`` on ``dataset``: :meth:`lesion_data`, ``hpo``
        (when searched), and, when ``dataset`` has an external test set, that set's
        :meth:`lesion_data` prefixed ``ext_`` (``ext_images``, ``ext_index``, ``ext_splits``,
        ``ext_masks``, ``ext_cams``)."""
        inputs = self.lesion_data(dataset, model)
        hpo = self.hpo_best("lesion", dataset)
        if hpo:
            inputs["hpo"] = hpo
        external = self.external_of(dataset)
        if external:
            inputs.update({f"ext_{k}": v for k, v in self.lesion_data(external, model).items()})
        return inputs

    def lesion_training_outputs(self, dataset: str) -> dict[str, str]:
        """Named outputs (patterns of ``{lesion_dataset}``, ``{classifier_mask}``,
        ``{symmetry_mask}``, ``{fold}``) of a lesion training job on ``dataset``: those of
        :data:`LESION_FOLD_FILES`, and ``predictions_external``
        (``predictions_<external>.csv``) when ``dataset`` has an external test set."""
        def pattern(name: str) -> str:
            return lesion_fold_file("{lesion_dataset}", MODEL_PATTERN, "{fold}", name)

        out = {key: pattern(name) for key, name in LESION_FOLD_FILES.items()}
        external = self.external_of(dataset)
        if external:
            out["predictions_external"] = pattern(f"predictions_{external}.csv")
        return out

    def lesion_model_files(self, dataset: str, model: Model, name: str) -> list[str]:
        """``name`` (e.g. ``predictions_test.csv``) of every fold of ``model`` on ``dataset``."""
        return [lesion_fold_file(dataset, model, k, name) for k in self.grid.folds]

    def lesion_prediction_files(self, dataset: str, split: str) -> list[str]:
        """Every model x fold prediction file of ``dataset`` for ``split`` (``val``, ``test``
        or the external set's name), models in the thesis' order."""
        return [f for m in self.grid.models()
                for f in self.lesion_model_files(dataset, m, f"predictions_{split}.csv")]

    def lesion_localisation_inputs(self, model: Model) -> dict[str, Any]:
        """Named inputs of ``lesion_localisation`` of ``model`` (every lesion dataset's model
        is localised on :data:`LOCALISATION_DATASET`): that dataset's :meth:`lesion_data` and
        ``gt_masks``, and per lesion dataset ``d`` every fold's ``models_<d>`` and selection
        split predictions ``predictions_<d>`` (lists)."""
        ref = LOCALISATION_DATASET
        inputs = {**self.lesion_data(ref, model), "gt_masks": gt_masks_file(ref)}
        split = self.protocol.selection_split
        for d in self.grid.lesion_datasets:
            inputs[f"models_{d}"] = self.lesion_model_files(d, model, "model.pt")
            inputs[f"predictions_{d}"] = self.lesion_model_files(d, model,
                                                                 f"predictions_{split}.csv")
        return inputs

    def lesion_localisation_outputs(self, model: Model | str = MODEL_PATTERN) -> dict[str, str]:
        """Named outputs of ``lesion_localisation``: per lesion dataset ``d`` its
        ``localisation_<d>`` (``localisation.csv``) and ``best_<d>`` (``best_fold.json``)."""
        out = {}
        for d in self.grid.lesion_datasets:
            out[f"localisation_{d}"] = lesion_localisation_file(d, model)
            out[f"best_{d}"] = lesion_best_fold_file(d, model)
        return out

    def lesion_figure_inputs(self) -> dict[str, Any]:
        """Named inputs of Figure 10's stage job: the :data:`LOCALISATION_DATASET`'s
        ``images``, ``index``, ``splits``, ``gt_masks``, ``masks`` (when a classifier mask
        needs them), ``cams_<source>`` per CAM source of the grid, and every model's ``best``
        (``best_fold.json``, models in order) and ``models`` (model x fold ``model.pt``)."""
        ref = LOCALISATION_DATASET
        inputs = {**cache_files(ref), "splits": split_file(ref), "gt_masks": gt_masks_file(ref)}
        if any(needs_masks(cm) for cm in self.grid.classifier_masks):
            inputs["masks"] = predicted_masks(ref)
        for source in self.grid.cam_sources:
            if source != CAM_OFF:
                inputs[f"cams_{source}"] = cams_file(source, ref)
        models = self.grid.models()
        inputs["best"] = [lesion_best_fold_file(ref, m) for m in models]
        inputs["models"] = [f for m in models for f in self.lesion_model_files(ref, m, "model.pt")]
        return inputs

    def lesion_localisation_files(self, dataset: str) -> list[str]:
        """Tables 9 / 15: the localisation file of every lesion model of ``dataset``."""
        return [lesion_localisation_file(dataset, m) for m in self.grid.models()]

    def lesion_history_files(self, dataset: str, fold: Fold = FIRST_FOLD) -> list[str]:
        """Figures 11-13: ``history.csv`` of ``fold`` of every lesion model of ``dataset``."""
        return [lesion_fold_file(dataset, m, fold, "history.csv") for m in self.grid.models()]

    # ---- export and prediction ----------------------------------------------------------------
    def export_dataset(self) -> str:
        """The lesion dataset whose model ``rule all`` exports (``export.dataset``, default the
        first lesion dataset); ConfigError when it is not a lesion dataset of the grid."""
        d = self.cfg["export"]["dataset"] or self.grid.lesion_datasets[0]
        if d not in self.grid.lesion_datasets:
            raise ConfigError(f"export.dataset: {d!r} is not in lesion.datasets "
                              f"({', '.join(self.grid.lesion_datasets)})")
        return d

    def export_selection(self) -> ExportSelection:
        """The selection of ``export.model`` (``best`` or a model number)."""
        return ExportSelection.parse(self.cfg["export"]["model"])

    def export_models(self, selection: ExportSelection) -> list[Model]:
        """The grid models an export of ``selection`` reads: all of them for ``best``, else
        its one model (ConfigError when the config's grid lacks it)."""
        if selection.model is None:
            return self.grid.models()
        try:
            return [self.grid.model(selection.model.number)]
        except ConfigError as err:
            raise ConfigError(f"export.model: {err}") from None

    def export_inputs(self, dataset: str, selection: ExportSelection) -> dict[str, Any]:
        """Named inputs of exporting ``selection`` of ``dataset``: the segmentation
        ``selected`` architecture and every architecture's model (``segmentation``), per
        candidate model ``N`` its fold models ``model<N>_folds`` and validation predictions
        ``model<N>_val``, and per CAM source ``s`` of the candidates the CAM variant's
        ``symmetry_<s>_best`` / ``symmetry_<s>_models``."""
        models = self.export_models(selection)
        inputs: dict[str, Any] = {
            "selected": SEGMENTATION_SELECTED,
            "segmentation": [segmentation_file(a, "model.pt") for a in self.grid.seg_archs],
        }
        for m in models:
            inputs[f"model{m.number}_folds"] = self.lesion_model_files(dataset, m, "model.pt")
            inputs[f"model{m.number}_val"] = self.lesion_model_files(dataset, m,
                                                                     "predictions_val.csv")
        for source in sorted({m.cam_source for m in models if m.takes_cam}):
            best = self.symmetry_best_inputs(self.grid.cam_variant(source))
            inputs[f"symmetry_{source}_best"] = best["best"]
            inputs[f"symmetry_{source}_models"] = best["models"]
        return inputs

    def _names_demo_folder(self) -> bool:
        """Whether ``predict.input_dir`` is :data:`selcn.paths.DEMO_PREDICT_INPUT`."""
        input_dir = self.cfg["predict"]["input_dir"]
        return bool(input_dir) and os.path.normpath(input_dir) == DEMO_PREDICT_INPUT

    def demo_predict(self) -> bool:
        """Whether the demo copies ``predict.demo_images`` synthetic HAM10000 test images into
        its own folder :data:`selcn.paths.DEMO_PREDICT_INPUT` (``predict_demo_images``):
        synthetic data, ``demo_images > 0`` and ``predict.input_dir`` naming that folder.
        Another ``input_dir`` is the user's: only ever read, never a rule's output."""
        p = self.cfg["predict"]
        return bool(p["demo_images"] and self._names_demo_folder()
                    and self.cfg["data"]["source"] == "synthetic")

    def predict_enabled(self) -> bool:
        """Whether ``predict_images`` exists: a folder is named and it is the user's own or the
        demo's; the demo's folder inherited by a real-data config (``demo_images > 0``, no
        synthetic data to copy from) plans nothing."""
        p = self.cfg["predict"]
        inherited_demo = bool(p["demo_images"]) and self._names_demo_folder()
        return bool(p["input_dir"]) and (not inherited_demo or self.demo_predict())

    def predict_input(self) -> str:
        """The folder ``predict_images`` reads: :data:`selcn.paths.DEMO_PREDICT_INPUT` (the
        output of ``predict_demo_images``) in the demo, else ``predict.input_dir`` as given
        (an input only; ValueError when no prediction is planned)."""
        if not self.predict_enabled():
            raise ValueError("predict_input: no prediction job (predict.input_dir)")
        if self._names_demo_folder():
            return DEMO_PREDICT_INPUT
        return str(self.cfg["predict"]["input_dir"])

    def export_targets(self) -> list[str]:
        """The export stage's targets of ``rule all``: the bundle of ``export.model`` and, when
        :meth:`predict_enabled`, its ``predictions.csv`` and ``index.html`` on
        :meth:`predict_input`; ``[]`` when ``export.enabled`` is false."""
        if not self.cfg["export"]["enabled"]:
            return []
        d, sel = self.export_dataset(), self.export_selection().name
        out = [export_dir(d, sel)]
        if self.predict_enabled():
            out += [f"{predict_dir(d, sel)}/predictions.csv", f"{predict_dir(d, sel)}/index.html"]
        return out
