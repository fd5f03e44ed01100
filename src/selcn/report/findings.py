"""The report's Findings: per lesion dataset, what a results section says, from the result files.

For one lesion dataset (:func:`findings`):

1. **the best model on validation**: the model with the best mean **validation** macro F1 over
   its folds (each fold's ``predictions_val.csv``, F1 over all classes of the task; the lowest
   model number wins a tie) — the criterion of ``export: best`` (:func:`selcn.export
   .select_model`), so the Findings describe the model the bundle ships; the test split is
   never looked at to choose it;
2. **its test results**: the metrics of its fold ensemble on the test split (accuracy, the
   balanced multiclass accuracy, macro F1, macro one-vs-rest AUROC; for a binary task AUROC and
   average precision) with percentile intervals from the lesion bootstrap
   (:func:`selcn.report.stats.bootstrap_interval`: lesions drawn with replacement);
3. **every effect against model 1** (:func:`selcn.report.stats.baseline_comparison` with
   ``against="model1"``): the difference in accuracy and macro F1 with its interval, and the
   lesion-level exact McNemar p-value on the fold ensembles, Holm-adjusted over the
   comparisons; a comparison is called *significant* when its Holm-adjusted p-value is below
   ``alpha = 1 - report.confidence``; what is and what is not significant is said in words;
4. the same verdicts for the CAM transfer alone (against the baseline of the same input mask);
5. a banner when the data are synthetic.

:func:`render_findings_html` writes it as one HTML page whose style is scoped to its
``div.selcn-findings`` (so that the report's landing page can embed the same file,
``workflow/report/workflow.rst``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from selcn.ensemble import fold_ensemble
from selcn.grid import CAM_OFF, MASK_NOUNS, MULTITASK, Model
from selcn.predictions import PROB_PREFIX, class_names, probabilities
from selcn.report.stats import (
    accuracy_weighted,
    auroc_weighted,
    balanced_accuracy_weighted,
    bootstrap_interval,
    macro_f1_weighted,
)

__all__ = ["SYNTHETIC_BANNER", "FindingsInput", "Resampling", "StatisticsJob",
           "best_on_validation", "test_summary", "findings", "render_findings_html",
           "describe_model", "write_dataset_statistics"]

#: the banner of a run on the synthetic demo data
SYNTHETIC_BANNER = ("Synthetic demo data: these numbers show that the workflow runs end to end; "
                    "they say nothing about skin lesions and are not comparable to the thesis'.")

_CSS = """
.selcn-findings{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#222;
 max-width:64em;line-height:1.4}
.selcn-findings h2{font-size:1.15em;margin:.6em 0 .3em 0}
.selcn-findings p{margin:.35em 0}
.selcn-findings .banner{background:#fdecea;border:2px solid #c0392b;color:#7b241c;
 padding:6px 10px;font-weight:bold;border-radius:4px}
.selcn-findings table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
.selcn-findings th,.selcn-findings td{border:1px solid #ccc;padding:2px 6px;text-align:center}
.selcn-findings th{background:#eef2f7}
.selcn-findings td.key{text-align:left}
.selcn-findings td.sig{font-weight:bold}
.selcn-findings .note{font-size:.85em;color:#444}
"""


def describe_model(number: int) -> str:
    """``model 7 (input: segmentation mask; CAM: symmetry network with segmentation mask)``;
    model 13: the one network (:data:`selcn.grid.MULTITASK`)."""
    if number == MULTITASK.number:
        return "one network: input: no mask; CAM of its own symmetry head (model 13)"
    model = next(Model(cm, sm) for cm in ("none", "seg", "lae")
                 for sm in (CAM_OFF, "none", "seg", "lae") if Model(cm, sm).number == number)
    cam = ("no CAM transfer" if model.cam_source == CAM_OFF
           else f"CAM of the symmetry network with {MASK_NOUNS[model.cam_source]}")
    return f"input: {MASK_NOUNS[model.classifier_mask]}; {cam}"


def best_on_validation(validation: pd.DataFrame) -> dict:
    """The model with the best mean validation macro F1 over its folds.

    Args:
        validation: long frame ``model, fold, image_id, target, pred, prob_<class>...`` of the
            validation predictions (:func:`selcn.report.stats.load_predictions`).

    Returns:
        ``{"number", "value", "values": {model: mean}, "n_folds": {model: folds}}``; F1 over
        the task's classes (``labels = range(C)``, as :func:`selcn.export.validation_metrics`),
        the lowest number wins a tie.
    """
    from selcn.metrics import classification_metrics

    if validation.empty:
        raise ValueError("best_on_validation: no validation predictions")
    n_classes = sum(1 for c in validation.columns if str(c).startswith(PROB_PREFIX))
    values, folds = {}, {}
    for number, frame in validation.groupby("model", sort=True):
        per_fold = [classification_metrics(f["target"], f["pred"], average="macro",
                                           labels=list(range(n_classes)))["f1"]
                    for _, f in frame.groupby("fold", sort=True)]
        values[int(number)] = float(np.mean(per_fold))
        folds[int(number)] = len(per_fold)
    best = max(values, key=lambda n: (values[n], -n))
    return {"number": best, "value": values[best], "values": values, "n_folds": folds}


@dataclass(frozen=True)
class Resampling:
    """How intervals are drawn: ``groups`` image id -> lesion (None: images), replicates,
    confidence level, seed."""

    groups: Mapping[str, str] | None
    n_boot: int = 1000
    confidence: float = 0.95
    seed: int = 0


def test_summary(test: pd.DataFrame, number: int, resampling: Resampling) -> dict:
    """The test metrics of model ``number``'s fold ensemble with bootstrap intervals.

    Args:
        test: long frame of the test predictions (all models, folds).
        number: the model.
        resampling: the lesions and the bootstrap's settings.

    Returns:
        ``{"n_images", "n_lesions", "unit"`` (``lesion`` / ``image``: what the bootstrap
        draws), ``"n_folds", "classes", "metrics": {name: {"value", "ci_low", "ci_high"}}}``
        for ``accuracy``, ``balanced_accuracy``, ``f1`` (macro) and ``auroc``
        (macro one-vs-rest; binary: of class 1) and, binary only, ``average_precision``.
    """
    mine = test[test["model"] == number]
    if mine.empty:
        raise ValueError(f"test_summary: no test predictions of model {number}")
    folds = sorted(set(mine["fold"]))
    cols = ["image_id", "target", "pred"] + [c for c in mine.columns
                                             if str(c).startswith(PROB_PREFIX)]
    ens = fold_ensemble([mine.loc[mine["fold"] == k, cols].dropna(axis=1, how="all")
                         for k in folds], names=[f"model {number}, fold {k}" for k in folds])
    y, pred, probs = ens["target"].to_numpy(), ens["pred"].to_numpy(), probabilities(ens)
    groups = None
    if resampling.groups is not None:
        missing = [i for i in ens["image_id"] if i not in resampling.groups]
        if missing:
            raise ValueError(f"test_summary: image {missing[0]} is not in the split table")
        groups = [resampling.groups[i] for i in ens["image_id"]]
    n_classes = probs.shape[1]
    binary = n_classes == 2

    def macro_auroc(w: np.ndarray) -> np.ndarray:
        if binary:
            return auroc_weighted(y == 1, probs[:, 1], w)
        per = np.array([auroc_weighted(y == c, probs[:, c], w) for c in range(n_classes)])
        defined = ~np.isnan(per)                  # a class absent from a replicate: no AUROC
        mean = np.where(defined, per, 0.0).sum(axis=0) / np.maximum(defined.sum(axis=0), 1)
        return np.where(defined.any(axis=0), mean, np.nan)

    statistics = {
        "accuracy": lambda w: accuracy_weighted(y, pred, w),
        "balanced_accuracy": lambda w: balanced_accuracy_weighted(y, pred, w),
        "f1": lambda w: macro_f1_weighted(y, pred, w),
        "auroc": macro_auroc,
    }
    if binary:
        statistics["average_precision"] = lambda w: _average_precision(y == 1, probs[:, 1], w)
    settings = {"n_boot": resampling.n_boot, "confidence": resampling.confidence,
                "seed": resampling.seed}
    metrics = {name: bootstrap_interval(fn, len(y), groups, **settings)
               for name, fn in statistics.items()}
    return {"n_images": len(y), "n_lesions": len(set(groups)) if groups else len(y),
            "unit": "lesion" if groups else "image", "n_folds": len(folds),
            "classes": class_names(ens), "metrics": metrics}


def _average_precision(positive: np.ndarray, score: np.ndarray, weights: np.ndarray):
    from sklearn.metrics import average_precision_score

    out = np.full(weights.shape[0], np.nan)
    for r, w in enumerate(weights):
        if (w * positive).sum() > 0:
            out[r] = average_precision_score(positive, score, sample_weight=w)
    return out


@dataclass(frozen=True)
class FindingsInput:
    """What the Findings of one lesion dataset are made of.

    Attributes:
        dataset: its readable name (``HAM10000``).
        validation, test: long prediction frames (:func:`selcn.report.stats.load_predictions`).
        vs_model1, vs_group: :func:`selcn.report.stats.baseline_comparison` against model 1
            and against the group's baseline (the same ``groups``, confidence and seed).
        resampling: the lesions and the bootstrap's settings.
        synthetic: the data are the synthetic demo's.
    """

    dataset: str
    validation: pd.DataFrame
    test: pd.DataFrame
    vs_model1: pd.DataFrame
    vs_group: pd.DataFrame
    resampling: Resampling
    synthetic: bool = False


def findings(inputs: FindingsInput) -> dict:
    """The Findings of one lesion dataset as data: ``best`` (:func:`best_on_validation`),
    ``test`` (:func:`test_summary` of the best model), ``alpha``, and per comparison family
    (``vs_model1``, ``vs_group``) the lists ``better``, ``worse`` (significant after Holm)
    and ``not_significant`` of model numbers."""
    best = best_on_validation(inputs.validation)
    alpha = 1.0 - inputs.resampling.confidence
    out = {"dataset": inputs.dataset, "synthetic": inputs.synthetic, "alpha": alpha,
           "best": best, "test": test_summary(inputs.test, best["number"], inputs.resampling)}
    for key, table in (("vs_model1", inputs.vs_model1), ("vs_group", inputs.vs_group)):
        out[key] = _verdicts(table, alpha)
    return out


def _verdicts(table: pd.DataFrame, alpha: float) -> dict:
    better, worse, flat = [], [], []
    for _, r in table.iterrows():
        if r["mcnemar_p_holm"] < alpha:
            (better if r["mcnemar_c"] > r["mcnemar_b"] else worse).append(int(r["model"]))
        else:
            flat.append(int(r["model"]))
    return {"better": better, "worse": worse, "not_significant": flat, "n": len(table)}


# ---- HTML -----------------------------------------------------------------------------------
def _f(value, digits: int = 3, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):+.{digits}f}" if sign else f"{float(value):.{digits}f}"


def _p(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):.3g}"


def _models(numbers: Sequence[int]) -> str:
    words = [f"model {n}" if i == 0 else str(n) for i, n in enumerate(numbers)]
    if len(numbers) > 1:
        words[0] = f"models {numbers[0]}"
    return ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else words[0]


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _count(n: int) -> str:
    return "the one comparison" if n == 1 else f"all {n} comparisons"


def _sentence(verdicts: dict, baseline: str, alpha: float) -> str:
    if verdicts["n"] == 0:
        return f"No model of this run's grid has {baseline} to compare with."
    parts = []
    for key in ("better", "worse"):
        numbers = verdicts[key]
        if numbers:
            verb = "is" if len(numbers) == 1 else "are"
            parts.append(f"{_models(numbers)} {verb} significantly <b>{key}</b> than {baseline}")
    if not parts:
        return (f"<b>No model differs significantly from {baseline}</b> "
                f"(Holm-adjusted p ≥ {alpha:g} for {_count(verdicts['n'])}).")
    text = "; ".join(parts)
    rest = verdicts["not_significant"]
    if rest:
        text += (f"; {_models(rest)} {'does' if len(rest) == 1 else 'do'} not differ "
                 "significantly")
    return text[0].upper() + text[1:] + f" (Holm-adjusted p &lt; {alpha:g})."


def _effects_table(table: pd.DataFrame, alpha: float, pct: str) -> str:
    head = ["Model", "What it is", f"Δ accuracy [{pct} CI]", f"Δ macro F1 [{pct} CI]",
            "Ensemble accuracy (baseline → model)", "p (lesions)", "p, Holm", "Verdict"]
    rows = []
    for _, r in table.iterrows():
        significant = r["mcnemar_p_holm"] < alpha
        verdict = (("better" if r["mcnemar_c"] > r["mcnemar_b"] else "worse")
                   if significant else "not significant")
        cells = [
            (str(int(r["model"])), ""), (describe_model(int(r["model"])), "key"),
            (f"{_f(r['accuracy_diff'], sign=True)} [{_f(r['accuracy_ci_low'], sign=True)}, "
             f"{_f(r['accuracy_ci_high'], sign=True)}]", ""),
            (f"{_f(r['f1_diff'], sign=True)} [{_f(r['f1_ci_low'], sign=True)}, "
             f"{_f(r['f1_ci_high'], sign=True)}]", ""),
            (f"{_f(r['ensemble_accuracy_base'])} → {_f(r['ensemble_accuracy_model'])}", ""),
            (_p(r["mcnemar_p"]), ""), (_p(r["mcnemar_p_holm"]), "sig" if significant else ""),
            (verdict, "sig" if significant else ""),
        ]
        rows.append("<tr>" + "".join(f'<td class="{c}">{html.escape(t)}</td>' if c
                                     else f"<td>{html.escape(t)}</td>" for t, c in cells)
                    + "</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


_TEST_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced multiclass accuracy",
                "f1": "macro F1", "auroc": "macro AUROC (one-vs-rest)",
                "average_precision": "average precision"}


def render_findings_html(result: dict, vs_model1: pd.DataFrame, *, confidence: float,
                         n_boot: int, note: str = "") -> str:
    """One HTML page of the Findings of one dataset (:func:`findings`' ``result`` and the
    comparison table against model 1); its style applies inside ``div.selcn-findings`` only."""
    pct = f"{100 * confidence:g} %"
    alpha = result["alpha"]
    best, test = result["best"], result["test"]
    parts = []
    if result["synthetic"]:
        parts.append(f'<p class="banner">{html.escape(SYNTHETIC_BANNER)}</p>')
    parts.append(f"<h2>Findings — {html.escape(result['dataset'])}</h2>")
    values = best["values"]
    runner = sorted((n for n in values if n != best["number"]),
                    key=lambda n: (-values[n], n))
    runner_text = (f"; next: model {runner[0]}, {_f(values[runner[0]])}" if runner else "")
    parts.append(
        f"<p><b>Best model on validation: model {best['number']}</b> "
        f"({html.escape(describe_model(best['number']))}): mean validation macro F1 "
        f"{_f(best['value'])} over {best['n_folds'][best['number']]} folds{runner_text}. "
        "Chosen on the validation folds only (the model the export's <i>best</i> bundle "
        "ships); the test split was not looked at.</p>")
    unit = test["unit"]
    metrics = ", ".join(
        f"{_TEST_LABELS[k]} <b>{_f(v['value'])}</b> [{_f(v['ci_low'])}, {_f(v['ci_high'])}]"
        for k, v in test["metrics"].items())
    size = (f"{test['n_images']} images of {test['n_lesions']} lesions" if unit == "lesion"
            else f"{test['n_images']} images")
    parts.append(
        f"<p><b>On the test split</b> (the fold ensemble of its {test['n_folds']} fold models; "
        f"{size}): {metrics} ({pct} percentile intervals, {n_boot} bootstrap draws of the test "
        f"{unit}s).</p>")
    n1 = result["vs_model1"]["n"]
    parts.append(
        f"<p><b>Against model 1</b> (no mask, no CAM transfer; {_plural(n1, 'comparison')}): "
        f"{_sentence(result['vs_model1'], 'model 1', alpha)}</p>")
    if n1:
        parts.append(_effects_table(vs_model1, alpha, pct))
    parts.append(
        "<p><b>CAM transfer alone</b> (each model with a CAM against the model with the same "
        f"input mask and no CAM, 1 / 5 / 9; {_plural(result['vs_group']['n'], 'comparison')}): "
        f"{_sentence(result['vs_group'], 'its baseline', alpha)}</p>")
    how = ("<b>lesions</b> as the unit (a sign-flip permutation test of the per-lesion "
           "differences; images of one lesion are not counted as independent)" if unit == "lesion"
           else "<b>images</b> as the unit (no lesion groups were given)")
    parts.append(
        f'<p class="note">Significance: the exact McNemar test on the fold ensembles with {how}, '
        f"Holm-adjusted over the comparisons of its family, at α = {alpha:g}. Δ = model − "
        f"baseline averaged over folds, with {pct} {unit}-bootstrap intervals (not adjusted for "
        "multiplicity). Details and the image-level p-values: the <i>Model comparison</i> "
        "tables.</p>")
    if note:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    body = "\n".join(parts)
    title = f"Findings — {result['dataset']}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            f'<div class="selcn-findings">\n{body}\n</div>\n</body></html>\n')


# ---- the job --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StatisticsJob:
    """What rule ``stats_vs_baseline`` reads for one lesion dataset.

    Attributes:
        dataset: the dataset's readable name.
        test_files, val_files: every model x fold ``predictions_test.csv`` /
            ``predictions_val.csv`` (contract paths).
        splits: the split table (its ``group`` column: the lesions).
        n_boot, confidence, seed: the bootstrap's settings (``report.*``, ``seed``).
        synthetic: the data are the synthetic demo's (``data.source``).
        note: the line on what this run is, under each page.
    """

    dataset: str
    test_files: Sequence[str]
    val_files: Sequence[str]
    splits: str
    n_boot: int = 1000
    confidence: float = 0.95
    seed: int = 0
    synthetic: bool = False
    note: str = ""


def write_dataset_statistics(job: StatisticsJob, csv_path: str, html_path: str,
                             findings_path: str) -> dict:
    """The statistics table of one lesion dataset (:func:`selcn.report.stats.comparisons`,
    lesion-level, as CSV and HTML) and its Findings page; returns :func:`findings`' result."""
    from selcn.atomic import write_text
    from selcn.report.html import write_stats
    from selcn.report.stats import STAT_METRICS, comparisons, load_predictions, read_groups

    groups = read_groups(job.splits)
    test = load_predictions(job.test_files)
    table = comparisons(test, n_boot=job.n_boot, confidence=job.confidence, seed=job.seed,
                        groups=groups)
    write_stats(table, csv_path, html_path,
                title=f"Each SE-LCN model against model 1 and against its group's baseline "
                      f"({job.dataset}, test split, by lesion)",
                metrics=STAT_METRICS, confidence=job.confidence, note=job.note)
    vs_model1 = table[table["against"] == "model1"].reset_index(drop=True)
    resampling = Resampling(groups, job.n_boot, job.confidence, job.seed)
    result = findings(FindingsInput(
        job.dataset, load_predictions(job.val_files), test, vs_model1,
        table[table["against"] == "group"].reset_index(drop=True), resampling, job.synthetic))
    write_text(render_findings_html(result, vs_model1, confidence=job.confidence,
                                    n_boot=job.n_boot, note=job.note), findings_path)
    return result
