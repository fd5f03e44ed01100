"""The report registry: every table of the report, what it holds, which files it is built from
and how it appears in the report; the report's figures; the rendering of a table's caption.

:data:`TABLE_REGISTRY` is the one list of the thesis tables: each name maps to a
:class:`TableEntry` with its content (:class:`selcn.report.tables.TableSpec`: title, row keys,
metric columns), its builder, its input files (a :class:`selcn.jobs.Jobs` map), its report
category, labels and caption, whether a config's grid has it, and the builder's options.
``rules/report.smk`` reads it (one rule, ``table``, builds every entry);
:func:`build_table` builds an entry from its files and :data:`TABLES` holds their specs. The
per-class tables (the thesis' Tables 11 / 12, :data:`PER_CLASS_TABLE_NUMBERS`; any model:
``per_class_model<N>``) and the statistics tables have rules of their own;
:func:`report_tables` lists every table a grid produces, :func:`report_figures` and
:data:`STAGE_FIGURES` the figures.

A Snakemake rule has one caption file, so the per-table captions
(``workflow/report/<caption>.rst``, Jinja templates that read ``snakemake.config`` and
``snakemake.wildcards``) are rendered here when the job is planned and handed to the rule's
caption ``workflow/report/table.rst`` as ``params.caption``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from selcn.data.overlap import overlap_summary_file
from selcn.grid import (
    DATASET_LABELS,
    DATASETS_WITH_GT_MASKS,
    LESION_DATASETS,
    ROLE_DEFAULTS,
    SPLIT_LABELS,
    Grid,
    alternation,
    role_dataset,
)
from selcn.paths import figure_file
from selcn.report.external import (
    BINARY_LABELS,
    BINARY_SHOWN,
    EXTERNAL_SEGMENTATION_LABELS,
    EXTERNAL_SEGMENTATION_METRICS,
    binary_table,
    external_segmentation_table,
)
from selcn.report.overlaps import OVERLAP_TABLE_COLUMNS, overlaps_table
from selcn.report.regions import (
    HAIR_KEYS,
    HAIR_LABELS,
    HAIR_METRICS,
    REGION_KEYS,
    REGION_LABELS,
    REGION_METRICS,
    cam_regions_table,
    hair_removal_table,
)
from selcn.report.segmenters import SEGMENTER_DICE, SEGMENTER_KEYS, segmenter_table
from selcn.report.tables import (
    _ENSEMBLE_KEYS,
    _LESION_KEYS,
    _LOCALISATION_OPTIONAL,
    _SD,
    COST_METRICS,
    LESION_SHOWN,
    LOCALISATION_BASELINES,
    LOCALISATION_EXTRA,
    LOCALISATION_METRICS,
    PER_CLASS_DATASETS,
    PER_CLASS_TABLE_NUMBERS,
    RECALL_IS_BALANCED,
    SEGMENTATION_METRICS,
    SYMMETRY_METRICS,
    TableSpec,
    architecture_table,
    lesion_table,
    localisation_table,
    multitask_cost_table,
    per_class_name,
    per_class_of,
    segmentation_table,
    symmetry_table,
)

if TYPE_CHECKING:
    import pandas as pd

    from selcn.jobs import Jobs

__all__ = ["Caption", "TableEntry", "TABLE_REGISTRY", "TABLES", "build_table", "STAGE_FIGURES",
           "no_options", "report_tables", "report_figures", "per_class_number", "per_class_labels",
           "reference_table", "render_caption", "PUBLISHED_ON", "table_title", "table_labels",
           "REPORT_CATEGORIES", "report_category", "table_label", "TABLES_SUBCATEGORY",
           "FIGURES_SUBCATEGORY", "calibration_figures", "findings_file", "findings_files",
           "table_options", "datasets_resolved", "per_class_dataset", "PER_CLASS_PATTERN",
           "search_comparison_tables"]


def no_options(grid: Grid) -> Mapping:
    """The options of a table whose builder takes none."""
    return {}


def _always(grid: Grid) -> bool:
    return True


def _lesion_dataset(dataset: str) -> Callable[[Grid], bool]:
    """Whether a grid trains lesion models on ``dataset`` (its tables exist)."""
    return lambda grid: dataset in grid.lesion_datasets


@dataclass(frozen=True)
class Caption:
    """A caption template ``workflow/report/<template>.rst`` and the wildcards it reads
    (e.g. ``{"split": "val"}``)."""

    template: str
    wildcards: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TableEntry:
    """One thesis table of the report.

    Attributes:
        spec: what the table holds (its name, title, row keys and metric columns).
        build: ``build(files)`` -> the table (a builder of :mod:`selcn.report.tables`;
            ``build(files, **options(grid))`` where the entry has options).
        files: ``files(jobs)`` -> the per-model files it aggregates (the rule's inputs).
        category: the report category (e.g. ``"Lesion classification"``).
        labels: the report labels (``table``, ``dataset``, ``content``).
        caption: its caption template and the wildcards the template reads.
        applies: ``applies(grid)`` -> whether a config with this grid produces it.
        options: ``options(grid)`` -> the keyword arguments of ``build`` (and of
            :func:`build_table`) beyond the files, a rule param;
            :func:`no_options` for the builders that take none.
        role: the dataset role whose dataset the table is on (``segmentation``, ``symmetry``,
            ``localisation``: :data:`PUBLISHED_ON`), None for a table of a fixed dataset.
        intervals: its builder takes ``intervals`` (``{"n_boot", "confidence", "seed"}``:
            config ``report.bootstrap``, ``report.confidence``, ``seed``; :func:`table_options`).
    """

    spec: TableSpec
    build: Callable[..., pd.DataFrame]
    files: Callable[[Jobs], list[str]]
    category: str
    labels: Mapping[str, str]
    caption: Caption
    applies: Callable[[Grid], bool] = _always
    options: Callable[[Grid], Mapping] = no_options
    role: str | None = None
    intervals: bool = False


#: the dataset the thesis published each role's tables on: its numbers (config/reference/)
#: appear beside a table only when this run's role is that dataset (never beside PH²'s)
PUBLISHED_ON: dict[str, str] = {"segmentation": "ham10000", "symmetry": "symderm",
                                "localisation": "ham10000"}


def _role_dataset(grid: Grid, role: str) -> str:
    return getattr(grid, f"{role}_dataset")


def datasets_resolved(cfg: Mapping) -> dict:
    """What the caption templates read of the datasets (``snakemake.config
    ["datasets_resolved"]``: ``rules/common.smk`` puts it into the config, :func:`render_caption`
    adds it where absent), from config ``roles``: per role of :data:`PUBLISHED_ON`
    (``roles``) its ``dataset`` as the role resolves it (``ph2_symmetry`` for ``symmetry:
    ph2``), its ``label`` and whether the thesis ``published`` its tables on it; the lesion
    datasets the thesis published tables of (``published_lesion``) and every dataset's
    ``labels``."""
    given = cfg.get("roles") or {}
    roles = {}
    for role, published in PUBLISHED_ON.items():
        d = role_dataset(role, given.get(role) or ROLE_DEFAULTS[role])
        roles[role] = {"dataset": d, "label": DATASET_LABELS[d], "published": d == published}
    return {"roles": roles, "published_lesion": list(_PUBLISHED_LESION),
            "labels": dict(DATASET_LABELS)}


_SD_IMAGES = "mean ± std over images (np.std, ddof = 0)"
_LAYERS = ("; each model's own CAM layer, then (beyond the thesis) every model at the "
           "encoder's last feature layer")
_ENS = "; fold ensembles (beyond the thesis)"
_SYMMETRY, _LESION = "Symmetry", "Lesion classification"


#: the report's categories in the thesis' order (the report's menu sorts categories by name, so
#: :func:`report_category` numbers them): the Findings first, then the stages, the comparisons
#: beyond the thesis, and the searches' convergence last (absent when the search is off)
REPORT_CATEGORIES: tuple[str, ...] = ("Findings", "Data", "Segmentation", "Symmetry",
                                      "Lesion classification", "Model comparison",
                                      "Hyper-parameter search")
#: the subcategories of a category's items
TABLES_SUBCATEGORY, FIGURES_SUBCATEGORY = "Tables", "Figures"


def report_category(name: str) -> str:
    """The report category of ``name``, numbered in :data:`REPORT_CATEGORIES`' order
    (``"Symmetry"`` -> ``"4. Symmetry"``); a name not listed there (an appendix) is kept as it
    is and sorts after the numbered ones. Snakemake's report lists categories sorted by name
    (``localeCompare``), hence the numbers."""
    if name in REPORT_CATEGORIES:
        return f"{REPORT_CATEGORIES.index(name) + 1}. {name}"
    return name


def table_label(table: str) -> str:
    """The ``table`` label of a report item, with a two-digit table number
    (``"Table 8a"`` -> ``"Table 08a"``, ``"Tables 13-14"`` -> ``"Tables 13-14"``): the report
    sorts the items of a subcategory by their labels as text, so ``Table 10`` would come before
    ``Table 8a``; with two digits they follow the thesis' order."""
    return re.sub(r"^(Tables?) (\d)(?!\d)", r"\1 0\2", table)


def _labels(table: str, dataset: str, content: str) -> dict[str, str]:
    return {"table": table_label(table), "dataset": dataset, "content": content}


# Model 13 (selcn.multitask, config ``multitask``) adds its files to these lists: its paths
# parse as a lesion model's (or, its symmetry predictions, a symmetry model's), so the builders
# add its rows (``[]`` when it is off).
def _symmetry_predictions(jobs: Jobs, split: str) -> list[str]:
    return jobs.symmetry_prediction_files(split) + jobs.multitask_symmetry_prediction_files(split)


def _lesion_predictions(jobs: Jobs, dataset: str, split: str) -> list[str]:
    return (jobs.lesion_prediction_files(dataset, split)
            + jobs.multitask_prediction_files(dataset, split))


#: the lesion datasets the thesis published tables of (``config/reference/``; not PH²)
_PUBLISHED_LESION: tuple[str, ...] = ("ham10000", "isic2016")


def _on(caption: Caption, dataset: str) -> Caption:
    """``caption`` of a lesion dataset's table: its template reads the ``dataset`` wildcard
    (Tables 8 / 9; default ``ham10000``, the thesis', which is left out)."""
    if dataset == "ham10000":
        return caption
    return Caption(caption.template, {**caption.wildcards, "dataset": dataset})


def _lesion_splits(dataset: str, names: tuple[str, str], tables: tuple[str, str],
                   content: str, captions: tuple[Caption, Caption]) -> tuple[TableEntry, ...]:
    """The validation-folds and test-split tables of the lesion grid on ``dataset`` (Tables
    8a / 8b, 13 / 14): macro averages, the test table with the fold ensembles too."""
    label = DATASET_LABELS[dataset]
    out = []
    for split, name, table, caption in zip(("val", "test"), names, tables, captions):
        test = split == "test"
        out.append(TableEntry(
            TableSpec(name, f"{table} — SE-LCN on {label}, {SPLIT_LABELS[split]}, macro "
                            f"averages, {_SD}{_ENS if test else ''}",
                      _ENSEMBLE_KEYS if test else _LESION_KEYS, LESION_SHOWN,
                      group="classifier_mask", labels=RECALL_IS_BALANCED,
                      has_reference=dataset in _PUBLISHED_LESION),
            build=partial(lesion_table, ensemble=True) if test else lesion_table,
            files=partial(_lesion_predictions, dataset=dataset, split=split),
            category=_LESION,
            labels=_labels(table, label, f"{content}{SPLIT_LABELS[split]}"),
            caption=_on(caption, dataset),
            applies=_lesion_dataset(dataset)))
    return tuple(out)


def _lesion_localisations(jobs: Jobs, dataset: str) -> list[str]:
    return jobs.lesion_localisation_files(dataset) + jobs.multitask_localisation_files(dataset)


def _lesion_localisation(dataset: str, name: str, table: str, models: str,
                         caption: str | None = None) -> TableEntry:
    """The CAM localisation table of the lesion models of ``dataset`` (Tables 9, 15; the models
    described as ``models`` in the title), scored on the HAM10000 ground truth."""
    return TableEntry(
        TableSpec(name, f"{table} — CAM localisation of the SE-LCN models {models} "
                        f"(best fold, {_SD_IMAGES}){_LAYERS}",
                  _LESION_KEYS, LOCALISATION_METRICS + _LOCALISATION_OPTIONAL,
                  group="classifier_mask", has_reference=dataset in _PUBLISHED_LESION),
        build=localisation_table,
        files=partial(_lesion_localisations, dataset=dataset),
        category=_LESION,
        labels=_labels(table, DATASET_LABELS[dataset], "CAM localisation"),
        caption=_on(Caption(caption or name), dataset),
        applies=_lesion_dataset(dataset))


_ENTRIES: tuple[TableEntry, ...] = (
    TableEntry(
        TableSpec("table5_segmentation",
                  "Table 5 — Segmentation networks on HAM10000: validation part (the selection "
                  "part under protocol leakage_free) and test split",
                  ("arch", "part"), SEGMENTATION_METRICS, kind="value", group="part"),
        build=segmentation_table,
        files=lambda jobs: (jobs.segmentation_metrics_files()
                            + jobs.multitask_segmentation_files()),
        category="Segmentation",
        labels=_labels("Table 5", "HAM10000", "segmentation networks"),
        caption=Caption("table5_segmentation"),
        role="segmentation"),
    # the selected segmentation network on the masks of the external test sets that have them
    # (PH²), every image (selcn.external.score_external_masks)
    TableEntry(
        TableSpec("table5_external_segmentation",
                  "Table 5 (external) — the selected segmentation network on the ground-truth "
                  "masks of the external test sets (every image; never trained on them)",
                  ("dataset", "arch"), EXTERNAL_SEGMENTATION_METRICS, kind="value",
                  has_reference=False, labels=EXTERNAL_SEGMENTATION_LABELS),
        build=external_segmentation_table,
        files=lambda jobs: jobs.external_segmentation_files(),
        category="Segmentation",
        labels=_labels("Table 5", "external test sets (PH²)",
                       "segmentation network, external masks"),
        caption=Caption("table5_external_segmentation"),
        applies=lambda grid: any(e in DATASETS_WITH_GT_MASKS for e in grid.external_sets)),
    *(TableEntry(
        TableSpec(f"table6_symmetry_{split}",
                  f"Table 6{letter} — Symmetry classification (SymDerm v2.0), "
                  f"{SPLIT_LABELS[split]}, weighted averages, {_SD}",
                  ("model", "variant"), SYMMETRY_METRICS),
        build=symmetry_table,
        files=partial(_symmetry_predictions, split=split),
        category=_SYMMETRY,
        labels=_labels(f"Table 6{letter}", "SymDerm v2.0",
                       f"masking strategies, {SPLIT_LABELS[split]}"),
        caption=Caption("table6_symmetry", {"split": split}),
        role="symmetry")
      for split, letter in (("val", "a"), ("test", "b"))),
    TableEntry(
        TableSpec("table6c_symmetry_architectures",
                  "Table 6c — Symmetry network architecture comparison (SymDerm v2.0, no mask), "
                  f"weighted averages, {_SD}",
                  ("arch", "split"), SYMMETRY_METRICS, group="split", has_reference=False),
        build=architecture_table,
        files=lambda jobs: (jobs.symmetry_arch_prediction_files("val")
                            + jobs.symmetry_arch_prediction_files("test")),
        category=_SYMMETRY,
        labels=_labels("Table 6c", "SymDerm v2.0", "architectures"),
        caption=Caption("table6c_symmetry_architectures"),
        applies=lambda grid: bool(grid.symmetry_archs),
        options=lambda grid: {"arch_variants": dict(grid.symmetry_arch_variants)},
        role="symmetry"),
    TableEntry(
        TableSpec("table7_symmetry_cam_localisation",
                  "Table 7 — CAM localisation of the symmetry networks on HAM10000 "
                  f"(best fold, {_SD_IMAGES})",
                  ("model", "variant"),
                  LOCALISATION_METRICS + LOCALISATION_EXTRA + LOCALISATION_BASELINES),
        build=localisation_table,
        files=lambda jobs: jobs.symmetry_localisation_files(),
        category=_SYMMETRY,
        labels=_labels("Table 7", "HAM10000", "CAM localisation"),
        caption=Caption("table7_symmetry_cam_localisation"),
        role="localisation"),
    *_lesion_splits("ham10000", ("table8_lesion_val", "table8_lesion_test"),
                    ("Table 8a", "Table 8b"), "SE-LCN grid, ",
                    (Caption("table8_lesion", {"split": "val"}),
                     Caption("table8_lesion", {"split": "test"}))),
    _lesion_localisation("ham10000", "table9_lesion_cam_localisation", "Table 9",
                         "on HAM10000"),
    TableEntry(
        TableSpec("table10_isic2019",
                  "Table 10 — SE-LCN trained on HAM10000, evaluated on ISIC 2019, macro "
                  f"averages, {_SD}{_ENS}",
                  _ENSEMBLE_KEYS, LESION_SHOWN, group="classifier_mask",
                  labels=RECALL_IS_BALANCED),
        build=partial(lesion_table, ensemble=True),
        files=lambda jobs: jobs.external_prediction_files("ham10000", "isic2019"),
        category=_LESION,
        labels=_labels("Table 10", "ISIC 2019", "external test set"),
        caption=Caption("table10_isic2019"),
        applies=lambda grid: "isic2019" in grid.externals_of("ham10000")),
    # PH² as an external test set of the HAM10000 models (roles.external): melanoma vs nevus
    # from the 7-class outputs (selcn.report.external), with bootstrap intervals by lesion
    TableEntry(
        TableSpec("table10_ph2_melanoma",
                  "Table 10 (PH²) — SE-LCN trained on HAM10000, evaluated on PH² as melanoma vs "
                  "nevus (melanoma when P(mel) > P(nv)), mean ± std over folds; fold "
                  "ensembles with a bootstrap interval by lesion (beyond the thesis)",
                  _ENSEMBLE_KEYS, BINARY_SHOWN, group="classifier_mask", has_reference=False,
                  labels=BINARY_LABELS),
        build=binary_table,
        files=lambda jobs: jobs.external_binary_files("ham10000", "ph2_ham"),
        category=_LESION,
        labels=_labels("Table 10", DATASET_LABELS["ph2"],
                       "external test set, melanoma vs nevus"),
        caption=Caption("table10_ph2_melanoma"),
        applies=lambda grid: ("ham10000", "ph2_ham") in grid.external,
        intervals=True),
    *_lesion_splits("isic2016", ("table13_isic2016_val", "table14_isic2016_test"),
                    ("Table 13", "Table 14"), "", (Caption("table13_14_isic2016"),) * 2),
    _lesion_localisation("isic2016", "table15_isic2016_cam_localisation", "Table 15",
                         "trained on ISIC 2016"),
    # PH² as a lesion dataset (config/ph2.yaml): Tables 8 and 9 of its own 3-class grid; the
    # thesis published none (no config/reference/ file: no thesis column)
    *_lesion_splits("ph2", ("table8_lesion_val_ph2", "table8_lesion_test_ph2"),
                    ("Table 8a", "Table 8b"), "SE-LCN grid, ",
                    (Caption("table8_lesion", {"split": "val"}),
                     Caption("table8_lesion", {"split": "test"}))),
    _lesion_localisation("ph2", "table9_lesion_cam_localisation_ph2", "Table 9", "on PH²",
                         "table9_lesion_cam_localisation"),
    # model 13 (selcn.multitask): what one network saves against the cascade
    TableEntry(
        TableSpec("cost_multitask", "Cost — the cascade behind one SE-LCN model and model 13 "
                  "(one network): parameters, multiply-accumulates per image, training "
                  "GPU-hours (the plan's estimate) and CPU images/s at one input side",
                  ("system", "input_size", "batch_size", "threads"), COST_METRICS,
                  kind="value", has_reference=False),
        build=multitask_cost_table,
        files=lambda jobs: jobs.multitask_cost_files(),
        category="Model comparison",
        labels=_labels("Cost", "every network", "cascade vs one network (model 13)"),
        caption=Caption("cost_multitask"),
        applies=lambda grid: grid.multitask),
    # the overlap guard (selcn.data.overlap): test images found in training sets, per pair
    TableEntry(
        TableSpec("overlaps", "Overlaps — test images found in a training set (by id, pixels or "
                  "perceptual hash) and what the protocol did", OVERLAP_TABLE_COLUMNS, (),
                  kind="value", has_reference=False),
        build=overlaps_table,
        files=lambda jobs: [overlap_summary_file()],
        category="Data",
        labels=_labels("Overlaps", "every test / training pair", "test images in training sets"),
        caption=Caption("overlaps")),
    # issue 20: where each network's CAM maximum falls (selcn.cams.cam_regions) and what the
    # hair filters take for hair (selcn.report.regions)
    TableEntry(
        TableSpec("cam_regions", "Where the CAM maxima fall — per network, the share of the "
                  "localised images whose Grad-CAM++ maximum lies on the masked-out input, the "
                  "lesion's edge, the lesion, the dark vignette or the skin; the mean share of "
                  "the CAM mass above the threshold; the mean share of the image each region "
                  "covers (chance)", REGION_KEYS, REGION_METRICS, kind="value",
                  has_reference=False, labels=REGION_LABELS),
        build=cam_regions_table,
        files=lambda jobs: (jobs.symmetry_localisation_files()
                            + [f for d in jobs.grid.lesion_datasets
                               for f in _lesion_localisations(jobs, d)]),
        category="Model comparison",
        labels=_labels("CAM regions", "localisation dataset", "where the CAM maxima fall"),
        caption=Caption("cam_regions"),
        role="localisation"),
    TableEntry(
        TableSpec("hair_removal", "Hair removal — the share of the image and of the lesion "
                  "each hair filter marks as hair (and inpaints), over every image of Figure "
                  "5's dataset", HAIR_KEYS, HAIR_METRICS, kind="value", has_reference=False,
                  labels=HAIR_LABELS),
        build=hair_removal_table,
        files=lambda jobs: [figure_file("fig5_hair_removal", "csv")],
        category="Data",
        labels=_labels("Hair removal", "Figure 5's dataset", "hair and lesion pixels inpainted"),
        caption=Caption("hair_removal")),
)


def _segmenter_effect(dataset: str) -> TableEntry:
    """The segmenter table of lesion ``dataset`` (``segmentation.mode: axis``, issue 25):
    every segmenter's Dice and the test metrics of models 3-12 trained on its masks
    (:func:`selcn.report.segmenters.segmenter_table`)."""
    label = DATASET_LABELS[dataset]
    return TableEntry(
        TableSpec(f"segmenter_effect_{dataset}",
                  f"Segmenters — every segmentation network of Table 5 and the SE-LCN models "
                  f"3-12 on {label} trained on its masks: its Dice, the models' test split, "
                  f"macro averages, {_SD}", SEGMENTER_KEYS,
                  SEGMENTER_DICE + LESION_SHOWN, group="model",
                  has_reference=False, labels=RECALL_IS_BALANCED),
        build=segmenter_table,
        files=lambda jobs: jobs.segmenter_effect_files(dataset),
        category="Segmentation",
        labels=_labels("Segmenters", label, "each segmenter's masks downstream"),
        caption=Caption("segmenter_effect", {"dataset": dataset}),
        applies=lambda grid: bool(grid.segmenters) and dataset in grid.lesion_datasets)


_ENTRIES += tuple(_segmenter_effect(d) for d in LESION_DATASETS)

#: every thesis table built by the rule ``table``, in the thesis' order: name -> entry
TABLE_REGISTRY: dict[str, TableEntry] = {e.spec.name: e for e in _ENTRIES}

#: the spec of every thesis table: name -> :class:`selcn.report.tables.TableSpec`
TABLES: dict[str, TableSpec] = {name: entry.spec for name, entry in TABLE_REGISTRY.items()}


def build_table(name: str, paths: Sequence[str | Path], *,
                arch_variants: Mapping[str, str] | None = None,
                intervals: Mapping | None = None) -> pd.DataFrame:
    """The table ``name`` of :data:`TABLE_REGISTRY` from its input files, by the entry's
    builder. ``arch_variants`` is the one option of a builder's entry options (Table 6c,
    :func:`selcn.report.tables.architecture_table`), ``intervals`` the bootstrap of an entry
    with ``intervals`` (Table 10 (PH²), :func:`selcn.report.external.binary_table`; None: the
    builder's default); a table that takes neither refuses it."""
    if name not in TABLE_REGISTRY:
        raise ValueError(f"unknown table {name!r} (one of {', '.join(TABLE_REGISTRY)})")
    entry = TABLE_REGISTRY[name]
    if intervals is not None and not entry.intervals:
        raise ValueError(f"build_table: table {name!r} takes no intervals")
    kwargs = {"intervals": intervals} if entry.intervals else {}
    if entry.options is no_options:
        if arch_variants is not None:
            raise ValueError(f"build_table: table {name!r} takes no options, got "
                             "['arch_variants']")
        return entry.build(paths, **kwargs)
    return entry.build(paths, arch_variants=arch_variants, **kwargs)


def table_options(name: str, grid: Grid, cfg: Mapping) -> dict:
    """The keyword arguments of :func:`build_table` for table ``name`` of a config (rule
    ``table``'s ``options`` param): the entry's ``options(grid)`` and, for an entry with
    ``intervals``, ``{"n_boot": report.bootstrap, "confidence": report.confidence,
    "seed": seed}``."""
    entry = TABLE_REGISTRY[name]
    out = dict(entry.options(grid))
    if entry.intervals:
        out["intervals"] = {"n_boot": int(cfg["report"]["bootstrap"]),
                            "confidence": float(cfg["report"]["confidence"]),
                            "seed": int(cfg["seed"])}
    return out


#: the figures the stages write (with ``report(...)``; their rules are in the stage's .smk)
STAGE_FIGURES: tuple[str, ...] = ("fig3_masking_strategies", "fig5_hair_removal",
                                  "fig6_class_distribution", "fig9_symmetry_cams",
                                  "fig10_lesion_cams")


def render_caption(template: str | Path, config: Mapping,
                   wildcards: Mapping[str, str] | None = None) -> str:
    """The reStructuredText of the caption ``template`` (a path to a ``.rst`` Jinja template)
    for ``config`` and ``wildcards``, rendered as ``snakemake --report`` renders a caption
    (``trim_blocks``, ``lstrip_blocks``; ``snakemake.config``, ``snakemake.wildcards``).
    A config without ``protocol_policy`` (the templates read the protocol's policy there) gets
    ``policy(config["protocol"]).as_dict()``, one without ``datasets_resolved`` (the datasets
    of the roles, read by the captions of Tables 5-9) :func:`datasets_resolved`.

    Raises jinja2's UndefinedError when the template reads a wildcard it is not given.
    """
    from jinja2 import Environment, StrictUndefined

    from selcn.protocol import policy

    if "protocol_policy" not in config and "protocol" in config:
        config = {**config, "protocol_policy": policy(config["protocol"]).as_dict()}
    if "datasets_resolved" not in config:
        config = {**config, "datasets_resolved": datasets_resolved(config)}
    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    snakemake = SimpleNamespace(config=config, wildcards=SimpleNamespace(**(wildcards or {})))
    # Snakemake also hands a template the report's items (``files``, ``categories``): none here
    return env.from_string(Path(template).read_text()).render(snakemake=snakemake, files=[],
                                                               categories={})


def _thesis_number(name: str) -> int:
    """The thesis' table number of a table name (``table12_per_class_model3`` -> 12; 0 for a
    table the thesis has none of, e.g. ``overlaps``: first)."""
    match = re.match(r"table(\d+)", name)
    return int(match.group(1)) if match else 0


def report_tables(grid: Grid) -> list[str]:
    """Names of the tables a config's grid produces (``results/tables/<name>.csv`` + ``.html``),
    in the thesis' order: the entries of :data:`TABLE_REGISTRY` that apply (no architecture
    table without ``symmetry.compare_architectures``, the HAM10000 / ISIC 2016 tables only for
    the lesion datasets of the grid, Table 10 only when ISIC 2019 is configured, Tables 5 and
    10 on PH² only with PH² as an external test set), the per-class Tables 11 / 12 of the
    HAM10000 and the PH² models in the grid, then the statistics per lesion dataset."""
    names = [name for name, entry in TABLE_REGISTRY.items() if entry.applies(grid)]
    numbers = {m.number for m in grid.models()}
    for d in PER_CLASS_DATASETS:               # Tables 11 / 12 of HAM10000 and of PH²
        if d in grid.lesion_datasets:
            names += [per_class_name(n, d) for n in PER_CLASS_TABLE_NUMBERS if n in numbers]
    return (sorted(names, key=_thesis_number)
            + [f"stats_vs_baseline_{d}" for d in grid.lesion_datasets]
            + search_comparison_tables(grid))


def search_comparison_tables(grid: Grid) -> list[str]:
    """The tables "shared vs per-model search" (rule ``search_comparison``), one per lesion
    dataset under ``hpo.scope: per_model`` (with ``hpo.enabled``); else ``[]``."""
    return ([f"search_comparison_{d}" for d in grid.lesion_datasets]
            if grid.per_model_networks else [])


def report_figures(grid: Grid) -> list[str]:
    """The report stage's own figures (``results/figures/<name>.png``)."""
    return ([f"heatmap_{d}" for d in grid.lesion_datasets]
            + [f"fig11_13_training_curves_{d}" for d in grid.lesion_datasets]
            + ([f"segmenter_effect_{d}" for d in grid.lesion_datasets] if grid.segmenters
               else []))


def calibration_figures(grid: Grid) -> list[str]:
    """The reliability diagrams of the fold ensembles, one per lesion dataset
    (``results/figures/reliability_<dataset>.png``, rule ``reliability``)."""
    return [f"reliability_{d}" for d in grid.lesion_datasets]


def findings_file(dataset: str) -> str:
    """The Findings page of a lesion dataset, ``results/findings/findings_<dataset>.html``
    (under the results root in use), written by rule ``stats_vs_baseline``; the report's
    landing page (``workflow/report/workflow.rst``) embeds every one it holds."""
    from selcn import paths

    return f"{paths.RESULTS}/findings/findings_{dataset}.html"


def findings_files(grid: Grid) -> list[str]:
    """:func:`findings_file` of every lesion dataset of ``grid``."""
    return [findings_file(d) for d in grid.lesion_datasets]


#: the names of the per-class tables (rule ``table_per_class``'s ``{name}``): the model's
#: number, then the lesion dataset where it is not HAM10000 (``table11_per_class_model1_ph2``)
PER_CLASS_PATTERN = (r"(table[0-9]+_)?per_class_model[0-9]+"
                     rf"(_({alternation(d for d in PER_CLASS_DATASETS[1:])}))?")


def per_class_number(name: str) -> int:
    """Model number of a per-class table name, e.g. ``table12_per_class_model3`` -> 3,
    ``table11_per_class_model1_ph2`` -> 1."""
    return per_class_of(name)[0]


def per_class_dataset(name: str) -> str:
    """The lesion dataset of a per-class table name: ``ham10000``, or the suffix
    (``table11_per_class_model1_ph2`` -> ``ph2``)."""
    return per_class_of(name)[1]


def per_class_labels(name: str) -> dict[str, str]:
    """The report labels of the per-class table ``name`` (its dataset's test split):
    ``{"table": "Table 12", "dataset": "HAM10000", "content": "per class, model 3, test split"}``
    (``"per class"`` for a model the thesis has no table of)."""
    prefix = name.split("_")[0]
    table = f"Table {prefix[len('table'):]}" if name.startswith("table") else "per class"
    return {"table": table, "dataset": DATASET_LABELS[per_class_dataset(name)],
            "content": f"per class, model {per_class_number(name)}, test split"}


def reference_table(reference_dir: str | Path, name: str, grid: Grid | None = None) -> str | list:
    """The thesis' values of table ``name`` (``<reference_dir>/<name>.csv``), or ``[]`` (no
    input) when the thesis has none, or (given the ``grid``) when the table's role dataset is
    not the one the thesis published it on (:data:`PUBLISHED_ON`: e.g. Table 5 of a PH²
    segmentation network); an input, so a corrected value reruns the table."""
    entry = TABLE_REGISTRY.get(name)
    if grid is not None and entry is not None and entry.role is not None and \
            _role_dataset(grid, entry.role) != PUBLISHED_ON[entry.role]:
        return []
    path = Path(reference_dir) / f"{name}.csv"
    return str(path) if path.exists() else []


def table_title(name: str, grid: Grid) -> str:
    """The title of table ``name`` for ``grid``: its spec's, naming the role's dataset where it
    is not the published one (Table 5 "on PH²" for a PH² segmentation network)."""
    entry = TABLE_REGISTRY[name]
    title = entry.spec.title
    if entry.role is not None:
        published, used = PUBLISHED_ON[entry.role], _role_dataset(grid, entry.role)
        title = title.replace(DATASET_LABELS[published], DATASET_LABELS[used])
    return title


def table_labels(name: str, grid: Grid) -> dict[str, str]:
    """The report labels of table ``name`` for ``grid`` (the role's dataset as its
    ``dataset``)."""
    entry = TABLE_REGISTRY[name]
    labels = dict(entry.labels)
    if entry.role is not None:
        labels["dataset"] = DATASET_LABELS[_role_dataset(grid, entry.role)]
    return labels
