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
Every path lies under the config's ``results_dir`` (:func:`selcn.paths.results_root`), and the
datasets of the stages are the config's roles (:class:`selcn.grid.Grid`: the segmentation,
symmetry and localisation datasets, each lesion dataset's external test set).
The module imports neither torch nor Snakemake nor any stage module, so it is tested without
them (``tests/test_jobs.py``).
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selcn import paths
from selcn.data.overlap import OverlapPlan, overlaps_file, plan_of
from selcn.errors import ConfigError
from selcn.grid import (
    CAM_OFF,
    DATASETS_WITH_GT_MASKS,
    MULTITASK_NAME,
    NO_MASK,
    PER_MODEL,
    PLAIN,
    Fold,
    Grid,
    Model,
    Shape,
    SymmetryVariant,
    alternation,
    data_key,
    grid,
    needs_masks,
)
from selcn.hpo.names import parse_search, search_name, search_names
from selcn.paths import (
    MODEL_PATTERN,
    cache_files,
    cams_file,
    export_dir,
    external_segmentation_file,
    gt_masks_file,
    hpo_file,
    lesion_best_fold_file,
    lesion_fold_file,
    lesion_localisation_file,
    model_pattern,
    multitask_file,
    multitask_fold_file,
    predict_dir,
    predicted_masks,
    segmentation_file,
    split_file,
    symmetry_arch_file,
    symmetry_best_fold_file,
    symmetry_file,
    symmetry_localisation_file,
    variant_pattern,
)
from selcn.protocol import Protocol, policy
from selcn.weights import WeightSpec, required_weights, weight_file

__all__ = [
    "Jobs", "ExportSelection", "SEGMENTATION_DATASET", "SYMMETRY_DATASET",
    "LOCALISATION_DATASET", "READS_HAM10000", "MODEL_CONFIG_KEYS", "LESION_FOLD_FILES",
    "MULTITASK_FOLD_FILES",
]

# The datasets of the stages are the config's roles (``roles``, :class:`selcn.grid.Grid`:
# ``segmentation_dataset``, ``symmetry_dataset``, ``localisation_dataset``); these are their
# defaults, the thesis' (the segmentation network trains on HAM10000's masks, the symmetry
# network on SymDerm, every CAM is localised on HAM10000, ISIC 2016 models too, as the thesis'
# Table 15 does).
SEGMENTATION_DATASET = "ham10000"
SYMMETRY_DATASET = "symderm"
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
#: the named outputs of a model 13 training job (one fold; selcn.multitask) and their file names
MULTITASK_FOLD_FILES: dict[str, str] = {
    **LESION_FOLD_FILES, "predictions_symmetry_val": "predictions_symmetry_val.csv",
    "predictions_symmetry_test": "predictions_symmetry_test.csv",
    "metrics": "metrics_test.csv",
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


def _constraints(values: Mapping[str, list]) -> dict[str, str]:
    """Wildcard constraints: per wildcard, the alternation of its values (each once, in
    order); a wildcard without values is left out."""
    return {k: alternation(dict.fromkeys(v)) for k, v in values.items() if v}


def _shape_values(items: list[Model] | list[SymmetryVariant]) -> dict[str, list]:
    """The ``segmenter`` and ``search`` wildcard values of models or variants (those of the
    optional folders they have)."""
    return {"segmenter": [i.segmenter for i in items if i.segmenter],
            "search": [i.search for i in items if i.search == PER_MODEL]}


def _under_results_dir(method: Callable) -> Callable:
    """``method`` of :class:`Jobs`, building its paths under the config's ``results_dir``."""
    @functools.wraps(method)
    def rooted(self: Jobs, *args: Any, **kwargs: Any) -> Any:
        with paths.results_root(self.cfg.get("results_dir", paths.DEFAULT_RESULTS)):
            return method(self, *args, **kwargs)
    return rooted


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

            return dataset_paths(paths.SYNTHETIC_ROOT)[data_key(dataset)]
        # the block's paths (not its settings: data.symderm.missing)
        return {k: v for k, v in self.cfg["data"][data_key(dataset)].items() if k != "missing"}

    def data_files(self, dataset: str) -> dict[str, str]:
        """The named input files of ``dataset``'s published data: one key per path of
        :meth:`data_paths` (a list ``image_dirs`` -> ``image_dirs0``, ``image_dirs1``, ...).

        Synthetic data: only the label files, CSV or xlsx (the generator writes them last; they
        stand for the directories). Real data: only the paths that exist — a config is planned
        before its data is there (``snakemake -n``); the first such call per dataset prints a
        warning to stderr and the cache job names the missing file.
        """
        out: dict[str, str] = {}
        for key, value in self.data_paths(dataset).items():
            if isinstance(value, list):
                out.update({f"{key}{i}": v for i, v in enumerate(value)})
            else:
                out[key] = value
        if self.cfg["data"]["source"] == "synthetic":
            return {k: v for k, v in out.items() if v.endswith((".csv", ".xlsx"))}
        missing = [v for v in out.values() if not Path(v).exists()]
        if missing and data_key(dataset) not in self._warned:
            self._warned.add(data_key(dataset))
            print(f"WARNING: data.{data_key(dataset)}: {len(missing)} path(s) not found, e.g. "
                  f"{missing[0]}", file=sys.stderr)
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

    def split_inputs(self, dataset: str) -> dict[str, Any]:
        """Named inputs of the split table of ``dataset``: its cache ``index``, plus
        ``ham_splits`` (HAM10000's split table) for the datasets of :data:`READS_HAM10000`
        when HAM10000 is one of the config's, for SymDerm ``ph2_splits`` (a list: the split
        tables of the PH² datasets that are test sets, whose test images SymDerm's PH² rows
        must not train on; :attr:`selcn.grid.Grid.test_sets_of_ph2`); the overlap guard's
        inputs are :meth:`split_overlap_inputs`."""
        out: dict[str, Any] = {"index": cache_files(dataset)["index"]}
        if dataset in READS_HAM10000 and "ham10000" in self.grid.datasets:
            out["ham_splits"] = split_file("ham10000")
        if dataset == "symderm" and self.grid.test_sets_of_ph2:
            out["ph2_splits"] = [split_file(d) for d in self.grid.test_sets_of_ph2]
        return out

    def split_overlap_inputs(self, dataset: str) -> dict[str, str]:
        """The overlap guard's named inputs of the split table of ``dataset`` (beside
        :meth:`split_inputs`): where the protocol removes overlaps and the dataset trains a
        network or loses its overlaps, ``overlaps`` (``find_overlaps``' matches) and
        ``test_<t>`` per test set ``t`` whose split it needs
        (:meth:`selcn.data.overlap.OverlapPlan.test_splits_needed`); else none."""
        plan = self.overlap_plan()
        if not plan.reads_overlaps(dataset):
            return {}
        return {"overlaps": overlaps_file(),
                **{f"test_{t}": split_file(t) for t in plan.test_splits_needed(dataset)}}

    def overlap_plan(self) -> OverlapPlan:
        """The pairs (test set, training set) of the overlap guard and what it does with a
        match (:func:`selcn.data.overlap.plan_of` the grid and the protocol)."""
        return plan_of(self.grid, self.protocol)

    def overlap_inputs(self) -> dict[str, str]:
        """Named inputs of ``find_overlaps``: ``images_<d>`` and ``index_<d>`` (the cache) of
        every dataset of :meth:`overlap_plan`."""
        out = {}
        for d in self.overlap_plan().datasets:
            files = cache_files(d)
            out[f"images_{d}"], out[f"index_{d}"] = files["images"], files["index"]
        return out

    def folds_of(self, dataset: str) -> int:
        """The number of cross-validation folds of ``dataset``'s split table: the symmetry
        folds for the symmetry dataset, the lesion folds for every other dataset."""
        section = "symmetry" if dataset == self.grid.symmetry_dataset else "lesion"
        return self.cfg[section]["folds"]

    def training_checks(self) -> list[str]:
        """The checks every training and search job waits for (its ``checks`` input), so that
        a failing check stops the run before the first training: the leakage check of every
        split table (:data:`selcn.paths.SPLIT_CHECK`, ``check_splits``) and, with real data
        (``data.source: files``), the check of the published files
        (:data:`selcn.paths.DATA_CHECK`, ``check_data``). The trainings read none of them."""
        checks = [paths.SPLIT_CHECK]
        if self.cfg["data"]["source"] != "synthetic":
            checks.append(paths.DATA_CHECK)
        return checks

    def check_splits_inputs(self) -> dict[str, Any]:
        """Named inputs of ``check_splits``: ``splits`` (every dataset's split table, in the
        order of :attr:`selcn.grid.Grid.datasets`) and, when HAM10000 is one of them,
        ``ham10000`` (its split table, which the others are checked against)."""
        out: dict[str, Any] = {"splits": [split_file(d) for d in self.grid.datasets]}
        if "ham10000" in self.grid.datasets:
            out["ham10000"] = split_file("ham10000")
        return out

    def figure_dataset(self) -> str:
        """The dataset Figures 5 and 6 show (hair removal, class distribution): the
        localisation dataset (HAM10000 by default)."""
        return self.grid.localisation_dataset

    def data_summary(self) -> dict[str, dict[str, int]]:
        """``{dataset label: {class: images}}`` of every dataset whose cache index is already
        written (the report's first page: what this run read), classes in target order; ``{}``
        before the caches exist."""
        import csv

        from selcn.data.labels import classes
        from selcn.grid import DATASET_LABELS

        out: dict[str, dict[str, int]] = {}
        for d in self.grid.datasets:
            index = Path(cache_files(d)["index"])
            if not index.is_file():
                continue
            with open(index, newline="") as fh:
                labels = [row.get("label", "") for row in csv.DictReader(fh)]
            out[DATASET_LABELS[d]] = {c: labels.count(c) for c in classes(d) if c in labels}
        return out

    def data_check_blocks(self) -> dict[str, dict[str, Any]]:
        """What ``check_data`` reads (its ``paths`` param): per config block ``data.<key>`` of
        the config's datasets, its :meth:`data_paths`, and for SymDerm under
        ``data.symderm.missing: skip`` that setting (the missing rows are then left out and
        counted by source, not a problem)."""
        out: dict[str, dict[str, Any]] = {}
        for d in self.grid.datasets:
            block = dict(self.data_paths(d))
            if data_key(d) == "symderm" and self.cfg["data"]["symderm"].get("missing") == "skip":
                block["missing"] = "skip"
            out[data_key(d)] = block
        return out

    def data_left_out(self) -> dict[str, dict[str, int]]:
        """``{dataset label: {source: rows}}``: SymDerm's label-file rows left out of its cache
        (their image or mask is not there, ``data.symderm.missing: skip``), by their
        ``Dataset`` value, once the cache index is written (the report's first page);
        ``{}`` when none is left out, before the cache exists or when a file cannot be read
        (the data check names the problem; planning goes on)."""
        from selcn.data.symderm import left_out_by_source
        from selcn.data.tables import read_csv
        from selcn.grid import DATASET_LABELS

        if "symderm" not in self.grid.datasets:
            return {}
        index, labels = Path(cache_files("symderm")["index"]), self.data_paths("symderm")["csv"]
        if not (index.is_file() and Path(labels).is_file()):
            return {}
        try:
            kept = read_csv(index, ("image_id",), "SymDerm cache index")["image_id"]
            left = left_out_by_source(labels, kept)
        except ValueError:                  # DataFormatError too: the data check names it
            return {}
        return {DATASET_LABELS["symderm"]: left} if left else {}

    def hair_removal_figure_inputs(self) -> dict[str, str]:
        """Named inputs of Figure 5: the :meth:`figure_dataset`'s :meth:`data_files` and its
        cache ``index``."""
        d = self.figure_dataset()
        return {**self.data_files(d), "index": cache_files(d)["index"]}

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
        """The ``best.json`` of the shared search of ``network`` (the lesion network: of
        ``dataset``) when ``hpo`` is enabled for it, else ``[]`` (an empty named input)."""
        hpo = self.cfg["hpo"]
        if hpo["enabled"] and network in hpo["networks"]:
            return hpo_file(search_name(network, dataset), "best.json")
        return []

    def lesion_hpo(self, dataset: str, model: Model) -> str | list:
        """The ``best.json`` lesion ``model`` on ``dataset`` trains with: its own search's for a
        per-model copy (``hpo.scope: per_model``, the lesion network searched per model), else
        the shared search's (:meth:`hpo_best`; ``[]`` without a search)."""
        if model.search == PER_MODEL and "lesion" in self.grid.per_model_networks:
            return hpo_file(search_name("lesion", dataset, model.name, model.segmenter),
                            "best.json")
        return self.hpo_best("lesion", dataset)

    def symmetry_hpo(self, variant: SymmetryVariant) -> str | list:
        """The ``best.json`` symmetry ``variant`` trains with: the search of its input mask for a
        per-model copy, else the shared search's (``[]`` without a search)."""
        if variant.search == PER_MODEL and "symmetry" in self.grid.per_model_networks:
            return hpo_file(search_name("symmetry", cell=variant.mask,
                                        segmenter=variant.segmenter), "best.json")
        return self.hpo_best("symmetry")

    def hpo_searches(self) -> list[str]:
        """The searches of the config (the ``{network}`` values of ``hpo_search``):
        ``segmentation``, ``symmetry``, ``lesion-<dataset>`` per lesion dataset and, under
        ``hpo.scope: per_model``, the per-model searches the trainings read (the symmetry
        network once per input mask other than the shared search's, per segmenter; the lesion
        network once per grid cell other than model 1, per dataset): with the shared ones,
        1 + 2 S symmetry and 2 + 10 S lesion searches per dataset for S segmenters (S = 1
        under ``select``)."""
        names = search_names(self.cfg["hpo"]["networks"], self.grid.lesion_datasets)
        if not self.grid.per_model_networks:
            return names
        files = [self.symmetry_hpo(v) for v in self.grid.trained_variants()]
        files += [self.lesion_hpo(d, m) for d in self.grid.lesion_datasets
                  for m in self.grid.trained_models()]
        return list(dict.fromkeys(names + [Path(f).parent.name for f in files if f]))

    def hpo_symmetry_mask(self) -> str:
        """The input mask of the shared symmetry search: the baseline ``none`` when the grid
        has it, else its first mask (:attr:`selcn.grid.Grid.search_mask`)."""
        return self.grid.search_mask

    def hpo_search_inputs(self, search: str) -> dict[str, str]:
        """Named inputs of the search ``search`` (a :func:`selcn.hpo.names.search_name`):
        ``segmentation`` -> :meth:`segmentation_data`; ``symmetry`` -> SymDerm's cache
        (``images``, ``index``), ``splits`` and, for a masked baseline, ``masks``;
        ``lesion-<dataset>`` -> that dataset's cache and ``splits`` (the model ``none-off``).
        A per-model search reads its cell's own inputs: ``symmetry-<mask>[-<segmenter>]`` that
        mask's (and segmenter's) ``masks``; ``lesion-<dataset>-<model>[-<segmenter>]`` the
        :meth:`lesion_data` of the model's per-model copy (its masks, its CAMs)."""
        parts = parse_search(search)
        if parts.network == "segmentation":
            return self.segmentation_data()
        if parts.network == "symmetry":
            mask = parts.cell or self.grid.search_mask
            seg = parts.segmenter or (self.grid.reference_segmenter if needs_masks(mask)
                                      else None)
            return self._stage_data(self.grid.symmetry_dataset, mask, seg)
        if parts.cell is None:
            return self._stage_data(parts.dataset, NO_MASK)
        model = Model.parse(parts.cell)
        return self.lesion_data(parts.dataset, Model(model.classifier_mask, model.cam_source,
                                                     parts.segmenter, PER_MODEL))

    # ---- segmentation -------------------------------------------------------------------------
    def segmentation_data(self) -> dict[str, str]:
        """The data of segmentation training: ``images``, ``index``, ``gt_masks``, ``splits``
        of the segmentation dataset (``roles.segmentation``)."""
        d = self.grid.segmentation_dataset
        return {**cache_files(d), "gt_masks": gt_masks_file(d), "splits": split_file(d)}

    def segmentation_training_inputs(self) -> dict[str, Any]:
        """Named inputs of ``train_segmentation``: :meth:`segmentation_data`, ``hpo`` (the
        search result or ``[]``) and ``weights`` (a list, ``[]`` without pretraining)."""
        return {**self.segmentation_data(), "hpo": self.hpo_best("segmentation"),
                "weights": self.pretrained_weights("segmentation")}

    def segmentation_metrics_files(self) -> list[str]:
        """``metrics_test.csv`` of every segmentation architecture (selection, Table 5)."""
        return [segmentation_file(a, "metrics_test.csv") for a in self.grid.seg_archs]

    def segmentation_selection_files(self) -> list[str]:
        """The candidates of ``select_segmentation`` (``selected.json``: the architecture whose
        masks the exported bundle and the external masks' scores use): every architecture
        under ``select``; under ``axis`` the :attr:`~selcn.grid.Grid.reference_segmenter` alone
        (the one of the models the thesis' tables and the export show)."""
        ref = self.grid.reference_segmenter
        return ([segmentation_file(ref, "metrics_test.csv")] if ref
                else self.segmentation_metrics_files())

    def mask_prediction_inputs(self, dataset: str, segmenter: str | None = None
                               ) -> dict[str, Any]:
        """Named inputs of predicting ``dataset``'s masks: its cache ``images``, the
        ``selected`` architecture and every architecture's ``models`` (a list); under
        ``segmentation.mode: axis`` (a ``segmenter``) that one's ``models`` only."""
        images = cache_files(dataset)["images"]
        if segmenter is not None:
            return {"images": images, "models": [segmentation_file(segmenter, "model.pt")]}
        return {"images": images, "selected": paths.SEGMENTATION_SELECTED,
                "models": [segmentation_file(a, "model.pt") for a in self.grid.seg_archs]}

    def mask_prediction_output(self) -> str:
        """The output pattern of ``predict_masks``: ``masks/{dataset}.npy``, under ``axis``
        ``masks/{segmenter}/{dataset}.npy``."""
        return predicted_masks("{dataset}", "{segmenter}" if self.grid.segmenters else None)

    def segmentation_figure_inputs(self) -> dict[str, str]:
        """Named inputs of Figure 3's stage job: ``images``, ``index``, ``splits`` and the
        predicted ``masks`` of the segmentation dataset (under ``axis``, the reference
        segmenter's)."""
        d = self.grid.segmentation_dataset
        return {**cache_files(d), "splits": split_file(d),
                "masks": predicted_masks(d, self.grid.reference_segmenter)}

    # ---- symmetry -----------------------------------------------------------------------------
    def _stage_data(self, dataset: str, mask: str, segmenter: str | None = None
                    ) -> dict[str, str]:
        """``images``, ``index``, ``splits`` of ``dataset``, and ``masks`` (its predicted
        masks, ``segmenter``'s under ``segmentation.mode: axis``) when input mask ``mask``
        needs them."""
        inputs = {**cache_files(dataset), "splits": split_file(dataset)}
        if needs_masks(mask):
            inputs["masks"] = predicted_masks(dataset, segmenter)
        return inputs

    def _symmetry_training(self, variant: SymmetryVariant, arch: str) -> dict[str, Any]:
        """SymDerm's :meth:`_stage_data` for ``variant``'s mask and segmenter, ``hpo`` (when
        searched: :meth:`symmetry_hpo`) and, when pretrained, ``weights`` (the cache files of
        ``arch``, a list)."""
        inputs: dict[str, Any] = self._stage_data(self.grid.symmetry_dataset, variant.mask,
                                                  variant.segmenter)
        hpo = self.symmetry_hpo(variant)
        if hpo:
            inputs["hpo"] = hpo
        if variant.pretrained:
            inputs["weights"] = self.pretrained_weights("symmetry", arch)
        return inputs

    def symmetry_training_inputs(self, variant: SymmetryVariant) -> dict[str, Any]:
        """Named inputs of ``train_symmetry`` of ``variant``: SymDerm's ``images``, ``index``,
        ``splits``, ``masks`` (masked variants: their segmenter's), ``hpo`` (when searched:
        the variant's own search for a per-model copy) and, for a pretrained variant,
        ``weights`` (a list)."""
        return self._symmetry_training(variant, self.cfg["symmetry"]["architecture"])

    def symmetry_training_outputs(self, shape: Shape = PLAIN) -> dict[str, str]:
        """Named outputs of ``train_symmetry`` (of its rule of ``shape``): ``model``,
        ``history``, ``predictions_val``, ``predictions_test`` (patterns of ``{variant}``,
        ``{fold}`` and the shape's ``{segmenter}``)."""
        folder = variant_pattern(shape)
        return {key: symmetry_file(folder, "{fold}", name) for key, name in (
            ("model", "model.pt"), ("history", "history.csv"),
            ("predictions_val", "predictions_val.csv"),
            ("predictions_test", "predictions_test.csv"))}

    def symmetry_arch_training_inputs(self, arch: str) -> dict[str, Any]:
        """Named inputs of ``train_symmetry_arch`` of ``arch`` (no mask, initialised as
        ``symmetry.pretrained``): SymDerm's ``images``, ``index``, ``splits``, ``hpo`` (when
        searched) and, when pretrained, ``weights`` (a list)."""
        return self._symmetry_training(
            SymmetryVariant(self.cfg["symmetry"]["pretrained"], NO_MASK), arch)

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

    def symmetry_cams_inputs(self, variant: str | SymmetryVariant) -> dict[str, Any]:
        """Named inputs of ``symmetry_cams`` of a CAM variant (or of input mask ``variant``:
        its :meth:`selcn.grid.Grid.cam_variant`): :meth:`symmetry_best_inputs` of the variant,
        and per CAM dataset ``d`` its ``images_<d>``, ``index_<d>`` and, for a masked variant,
        ``masks_<d>`` (its segmenter's)."""
        if not isinstance(variant, SymmetryVariant):
            variant = self.grid.cam_variant(variant)
        inputs = self.symmetry_best_inputs(variant)
        for d in self.grid.cam_datasets:
            files = cache_files(d)
            inputs[f"images_{d}"], inputs[f"index_{d}"] = files["images"], files["index"]
            if variant.needs_masks:
                inputs[f"masks_{d}"] = predicted_masks(d, variant.segmenter)
        return inputs

    def symmetry_cams_outputs(self, mask: str = "{mask}", shape: Shape = PLAIN
                              ) -> dict[str, str]:
        """Named outputs of ``symmetry_cams`` (of its rule of ``shape``): ``cams_<d>`` per CAM
        dataset ``d`` (patterns of ``{mask}`` and the shape's ``{segmenter}`` / ``{search}``,
        or of input mask ``mask``)."""
        folder = mask + shape.folders() if mask == "{mask}" else mask
        return {f"cams_{d}": cams_file(folder, d) for d in self.grid.cam_datasets}

    def symmetry_localisation_inputs(self, variant: SymmetryVariant) -> dict[str, Any]:
        """Named inputs of ``symmetry_localisation`` of ``variant``: the
        localisation dataset's ``images``, ``index``, ``splits``, ``masks`` (masked
        variants: their segmenter's) and ``gt_masks``, and :meth:`symmetry_best_inputs` of
        ``variant``."""
        d = self.grid.localisation_dataset
        return {**self._stage_data(d, variant.mask, variant.segmenter),
                "gt_masks": gt_masks_file(d), **self.symmetry_best_inputs(variant)}

    def symmetry_figure_inputs(self) -> dict[str, Any]:
        """Named inputs of Figure 9's stage job: SymDerm's ``images``, ``index``, ``splits``,
        ``masks`` (when a symmetry input mask needs them; the reference segmenter's under
        ``axis``), and per symmetry input mask ``m`` the ``best_<m>`` / ``models_<m>`` of its
        CAM variant."""
        masked = any(needs_masks(m) for m in self.grid.symmetry_input_masks)
        inputs = self._stage_data(self.grid.symmetry_dataset, "seg" if masked else "none",
                                  self.grid.reference_segmenter)
        for m in self.grid.symmetry_input_masks:
            best = self.symmetry_best_inputs(self.grid.cam_variant(m))
            inputs[f"best_{m}"], inputs[f"models_{m}"] = best["best"], best["models"]
        return inputs

    def symmetry_figure_variants(self) -> dict[str, str]:
        """``{mask: variant name}`` of Figure 9: the CAM variant of every symmetry input mask."""
        return {m: str(self.grid.cam_variant(m)) for m in self.grid.symmetry_input_masks}

    def symmetry_prediction_files(self, split: str) -> list[str]:
        """Every Table 6 variant x fold prediction file of ``split`` (``val`` / ``test``; the
        reference segmenter's variants under ``axis``)."""
        return [symmetry_file(v, k, f"predictions_{split}.csv")
                for v in self.grid.reported_variants() for k in self.grid.symmetry_folds]

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
        return [symmetry_localisation_file(self.grid.cam_variant(m),
                                           self.grid.localisation_dataset)
                for m in self.grid.symmetry_input_masks]

    def symmetry_localisation_output(self, variant: str | SymmetryVariant = "{variant}",
                                     shape: Shape = PLAIN) -> str:
        """The output of ``symmetry_localisation`` (of its rule of ``shape``: a pattern of
        ``{variant}`` and the shape's ``{segmenter}``), or of ``variant``."""
        folder = variant_pattern(shape) if variant == "{variant}" else variant
        return symmetry_localisation_file(folder, self.grid.localisation_dataset)

    def symmetry_constraints(self, variants: list[SymmetryVariant]) -> dict[str, str]:
        """The wildcard constraints of a symmetry rule of one shape over ``variants``:
        ``variant`` (their names) and, where they have them, ``segmenter`` and ``search``."""
        return _constraints({"variant": [str(v) for v in variants], **_shape_values(variants)})

    def cams_constraints(self, variants: list[SymmetryVariant]) -> dict[str, str]:
        """The wildcard constraints of a ``symmetry_cams`` rule of one shape over the CAM
        ``variants``: ``mask`` and, where they have them, ``segmenter`` and ``search``."""
        return _constraints({"mask": [v.mask for v in variants], **_shape_values(variants)})

    def lesion_constraints(self, models: list[Model]) -> dict[str, str]:
        """The wildcard constraints of a lesion rule of one shape over ``models``:
        ``classifier_mask``, ``symmetry_mask`` and, where they have them, ``segmenter`` and
        ``search``."""
        return _constraints({"classifier_mask": [m.classifier_mask for m in models],
                             "symmetry_mask": [m.cam_source for m in models],
                             **_shape_values(models)})

    # ---- lesion -------------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        """The names (``<classifier_mask>-<cam_source>``) of the grid's lesion models, in the
        thesis' order: the ``models`` param of the rules that read them all."""
        return [m.name for m in self.grid.models()]

    def external_of(self, dataset: str) -> str | None:
        """The external test set a lesion model of ``dataset`` also predicts in its training
        job (ISIC 2019 for HAM10000 when configured), else None; the sets predicted after
        training: :meth:`external_later_sets`."""
        return self.grid.external_of.get(dataset)

    def lesion_data(self, dataset: str, model: Model) -> dict[str, str]:
        """What ``model`` reads of ``dataset``: ``images``, ``index``, ``splits``, ``masks``
        (a masked classifier: its segmenter's) and ``cams`` (a CAM model: those of its CAM
        variant, :meth:`selcn.grid.Grid.cam_variant_of`)."""
        inputs = self._stage_data(dataset, model.classifier_mask, model.segmenter)
        if model.takes_cam:
            inputs["cams"] = cams_file(self.grid.cam_variant_of(model), dataset)
        return inputs

    def lesion_training_inputs(self, dataset: str, model: Model) -> dict[str, str]:
        """Named inputs of training ``model`` on ``dataset``: :meth:`lesion_data`, ``hpo``
        (when searched: :meth:`lesion_hpo`), and, when ``dataset`` has an external test set,
        that set's :meth:`lesion_data` prefixed ``ext_`` (``ext_images``, ``ext_index``,
        ``ext_splits``, ``ext_masks``, ``ext_cams``)."""
        inputs = self.lesion_data(dataset, model)
        hpo = self.lesion_hpo(dataset, model)
        if hpo:
            inputs["hpo"] = hpo
        external = self.external_of(dataset)
        if external:
            inputs.update({f"ext_{k}": v for k, v in self.lesion_data(external, model).items()})
        return inputs

    def lesion_training_outputs(self, dataset: str, shape: Shape = PLAIN) -> dict[str, str]:
        """Named outputs (patterns of ``{lesion_dataset}``, ``{classifier_mask}``,
        ``{symmetry_mask}``, ``{fold}`` and the ``shape``'s ``{segmenter}``) of a lesion
        training job on ``dataset``: those of :data:`LESION_FOLD_FILES`, and
        ``predictions_external`` (``predictions_<external>.csv``) when ``dataset`` has an
        external test set."""
        def pattern(name: str) -> str:
            return lesion_fold_file("{lesion_dataset}", model_pattern(shape), "{fold}", name)

        out = {key: pattern(name) for key, name in LESION_FOLD_FILES.items()}
        external = self.external_of(dataset)
        if external:
            out["predictions_external"] = pattern(f"predictions_{external}.csv")
        return out

    # ---- further external test sets (rule predict_external, rules/external.smk) -------------
    def external_later_sets(self) -> tuple[str, ...]:
        """The external test sets predicted after training (``{external}`` of rule
        ``predict_external``: every set of a ``roles.external`` list but its first)."""
        return tuple(dict.fromkeys(e for _, e in self.grid.external_later))

    def external_later_datasets(self) -> tuple[str, ...]:
        """The lesion datasets whose models predict a set after training."""
        return tuple(dict.fromkeys(d for d, _ in self.grid.external_later))

    def external_prediction_inputs(self, dataset: str, model: Model, fold: Fold,
                                   external: str) -> dict[str, str]:
        """Named inputs of ``predict_external``: the fold's ``model`` (``model.pt``) and the
        external set's :meth:`lesion_data` for ``model`` prefixed ``ext_`` (``ext_images``,
        ``ext_index``, ``ext_splits``, ``ext_masks``, ``ext_cams``); ValueError for a set
        ``dataset``'s models do not predict after training."""
        if external not in self.grid.externals_later_of(dataset):
            raise ValueError(f"predict_external: {dataset} models predict no {external!r} after "
                             f"training (roles.external: {self.grid.externals_of(dataset)})")
        return {"model": lesion_fold_file(dataset, model, fold, "model.pt"),
                **{f"ext_{k}": v for k, v in self.lesion_data(external, model).items()}}

    def external_prediction_output(self, shape: Shape = PLAIN) -> str:
        """The output of ``predict_external`` (a pattern of ``{lesion_dataset}``,
        ``{classifier_mask}``, ``{symmetry_mask}``, the ``shape``'s folders, ``{fold}``,
        ``{external}``): the same file a training job writes for its in-job set,
        ``predictions_<external>.csv``."""
        return lesion_fold_file("{lesion_dataset}", model_pattern(shape), "{fold}",
                                "predictions_{external}.csv")

    def external_prediction_files(self, dataset: str, external: str) -> list[str]:
        """Every model x fold ``predictions_<external>.csv`` of lesion ``dataset`` (the grid's,
        then model 13's where it is trained and predicts ``external`` in its training job)."""
        files = self.lesion_prediction_files(dataset, external)
        if self.grid.external_of.get(dataset) == external:
            files += self.multitask_prediction_files(dataset, external)
        return files

    def external_binary_files(self, dataset: str, external: str) -> list[str]:
        """Table 10 (PH²)'s inputs: :meth:`external_prediction_files` and the external set's split
        table (its ``group``: the lesion the bootstrap draws)."""
        return self.external_prediction_files(dataset, external) + [split_file(external)]

    def external_mask_sets(self) -> tuple[str, ...]:
        """The external test sets with ground-truth lesion masks (PH²): the selected
        segmentation network's masks of them are scored (rule ``score_external_masks``)."""
        return tuple(e for e in self.grid.external_sets if e in DATASETS_WITH_GT_MASKS)

    def external_mask_score_inputs(self, dataset: str) -> dict[str, str]:
        """Named inputs of scoring the predicted masks of external set ``dataset``: its
        predicted ``masks``, ``gt_masks``, cache ``index``, ``splits`` (its test rows are
        scored) and the segmentation ``selected`` file (the architecture's name)."""
        return {"masks": predicted_masks(dataset, self.grid.reference_segmenter),
                "gt_masks": gt_masks_file(dataset),
                "index": cache_files(dataset)["index"], "splits": split_file(dataset),
                "selected": paths.SEGMENTATION_SELECTED}

    def external_segmentation_files(self) -> list[str]:
        """Table 5 (external): the scores of every :meth:`external_mask_sets` set."""
        return [external_segmentation_file(d) for d in self.external_mask_sets()]

    def lesion_model_files(self, dataset: str, model: Model, name: str) -> list[str]:
        """``name`` (e.g. ``predictions_test.csv``) of every fold of ``model`` on ``dataset``."""
        return [lesion_fold_file(dataset, model, k, name) for k in self.grid.folds]

    def lesion_prediction_files(self, dataset: str, split: str) -> list[str]:
        """Every model x fold prediction file of ``dataset`` for ``split`` (``val``, ``test``
        or the external set's name), models in the thesis' order."""
        return [f for m in self.grid.models()
                for f in self.lesion_model_files(dataset, m, f"predictions_{split}.csv")]

    def lesion_statistics_inputs(self, dataset: str) -> dict[str, Any]:
        """Named inputs of the statistics and Findings of ``dataset`` (rule
        ``stats_vs_baseline``): ``files`` (every model x fold test prediction file), ``val``
        (the validation ones: the best model is chosen on them) and ``splits`` (the split table:
        its ``group`` column is the lesion the bootstrap draws and the McNemar test pairs); model
        13's files follow the grid's where it is trained (:meth:`multitask_prediction_files`)."""
        return {"files": (self.lesion_prediction_files(dataset, "test")
                          + self.multitask_prediction_files(dataset, "test")),
                "val": (self.lesion_prediction_files(dataset, "val")
                        + self.multitask_prediction_files(dataset, "val")),
                "splits": split_file(dataset)}

    # ---- the segmenter axis and the per-model search (the report's comparisons) -------------
    def segmenter_effect_files(self, dataset: str) -> list[str]:
        """The segmenter table of lesion ``dataset`` (``segmentation.mode: axis``): every
        segmentation architecture's ``metrics_test.csv`` and the test predictions of every fold
        of every model that reads a segmenter's masks, on every segmenter (models 3-12, the
        shared search's); ``[]`` under ``select``."""
        if not self.grid.segmenters:
            return []
        models = [m for m in self.grid.trained_models() if m.segmenter and m.search != PER_MODEL]
        return self.segmentation_metrics_files() + [
            f for m in models for f in self.lesion_model_files(dataset, m,
                                                               "predictions_test.csv")]

    def search_comparison_inputs(self, dataset: str) -> dict[str, Any]:
        """Named inputs of the table "shared vs per-model search" of lesion ``dataset``
        (``hpo.scope: per_model``): ``predictions`` (validation and test predictions of every
        fold of every trained model, shared and per-model copies), ``histories`` (their
        ``history.csv``), ``searches`` (the ``best.json`` of the dataset's lesion searches the
        trainings read) and ``splits`` (the split table: lesions)."""
        models = self.grid.trained_models()
        preds = [f for m in models for split in ("val", "test")
                 for f in self.lesion_model_files(dataset, m, f"predictions_{split}.csv")]
        searches = [self.lesion_hpo(dataset, m) for m in models]
        return {"predictions": preds,
                "histories": [f for m in models
                              for f in self.lesion_model_files(dataset, m, "history.csv")],
                "searches": list(dict.fromkeys(f for f in searches if f)),
                "splits": split_file(dataset)}

    def lesion_localisation_inputs(self, model: Model) -> dict[str, Any]:
        """Named inputs of ``lesion_localisation`` of ``model`` (every lesion dataset's model
        is localised on the localisation dataset): that dataset's :meth:`lesion_data` and
        ``gt_masks``, and per lesion dataset ``d`` every fold's ``models_<d>`` and selection
        split predictions ``predictions_<d>`` (lists)."""
        ref = self.grid.localisation_dataset
        inputs = {**self.lesion_data(ref, model), "gt_masks": gt_masks_file(ref)}
        split = self.protocol.selection_split
        for d in self.grid.lesion_datasets:
            inputs[f"models_{d}"] = self.lesion_model_files(d, model, "model.pt")
            inputs[f"predictions_{d}"] = self.lesion_model_files(d, model,
                                                                 f"predictions_{split}.csv")
        return inputs

    def lesion_localisation_outputs(self, model: Model | str = MODEL_PATTERN) -> dict[str, str]:
        """Named outputs of ``lesion_localisation``: per lesion dataset ``d`` its
        ``localisation_<d>`` (``localisation.csv``) and ``best_<d>`` (``best_fold.json``);
        ``model`` a model or a folder pattern (:func:`selcn.paths.model_pattern`)."""
        out = {}
        for d in self.grid.lesion_datasets:
            out[f"localisation_{d}"] = lesion_localisation_file(d, model)
            out[f"best_{d}"] = lesion_best_fold_file(d, model)
        return out

    def lesion_figure_inputs(self) -> dict[str, Any]:
        """Named inputs of Figure 10's stage job: the localisation dataset's
        ``images``, ``index``, ``splits``, ``gt_masks``, ``masks`` (when a classifier mask
        needs them), ``cams_<source>`` per CAM source of the grid, and every model's ``best``
        (``best_fold.json``, models in order) and ``models`` (model x fold ``model.pt``)."""
        ref = self.grid.localisation_dataset
        inputs = {**cache_files(ref), "splits": split_file(ref), "gt_masks": gt_masks_file(ref)}
        if any(needs_masks(cm) for cm in self.grid.classifier_masks):
            inputs["masks"] = predicted_masks(ref, self.grid.reference_segmenter)
        for source in self.grid.cam_sources:
            if source != CAM_OFF:
                inputs[f"cams_{source}"] = cams_file(self.grid.cam_variant(source), ref)
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

    # ---- model 13 (selcn.multitask) -----------------------------------------------------------
    def multitask_datasets(self) -> tuple[str, ...]:
        """The lesion datasets model 13 is trained on (``()``: ``multitask.enabled`` false)."""
        return self.grid.multitask_datasets

    def multitask_data(self, dataset: str) -> dict[str, str]:
        """What model 13 reads of ``dataset``: ``images``, ``index``, ``splits`` and, where the
        dataset has them, ``gt_masks``."""
        inputs = {**cache_files(dataset), "splits": split_file(dataset)}
        if dataset in DATASETS_WITH_GT_MASKS:
            inputs["gt_masks"] = gt_masks_file(dataset)
        return inputs

    def multitask_training_inputs(self, dataset: str) -> dict[str, Any]:
        """Named inputs of training model 13 on ``dataset``: its :meth:`multitask_data`, the
        symmetry dataset's prefixed ``sym_`` (its masks included), ``weights`` (the lesion
        network's ImageNet file, a list) and, where ``dataset`` has an external test set,
        ``ext_images``, ``ext_index``, ``ext_splits``."""
        sym = self.grid.symmetry_dataset
        inputs: dict[str, Any] = {
            **self.multitask_data(dataset),
            **{f"sym_{k}": v for k, v in self.multitask_data(sym).items()},
            "weights": self.pretrained_weights("lesion")}
        external = self.external_of(dataset)
        if external:
            inputs.update({f"ext_{k}": v for k, v in self._stage_data(external, "none").items()})
        return inputs

    def multitask_training_outputs(self, dataset: str) -> dict[str, str]:
        """Named outputs (patterns of ``{fold}``) of a model 13 training job on ``dataset``:
        those of :data:`MULTITASK_FOLD_FILES` and ``predictions_external`` where it has an
        external test set."""
        out = {key: multitask_fold_file(dataset, "{fold}", name)
               for key, name in MULTITASK_FOLD_FILES.items()}
        external = self.external_of(dataset)
        if external:
            out["predictions_external"] = multitask_fold_file(dataset, "{fold}",
                                                              f"predictions_{external}.csv")
        return out

    def multitask_model_files(self, dataset: str, name: str) -> list[str]:
        """``name`` of every fold of model 13 on ``dataset``; ``[]`` where it is not trained
        (so the report's file lists simply grow by its files)."""
        if dataset not in self.grid.multitask_datasets:
            return []
        return [multitask_fold_file(dataset, k, name) for k in self.grid.folds]

    def multitask_prediction_files(self, dataset: str, split: str) -> list[str]:
        """Model 13's ``predictions_<split>.csv`` of every fold (Tables 8, 10, 13, 14 and the
        statistics beside the grid's :meth:`lesion_prediction_files`)."""
        return self.multitask_model_files(dataset, f"predictions_{split}.csv")

    def multitask_reported_dataset(self) -> str | None:
        """The model 13 whose symmetry and mask heads Tables 5 and 6 show: the one trained on
        the segmentation dataset (``roles.segmentation``, HAM10000) when there is one, else
        the first of :meth:`multitask_datasets`; None when model 13 is off."""
        datasets = self.grid.multitask_datasets
        if not datasets:
            return None
        seg = self.grid.segmentation_dataset
        return seg if seg in datasets else datasets[0]

    def multitask_symmetry_prediction_files(self, split: str) -> list[str]:
        """Table 6: the symmetry predictions (``val`` / ``test``) of every fold of
        :meth:`multitask_reported_dataset`'s model 13 (``[]`` when off)."""
        d = self.multitask_reported_dataset()
        return [] if d is None else self.multitask_model_files(
            d, f"predictions_symmetry_{split}.csv")

    def multitask_segmentation_files(self) -> list[str]:
        """Table 5: ``metrics_test.csv`` of model 13's fold 0 (the fold that validates the
        segmentation networks too) on the segmentation dataset; ``[]`` when model 13 is off
        or not trained on it."""
        d = self.grid.segmentation_dataset
        if d not in self.grid.multitask_datasets:
            return []
        return [multitask_fold_file(d, FIRST_FOLD, "metrics_test.csv")]

    def multitask_localisation_inputs(self) -> dict[str, Any]:
        """Named inputs of ``multitask_localisation``: the localisation dataset's
        ``images``, ``index``, ``splits``, ``gt_masks``, and per model 13 dataset ``d`` every
        fold's ``models_<d>`` and selection split predictions ``predictions_<d>``."""
        ref = self.grid.localisation_dataset
        inputs: dict[str, Any] = {**cache_files(ref), "splits": split_file(ref),
                                  "gt_masks": gt_masks_file(ref)}
        split = self.protocol.selection_split
        for d in self.grid.multitask_datasets:
            inputs[f"models_{d}"] = self.multitask_model_files(d, "model.pt")
            inputs[f"predictions_{d}"] = self.multitask_model_files(d,
                                                                    f"predictions_{split}.csv")
        return inputs

    def multitask_localisation_outputs(self) -> dict[str, str]:
        """Named outputs of ``multitask_localisation``: per model 13 dataset ``d`` its
        ``localisation_<d>`` and ``best_<d>`` (``best_fold.json``)."""
        out = {}
        for d in self.grid.multitask_datasets:
            out[f"localisation_{d}"] = multitask_file(d, "localisation.csv")
            out[f"best_{d}"] = multitask_file(d, "best_fold.json")
        return out

    def multitask_localisation_files(self, dataset: str) -> list[str]:
        """Tables 9 / 15: model 13's ``localisation.csv`` on ``dataset`` (``[]`` when not
        trained there)."""
        return ([multitask_file(dataset, "localisation.csv")]
                if dataset in self.grid.multitask_datasets else [])

    def multitask_history_files(self, dataset: str, fold: Fold = FIRST_FOLD) -> list[str]:
        """Figures 11-13: model 13's ``history.csv`` of ``fold`` on ``dataset`` (or ``[]``)."""
        return self.multitask_model_files(dataset, "history.csv")[fold.index:fold.index + 1]

    def multitask_cost_files(self) -> list[str]:
        """The cost table's input: ``cost.csv`` of :meth:`multitask_reported_dataset`'s
        model 13 (``[]`` when off)."""
        d = self.multitask_reported_dataset()
        return [] if d is None else [multitask_file(d, "cost.csv")]

    def multitask_export_inputs(self, dataset: str) -> dict[str, list[str]]:
        """Named inputs of exporting model 13 of ``dataset``: its fold models ``folds`` and
        validation predictions ``val``."""
        return {"folds": self.multitask_model_files(dataset, "model.pt"),
                "val": self.multitask_prediction_files(dataset, "val")}

    def multitask_targets(self) -> list[str]:
        """``rule all``'s model 13 targets beyond the report's tables: its export bundle
        (``results/export/<export.dataset>/multitask``) when ``export.enabled`` and model 13 is
        trained on the export dataset; ``[]`` otherwise."""
        if not self.cfg["export"]["enabled"]:
            return []
        d = self.export_dataset()
        return [export_dir(d, MULTITASK_NAME)] if d in self.grid.multitask_datasets else []

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
            "selected": paths.SEGMENTATION_SELECTED,
            "segmentation": [segmentation_file(a, "model.pt") for a in self.grid.seg_archs],
        }
        for m in models:
            inputs[f"model{m.number}_folds"] = self.lesion_model_files(dataset, m, "model.pt")
            inputs[f"model{m.number}_val"] = self.lesion_model_files(dataset, m,
                                                                     "predictions_val.csv")
        for source in sorted({m.cam_source for m in models if m.takes_cam}):
            best = self.symmetry_best_inputs(self.grid.cam_variant(source))   # the reference's
            inputs[f"symmetry_{source}_best"] = best["best"]
            inputs[f"symmetry_{source}_models"] = best["models"]
        return inputs

    def _names_demo_folder(self) -> bool:
        """Whether ``predict.input_dir`` is :data:`selcn.paths.DEMO_PREDICT_INPUT`, or the demo
        folder under the default results folder (config.yaml's ``results/predict/demo_input``)
        while ``results_dir`` names another: the demo's folder follows ``results_dir``."""
        input_dir = self.cfg["predict"]["input_dir"]
        if not input_dir:
            return False
        default = os.path.join(paths.DEFAULT_RESULTS,
                               os.path.relpath(paths.DEMO_PREDICT_INPUT, paths.results_dir()))
        return os.path.normpath(input_dir) in (paths.DEMO_PREDICT_INPUT, default)

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
            return paths.DEMO_PREDICT_INPUT
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


# every public map of Jobs builds its paths under the config's results_dir
for _name, _method in list(vars(Jobs).items()):
    if not _name.startswith("_") and inspect.isfunction(_method):
        setattr(Jobs, _name, _under_results_dir(_method))
del _name, _method
