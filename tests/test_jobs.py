"""The file maps of the rules (selcn.jobs), without Snakemake: what each job reads and writes."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selcn.config import ConfigError, validate_config
from selcn.grid import Fold, Model, SymmetryVariant
from selcn.jobs import LOCALISATION_DATASET, ExportSelection, Jobs

REPO = Path(__file__).resolve().parents[1]


def _config(name: str, **overrides) -> dict:
    raw = yaml.safe_load((REPO / "config" / name).read_text())
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    return validate_config(raw)


@pytest.fixture(scope="module")
def demo() -> Jobs:
    """The demo (synthetic data, 2 folds, the full 3 x 4 grid, no pretraining)."""
    return Jobs.of(_config("config.yaml"))


@pytest.fixture(scope="module")
def paper() -> Jobs:
    """config/paper.yaml (real data paths, which do not exist here; pretrained networks)."""
    return Jobs.of(_config("paper.yaml"))


def test_the_module_imports_no_torch_no_snakemake_no_stage():
    code = ("import sys, selcn.jobs\n"
            "print(' '.join(sys.modules))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    stages = {"selcn.lesion", "selcn.symmetry", "selcn.segmentation", "selcn.classifier",
              "selcn.training", "selcn.cams", "selcn.models", "selcn.hpo.objectives"}
    assert not loaded & ({"torch", "snakemake"} | stages), sorted(loaded & stages)


# ---- data ---------------------------------------------------------------------------------------
def test_data_inputs_of_symderm_and_isic2019_include_ham10000_metadata(demo):
    ham_csv = "results/data/HAM10000/HAM10000_metadata.csv"
    for d in ("symderm", "isic2019"):
        inputs = demo.cache_inputs(d)
        assert inputs["ham_metadata"] == ham_csv
        assert all(v.endswith(".csv") for v in inputs.values())     # synthetic: the CSVs only
        assert demo.split_inputs(d) == {"index": f"results/cache/{d}/index.csv",
                                        "ham_splits": "results/splits/ham10000.csv"}
    assert demo.cache_inputs("ham10000") == {"metadata": ham_csv}
    assert "ham_metadata" not in demo.cache_inputs("isic2016")
    assert demo.split_inputs("isic2016") == {"index": "results/cache/isic2016/index.csv"}
    assert (demo.folds_of("symderm"), demo.folds_of("ham10000")) == (2, 2)


def test_real_data_inputs_are_the_files_found(tmp_path, capsys):
    meta = tmp_path / "meta.csv"
    meta.write_text("x\n")
    (tmp_path / "part1").mkdir()
    cfg = _config("paper.yaml")
    cfg["data"]["ham10000"] = {"metadata": str(meta),
                               "image_dirs": [str(tmp_path / "part1"), str(tmp_path / "part2")],
                               "mask_dir": str(tmp_path / "masks")}
    jobs = Jobs.of(cfg)
    assert jobs.data_files("ham10000") == {"metadata": str(meta),
                                           "image_dirs0": str(tmp_path / "part1")}
    assert jobs.cache_inputs("symderm") == {"ham_metadata": str(meta)}   # SymDerm: none found
    jobs.data_files("ham10000")
    err = capsys.readouterr().err
    assert err.count("data.ham10000: 2 path(s) not found") == 1          # warned once
    assert "data.symderm: 3 path(s) not found" in err
    assert jobs.hair_removal_figure_inputs() == {
        "metadata": str(meta), "image_dirs0": str(tmp_path / "part1"),
        "index": "results/cache/ham10000/index.csv"}


# ---- weights and hyper-parameter search ---------------------------------------------------------
def test_weights_of_the_pretrained_networks(paper, demo):
    assert paper.pretrained_weights("lesion") == ["resources/weights/efficientnet_b4.pth"]
    assert paper.pretrained_weights("symmetry", "resnet34") == ["resources/weights/resnet34.pth"]
    assert len(paper.weight_files()) == len(paper.weights) == 6
    assert demo.weight_files() == [] and demo.pretrained_weights("lesion") == []
    seg = paper.segmentation_training_inputs()
    assert seg["weights"] == ["resources/weights/smp-resnet34.pth"] and seg["hpo"] == []
    assert {"images", "index", "gt_masks", "splits"} <= set(seg)


def test_hpo_inputs():
    jobs = Jobs.of(_config("config.yaml", hpo={"enabled": True}))
    assert jobs.hpo_searches() == ["segmentation", "symmetry", "lesion-ham10000",
                                   "lesion-isic2016"]
    assert jobs.hpo_search_inputs("segmentation") == jobs.segmentation_data()
    assert jobs.segmentation_data()["gt_masks"] == "results/cache/ham10000/gt_masks.npy"
    assert jobs.hpo_symmetry_mask() == "none"
    assert jobs.hpo_search_inputs("symmetry") == {
        "images": "results/cache/symderm/images.npy", "index": "results/cache/symderm/index.csv",
        "splits": "results/splits/symderm.csv"}
    assert jobs.hpo_search_inputs("lesion-isic2016") == {
        "images": "results/cache/isic2016/images.npy",
        "index": "results/cache/isic2016/index.csv", "splits": "results/splits/isic2016.csv"}
    # every training job reads its search's result
    assert jobs.lesion_training_inputs("isic2016", Model("none", "off"))["hpo"] == \
        "results/hpo/lesion-isic2016/best.json"
    assert jobs.symmetry_training_inputs(SymmetryVariant(False, "seg"))["hpo"] == \
        "results/hpo/symmetry/best.json"
    assert jobs.segmentation_training_inputs()["hpo"] == "results/hpo/segmentation/best.json"
    masked = Jobs.of(_config("config.yaml", hpo={"enabled": True},
                             symmetry={"masks": ["seg", "lae"]},
                             lesion={"symmetry_masks": ["off", "seg"]}))
    assert masked.hpo_symmetry_mask() == "seg"
    assert masked.hpo_search_inputs("symmetry")["masks"] == "results/masks/symderm.npy"


def test_no_hpo_input_without_the_search(demo):
    assert demo.hpo_best("lesion", "ham10000") == []
    assert "hpo" not in demo.lesion_training_inputs("ham10000", Model("none", "off"))
    assert "hpo" not in demo.symmetry_training_inputs(SymmetryVariant(False, "none"))


# ---- segmentation and symmetry ------------------------------------------------------------------
def test_segmentation_maps(demo):
    assert demo.segmentation_metrics_files() == ["results/segmentation/deeplabv3plus/"
                                                 "metrics_test.csv",
                                                 "results/segmentation/unet/metrics_test.csv"]
    assert demo.mask_prediction_inputs("isic2019") == {
        "images": "results/cache/isic2019/images.npy",
        "selected": "results/segmentation/selected.json",
        "models": ["results/segmentation/deeplabv3plus/model.pt",
                   "results/segmentation/unet/model.pt"]}
    assert demo.segmentation_figure_inputs()["masks"] == "results/masks/ham10000.npy"


def test_symmetry_training_inputs(paper, demo):
    masked = paper.symmetry_training_inputs(SymmetryVariant(True, "lae"))
    assert masked["masks"] == "results/masks/symderm.npy"
    assert masked["weights"] == ["resources/weights/squeezenet1_0.pth"]
    plain = demo.symmetry_training_inputs(SymmetryVariant(False, "none"))
    assert set(plain) == {"images", "index", "splits"}
    arch = paper.symmetry_arch_training_inputs("resnet34")
    assert "masks" not in arch and arch["weights"] == ["resources/weights/resnet34.pth"]
    assert paper.symmetry_selection_files("pretrained-seg") == [
        f"results/symmetry/pretrained-seg/fold{k}/predictions_val.csv" for k in range(3)]
    thesis = Jobs.of(_config("paper.yaml", protocol="thesis"))
    assert thesis.symmetry_selection_files("pretrained-seg")[0].endswith("predictions_test.csv")


def test_symmetry_cams_and_localisation(demo):
    none = demo.symmetry_cams_inputs("none")
    assert none["best"] == "results/symmetry/scratch-none/best_fold.json"
    assert none["models"] == [f"results/symmetry/scratch-none/fold{k}/model.pt" for k in (0, 1)]
    assert not [k for k in none if k.startswith("masks_")]
    seg = demo.symmetry_cams_inputs("seg")
    assert [k for k in seg if k.startswith("masks_")] == ["masks_ham10000", "masks_isic2019",
                                                          "masks_isic2016"]
    assert demo.symmetry_cams_outputs("lae") == {
        f"cams_{d}": f"results/cams/lae/{d}.npy" for d in ("ham10000", "isic2019", "isic2016")}
    loc = demo.symmetry_localisation_inputs(SymmetryVariant(False, "lae"))
    assert loc["gt_masks"] == f"results/cache/{LOCALISATION_DATASET}/gt_masks.npy"
    assert loc["masks"] == "results/masks/ham10000.npy"
    assert loc["best"] == "results/symmetry/scratch-lae/best_fold.json"


def test_symmetry_figure_and_report_files(demo, paper):
    fig = demo.symmetry_figure_inputs()
    assert fig["masks"] == "results/masks/symderm.npy"
    assert [k for k in fig if k.startswith("best_")] == ["best_none", "best_seg", "best_lae"]
    assert demo.symmetry_figure_variants() == {"none": "scratch-none", "seg": "scratch-seg",
                                               "lae": "scratch-lae"}
    assert paper.symmetry_figure_variants()["seg"] == "pretrained-seg"
    assert len(paper.symmetry_prediction_files("val")) == 4 * 3       # variants x folds
    arch = paper.symmetry_arch_prediction_files("test")
    # the stage's own architecture reads its Table 6 variant (the same training)
    assert "results/symmetry/pretrained-none/fold0/predictions_test.csv" in arch
    assert "results/symmetry_arch/resnet34/fold2/predictions_test.csv" in arch
    assert not [p for p in arch if "symmetry_arch/squeezenet1_0" in p]
    assert paper.symmetry_localisation_files() == [
        f"results/symmetry/pretrained-{m}/localisation_ham10000.csv"
        for m in ("none", "seg", "lae")]


# ---- lesion -------------------------------------------------------------------------------------
def test_a_masked_model_reads_the_predicted_masks(demo):
    inputs = demo.lesion_training_inputs("isic2016", Model("seg", "off"))
    assert inputs == {"images": "results/cache/isic2016/images.npy",
                      "index": "results/cache/isic2016/index.csv",
                      "splits": "results/splits/isic2016.csv",
                      "masks": "results/masks/isic2016.npy"}


def test_a_cam_model_reads_the_cams_of_its_source(demo):
    inputs = demo.lesion_training_inputs("isic2016", Model("none", "lae"))
    assert inputs["cams"] == "results/cams/lae/isic2016.npy" and "masks" not in inputs


def test_ham10000_models_read_and_predict_the_external_set(demo):
    model = Model("lae", "seg")
    inputs = demo.lesion_training_inputs("ham10000", model)
    assert {k: v for k, v in inputs.items() if k.startswith("ext_")} == {
        "ext_images": "results/cache/isic2019/images.npy",
        "ext_index": "results/cache/isic2019/index.csv",
        "ext_splits": "results/splits/isic2019.csv",
        "ext_masks": "results/masks/isic2019.npy",
        "ext_cams": "results/cams/seg/isic2019.npy"}
    assert list(inputs)[:5] == ["images", "index", "splits", "masks", "cams"]
    out = demo.lesion_training_outputs("ham10000")
    pattern = "results/lesion/{lesion_dataset}/{classifier_mask}-{symmetry_mask}/fold{fold}/"
    assert out == {"model": pattern + "model.pt", "history": pattern + "history.csv",
                   "predictions_val": pattern + "predictions_val.csv",
                   "predictions_test": pattern + "predictions_test.csv",
                   "predictions_external": pattern + "predictions_isic2019.csv"}
    assert "predictions_external" not in demo.lesion_training_outputs("isic2016")
    assert not [k for k in demo.lesion_training_inputs("isic2016", model) if k.startswith("ext_")]
    assert (demo.external_of("ham10000"), demo.external_of("isic2016")) == ("isic2019", None)
    no_isic2019 = Jobs.of(_config("config.yaml", data={"isic2019": None}))
    assert "predictions_external" not in no_isic2019.lesion_training_outputs("ham10000")
    assert not [k for k in no_isic2019.lesion_training_inputs("ham10000", model)
                if k.startswith("ext_")]


def test_localisation_inputs_per_lesion_dataset(demo):
    model = Model("seg", "lae")
    inputs = demo.lesion_localisation_inputs(model)
    # every dataset's model is localised on HAM10000, with HAM10000's masks and CAMs
    assert inputs["gt_masks"] == "results/cache/ham10000/gt_masks.npy"
    assert (inputs["masks"], inputs["cams"]) == ("results/masks/ham10000.npy",
                                                 "results/cams/lae/ham10000.npy")
    for d in ("ham10000", "isic2016"):
        assert inputs[f"models_{d}"] == [f"results/lesion/{d}/seg-lae/fold{k}/model.pt"
                                         for k in (0, 1)]
        assert inputs[f"predictions_{d}"] == [
            f"results/lesion/{d}/seg-lae/fold{k}/predictions_val.csv" for k in (0, 1)]
    assert demo.lesion_localisation_outputs(model) == {
        "localisation_ham10000": "results/lesion/ham10000/seg-lae/localisation.csv",
        "best_ham10000": "results/lesion/ham10000/seg-lae/best_fold.json",
        "localisation_isic2016": "results/lesion/isic2016/seg-lae/localisation.csv",
        "best_isic2016": "results/lesion/isic2016/seg-lae/best_fold.json"}
    assert set(demo.lesion_localisation_inputs(Model("none", "off"))) == {
        "images", "index", "splits", "gt_masks", "models_ham10000", "predictions_ham10000",
        "models_isic2016", "predictions_isic2016"}
    thesis = Jobs.of(_config("config.yaml", protocol="thesis"))
    assert thesis.lesion_localisation_inputs(model)["predictions_isic2016"][0].endswith(
        "predictions_test.csv")


def test_lesion_figure_and_report_files(demo):
    fig = demo.lesion_figure_inputs()
    assert [k for k in fig if k.startswith("cams_")] == ["cams_none", "cams_seg", "cams_lae"]
    assert len(fig["best"]) == 12 and len(fig["models"]) == 12 * 2
    assert fig["models"][:2] == [f"results/lesion/ham10000/none-off/fold{k}/model.pt"
                                 for k in (0, 1)]
    assert demo.model_names()[:3] == ["none-off", "none-none", "none-seg"]
    files = demo.lesion_prediction_files("ham10000", "isic2019")
    assert len(files) == 24 and files[-1] == \
        "results/lesion/ham10000/lae-lae/fold1/predictions_isic2019.csv"
    assert demo.lesion_localisation_files("isic2016")[7] == \
        "results/lesion/isic2016/seg-lae/localisation.csv"
    assert demo.lesion_history_files("ham10000")[0] == \
        "results/lesion/ham10000/none-off/fold0/history.csv"
    assert demo.lesion_history_files("ham10000", Fold(1))[0].endswith("fold1/history.csv")
    assert demo.lesion_model_files("ham10000", Model.of_number(3), "predictions_test.csv") == [
        f"results/lesion/ham10000/none-seg/fold{k}/predictions_test.csv" for k in (0, 1)]


# ---- export -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, name, number", [("best", "best", None), ("model3", "model3", 3),
                                                (3, "model3", 3), ("12", "model12", 12)])
def test_export_selection(text, name, number):
    sel = ExportSelection.parse(text)
    assert sel.name == str(sel) == name
    assert (sel.model.number if sel.model else None) == number


@pytest.mark.parametrize("bad", ["model13", "worst", "model", "0"])
def test_export_selection_rejects(bad):
    with pytest.raises(ValueError):
        ExportSelection.parse(bad)


def test_export_inputs_of_best_and_of_one_model(demo):
    best = demo.export_inputs("ham10000", ExportSelection.parse("best"))
    assert [k for k in best if k.endswith("_folds")] == [f"model{n}_folds" for n in range(1, 13)]
    assert [k for k in best if k.startswith("symmetry_")] == [
        f"symmetry_{s}_{x}" for s in ("lae", "none", "seg") for x in ("best", "models")]
    assert best["selected"] == "results/segmentation/selected.json"
    assert len(best["segmentation"]) == 2
    three = demo.export_inputs("isic2016", ExportSelection.parse("model3"))
    assert three["model3_folds"] == [f"results/lesion/isic2016/none-seg/fold{k}/model.pt"
                                     for k in (0, 1)]
    assert three["model3_val"][0] == "results/lesion/isic2016/none-seg/fold0/predictions_val.csv"
    assert three["symmetry_seg_best"] == "results/symmetry/scratch-seg/best_fold.json"
    assert set(three) == {"selected", "segmentation", "model3_folds", "model3_val",
                          "symmetry_seg_best", "symmetry_seg_models"}
    one = demo.export_inputs("ham10000", ExportSelection.parse("model1"))     # no CAM
    assert not [k for k in one if k.startswith("symmetry_")]


def test_export_targets_and_models(demo):
    assert demo.export_targets() == ["results/export/ham10000/best",
                                     "results/predict/ham10000/best/predictions.csv",
                                     "results/predict/ham10000/best/index.html"]
    assert demo.demo_predict() and demo.predict_enabled()
    small = Jobs.of(_config("config.yaml", lesion={"classifier_masks": ["lae"]},
                            export={"model": 9, "dataset": "isic2016"}))
    assert small.export_targets() == ["results/export/isic2016/model9",
                                      "results/predict/isic2016/model9/predictions.csv",
                                      "results/predict/isic2016/model9/index.html"]
    assert small.export_models(ExportSelection.parse("best")) == small.grid.models()
    with pytest.raises(ConfigError, match="export.model: lesion model 3 is not in"):
        small.export_models(ExportSelection.parse("model3"))
    with pytest.raises(ConfigError, match="export.dataset"):
        Jobs.of(_config("config.yaml", lesion={"datasets": ["isic2016"]},
                        export={"dataset": "ham10000"})).export_targets()
    assert Jobs.of(_config("config.yaml", export={"enabled": False})).export_targets() == []


def test_a_real_data_config_plans_no_demo_prediction(paper):
    assert not paper.demo_predict()
    assert paper.predict_enabled() == (bool(paper.cfg["predict"]["input_dir"])
                                       and not paper.cfg["predict"]["demo_images"])


# ---- the segmenter axis and the per-model search (issue 25) ----------------------------------
@pytest.fixture(scope="module")
def axis() -> Jobs:
    """The demo with two segmenters as an axis."""
    return Jobs.of(_config("config.yaml", segmentation={"mode": "axis",
                                                        "architectures": ["unet", "fpn"]}))


@pytest.fixture(scope="module")
def per_model() -> Jobs:
    """The demo with the search on, one per model."""
    return Jobs.of(_config("config.yaml", hpo={"enabled": True, "scope": "per_model"}))


def test_a_segmenters_models_read_its_own_masks_and_cams(axis):
    m = Model("seg", "lae", "fpn")
    inputs = axis.lesion_training_inputs("ham10000", m)
    assert inputs["masks"] == "results/masks/fpn/ham10000.npy"
    assert inputs["cams"] == "results/cams/lae/fpn/ham10000.npy"
    assert inputs["ext_masks"] == "results/masks/fpn/isic2019.npy"
    # model 6: its input is fpn's, its CAMs those of the unmasked symmetry variant
    assert axis.lesion_data("ham10000", Model("seg", "none", "fpn"))["cams"] == \
        "results/cams/none/ham10000.npy"
    out = axis.lesion_training_outputs("ham10000", m.shape)
    assert out["model"] == ("results/lesion/{lesion_dataset}/{classifier_mask}-{symmetry_mask}/"
                            "{segmenter}/fold{fold}/model.pt")
    assert axis.mask_prediction_inputs("symderm", "fpn") == {
        "images": "results/cache/symderm/images.npy",
        "models": ["results/segmentation/fpn/model.pt"]}
    assert axis.mask_prediction_output() == "results/masks/{segmenter}/{dataset}.npy"
    assert axis.segmentation_selection_files() == ["results/segmentation/unet/metrics_test.csv"]
    sym = axis.symmetry_training_inputs(SymmetryVariant(False, "seg", "fpn"))
    assert sym["masks"] == "results/masks/fpn/symderm.npy"
    cams = axis.symmetry_cams_inputs(SymmetryVariant(False, "lae", "fpn"))
    assert cams["best"] == "results/symmetry/scratch-lae/fpn/best_fold.json"
    assert cams["masks_isic2016"] == "results/masks/fpn/isic2016.npy"
    # what the thesis' tables and figures read: the first segmenter's (unet)
    assert axis.lesion_prediction_files("ham10000", "test")[-1] == \
        "results/lesion/ham10000/lae-lae/unet/fold1/predictions_test.csv"
    assert axis.segmentation_figure_inputs()["masks"] == "results/masks/unet/ham10000.npy"
    assert axis.symmetry_localisation_files()[1] == \
        "results/symmetry/scratch-seg/unet/localisation_ham10000.csv"
    assert axis.export_inputs("ham10000", ExportSelection())["symmetry_lae_best"] == \
        "results/symmetry/scratch-lae/unet/best_fold.json"
    # the segmenter table: every segmenter's metrics and its models' test predictions
    files = axis.segmenter_effect_files("ham10000")
    assert files[:2] == ["results/segmentation/unet/metrics_test.csv",
                         "results/segmentation/fpn/metrics_test.csv"]
    assert len(files) == 2 + 10 * 2 * 2                     # models 3-12 x 2 segmenters x 2 folds
    assert axis.lesion_constraints(axis.grid.trained_models(m.shape)) == {
        "classifier_mask": "none|seg|lae", "symmetry_mask": "seg|lae|off|none",
        "segmenter": "unet|fpn"}


def test_the_default_has_no_axis_and_no_copies(demo):
    assert demo.segmenter_effect_files("ham10000") == []
    assert demo.segmentation_selection_files() == demo.segmentation_metrics_files()
    assert demo.mask_prediction_output() == "results/masks/{dataset}.npy"
    assert demo.grid.trained_models() == demo.grid.models()
    assert demo.lesion_constraints(demo.grid.models()) == {
        "classifier_mask": "none|seg|lae", "symmetry_mask": "off|none|seg|lae"}


def test_per_model_searches_and_what_each_training_reads(per_model):
    names = per_model.hpo_searches()
    assert names[:4] == ["segmentation", "symmetry", "lesion-ham10000", "lesion-isic2016"]
    assert [n for n in names if n.startswith("symmetry")] == ["symmetry", "symmetry-seg",
                                                              "symmetry-lae"]
    for d in ("ham10000", "isic2016"):                      # 12 lesion searches per dataset
        assert len([n for n in names if n.startswith(f"lesion-{d}")]) == 12
    own = Model("seg", "lae", search="per_model")
    inputs = per_model.lesion_training_inputs("ham10000", own)
    assert inputs["hpo"] == "results/hpo/lesion-ham10000-seg-lae/best.json"
    assert inputs["cams"] == "results/cams/lae/per_model/ham10000.npy"
    assert per_model.lesion_training_inputs("ham10000", Model("seg", "lae"))["hpo"] == \
        "results/hpo/lesion-ham10000/best.json"                  # the shared copy: as today
    assert per_model.symmetry_training_inputs(
        SymmetryVariant(False, "seg", search="per_model"))["hpo"] == \
        "results/hpo/symmetry-seg/best.json"
    # a per-model search reads its cell's own inputs (its masks, its per-model CAMs)
    assert per_model.hpo_search_inputs("lesion-ham10000-none-lae") == {
        "images": "results/cache/ham10000/images.npy",
        "index": "results/cache/ham10000/index.csv", "splits": "results/splits/ham10000.csv",
        "cams": "results/cams/lae/per_model/ham10000.npy"}
    assert per_model.hpo_search_inputs("symmetry-lae")["masks"] == "results/masks/symderm.npy"
    comparison = per_model.search_comparison_inputs("isic2016")
    assert len(comparison["predictions"]) == (12 + 11) * 2 * 2   # models x splits x folds
    assert comparison["searches"][0] == "results/hpo/lesion-isic2016/best.json"
    assert len(comparison["searches"]) == 12 and comparison["splits"].endswith("isic2016.csv")


def test_axis_and_per_model_searches_name_the_segmenter():
    jobs = Jobs.of(_config("config.yaml", hpo={"enabled": True, "scope": "per_model"},
                           segmentation={"mode": "axis", "architectures": ["unet", "fpn"]}))
    names = jobs.hpo_searches()
    assert [n for n in names if n.startswith("symmetry")] == [
        "symmetry", "symmetry-seg-unet", "symmetry-seg-fpn", "symmetry-lae-unet",
        "symmetry-lae-fpn"]                                      # 1 + 2 S
    assert len([n for n in names if n.startswith("lesion-ham10000")]) == 2 + 10 * 2
    inputs = jobs.hpo_search_inputs("lesion-ham10000-seg-seg-fpn")
    assert (inputs["masks"], inputs["cams"]) == ("results/masks/fpn/ham10000.npy",
                                                 "results/cams/seg/fpn/per_model/ham10000.npy")
