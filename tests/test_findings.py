"""The Findings of a lesion dataset (selcn.report.findings) from a built results folder: the
best model on validation, its test metrics with lesion-bootstrap intervals, the effects against
model 1 with their Holm-adjusted p and the words for what is and is not significant, the
synthetic banner."""

import html
import re

import numpy as np
import pandas as pd
import pytest

from selcn.predictions import write_predictions
from selcn.report.findings import (
    SYNTHETIC_BANNER,
    StatisticsJob,
    best_on_validation,
    write_dataset_statistics,
)
from selcn.report.stats import load_predictions

CLASSES = ["akiec", "bcc", "bkl"]
N = 40                                   # test images, 2 per lesion


def _write(root, name, split, fold, right):
    """Predictions of model ``name`` (``<cm>-<sm>``): right on the images where ``right``."""
    target = np.arange(N) % 3
    pred = np.where(right, target, (target + 1) % 3)
    probs = np.full((N, 3), 0.1)
    probs[np.arange(N), pred] = 0.8
    path = root / "results/lesion/ham10000" / name / f"fold{fold}" / f"predictions_{split}.csv"
    write_predictions(path, [f"ISIC_{i:07d}" for i in range(N)], target, probs, CLASSES)
    return str(path)


@pytest.fixture
def results(tmp_path):
    """Models 1 (none-off), 2 (none-none) and 5 (seg-off), 2 folds: model 1 and 5 right on the
    first 20 test images (lesions 0-9), model 2 right on all 40 (20 lesions of 2 images);
    on validation model 2 is right on all, models 1 and 5 on half."""
    half = np.arange(N) < N // 2
    files = {"test": [], "val": []}
    for name, right in (("none-off", half), ("none-none", np.ones(N, bool)), ("seg-off", half)):
        for fold in (0, 1):
            for split in ("test", "val"):
                files[split].append(_write(tmp_path, name, split, fold, right))
    splits = tmp_path / "results/splits/ham10000.csv"
    splits.parent.mkdir(parents=True)
    pd.DataFrame({"image_id": [f"ISIC_{i:07d}" for i in range(N)], "label": "x",
                  "target": np.arange(N) % 3, "group": [f"L{i // 2}" for i in range(N)],
                  "split": "test"}).to_csv(splits, index=False)
    return tmp_path, files, str(splits)


def _run(results, synthetic=True):
    root, files, splits = results
    job = StatisticsJob("HAM10000", files["test"], files["val"], splits, n_boot=200,
                        confidence=0.95, seed=1, synthetic=synthetic, note="tiny test run")
    out = root / "out"
    result = write_dataset_statistics(job, str(out / "stats.csv"), str(out / "stats.html"),
                                      str(out / "findings.html"))
    return result, pd.read_csv(out / "stats.csv"), (out / "findings.html").read_text()


def test_findings_numbers_come_from_the_files(results):
    result, table, page = _run(results)
    # best on validation: model 2 (macro F1 1.0 in both folds), never the test split
    assert result["best"]["number"] == 2 and result["best"]["value"] == pytest.approx(1.0)
    assert "Best model on validation: model 2</b>" in page
    # its fold ensemble is right on all 40 test images (20 lesions)
    test = result["test"]
    assert (test["n_images"], test["n_lesions"], test["unit"]) == (40, 20, "lesion")
    assert test["metrics"]["accuracy"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert "40 images of 20 lesions" in page and "accuracy <b>1.000</b> [1.000, 1.000]" in page
    # against model 1: model 2 right on 20 more images in 10 lesions of 2 (d = 2 each):
    # lesion-level p = 2 / 2^10, Holm over the 2 comparisons (models 2, 5): 4 / 2^10
    vs1 = table[table["against"] == "model1"].set_index("model")
    assert list(vs1.index) == [2, 5]
    assert vs1.loc[2, "mcnemar_p"] == pytest.approx(2 / 2 ** 10)
    assert vs1.loc[2, "mcnemar_p_holm"] == pytest.approx(4 / 2 ** 10)
    assert vs1.loc[2, "mcnemar_p_image"] == pytest.approx(2 / 2 ** 20)   # images: far smaller
    assert vs1.loc[5, "mcnemar_p"] == 1.0
    # the page shows the file's numbers
    assert f"<td>{vs1.loc[2, 'mcnemar_p']:.3g}</td>" in page
    assert f'<td class="sig">{vs1.loc[2, "mcnemar_p_holm"]:.3g}</td>' in page
    assert vs1.loc[2, "accuracy_diff"] == pytest.approx(0.5)            # 20 / 40 more right
    assert "+0.500 [" in page


def test_findings_say_what_is_and_is_not_significant(results):
    result, _, page = _run(results)
    assert result["vs_model1"] == {"better": [2], "worse": [], "not_significant": [5], "n": 2}
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "Model 2 is significantly better than model 1; model 5 does not differ " \
           "significantly (Holm-adjusted p < 0.05)." in text
    # the CAM transfer alone: model 2 against model 1 (its group's baseline), one comparison
    assert result["vs_group"] == {"better": [2], "worse": [], "not_significant": [], "n": 1}
    assert "lesions as the unit" in text


def test_synthetic_banner_only_for_synthetic_data(results):
    _, _, page = _run(results, synthetic=True)
    assert html.escape(SYNTHETIC_BANNER) in page and 'class="banner"' in page
    _, _, page = _run(results, synthetic=False)
    assert html.escape(SYNTHETIC_BANNER) not in page and 'class="banner"' not in page


def test_no_significant_effect_is_said_so(results):
    root, files, splits = results
    # model 2 equal to model 1 on the test split: no effect anywhere
    half = np.arange(N) < N // 2
    for fold in (0, 1):
        _write(root, "none-none", "test", fold, half)
    _, _, page = _run(results)
    assert "No model differs significantly from model 1</b> (Holm-adjusted p ≥ 0.05 for all " \
           "2 comparisons)" in page


def test_best_on_validation_is_the_exported_best(results):
    """The Findings describe the model `export: best` ships (selcn.export.select_model)."""
    from selcn.export import select_model

    _, files, _ = results
    validation = load_predictions(files["val"])
    candidates = {}
    for path in files["val"]:
        number = {"none-off": 1, "none-none": 2, "seg-off": 5}[path.split("/")[-3]]
        fold = int(path.split("/")[-2][len("fold"):])
        candidates.setdefault(number, {})[fold] = path
    exported = select_model(candidates)
    mine = best_on_validation(validation)
    assert mine["number"] == exported["number"] == 2
    assert mine["values"] == pytest.approx({int(k): v for k, v in exported["values"].items()})
