"""The report of the grid's two new axes (issue 25), on hand-made result files with known
answers: the segmenter table and figure (segmentation.mode: axis) and the table "shared vs
per-model search" (hpo.scope: per_model)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from selcn.config import validate_config
from selcn.grid import grid
from selcn.report.registry import TABLE_REGISTRY, build_table, report_figures, report_tables
from selcn.report.search import (
    SearchComparisonFiles,
    best_epoch,
    render_search_html,
    search_comparison,
    write_search_comparison,
)
from selcn.report.segmenters import segmenter_figure_from_table, segmenter_table

CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
TARGET = [0, 1, 5, 5, 4, 4]
IDS = [f"ISIC_{i:07d}" for i in range(len(TARGET))]


def predictions(path: Path, pred) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame({"image_id": IDS, "target": TARGET, "pred": pred})
    for j, c in enumerate(CLASSES):
        df[f"prob_{c}"] = [1.0 if p == j else 0.0 for p in pred]
    df.to_csv(path, index=False)
    return str(path)


def fold_dir(root: Path, model: str, fold: int, *folders: str) -> Path:
    return root.joinpath("results", "lesion", "ham10000", model, *folders, f"fold{fold}")


def seg_metrics(root: Path, arch: str, test: float, val: float) -> str:
    path = root / "results" / "segmentation" / arch / "metrics_test.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"arch": arch, "dice": test, "jaccard": 0.5, "sensitivity": 0.5, "specificity": 0.5,
           "accuracy": 0.5, "val_dice": val, "val_jaccard": 0.5, "val_sensitivity": 0.5,
           "val_specificity": 0.5, "val_accuracy": 0.5}
    pd.DataFrame([row]).to_csv(path, index=False)
    return str(path)


# ---- the segmenter table --------------------------------------------------------------------
def test_segmenter_table_known_answers(tmp_path):
    right, half = TARGET, [0, 0, 5, 1, 4, 1]                    # accuracy 1 and 1/2
    files = [seg_metrics(tmp_path, "unet", 0.8, 0.7), seg_metrics(tmp_path, "fpn", 0.6, 0.5)]
    for seg, preds in (("fpn", (half, half)), ("unet", (right, half))):
        for model in ("none-seg", "seg-off"):
            files += [predictions(fold_dir(tmp_path, model, k, seg) / "predictions_test.csv", p)
                      for k, p in enumerate(preds)]
    table = segmenter_table(files)
    assert list(table[["model", "segmenter"]].itertuples(index=False, name=None)) == [
        (3, "unet"), (3, "fpn"), (5, "unet"), (5, "fpn")]        # Table 5's order of segmenters
    unet = table[table["segmenter"] == "unet"].iloc[0]
    assert (unet["segmenter_test_dice_mean"], unet["segmenter_val_dice_mean"]) == (0.8, 0.7)
    assert pd.isna(unet["segmenter_test_dice_std"]) and unet["n_folds"] == 2
    assert unet["accuracy_mean"] == pytest.approx(0.75) and unet["accuracy_std"] == \
        pytest.approx(0.25)
    assert table[table["segmenter"] == "fpn"]["accuracy_mean"].tolist() == [0.5, 0.5]
    # the registry's entry builds the same table from the same files
    pd.testing.assert_frame_equal(build_table("segmenter_effect_ham10000", files), table)
    out = tmp_path / "segmenters.csv"
    table.to_csv(out, index=False)
    segmenter_figure_from_table(out, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 5000
    # a model without a segmenter folder, a segmenter without its metrics: errors that say so
    plain = predictions(fold_dir(tmp_path, "seg-seg", 0) / "predictions_test.csv", right)
    with pytest.raises(ValueError, match="model 7 carry no segmenter folder"):
        segmenter_table(files + [plain])
    with pytest.raises(ValueError, match=r"no metrics_test.csv of segmenter\(s\) \['fpn'\]"):
        segmenter_table(files[:1] + files[2:])


def test_the_axis_adds_the_segmenter_table_and_figure_per_lesion_dataset():
    axis = grid(validate_config({"segmentation": {"mode": "axis",
                                                  "architectures": ["unet", "fpn"]}}))
    names = report_tables(axis)
    assert {"segmenter_effect_ham10000", "segmenter_effect_isic2016"} <= set(names)
    assert "segmenter_effect_ph2" not in names
    assert {"segmenter_effect_ham10000", "segmenter_effect_isic2016"} <= \
        set(report_figures(axis))
    select = grid(validate_config({}))
    assert not [n for n in report_tables(select) + report_figures(select)
                if n.startswith(("segmenter_effect", "search_comparison"))]
    assert TABLE_REGISTRY["segmenter_effect_ham10000"].category == "Segmentation"
    per_model = grid(validate_config({"hpo": {"enabled": True, "scope": "per_model"}}))
    assert report_tables(per_model)[-2:] == ["search_comparison_ham10000",
                                             "search_comparison_isic2016"]


# ---- shared vs per-model search -------------------------------------------------------------
def history(path: Path, losses) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"epoch": range(1, len(losses) + 1), "train_loss": 1.0,
                  "val_loss": losses}).to_csv(path, index=False)
    return str(path)


def search_result(path: Path, lr: float, cell=None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"best": {"batch_size": 16, "lr": lr, "momentum": 0.9, "weight_decay": 1e-4,
                     "weighted_loss": True}, "objective": "accuracy", "value": 0.5,
            "n_trials": 2, "trial": 1, "network": "lesion", "dataset": "ham10000"}
    if cell:
        blob.update(cell=cell, segmenter=None)
    path.write_text(json.dumps(blob))
    return str(path)


@pytest.fixture
def compared(tmp_path) -> SearchComparisonFiles:
    """Model 1 (one search: the shared one) and model 3, shared (test accuracy 1 and 2/3) and
    per-model (1 and 1): per-model - shared = +1/6 on average over the two folds."""
    preds, hists = [], []
    runs = {("none-off", ()): ([5] * 6, [5] * 6), ("none-seg", ()): (TARGET, [0, 0, 5, 1, 4, 4]),
            ("none-seg", ("per_model",)): (TARGET, TARGET)}
    epochs = {("none-off", ()): [3, 2, 1], ("none-seg", ()): [1, 2, 3],
              ("none-seg", ("per_model",)): [2, 1, 3]}
    for (model, folders), by_fold in runs.items():
        for k, pred in enumerate(by_fold):
            d = fold_dir(tmp_path, model, k, *folders)
            preds += [predictions(d / "predictions_test.csv", pred),
                      predictions(d / "predictions_val.csv", pred)]
            hists.append(history(d / "history.csv", epochs[model, folders]))
    searches = [search_result(tmp_path / "hpo" / "lesion-ham10000" / "best.json", 1e-3),
                search_result(tmp_path / "hpo" / "lesion-ham10000-none-seg" / "best.json", 1e-2,
                              cell="none-seg")]
    splits = tmp_path / "splits.csv"
    pd.DataFrame({"image_id": IDS, "group": ["L0", "L0", "L1", "L1", "L2", "L3"]}).to_csv(
        splits, index=False)
    return SearchComparisonFiles(preds, hists, searches, str(splits))


def test_search_comparison_known_answers(compared, tmp_path):
    table = search_comparison(compared, n_boot=200, confidence=0.9, seed=0)
    assert list(table[["model", "search"]].itertuples(index=False, name=None)) == [
        (1, "shared"), (3, "shared"), (3, "per_model")]
    shared, own = table.iloc[1], table.iloc[2]
    assert (table.iloc[0]["lr"], shared["lr"], own["lr"]) == (1e-3, 1e-3, 1e-2)   # values read
    assert shared["test_accuracy_mean"] == pytest.approx(5 / 6)
    assert own["test_accuracy_mean"] == 1.0 and own["val_accuracy_mean"] == 1.0
    assert (shared["best_epoch_mean"], own["best_epoch_mean"]) == (1.0, 2.0)
    assert table.iloc[0]["best_epoch_mean"] == 3.0
    # the paired statistics: on the per-model row only, by lesion
    assert own["accuracy_diff"] == pytest.approx(1 / 6) and own["unit"] == "lesion"
    assert own["accuracy_ci_low"] <= own["accuracy_diff"] <= own["accuracy_ci_high"]
    assert own["mcnemar_c"] >= 1 and own["mcnemar_b"] == 0 and 0 < own["mcnemar_p"] <= 1
    assert own["mcnemar_p_holm"] == pytest.approx(own["mcnemar_p"])    # one comparison
    assert pd.isna(shared["accuracy_diff"]) and pd.isna(table.iloc[0]["mcnemar_p"])
    page = render_search_html(table, "Shared vs per-model", confidence=0.9)
    assert page.count("<tr") == 4 and "the shared search is this model" in page
    assert "+0.167 [" in page
    out = (str(tmp_path / "t.csv"), str(tmp_path / "t.html"))
    write_search_comparison(compared, out, title="t",
                            intervals={"n_boot": 50, "confidence": 0.95, "seed": 0})
    assert pd.read_csv(out[0])["search"].tolist() == ["shared", "shared", "per_model"]


def test_search_comparison_needs_the_shared_copy(compared):
    alone = [p for p in compared.predictions if "per_model" in p or "none-off" in p]
    files = SearchComparisonFiles(alone, compared.histories, compared.searches,
                                  compared.splits)
    with pytest.raises(ValueError, match="model 3 : no shared-search test predictions"):
        search_comparison(files, n_boot=20)


def test_best_epoch_is_the_lowest_validation_loss(tmp_path):
    assert best_epoch(history(tmp_path / "a.csv", [0.9, 0.5, 0.5, 0.7])) == 2
    assert best_epoch(history(tmp_path / "b.csv", [float("nan")] * 3)) == 3
    with pytest.raises(ValueError, match="missing column 'val_loss'"):
        pd.DataFrame({"epoch": [1]}).to_csv(tmp_path / "c.csv", index=False)
        best_epoch(tmp_path / "c.csv")
