"""Report tables on hand-made per-model files with known answers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from selcn.report import tables
from selcn.report.html import read_reference, render_table_html, write_table
from selcn.report.registry import TABLES, build_table

CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
REFERENCE = Path(__file__).resolve().parents[1] / "config" / "reference"


def write_predictions(path: Path, target, pred, classes=CLASSES, ids=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = ids or [f"ISIC_{i:07d}" for i in range(len(target))]
    df = pd.DataFrame({"image_id": ids, "target": target, "pred": pred})
    for j, c in enumerate(classes):
        df[f"prob_{c}"] = [1.0 if p == j else 0.0 for p in pred]
    df.to_csv(path, index=False)
    return path


def lesion_file(root, cm, sm, fold, split="test", dataset="ham10000"):
    return (root / "results/lesion" / dataset / f"{cm}-{sm}" / f"fold{fold}"
            / f"predictions_{split}.csv")


def test_lesion_table_known_answers(tmp_path):
    t = [0, 1, 5, 5]
    paths = [
        # model 3 (none-seg): fold 0 all right, fold 1 half right
        write_predictions(lesion_file(tmp_path, "none", "seg", 0), t, [0, 1, 5, 5]),
        write_predictions(lesion_file(tmp_path, "none", "seg", 1), t, [0, 0, 5, 1]),
        # model 1 (none-off): always "nv" -> accuracy 0.5 in both folds
        write_predictions(lesion_file(tmp_path, "none", "off", 0), t, [5, 5, 5, 5]),
        write_predictions(lesion_file(tmp_path, "none", "off", 1), t, [5, 5, 5, 5]),
    ]
    table = tables.lesion_table(paths)
    assert list(table["model"]) == [1, 3]                      # thesis order, not input order
    assert list(table["n_folds"]) == [2, 2]
    m1, m3 = table.iloc[0], table.iloc[1]
    assert m1["accuracy_mean"] == pytest.approx(0.5) and m1["accuracy_std"] == pytest.approx(0.0)
    assert m1["kappa_mean"] == pytest.approx(0.0)
    assert m3["accuracy_mean"] == pytest.approx(0.75)
    assert m3["accuracy_std"] == pytest.approx(0.25)             # np.std, ddof 0: |1 - .5| / 2
    # macro recall of model 1: classes 0, 1, 5 present -> (0 + 0 + 1) / 3
    assert m1["recall_mean"] == pytest.approx(1 / 3)
    # model 3 fold 1: recall per class 0: 1, 1: 0, 5: 1/2 -> 0.5; fold 0: 1 -> mean 0.75
    assert m3["recall_mean"] == pytest.approx(0.75)
    assert m3["balanced_accuracy_mean"] == pytest.approx(0.75)
    assert set(tables.LESION_METRICS) <= {c[:-5] for c in table.columns if c.endswith("_mean")}


def test_lesion_table_rejects_mixed_splits(tmp_path):
    paths = [write_predictions(lesion_file(tmp_path, "none", "off", 0, "test"), [0, 1], [0, 1]),
             write_predictions(lesion_file(tmp_path, "none", "off", 1, "val"), [0, 1], [0, 1])]
    with pytest.raises(ValueError, match="split"):
        tables.lesion_table(paths)


def test_bad_prediction_file_names_file_and_field(tmp_path):
    path = lesion_file(tmp_path, "none", "off", 0)
    path.parent.mkdir(parents=True)
    pd.DataFrame({"image_id": ["a"], "target": [0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"predictions_test\.csv: missing column 'pred'"):
        tables.lesion_table([path])
    pd.DataFrame({"image_id": ["a"], "target": ["mel"], "pred": [0], "prob_akiec": [1.0]}).to_csv(
        path, index=False)
    with pytest.raises(ValueError, match="column 'target' must hold integer"):
        tables.lesion_table([path])


def test_symmetry_table_weighted_and_numbered(tmp_path):
    root = tmp_path / "results/symmetry"
    t = [0, 0, 0, 1]
    paths = []
    for variant, preds in (("pretrained-seg", ([0, 0, 0, 1], [0, 0, 0, 1])),
                           ("scratch-none", ([0, 0, 1, 1], [0, 0, 0, 0]))):
        for k, p in enumerate(preds):
            paths.append(write_predictions(root / variant / f"fold{k}" / "predictions_val.csv",
                                           t, p, classes=["asymmetric", "symmetric"]))
    table = tables.symmetry_table(paths)
    assert list(table["variant"]) == ["scratch-none", "pretrained-seg"]
    assert list(table["model"]) == [1, 3]
    # scratch fold 0: weighted recall = accuracy = 0.75; fold 1: 0.75 -> 0.75 +- 0
    assert table.iloc[0]["recall_mean"] == pytest.approx(0.75)
    # balanced accuracy: fold 0 (2/3 + 1) / 2, fold 1 (1 + 0) / 2
    assert table.iloc[0]["balanced_accuracy_mean"] == pytest.approx(((2 / 3 + 1) / 2 + 0.5) / 2)
    assert table.iloc[1]["f1_mean"] == pytest.approx(1.0)


def test_symmetry_table_numbers_the_demo_rows(tmp_path):
    """Issue 13 item 13: with symmetry.pretrained false (the demo) the grid trains
    scratch-none, scratch-seg and scratch-lae; every row gets a model number (the thesis row
    it stands in for) and the from-scratch stand-ins get no thesis value."""
    root = tmp_path / "results/symmetry"
    paths = [write_predictions(root / v / "fold0" / "predictions_test.csv", [0, 1], [0, 1],
                               classes=["asymmetric", "symmetric"])
             for v in ("scratch-lae", "scratch-none", "scratch-seg")]
    table = tables.symmetry_table(paths)
    assert list(table["variant"]) == ["scratch-none", "scratch-seg", "scratch-lae"]
    assert list(table["model"]) == [1, 3, 4] and table["model"].notna().all()
    assert [tables.symmetry_row_number(v) for v in
            ("scratch-none", "pretrained-none", "pretrained-seg", "pretrained-lae")] == [1, 2, 3, 4]
    page = render_table_html(table, TABLES["table6_symmetry_test"],
                             read_reference(REFERENCE / "table6_symmetry_test.csv"))
    seg_row = next(r for r in page.split("<tr") if "from scratch, segmentation mask" in r)
    assert '<td class="key">3</td>' in seg_row and "0.733" not in seg_row   # no thesis value
    none_row = next(r for r in page.split("<tr") if "from scratch, no mask" in r)
    assert "0.673" in none_row                                  # model 1's thesis value


def test_architecture_table_rows_per_split(tmp_path):
    paths = []
    for arch in ("resnet34", "squeezenet1_0"):
        for split in ("test", "val"):
            p = tmp_path / f"results/symmetry_arch/{arch}/fold0/predictions_{split}.csv"
            paths.append(write_predictions(p, [0, 1], [0, 1 if split == "val" else 0],
                                           classes=["asymmetric", "symmetric"]))
    table = tables.architecture_table(paths)
    assert list(zip(table["arch"], table["split"])) == [
        ("resnet34", "val"), ("squeezenet1_0", "val"), ("resnet34", "test"),
        ("squeezenet1_0", "test")]
    assert list(table["balanced_accuracy_mean"]) == pytest.approx([1.0, 1.0, 0.5, 0.5])


def test_architecture_table_reads_the_own_architecture_from_its_variant(tmp_path):
    """The row of the symmetry stage's own architecture comes from the Table 6 variant that
    trains it (``arch_variants``); any other variant's file is refused, naming it."""
    classes = ["asymmetric", "symmetric"]
    arch = write_predictions(tmp_path / "results/symmetry_arch/resnet34/fold0/predictions_val.csv",
                             [0, 1], [0, 0], classes=classes)
    own = write_predictions(tmp_path / "results/symmetry/scratch-none/fold0/predictions_val.csv",
                            [0, 1], [0, 1], classes=classes)
    table = build_table("table6c_symmetry_architectures", [arch, own],
                               arch_variants={"squeezenet1_0": "scratch-none"})
    assert list(table["arch"]) == ["resnet34", "squeezenet1_0"]
    assert list(table["balanced_accuracy_mean"]) == pytest.approx([0.5, 1.0])
    with pytest.raises(ValueError, match="scratch-none"):
        tables.architecture_table([arch, own])
    with pytest.raises(ValueError, match="takes no options"):
        build_table("table6_symmetry_val", [own], arch_variants={})


def test_localisation_table_mean_std_over_images(tmp_path):
    paths = []
    for cm, sm, iou in (("lae", "lae", [0.2, 0.4]), ("none", "off", [0.5, 0.5])):
        p = tmp_path / f"results/lesion/ham10000/{cm}-{sm}/localisation.csv"
        p.parent.mkdir(parents=True)
        pd.DataFrame({"image_id": ["a", "b"], "iou": iou, "overlap": [1.0, 0.5],
                      "pointing": [1, 0]}).to_csv(p, index=False)
        paths.append(p)
    table = tables.localisation_table(paths)
    assert list(table["model"]) == [1, 12]
    row = table.iloc[1]
    assert row["iou_mean"] == pytest.approx(0.3)
    assert row["iou_std"] == pytest.approx(0.1)                  # np.std, ddof 0
    assert row["pointing_mean"] == pytest.approx(0.5) and row["n_images"] == 2


def test_localisation_table_encoder_layer_block(tmp_path):
    """Tables 9 / 15: the ``<metric>_encoder`` columns (every model at the encoder's last
    layer) are summarised beside the own-layer ones when every file has them."""
    paths = []
    for cm, sm, own, enc in (("none", "lae", [0.6, 0.8], [0.2, 0.4]),
                             ("none", "off", [0.5, 0.3], [0.5, 0.3])):
        p = tmp_path / f"results/lesion/ham10000/{cm}-{sm}/localisation.csv"
        p.parent.mkdir(parents=True)
        pd.DataFrame({"image_id": ["a", "b"], "split": "test", "iou": own, "overlap": own,
                      "pointing": [1, 1], "gt_fraction": [0.3, 0.3], "iou_encoder": enc,
                      "overlap_encoder": enc, "pointing_encoder": [0, 1]}).to_csv(p, index=False)
        paths.append(p)
    table = build_table("table9_lesion_cam_localisation", paths)
    assert list(table["model"]) == [1, 4]
    lae = table.iloc[1]
    assert lae["iou_mean"] == pytest.approx(0.7) and lae["iou_encoder_mean"] == pytest.approx(0.3)
    assert lae["iou_encoder_std"] == pytest.approx(0.1)
    assert lae["pointing_encoder_mean"] == pytest.approx(0.5)
    base = table.iloc[0]
    assert base["iou_mean"] == base["iou_encoder_mean"] == pytest.approx(0.4)
    page = render_table_html(table, TABLES["table9_lesion_cam_localisation"])
    assert "IoU, encoder layer" in page and "Pointing game, encoder layer" in page
    # a file without the block: the table has no encoder columns
    pd.read_csv(paths[0]).drop(columns=["iou_encoder"]).to_csv(paths[0], index=False)
    assert "iou_encoder_mean" not in tables.localisation_table(paths).columns


def test_symmetry_localisation_table(tmp_path):
    p = tmp_path / "results/symmetry/pretrained-none/localisation_ham10000.csv"
    p.parent.mkdir(parents=True)
    pd.DataFrame({"image_id": ["a", "b", "c"], "iou": [0.1, 0.2, 0.3], "overlap": [1, 1, 1],
                  "pointing": [1, 1, 0]}).to_csv(p, index=False)
    table = tables.localisation_table([p])
    assert list(table["model"]) == [2]
    assert table.iloc[0]["pointing_mean"] == pytest.approx(2 / 3)


def test_segmentation_table(tmp_path):
    paths = []
    for arch, dice, val_dice in (("deeplabv3plus", 0.9, 0.85), ("unet", 0.8, 0.87)):
        p = tmp_path / f"results/segmentation/{arch}/metrics_test.csv"
        p.parent.mkdir(parents=True)
        pd.DataFrame([{"arch": arch, "dice": dice, "jaccard": 0.7, "sensitivity": 0.6,
                       "specificity": 0.5, "accuracy": 0.4, "val_dice": val_dice,
                       "val_jaccard": 0.3, "val_sensitivity": 0.2, "val_specificity": 0.1,
                       "val_accuracy": 0.05}]).to_csv(p, index=False)
        paths.append(p)
    table = tables.segmentation_table(paths)
    assert list(table["arch"]) == ["deeplabv3plus", "unet"] * 2
    assert list(table["part"]) == ["val", "val", "test", "test"]
    assert list(table["dice"]) == [0.85, 0.87, 0.9, 0.8]
    assert list(table["accuracy"]) == [0.05, 0.05, 0.4, 0.4]
    # the thesis' values sit beside the test rows only; bold = best per part
    page = render_table_html(table, TABLES["table5_segmentation"],
                             read_reference(REFERENCE / "table5_segmentation.csv"))
    rows = page.split("<tr")
    val_unet = next(r for r in rows if "unet" in r and "validation" in r)
    test_dlv3 = next(r for r in rows if "deeplabv3plus" in r and "test split" in r)
    assert '<td class="best">0.8700</td><td class="thesis">—</td>' in val_unet
    assert '<td class="best">0.9000</td><td class="thesis">0.8882</td>' in test_dlv3
    # files without validation columns (older runs) give the test rows only
    pd.read_csv(paths[0])[["arch", *tables.SEGMENTATION_METRICS]].to_csv(paths[0], index=False)
    pd.read_csv(paths[1])[["arch", *tables.SEGMENTATION_METRICS]].to_csv(paths[1], index=False)
    assert list(tables.segmentation_table(paths)["part"]) == ["test", "test"]


def test_per_class_table(tmp_path):
    classes = ["benign", "malignant"]
    t = [0, 0, 1, 1]
    paths = [write_predictions(lesion_file(tmp_path, "none", "off", 0), t, [0, 0, 1, 1], classes),
             write_predictions(lesion_file(tmp_path, "none", "off", 1), t, [0, 1, 1, 1], classes)]
    table = tables.per_class_table(paths)
    assert list(table["class"]) == classes
    benign = table.iloc[0]
    assert benign["recall_mean"] == pytest.approx(0.75)        # 1.0 and 0.5
    assert benign["precision_mean"] == pytest.approx(1.0)
    assert table.iloc[1]["precision_mean"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert list(table["support"]) == [2, 2]


def test_reference_files_match_table_specs():
    """Every published table has a reference file with the table's key and metric columns."""
    for name, spec in TABLES.items():
        path = REFERENCE / f"{name}.csv"
        if not spec.has_reference:
            assert not path.exists()
            continue
        ref = read_reference(path)
        for key in spec.keys:
            assert key in ref.columns, (name, key)
        cols = [m if spec.kind == "value" else f"{m}_mean" for m in spec.metrics]
        present = [c for c in cols if c in ref.columns]
        assert present, name
        assert ref[present].notna().all().all(), name
    ref8 = read_reference(REFERENCE / "table8_lesion_val.csv")
    assert list(ref8["model"]) == list(range(1, 13))
    assert ref8.loc[ref8["model"] == 1, "accuracy_mean"].item() == pytest.approx(0.859)
    assert ref8.loc[ref8["model"] == 4, "f1_mean"].item() == pytest.approx(0.905)
    ref5 = read_reference(REFERENCE / "table5_segmentation.csv")
    assert ref5.set_index("arch").loc["unet", "specificity"] == pytest.approx(0.9328)


def test_html_shows_thesis_and_difference(tmp_path):
    t = [0, 1, 5, 5]
    paths = [write_predictions(lesion_file(tmp_path, "none", "off", k), t, [0, 1, 5, 5])
             for k in (0, 1)]
    table = tables.lesion_table(paths)
    spec = TABLES["table8_lesion_val"]
    ref = read_reference(REFERENCE / "table8_lesion_val.csv")
    page = render_table_html(table, spec, ref, note="synthetic demo")
    assert spec.title in page
    assert "0.859 ± 0.014" in page                             # thesis' accuracy of model 1
    assert "+0.141" in page                                    # 1.000 - 0.859
    assert "real</b> datasets" in page and "synthetic demo" in page
    assert "<script" not in page
    csv_path, html_path = tmp_path / "t.csv", tmp_path / "t.html"
    write_table(table, spec, csv_path, html_path, REFERENCE / "table8_lesion_val.csv")
    assert pd.read_csv(csv_path)["accuracy_mean"].tolist() == [1.0]
    assert html_path.read_text().startswith("<!DOCTYPE html>")


def test_grid_cells_and_figures(tmp_path):
    from selcn.report.figures import grid_cells, grid_heatmap, training_curves

    t = [0, 1, 5, 5]
    paths = [write_predictions(lesion_file(tmp_path, "seg", "lae", 0), t, [0, 1, 5, 5]),
             write_predictions(lesion_file(tmp_path, "seg", "lae", 1), t, [0, 1, 1, 1])]
    loc = tmp_path / "results/lesion/ham10000/seg-lae/localisation.csv"
    pd.DataFrame({"image_id": ["a", "b"], "iou": [0.1, 0.3], "overlap": [1, 1],
                  "pointing": [1, 0]}).to_csv(loc, index=False)
    cells = grid_cells(paths, [loc]).set_index("metric")
    assert cells.loc["accuracy", "mean"] == pytest.approx(0.75)
    assert cells.loc["iou", "mean"] == pytest.approx(0.2)
    assert set(cells["classifier_mask"]) == {"seg"} and set(cells["symmetry_mask"]) == {"lae"}
    out = grid_heatmap(cells.reset_index(), tmp_path / "fig" / "heatmap.png")
    assert out.stat().st_size > 5_000
    hist = tmp_path / "results/lesion/ham10000/seg-lae/fold0/history.csv"
    pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5]}).to_csv(hist, index=False)
    with pytest.raises(ValueError, match="history.csv: missing column 'val_loss'"):
        training_curves([hist], tmp_path / "curves.png")


def test_lesion_table_ensemble_rows(tmp_path):
    """Tables 8b/10/14: the fold rows (estimate = folds) and one fold-ensemble row per model."""
    t = [0, 1, 5]
    probs = {0: [[0.6, 0.4, 0.0], [0.0, 0.4, 0.6], [0.0, 0.0, 1.0]],   # fold 0: right, wrong, right
             1: [[0.2, 0.8, 0.0], [0.0, 0.8, 0.2], [0.0, 0.0, 1.0]]}   # fold 1: wrong, right, right
    paths = []
    for k, rows in probs.items():
        p = lesion_file(tmp_path, "lae", "seg", k)
        p.parent.mkdir(parents=True, exist_ok=True)
        df = pd.DataFrame({"image_id": ["a", "b", "c"], "target": t,
                           "pred": np.argmax(rows, 1).choose([0, 1, 5])})
        full = np.zeros((3, 7))
        full[:, [0, 1, 5]] = rows
        for j, c in enumerate(CLASSES):
            df[f"prob_{c}"] = full[:, j]
        df.to_csv(p, index=False)
        paths.append(p)
    table = build_table("table8_lesion_test", paths)
    assert list(table["estimate"]) == ["folds", "ensemble"]
    folds, ens = table.iloc[0], table.iloc[1]
    assert folds["accuracy_mean"] == pytest.approx(2 / 3) and folds["accuracy_std"] == 0.0
    # mean probabilities: a (0.4, 0.6, 0) -> class 1, wrong; b (0, 0.6, 0.4) -> 1, right; c right
    assert ens["model"] == 11 and ens["n_folds"] == 2
    assert ens["accuracy_mean"] == pytest.approx(2 / 3) and np.isnan(ens["accuracy_std"])
    assert ens["recall_mean"] == pytest.approx((0 + 1 + 1) / 3)
    page = render_table_html(table, TABLES["table8_lesion_test"],
                             read_reference(REFERENCE / "table8_lesion_test.csv"))
    assert "fold ensemble (beyond the thesis)" in page and "ddof = 0" in page
    assert "0.667 ± 0.000" in page
    # the validation table has no ensemble rows (its folds predict different images)
    assert "estimate" not in tables.lesion_table(paths).columns


def test_per_class_reference_files():
    """Tables 11/12: the thesis' per-class values under the report tables' names."""
    for number, name in ((1, "table11_per_class_model1"), (3, "table12_per_class_model3")):
        spec = tables.per_class_spec(number)
        assert spec.name == name == tables.per_class_name(number) and spec.has_reference
        ref = read_reference(REFERENCE / f"{name}.csv")
        assert list(ref["class"]) == ["nv", "mel", "bkl", "bcc", "akiec", "vasc", "df"]
        assert ref[[f"{m}_mean" for m in ("precision", "recall", "f1")]].notna().all().all()
    ref11 = read_reference(REFERENCE / "table11_per_class_model1.csv").set_index("class")
    ref12 = read_reference(REFERENCE / "table12_per_class_model3.csv").set_index("class")
    assert ref11.loc["mel", "recall_mean"] == pytest.approx(0.6875)
    assert ref12.loc["df", "f1_std"] == pytest.approx(0.0464)
    assert (ref11["support"].sum(), ref12["support"].sum()) == (1999, 2003)
    assert not tables.per_class_spec(2).has_reference


def test_training_curves_plot_train_and_validation_accuracy(tmp_path):
    from selcn.report.figures import _accuracy_columns, training_curves

    hist = tmp_path / "results/lesion/ham10000/none-off/fold0/history.csv"
    hist.parent.mkdir(parents=True)
    df = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.7, 0.5],
                       "val_loss": [1.1, 0.9, 1.0], "train_accuracy": [0.4, 0.6, 0.7],
                       "accuracy": [0.35, 0.5, 0.45]})
    df.to_csv(hist, index=False)
    assert _accuracy_columns(df) == ["train_accuracy", "accuracy"]   # accuracy = validation
    assert _accuracy_columns(df.drop(columns="train_accuracy")) == ["accuracy"]
    assert training_curves([hist], tmp_path / "curves.png").stat().st_size > 5_000



def test_bold_best_value_per_group_and_estimate():
    from selcn.report.html import _best_rows

    table = pd.DataFrame({"classifier_mask": ["none"] * 4, "estimate": ["folds", "folds",
                                                                        "ensemble", "ensemble"],
                          "accuracy_mean": [0.70, 0.80, 0.90, 0.85]})
    # the best fold row (0.80) and the best ensemble row (0.90) are both bold
    assert _best_rows(table, "accuracy_mean", "classifier_mask") == {1, 2}


def test_summarise_population_std_hand_computed():
    per = pd.DataFrame({"model": [1, 1, 1, 2], "acc": [0.5, 0.7, 0.9, 0.8]})
    out = tables.summarise(per, ("model",), ("acc",)).set_index("model")
    # model 1: mean 0.7, deviations -0.2, 0, 0.2 -> sqrt((0.04 + 0 + 0.04) / 3) (ddof 0)
    assert out.loc[1, "acc_std"] == pytest.approx(np.sqrt(0.08 / 3))
    assert out.loc[1, "acc_std"] == pytest.approx(np.std([0.5, 0.7, 0.9]))
    assert np.isnan(out.loc[2, "acc_std"]) and out.loc[2, "n_folds"] == 1   # one fold: no ±
    assert tables.summarise(per, ("model",), ("acc",), ddof=1).loc[0, "acc_std"] == \
        pytest.approx(0.2)



def test_localisation_tables_show_the_chance_and_centre_baselines(tmp_path):
    from selcn.report.tables import localisation_table

    path = tmp_path / "results/lesion/ham10000/none-off/localisation.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"image_id": ["a", "b"], "iou": [0.5, 0.1], "overlap": [0.6, 0.2],
                  "pointing": [1.0, 0.0], "gt_fraction": [0.3, 0.1],
                  "gt_fraction_undilated": [0.2, 0.0], "centre_in_gt": [1, 0]}).to_csv(path,
                                                                                 index=False)
    row = localisation_table([path]).iloc[0]
    assert row["gt_fraction_undilated_mean"] == pytest.approx(0.1)
    assert row["gt_fraction_mean"] == pytest.approx(0.2)
    assert row["centre_in_gt_mean"] == pytest.approx(0.5)
    assert row["pointing_mean"] == pytest.approx(0.5)


# ---- the ISIC-standard metrics beside the thesis' (issue 22.3) -------------------------------
def _prob_file(path, target, probs, classes):
    path.parent.mkdir(parents=True, exist_ok=True)
    probs = np.asarray(probs, float)
    df = pd.DataFrame({"image_id": [f"i{k}" for k in range(len(target))], "target": target,
                       "pred": probs.argmax(1)})
    for j, c in enumerate(classes):
        df[f"prob_{c}"] = probs[:, j]
    df.to_csv(path, index=False)
    return path


def test_lesion_tables_have_auroc_and_ece_and_one_balanced_accuracy_column(tmp_path):
    from sklearn.metrics import average_precision_score, roc_auc_score

    from selcn.metrics import expected_calibration_error

    rng = np.random.default_rng(2)
    y = np.array([0, 1] * 10)
    classes = ["benign", "malignant"]
    folds = [rng.dirichlet([1, 1], 20) for _ in range(2)]
    paths = [_prob_file(lesion_file(tmp_path, "none", "off", k, dataset="isic2016"), y, p,
                        classes) for k, p in enumerate(folds)]
    table = build_table("table14_isic2016_test", paths)
    row = table.iloc[0]
    auroc = [roc_auc_score(y, p[:, 1]) for p in folds]
    ap = [average_precision_score(y, p[:, 1]) for p in folds]
    ece = [expected_calibration_error(y, p) for p in folds]
    assert row["auroc_mean"] == pytest.approx(np.mean(auroc))
    assert row["auroc_std"] == pytest.approx(np.std(auroc))
    assert row["average_precision_mean"] == pytest.approx(np.mean(ap))
    assert row["ece_mean"] == pytest.approx(np.mean(ece))
    ens = table[table["estimate"] == "ensemble"].iloc[0]
    mean = (folds[0] + folds[1]) / 2
    assert ens["auroc_mean"] == pytest.approx(roc_auc_score(y, mean[:, 1]))
    # the HTML: the thesis' Recall column says it is the balanced multiclass accuracy, and the
    # balanced accuracy is not a second column; AUROC, AP and ECE have one column each
    spec = TABLES["table14_isic2016_test"]
    page = render_table_html(table, spec, read_reference(REFERENCE / "table14_isic2016_test.csv"))
    assert "Recall = balanced multiclass accuracy" in page and "Balanced acc." not in page
    assert page.count("not in the thesis") == 3
    for label in ("AUROC (one-vs-rest, macro)", "Average precision (malignant)", "ECE (15 bins)"):
        assert label in page
    assert row["balanced_accuracy_mean"] == pytest.approx(row["recall_mean"])   # in the CSV
    # a multiclass table has no average precision
    multi = build_table("table8_lesion_test", [write_predictions(
        lesion_file(tmp_path, "none", "off", 0), [0, 1, 5, 5], [0, 1, 5, 1])])
    assert "average_precision_mean" not in multi.columns and "auroc_mean" in multi.columns


def test_the_lowest_calibration_error_is_bold():
    from selcn.report.html import _best_rows

    table = pd.DataFrame({"classifier_mask": ["none"] * 3, "ece_mean": [0.10, 0.05, 0.20]})
    assert _best_rows(table, "ece_mean", "classifier_mask") == {1}


def test_per_class_table_has_the_one_vs_rest_auroc(tmp_path):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    y = np.arange(21) % 3
    classes = ["akiec", "bcc", "bkl"]
    folds = [rng.dirichlet([1, 1, 1], 21) for _ in range(2)]
    paths = [_prob_file(lesion_file(tmp_path, "none", "seg", k), y, p, classes)
             for k, p in enumerate(folds)]
    table = tables.per_class_table(paths).set_index("class")
    for c, name in enumerate(classes):
        values = [roc_auc_score(y == c, p[:, c]) for p in folds]
        assert table.loc[name, "auroc_mean"] == pytest.approx(np.mean(values))
    page = render_table_html(table.reset_index(), tables.per_class_spec(3))
    assert "AUROC (one-vs-rest)" in page


def _grid_cells():
    from selcn.grid import CAM_SOURCES, MASKS

    rng = np.random.default_rng(0)
    return pd.DataFrame([{"classifier_mask": cm, "symmetry_mask": cs, "metric": m,
                          "mean": rng.uniform(0.5, 0.9), "std": rng.uniform(0, 0.05)}
                         for cm in MASKS for cs in CAM_SOURCES for m in ("accuracy", "f1", "iou")])


def test_heatmap_numbers_are_readable_in_the_report(tmp_path):
    """Shown as the report shows a figure (scaled to the width beside the menu: about 900 px
    in a 1280 px window), the mean of a cell is drawn at least 14 px high and its ± std at
    least 12 px (the former figure, 1872 px wide at 8 pt: 6 px)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from selcn.report.figures import HEATMAP_METRICS, _heatmap_figure, grid_heatmap

    cells = _grid_cells()
    out = grid_heatmap(cells, tmp_path / "heatmap.png", dpi=110)
    width = Image.open(out).size[0]
    scale = min(1.0, 900 / width)
    fig, texts = _heatmap_figure(cells, HEATMAP_METRICS, "")
    plt.close(fig)
    px = {}
    for text in texts:
        kind = ("std" if text.get_text().startswith("±") else
                "model" if text.get_text().startswith("model") else "mean")
        px[kind] = min(px.get(kind, 99), text.get_fontsize() * 110 / 72 * scale)
    assert px["mean"] >= 14 and px["std"] >= 12, (px, width)
    assert len([t for t in texts if t.get_text().startswith("model")]) == 36   # 12 cells x 3


def test_reliability_diagrams_of_the_fold_ensembles(tmp_path):
    from selcn.report.figures import reliability_from_files

    rng = np.random.default_rng(3)
    y = np.arange(30) % 3
    classes = ["akiec", "bcc", "bkl"]
    paths = [_prob_file(lesion_file(tmp_path, cm, sm, k), y, rng.dirichlet([1, 1, 1], 30),
                        classes)
             for cm, sm in (("none", "off"), ("seg", "lae")) for k in (0, 1)]
    out = reliability_from_files(paths, tmp_path / "fig" / "reliability.png", title="test")
    assert out.stat().st_size > 10_000
    with pytest.raises(ValueError, match="no lesion fold prediction|no model"):
        reliability_from_files([], tmp_path / "empty.png")
