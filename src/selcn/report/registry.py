"""The report registry's building blocks: what a table of the report is (its input files,
report category, labels and caption) and the rendering of its caption.

The registry itself, :data:`TABLE_REGISTRY` in ``rules/report.smk``, maps each table name to a
:class:`TableEntry`; one rule (``table``, wildcard ``{table}``) builds every one of them. A
Snakemake rule has one caption file, so the per-table captions
(``workflow/report/<caption>.rst``, Jinja templates that read ``snakemake.config`` and
``snakemake.wildcards``) are rendered here when the job is planned and handed to the rule's
caption ``workflow/report/table.rst`` as ``params.caption``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from selcn.grid import SPLIT_LABELS, Grid

__all__ = ["TableEntry", "PER_CLASS_TABLES", "split_entries", "report_tables", "report_figures",
           "per_class_number", "reference_table", "render_caption"]

#: per-class tables of the thesis (Tables 11 and 12): lesion model number -> table name
PER_CLASS_TABLES: dict[int, str] = {1: "table11_per_class_model1", 3: "table12_per_class_model3"}


@dataclass(frozen=True)
class TableEntry:
    """One table of the report.

    Attributes:
        files: called without arguments, the per-model files the table aggregates.
        category: the report category (e.g. ``"Lesion classification"``).
        labels: the report labels (``table``, ``dataset``, ``content``).
        caption: the caption template's name (``workflow/report/<caption>.rst``).
        caption_wildcards: the wildcards the template reads (e.g. ``{"split": "val"}``).
        options: called without arguments, the keyword arguments of
            :func:`selcn.report.tables.build_table` beyond the files (a rule param).
    """

    files: Callable[[], list]
    category: str
    labels: Mapping[str, str]
    caption: str
    caption_wildcards: Mapping[str, str] = field(default_factory=dict)
    options: Callable[[], Mapping] = dict


def render_caption(template: str | Path, config: Mapping,
                   wildcards: Mapping[str, str] | None = None) -> str:
    """The reStructuredText of the caption ``template`` (a path to a ``.rst`` Jinja template)
    for ``config`` and ``wildcards``, rendered as ``snakemake --report`` renders a caption
    (``trim_blocks``, ``lstrip_blocks``; ``snakemake.config``, ``snakemake.wildcards``).

    Raises jinja2's UndefinedError when the template reads a wildcard it is not given.
    """
    from jinja2 import Environment, StrictUndefined

    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    snakemake = SimpleNamespace(config=config, wildcards=SimpleNamespace(**(wildcards or {})))
    return env.from_string(Path(template).read_text()).render(snakemake=snakemake)


def split_entries(name: str, files: Callable[[str], list], category: str, table: str,
                  dataset: str, content: str, caption: str) -> dict[str, TableEntry]:
    """The validation and test tables ``<name>_val`` / ``<name>_test`` of one kind (Tables
    6a/6b, 8a/8b): ``files(split)`` gives the inputs, ``<table>a`` / ``<table>b`` the label."""
    return {
        f"{name}_{split}": TableEntry(
            files=lambda split=split: files(split),
            category=category,
            labels={"table": f"{table}{letter}", "dataset": dataset,
                    "content": f"{content}, {SPLIT_LABELS[split]}"},
            caption=caption,
            caption_wildcards={"split": split},
        )
        for split, letter in (("val", "a"), ("test", "b"))
    }


def report_tables(grid: Grid) -> list[str]:
    """Names of the tables a config's grid produces (``results/tables/<name>.csv`` + ``.html``):
    no architecture table without ``symmetry.compare_architectures``, the HAM10000 / ISIC 2016
    tables only for the lesion datasets of the grid, Table 10 only when ISIC 2019 is configured,
    the per-class tables of the models in it."""
    names = ["table5_segmentation", "table6_symmetry_val", "table6_symmetry_test"]
    if grid.symmetry_archs:
        names.append("table6c_symmetry_architectures")
    names.append("table7_symmetry_cam_localisation")
    if "ham10000" in grid.lesion_datasets:
        names += ["table8_lesion_val", "table8_lesion_test", "table9_lesion_cam_localisation"]
        if "ham10000" in grid.external_of:
            names.append("table10_isic2019")
        numbers = {m.number for m in grid.models()}
        names += [n for k, n in PER_CLASS_TABLES.items() if k in numbers]
    if "isic2016" in grid.lesion_datasets:
        names += ["table13_isic2016_val", "table14_isic2016_test",
                  "table15_isic2016_cam_localisation"]
    names += [f"stats_vs_baseline_{d}" for d in grid.lesion_datasets]
    return names


def report_figures(grid: Grid) -> list[str]:
    """The report stage's own figures (``results/figures/<name>.png``)."""
    return ([f"heatmap_{d}" for d in grid.lesion_datasets]
            + [f"fig11_13_training_curves_{d}" for d in grid.lesion_datasets])


def per_class_number(name: str) -> int:
    """Model number of a per-class table name, e.g. ``table12_per_class_model3`` -> 3."""
    return int(name.rsplit("model", 1)[1])


def reference_table(reference_dir: str | Path, name: str) -> str | list:
    """The thesis' values of table ``name`` (``<reference_dir>/<name>.csv``), or ``[]`` (no
    input) when the thesis has none; an input, so a corrected value reruns the table."""
    path = Path(reference_dir) / f"{name}.csv"
    return str(path) if path.exists() else []
