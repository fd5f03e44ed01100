"""The path layout (selcn.paths): every builder's path parses back to its wildcards."""

import pytest

from selcn import paths
from selcn.grid import CAM_SOURCES, MASKS, Fold, Model, SymmetryVariant


def test_parse_result_path():          # moved from test_report_tables.py
    k = paths.parse_result_path("results/lesion/ham10000/seg-lae/fold2/predictions_test.csv")
    assert k == {"stage": "lesion", "dataset": "ham10000", "classifier_mask": "seg",
                 "symmetry_mask": "lae", "fold": 2, "file": "predictions_test.csv",
                 "split": "test", "model": 8}
    k = paths.parse_result_path("results/symmetry/scratch-none/fold1/predictions_val.csv")
    assert (k["variant"], k["fold"], k["split"], k["model"]) == ("scratch-none", 1, "val", 1)
    k = paths.parse_result_path("results/symmetry_arch/resnet34/fold0/predictions_test.csv")
    assert (k["stage"], k["arch"], k["split"]) == ("symmetry_arch", "resnet34", "test")
    k = paths.parse_result_path("results/lesion/isic2016/lae-off/localisation.csv")
    assert (k["model"], k["dataset"]) == (9, "isic2016") and "fold" not in k
    with pytest.raises(ValueError, match="not a result path"):
        paths.parse_result_path("somewhere/else.csv")


def test_tables_reexports_the_parser():
    from selcn.report import tables

    assert tables.parse_result_path is paths.parse_result_path


@pytest.mark.parametrize("cm", MASKS)
@pytest.mark.parametrize("cs", CAM_SOURCES)
@pytest.mark.parametrize("dataset", ["ham10000", "isic2016"])
def test_lesion_paths_round_trip(cm, cs, dataset):
    for split in ("val", "test", "isic2019"):
        k = paths.parse_result_path(
            paths.lesion_fold_file(dataset, Model(cm, cs), Fold(3), f"predictions_{split}.csv"))
        assert k == {"stage": "lesion", "dataset": dataset, "classifier_mask": cm,
                     "symmetry_mask": cs, "fold": 3, "file": f"predictions_{split}.csv",
                     "split": split, "model": Model(cm, cs).number}
    model = Model(cm, cs)
    for built, name in ((paths.lesion_localisation_file(dataset, model), "localisation.csv"),
                        (paths.lesion_best_fold_file(dataset, model), "best_fold.json")):
        k = paths.parse_result_path(built)
        assert (k["dataset"], k["classifier_mask"], k["symmetry_mask"], k["file"]) == (
            dataset, cm, cs, name)
        assert built.startswith(paths.lesion_dir(dataset, model) + "/")


@pytest.mark.parametrize("variant", [str(SymmetryVariant(p, m)) for p in (True, False)
                                     for m in ("none", "seg", "lae")])
def test_symmetry_paths_round_trip(variant):
    k = paths.parse_result_path(paths.symmetry_file(variant, 1, "predictions_test.csv"))
    assert (k["stage"], k["variant"], k["fold"], k["split"]) == ("symmetry", variant, 1, "test")
    assert k["model"] == {"scratch-none": 1, "pretrained-none": 2, "pretrained-seg": 3,
                          "pretrained-lae": 4}.get(variant)
    k = paths.parse_result_path(paths.symmetry_localisation_file(variant))
    assert (k["variant"], k["file"]) == (variant, "localisation_ham10000.csv")
    assert paths.parse_result_path(paths.symmetry_best_fold_file(variant))["file"] == \
        "best_fold.json"


def test_arch_and_segmentation_paths_round_trip():
    k = paths.parse_result_path(paths.symmetry_arch_file("resnet34", 2, "predictions_val.csv"))
    assert (k["stage"], k["arch"], k["fold"], k["split"]) == ("symmetry_arch", "resnet34", 2,
                                                              "val")
    k = paths.parse_result_path(paths.segmentation_file("unet", "metrics_test.csv"))
    assert (k["stage"], k["arch"], k["file"]) == ("segmentation", "unet", "metrics_test.csv")


def test_builders_keep_snakemake_patterns():
    """Rules pass wildcard patterns through the builders unchanged."""
    assert paths.lesion_fold_file("{lesion_dataset}", paths.MODEL_PATTERN, "{fold}",
                                  "model.pt") == (
        "results/lesion/{lesion_dataset}/{classifier_mask}-{symmetry_mask}/fold{fold}/model.pt")
    assert paths.cams_file("{mask}", "{dataset}") == "results/cams/{mask}/{dataset}.npy"
    assert paths.table_file("{table}", "html") == "results/tables/{table}.html"
    assert paths.figure_file("heatmap_{lesion_dataset}") == \
        "results/figures/heatmap_{lesion_dataset}.png"
    assert paths.cache_files("symderm") == {"images": "results/cache/symderm/images.npy",
                                            "index": "results/cache/symderm/index.csv"}
    assert paths.hpo_file("lesion", "best.json") == "results/hpo/lesion/best.json"


# ---- the segmenter axis and the per-model search (issue 25) ----------------------------------
@pytest.mark.parametrize("segmenter", [None, "unet", "fpn"])
@pytest.mark.parametrize("search", ["shared", "per_model"])
def test_segmenter_and_search_folders_round_trip(segmenter, search):
    model = Model("lae", "seg", segmenter, search)
    path = paths.lesion_fold_file("ham10000", model, Fold(1), "predictions_val.csv")
    folders = "/".join(f for f in (segmenter, "per_model" if search == "per_model" else None)
                       if f)
    assert path == ("results/lesion/ham10000/lae-seg/" + (folders + "/" if folders else "")
                    + "fold1/predictions_val.csv")
    k = paths.parse_result_path(path)
    assert (k["model"], k["fold"], k["split"]) == (11, 1, "val")
    assert k.get("segmenter") == segmenter
    assert k.get("search") == ("per_model" if search == "per_model" else None)
    variant = SymmetryVariant(True, "seg", segmenter, search)
    k = paths.parse_result_path(paths.symmetry_file(variant, 0, "predictions_test.csv"))
    assert (k["variant"], k.get("segmenter"), k["model"]) == ("pretrained-seg", segmenter, 3)
    assert paths.lesion_localisation_file("ham10000", model) == \
        f"{paths.lesion_dir('ham10000', model)}/localisation.csv"


def test_masks_and_cams_of_a_segmenter():
    assert paths.predicted_masks("symderm") == "results/masks/symderm.npy"
    assert paths.predicted_masks("symderm", "fpn") == "results/masks/fpn/symderm.npy"
    assert paths.cams_file("seg", "ham10000") == "results/cams/seg/ham10000.npy"
    variant = SymmetryVariant(True, "seg", "fpn", "per_model")
    assert paths.cams_file(variant, "ham10000") == "results/cams/seg/fpn/per_model/ham10000.npy"
    assert paths.cams_file(SymmetryVariant(False, "none"), "isic2019") == \
        "results/cams/none/isic2019.npy"
    from selcn.grid import Shape

    assert paths.model_pattern(Shape(True, True)) == \
        "{classifier_mask}-{symmetry_mask}/{segmenter}/{search}"
    assert paths.variant_pattern(Shape(False, True)) == "{variant}/{search}"
    assert paths.cams_file(paths.cams_pattern(Shape(True)), "{dataset}") == \
        "results/cams/{mask}/{segmenter}/{dataset}.npy"
    assert paths.model_pattern() == paths.MODEL_PATTERN
