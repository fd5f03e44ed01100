"""Tables as readable, self-contained HTML pages (the items of the Snakemake report).

A CSV is only a download link in a Snakemake report; each table is therefore also written
as one HTML page (inline CSS, no script, no external resource) that shows, per metric,
this run's ``mean ± std``, the thesis' published value next to it and the difference
``Δ = this run − thesis``. The thesis' columns are marked as numbers obtained on the real
data with the thesis' protocol.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from selcn.atomic import write_text
from selcn.grid import MASK_NOUNS, MULTITASK, SymmetryVariant
from selcn.report.tables import METRIC_LABELS, TableSpec, display_labels

__all__ = ["render_table_html", "render_stats_html", "write_table", "write_stats",
           "read_reference", "atomic_write_text", "KEY_LABELS"]

KEY_LABELS: dict[str, str] = {
    "model": "Model", "classifier_mask": "Classifier input mask",
    "symmetry_mask": "Symmetry CAM",
    "variant": "Symmetry network", "arch": "Architecture", "split": "Split", "class": "Class",
    "baseline": "Baseline", "estimate": "Estimate", "part": "Evaluated on",
    "system": "System", "input_size": "Input side (px)", "batch_size": "Batch",
    "threads": "CPU threads", "dataset": "Dataset", "segmenter": "Segmenter",
}
COUNT_LABELS = {"n_folds": "Folds", "n_images": "Images"}

THESIS_NOTE = (
    "<b>Thesis</b> columns: the values published in the thesis (Ramakrishnan, <i>Symmetry "
    "Enhanced Skin Lesion Classification Network</i>), obtained on the <b>real</b> datasets "
    "with the thesis' protocol (image-level split). They are a reference, not an expected "
    "value for this run. Δ = this run − thesis.")

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:16px;color:#222}
h1{font-size:1.15em;margin:0 0 6px 0}
h2{font-size:1em;margin:14px 0 4px 0}
p.note{font-size:.85em;color:#444;max-width:70em;margin:4px 0 10px 0}
table{border-collapse:collapse;font-size:.85em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:center;white-space:nowrap}
th{background:#eef2f7}
th.thesis,td.thesis{background:#fff8e6;color:#555}
td.key{text-align:left}
td.diff{color:#555;font-size:.92em}
tr.group td{border-top:2px solid #888}
td.best{font-weight:bold}
span.beyond{font-weight:normal;font-size:.85em;color:#666}
"""


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`selcn.atomic.write_text`); returns it."""
    write_text(text, path)
    return Path(path)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _fmt(value, digits: int) -> str:
    if _is_missing(value):
        return "—"
    return f"{float(value):.{digits}f}"


def _fmt_mean_std(mean, std, digits: int) -> str:
    if _is_missing(mean):
        return "—"
    return _fmt(mean, digits) if _is_missing(std) else f"{_fmt(mean, digits)} ± {_fmt(std, digits)}"


def _key_text(key: str, value) -> str:
    if _is_missing(value):
        return "—"
    if key == "variant" and value == MULTITASK.name:
        return "one network (model 13: its symmetry head)"
    if key == "variant":
        v = SymmetryVariant.parse(value)
        return f"{'ImageNet-pretrained' if v.pretrained else 'from scratch'}, {MASK_NOUNS[v.mask]}"
    return display_labels().get(key, {}).get(str(value), str(value))


def read_reference(path: str | Path | None) -> pd.DataFrame | None:
    """The thesis' values (``config/reference/<table>.csv``), or ``None`` when not given."""
    if not path:
        return None
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: reference table not found")
    return pd.read_csv(path)


def _join_keys(keys: Sequence[str], reference: pd.DataFrame) -> list[str]:
    named = [k for k in keys if k in reference.columns and k != "model"]
    return named or [k for k in keys if k in reference.columns]


def _reference_row(reference: pd.DataFrame | None, row: pd.Series,
                   keys: Sequence[str]) -> pd.Series | None:
    if reference is None:
        return None
    join = _join_keys(keys, reference)
    if not join:
        return None
    hit = reference
    for k in join:
        hit = hit[hit[k].astype(str) == str(row[k])]
    return None if hit.empty else hit.iloc[0]


def _columns(metric: str, kind: str) -> tuple[str, str | None]:
    return (metric, None) if kind == "value" else (f"{metric}_mean", f"{metric}_std")


#: metrics whose best value is the smallest (calibration error)
LOWER_IS_BETTER = frozenset({"ece"})


def _best_rows(table: pd.DataFrame, column: str, group: str | None) -> set[int]:
    if column not in table.columns or table[column].isna().all():
        return set()
    values = pd.to_numeric(table[column], errors="coerce")
    if column.removesuffix("_mean") in LOWER_IS_BETTER:
        values = -values
    groups = table[group] if group and group in table.columns else pd.Series(0, table.index)
    if "estimate" in table.columns:      # fold-ensemble rows compete among themselves only
        groups = groups.astype(str) + "|" + table["estimate"].astype(str)
    best = set()
    for _, idx in values.groupby(groups, sort=False).groups.items():
        sub = values.loc[idx]
        if sub.notna().any() and len(sub) > 1:
            best.update(sub.index[sub == sub.max()].tolist())
    return best


def _page(title: str, notes: Sequence[str], table_html: str) -> str:
    note_html = "\n".join(f'<p class="note">{n}</p>' for n in notes if n)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{note_html}\n{table_html}\n</body></html>\n")


def render_table_html(table: pd.DataFrame, spec: TableSpec,
                      reference: pd.DataFrame | None = None, *, note: str = "",
                      digits: int | None = None) -> str:
    """One HTML page for ``table`` (columns as described by ``spec``).

    With ``reference`` (the thesis' values, same key and metric columns), each metric gets
    three columns: this run, thesis, Δ. The best value of this run per ``spec.group`` is bold.
    """
    digits = digits if digits is not None else (4 if spec.kind == "value" else 3)
    keys = [k for k in spec.keys if k in table.columns]
    counts = [c for c in COUNT_LABELS if c in table.columns]
    metrics = [m for m in spec.metrics if _columns(m, spec.kind)[0] in table.columns]
    with_ref = reference is not None

    head1 = [f'<th rowspan="{2 if with_ref else 1}">{html.escape(KEY_LABELS.get(k, k))}</th>'
             for k in keys]
    head1 += [f'<th rowspan="{2 if with_ref else 1}">{COUNT_LABELS[c]}</th>' for c in counts]
    head2 = []
    # a metric the thesis does not publish gets one column (no thesis, no Δ)
    compared = {m for m in metrics
                if with_ref and _columns(m, spec.kind)[0] in reference.columns}
    for m in metrics:
        label = html.escape(spec.label(m))
        if m in compared:
            head1.append(f'<th colspan="3">{label}</th>')
            head2 += ["<th>this run</th>", '<th class="thesis">thesis</th>', "<th>Δ</th>"]
        elif with_ref:
            head1.append(f'<th rowspan="2">{label}<br><span class="beyond">not in the thesis'
                         "</span></th>")
        else:
            head1.append(f"<th>{label}</th>")
    best = {m: _best_rows(table, _columns(m, spec.kind)[0], spec.group) for m in metrics}

    body, previous_group = [], None
    for i, row in table.iterrows():
        ref = _reference_row(reference, row, keys)
        group = row[spec.group] if spec.group and spec.group in table.columns else None
        cls = ' class="group"' if previous_group is not None and group != previous_group else ""
        previous_group = group
        cells = [f'<td class="key">{html.escape(_key_text(k, row[k]))}</td>' for k in keys]
        cells += [f"<td>{'' if _is_missing(row[c]) else int(row[c])}</td>" for c in counts]
        for m in metrics:
            mean_col, std_col = _columns(m, spec.kind)
            run = _fmt_mean_std(row[mean_col], row[std_col] if std_col else None, digits)
            best_cls = ' class="best"' if i in best[m] else ""
            cells.append(f"<td{best_cls}>{run}</td>")
            if m in compared:
                if ref is not None and mean_col in ref.index and not _is_missing(ref[mean_col]):
                    ref_std = ref[std_col] if std_col and std_col in ref.index else None
                    thesis = _fmt_mean_std(ref[mean_col], ref_std, digits)
                    if _is_missing(row[mean_col]):
                        diff = "—"
                    else:
                        delta = round(float(row[mean_col]) - float(ref[mean_col]), digits) + 0.0
                        diff = f"{delta:+.{digits}f}"
                else:
                    thesis, diff = "—", "—"
                cells.append(f'<td class="thesis">{thesis}</td>')
                cells.append(f'<td class="diff">{diff}</td>')
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")

    thead = f"<tr>{''.join(head1)}</tr>" + (f"<tr>{''.join(head2)}</tr>" if head2 else "")
    table_html = f"<table>\n<thead>{thead}</thead>\n<tbody>\n" + "\n".join(body) + \
        "\n</tbody></table>"
    notes = [THESIS_NOTE if with_ref else "", html.escape(note) if note else "",
             "Bold: best value of this run"
             + (f" per {KEY_LABELS.get(spec.group, spec.group).lower()}" if spec.group else "")
             + "."]
    return _page(spec.title, notes, table_html)


def write_table(table: pd.DataFrame, spec: TableSpec, csv_path: str | Path,
                html_path: str | Path, reference_path: str | Path | None = None, *,
                note: str = "") -> None:
    """Write ``table`` as CSV and as its HTML twin (with the thesis' values when given)."""
    atomic_write_text(csv_path, table.to_csv(index=False))
    reference = read_reference(reference_path)
    atomic_write_text(html_path, render_table_html(table, spec, reference, note=note))


#: the sections of a statistics page, by the comparison (``against`` of
#: :func:`selcn.report.stats.baseline_comparison`): heading
STATS_SECTIONS: dict[str, str] = {
    "model1": "Against model 1 (no mask, no CAM transfer): the effect of everything a model adds",
    "group": "Against the baseline of the same input mask (models 1, 5, 9): the effect of the "
             "CAM transfer alone",
}


def _stats_notes(unit: str, pct: str) -> str:
    """The method note of a statistics page (the unit named)."""
    if unit == "lesion":
        unit_text = (
            "<b>Unit: the lesion</b> (the split table's <code>group</code>: HAM10000's "
            "lesion_id; an image without a known lesion is its own). The bootstrap draws the test "
            "split's lesions with replacement (every image of a drawn lesion counts once per "
            "draw; one draw shared by all folds); McNemar pairs lesions: per lesion "
            "d = c − b of its images, p = the exact two-sided sign-flip (permutation) p-value "
            "of Σd — the exact form of the clustered McNemar test of Durkalski et al. (2003); "
            "with one image per lesion it is the exact binomial McNemar test. The image-level "
            "McNemar p (every image an independent pair, as the former report) is shown for "
            "comparison only.")
    else:
        unit_text = ("<b>Unit: the image</b> (no lesion groups): the bootstrap draws test "
                     "images, McNemar pairs images (exact binomial test).")
    return (
        "Each model against a baseline on the test split. Δ = model − baseline, averaged over "
        f"folds, with its {pct} percentile bootstrap interval (* = excludes 0) and the "
        "bootstrap p = 2·min(P*(Δ ≤ 0), P*(Δ ≥ 0)) that inverts it. McNemar: on the fold "
        "ensembles of model and baseline (mean class probability over the K fold models, "
        "arg-max: one prediction per image); b = images the baseline gets right and the model "
        f"wrong, c = the converse. {unit_text} Holm: step-down adjustment over the comparisons "
        "of each section, per column. The per-fold McNemar p-values (each fold alone, same "
        "unit, uncorrected) are shown for reference; pooling the folds, which counts each image "
        "K times, is not done. Not in the thesis.")


def _stats_table_html(table: pd.DataFrame, metrics: Sequence[str], pct: str, unit: str,
                      digits: int) -> str:
    lesion = unit == "lesion"
    head = ["Model", "Classifier input mask", "Symmetry CAM", "Baseline", "Folds",
            "Images / lesions" if lesion else "Images"]
    labels = {"accuracy": "accuracy", "f1": "macro F1"}
    for m in metrics:
        head += [f"Δ {labels.get(m, METRIC_LABELS.get(m, m))} [{pct} CI, {unit}s]",
                 f"bootstrap p ({labels.get(m, m)}) → Holm"]
    fold_cols = [c for c in table.columns if str(c).startswith("mcnemar_p_fold")]
    head += ["Ensemble accuracy (baseline → model)",
             "McNemar b / c images" + (" (discordant lesions)" if lesion else ""),
             f"McNemar p ({unit}s)", "McNemar p, Holm"]
    if lesion:
        head.append("Image-level McNemar p → Holm (ignores lesions; for comparison)")
    head.append("McNemar p per fold")

    def p_text(value) -> str:
        return "—" if _is_missing(value) else f"{float(value):.3g}"

    rows = []
    for _, r in table.iterrows():
        size = str(int(r["n_images"]))
        if lesion and "n_lesions" in r.index:
            size += f" / {int(r['n_lesions'])}"
        cells = [str(int(r["model"])), _key_text("classifier_mask", r["classifier_mask"]),
                 _key_text("symmetry_mask", r["symmetry_mask"]), str(int(r["baseline"])),
                 str(int(r["n_folds"])), size]
        for m in metrics:
            lo, hi = r[f"{m}_ci_low"], r[f"{m}_ci_high"]
            mark = " *" if lo > 0 or hi < 0 else ""
            cells.append(f"{r[f'{m}_diff']:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]{mark}")
            cells.append(f"{p_text(r[f'{m}_p'])} → {p_text(r[f'{m}_p_holm'])}")
        bc = f"{int(r['mcnemar_b'])} / {int(r['mcnemar_c'])}"
        if lesion and "mcnemar_discordant_lesions" in r.index:
            bc += f" ({int(r['mcnemar_discordant_lesions'])})"
        cells += [f"{r['ensemble_accuracy_base']:.{digits}f} → "
                  f"{r['ensemble_accuracy_model']:.{digits}f}",
                  bc, p_text(r["mcnemar_p"]), p_text(r["mcnemar_p_holm"])]
        if lesion:
            cells.append(f"{p_text(r.get('mcnemar_p_image'))} → "
                         f"{p_text(r.get('mcnemar_p_image_holm'))}")
        cells.append(" / ".join(p_text(r[c]) for c in fold_cols if not _is_missing(r[c])))
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{len(head)}">no model with this baseline in this run'
                    "</td></tr>")
    return ("<table>\n<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>")


def render_stats_html(table: pd.DataFrame, title: str, *, metrics: Sequence[str],
                      confidence: float, note: str = "", digits: int = 3) -> str:
    """HTML page of :func:`selcn.report.stats.baseline_comparison`'s table: one section per
    comparison of its ``against`` column (:data:`STATS_SECTIONS`' order; the whole table as
    ``group`` without one), the unit from its ``unit`` column (image-level without one)."""
    pct = f"{100 * confidence:g} %"
    unit = str(table["unit"].iloc[0]) if "unit" in table.columns and len(table) else "image"
    against = (table["against"] if "against" in table.columns
               else pd.Series("group", index=table.index))
    sections = []
    for key, heading in STATS_SECTIONS.items():
        part = table[against == key]
        if key in set(against) or (key == "group" and table.empty):
            sections.append(f"<h2>{html.escape(heading)}</h2>\n"
                            + _stats_table_html(part, metrics, pct, unit, digits))
    notes = [_stats_notes(unit, pct), html.escape(note) if note else ""]
    return _page(title, notes, "\n".join(sections))


def write_stats(table: pd.DataFrame, csv_path: str | Path, html_path: str | Path, *,
                title: str, metrics: Sequence[str], confidence: float, note: str = "") -> None:
    """Write a statistics table as CSV and as its HTML page (:func:`render_stats_html`)."""
    atomic_write_text(csv_path, table.to_csv(index=False))
    atomic_write_text(html_path, render_stats_html(table, title, metrics=metrics,
                                                   confidence=confidence, note=note))


def run_note(config: Mapping) -> str:
    """One line on what this run is (data source, protocol), shown under each table."""
    source = config.get("data", {}).get("source", "?")
    what = "synthetic demo data" if source == "synthetic" else "the configured data files"
    return (f"This run: {what}, protocol '{config.get('protocol', '?')}', "
            f"{config.get('lesion', {}).get('folds', '?')} lesion folds, "
            f"{config.get('symmetry', {}).get('folds', '?')} symmetry folds.")
