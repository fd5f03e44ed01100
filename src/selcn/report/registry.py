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

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Mapping

__all__ = ["TableEntry", "render_caption"]


@dataclass(frozen=True)
class TableEntry:
    """One table of the report.

    Attributes:
        files: called without arguments, the per-model files the table aggregates.
        category: the report category (e.g. ``"Lesion classification"``).
        labels: the report labels (``table``, ``dataset``, ``content``).
        caption: the caption template's name (``workflow/report/<caption>.rst``).
        caption_wildcards: the wildcards the template reads (e.g. ``{"split": "val"}``).
    """

    files: Callable[[], list]
    category: str
    labels: Mapping[str, str]
    caption: str
    caption_wildcards: Mapping[str, str] = field(default_factory=dict)


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
