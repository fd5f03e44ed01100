"""PH² as a first-class dataset (issue 20): the reader of the published layout (on the real
40-case sample in ../shared/data/ph2-sample when present, and on the synthetic writer's
layout), check_data, the three PH² datasets and their label sets, the dataset roles of the
grid, the results folder of a config, SymDerm's PH² images kept out of symmetry training, the
validation macro-F1 of a bundle over the dataset's own classes, the thesis' numbers never
beside a PH² table, and (slow) a short real-data run of config/ph2.yaml's segmentation."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import PH2_SAMPLE, SHORT_TRAIN, TINY_SYNTHETIC, run_snakemake
from selcn import paths
from selcn.config import ConfigError, validate_config
from selcn.data.check import CheckOptions, check_data
from selcn.data.labels import PH2_CLASSES, SYMMETRY_CLASSES, classes
from selcn.data.readers import DataFormatError, read_dataset, read_ph2, read_ph2_sheet
from selcn.data.splits import LeakageError, check_ph2_pairs, exclude_ph2_test_images
from selcn.data.synthetic import ImageSpec, dataset_paths, write_ph2
from selcn.data.synthetic.writers import _write_ph2_sheet
from selcn.export import validation_metrics
from selcn.grid import grid
from selcn.jobs import Jobs
from selcn.predictions import write_predictions
from selcn.report.registry import reference_table, table_labels, table_title

REPO = Path(__file__).resolve().parents[1]
SAMPLE = PH2_SAMPLE
needs_sample = pytest.mark.skipif(
    not (SAMPLE / "PH2_dataset.xlsx").is_file(),
    reason=f"the real PH2 sample is not here ({SAMPLE}): the PH2 tests on real images need "
           "../shared/data/ph2-sample (the project's shared data; not part of a clone)")


def _sample_paths() -> dict:
    return {"xlsx": str(SAMPLE / "PH2_dataset.xlsx"),
            "images_root": str(SAMPLE / "PH2 Dataset images")}


def _config(name: str, **overrides) -> dict:
    raw = yaml.safe_load((REPO / "config" / name).read_text())
    raw.update(overrides)
    return validate_config(raw)


# ---- the reader ------------------------------------------------------------------------------
@needs_sample
def test_the_real_sample_reads_as_published():
    table = read_ph2(**_sample_paths())
    assert len(table) == 40 and table["group"].tolist() == table["image_id"].tolist()
    assert table["label"].value_counts().to_dict() == {"common_nevus": 16, "atypical_nevus": 16,
                                                       "melanoma": 8}
    assert table["asymmetry"].value_counts().sort_index().tolist() == [24, 7, 9]
    assert (table["symderm_label"] == 2 - table["asymmetry"]).all()
    assert [classes("ph2")[t] for t in table["target"]] == table["label"].tolist()
    first = table.iloc[0]
    assert first["path"].endswith(f"{first.image_id}_Dermoscopic_Image/{first.image_id}.bmp")
    assert first["mask_path"].endswith(f"{first.image_id}_lesion/{first.image_id}_lesion.bmp")


@needs_sample
def test_the_three_label_sets_of_ph2():
    """ph2: the diagnosis; ph2_symmetry: asymmetry 2 -> asymmetric, 0 / 1 -> symmetric (as
    SymDerm's 0 -> asymmetric, 1 / 2 -> symmetric); ph2_ham: nevi -> nv, melanoma -> mel."""
    sym = read_dataset("ph2_symmetry", _sample_paths())
    assert sym["label"].value_counts().to_dict() == {"symmetric": 24 + 7, "asymmetric": 9}
    assert (sym.loc[sym["asymmetry"] == 2, "label"] == "asymmetric").all()
    assert [SYMMETRY_CLASSES[t] for t in sym["target"]] == sym["label"].tolist()
    ham = read_dataset("ph2_ham", _sample_paths())
    assert ham["label"].value_counts().to_dict() == {"nv": 32, "mel": 8}
    assert (ham.loc[ham["diagnosis"] == "melanoma", "label"] == "mel").all()
    assert [classes("ham10000")[t] for t in ham["target"]] == ham["label"].tolist()


@needs_sample
def test_check_data_covers_the_real_sample():
    cfg = validate_config({"data": {"source": "files", "ph2": _sample_paths()}})
    result = check_data(cfg, datasets=["ph2"], options=CheckOptions(deep=True))
    (ph2,) = result.datasets
    assert result.ok, str(result)
    assert (ph2.rows, ph2.masks) == (40, 40)
    assert ph2.mask_values == {"0/1 (1-bit)": 40}          # the 1-bit masks read as {0, 1}
    assert ph2.per_class == {"common_nevus": 16, "atypical_nevus": 16, "melanoma": 8}


@needs_sample
def test_check_data_names_a_missing_ph2_image(tmp_path):
    root = tmp_path / "PH2Dataset"
    shutil.copytree(SAMPLE, root, symlinks=False)
    shutil.rmtree(root / "PH2 Dataset images" / "IMD044")
    cfg = validate_config({"data": {"source": "files", "ph2": {
        "xlsx": str(root / "PH2_dataset.xlsx"), "images_root": str(root / "PH2 Dataset images")}}})
    result = check_data(cfg, datasets=["ph2"])
    assert not result.ok and result.datasets[0].rows == 39
    assert "'IMD044' (row 14)" in result.datasets[0].missing[0]


def _sheet(tmp_path, rows) -> Path:
    path = tmp_path / "PH2_dataset.xlsx"
    _write_ph2_sheet(path, rows)
    return path


def test_the_sheet_refuses_a_diagnosis_that_is_not_one_x(tmp_path):
    import openpyxl

    path = _sheet(tmp_path, [("IMD001", "melanoma", 2), ("IMD002", "common_nevus", 0)])
    book = openpyxl.load_workbook(path)
    book.active.cell(15, 4, "X")                           # IMD002: common and atypical
    book.save(path)
    with pytest.raises(DataFormatError, match=r"row 15 \(image 'IMD002'\).*exactly one.*found 2"):
        read_ph2_sheet(path)
    book.active.cell(15, 3).value = None
    book.active.cell(15, 4).value = None                   # IMD002: no diagnosis
    book.save(path)
    with pytest.raises(DataFormatError, match=r"row 15 .*found 0"):
        read_ph2_sheet(path)


def test_the_sheet_refuses_bad_asymmetry_duplicates_and_a_missing_header(tmp_path):
    with pytest.raises(DataFormatError, match=r"row 14 \(image 'IMD001'\): field 'Asymmetry'"):
        read_ph2_sheet(_sheet(tmp_path, [("IMD001", "melanoma", 3)]))
    with pytest.raises(DataFormatError, match=r"duplicate image id 'IMD001'.*rows 14, 15"):
        read_ph2_sheet(_sheet(tmp_path, [("IMD001", "melanoma", 2), ("IMD001", "melanoma", 1)]))
    import openpyxl

    path = _sheet(tmp_path, [("IMD001", "melanoma", 2)])
    book = openpyxl.load_workbook(path)
    book.active.cell(13, 1, "Image")
    book.save(path)
    with pytest.raises(DataFormatError, match="no header row with 'Image Name'"):
        read_ph2_sheet(path)


def test_the_synthetic_writer_writes_the_published_layout(tmp_path):
    p = dataset_paths(tmp_path)["ph2"]
    summary = write_ph2(**p, spec=ImageSpec(seed=3, width=120, height=90), n=10)
    assert summary["classes"] == {"common_nevus": 4, "atypical_nevus": 4, "melanoma": 2}
    table = read_ph2(**p)
    assert len(table) == 10 and set(table["label"]) == set(PH2_CLASSES)
    assert table["asymmetry"].value_counts().to_dict() == {
        a: n for a, n in summary["asymmetry"].items() if n}
    cfg = validate_config({"data": {"source": "files", "ph2": p}})
    result = check_data(cfg, datasets=["ph2"], options=CheckOptions(deep=True))
    assert result.ok and result.datasets[0].mask_values == {"0/1 (1-bit)": 10}, str(result)


# ---- roles -----------------------------------------------------------------------------------
def test_the_ph2_config_gives_ph2_every_role():
    g = grid(_config("ph2.yaml"))
    assert (g.segmentation_dataset, g.symmetry_dataset, g.localisation_dataset) == (
        "ph2", "ph2_symmetry", "ph2")
    assert g.lesion_datasets == ("ph2",) and g.external == ()
    assert g.datasets == ("ph2", "ph2_symmetry") and g.cam_datasets == ("ph2",)


def test_the_default_roles_are_the_thesis():
    g = grid(_config("config.yaml"))
    assert (g.segmentation_dataset, g.symmetry_dataset, g.localisation_dataset) == (
        "ham10000", "symderm", "ham10000")
    assert g.external_of == {"ham10000": "isic2019"}
    assert g.datasets == ("ham10000", "symderm", "isic2019", "isic2016")


def test_a_role_without_what_it_needs_is_an_error_naming_the_key():
    cfg = _config("config.yaml")
    with pytest.raises(ConfigError, match=r"roles.segmentation: 'isic2019' cannot serve.*masks"):
        grid({**cfg, "roles": {"segmentation": "isic2019"}})
    with pytest.raises(ConfigError, match=r"roles.symmetry: 'ham10000' cannot serve.*symmetry"):
        grid({**cfg, "roles": {"symmetry": "ham10000"}})
    with pytest.raises(ConfigError, match=r"roles.localisation names 'ph2' but data.ph2 is null"):
        grid({**cfg, "roles": {"localisation": "ph2"}, "data": {**cfg["data"], "ph2": None}})
    with pytest.raises(ConfigError, match="roles.segmentation"):
        validate_config({"roles": {"segmentation": "isic2016"}})     # the schema's enum


def test_ph2_as_the_external_test_set_of_the_ham10000_models():
    cfg = _config("config.yaml", roles={"external": {"ham10000": "ph2"}})
    jobs = Jobs.of(cfg)
    assert jobs.external_of("ham10000") == "ph2_ham"
    from selcn.grid import Model

    inputs = jobs.lesion_training_inputs("ham10000", Model("seg", "seg"))
    assert inputs["ext_index"] == "results/cache/ph2_ham/index.csv"
    assert inputs["ext_cams"] == "results/cams/seg/ph2_ham.npy"
    assert jobs.lesion_training_outputs("ham10000")["predictions_external"].endswith(
        "predictions_ph2_ham.csv")
    # SymDerm's PH² images must not train the symmetry network: its split job reads PH²'s
    assert jobs.split_inputs("symderm")["ph2_splits"] == ["results/splits/ph2_ham.csv"]
    no_ph2 = Jobs.of(_config("paper.yaml"))                # paper.yaml: data.ph2 null
    assert no_ph2.external_of("ham10000") == "isic2019"
    assert "ph2_splits" not in no_ph2.split_inputs("symderm")


def test_the_ph2_jobs_read_the_roles_datasets_and_write_under_results_ph2():
    jobs = Jobs.of(_config("ph2.yaml"))
    assert jobs.segmentation_data()["gt_masks"] == "results_ph2/cache/ph2/gt_masks.npy"
    from selcn.grid import Model, SymmetryVariant

    sym = jobs.symmetry_training_inputs(SymmetryVariant(False, "seg"))
    assert sym["index"] == "results_ph2/cache/ph2_symmetry/index.csv"
    assert sym["masks"] == "results_ph2/masks/ph2_symmetry.npy"
    assert jobs.folds_of("ph2_symmetry") == 2 and jobs.folds_of("ph2") == 2
    loc = jobs.lesion_localisation_inputs(Model("none", "seg"))
    assert loc["gt_masks"] == "results_ph2/cache/ph2/gt_masks.npy"
    assert jobs.symmetry_localisation_output("scratch-seg") == \
        "results_ph2/symmetry/scratch-seg/localisation_ph2.csv"
    assert jobs.training_checks() == ["results_ph2/splits/leakage_check.json",
                                      "results_ph2/data_check.csv"]
    assert jobs.check_splits_inputs() == {"splits": ["results_ph2/splits/ph2.csv",
                                                     "results_ph2/splits/ph2_symmetry.csv"]}
    assert jobs.lesion_model_files("ph2", Model("none", "off"), "model.pt")[0] == \
        "results_ph2/lesion/ph2/none-off/fold0/model.pt"
    # another config's maps in the same process keep their own folder
    assert Jobs.of(_config("config.yaml")).segmentation_data()["gt_masks"] == \
        "results/cache/ham10000/gt_masks.npy"
    assert paths.results_dir() == "results"


def test_results_dir_must_stay_inside_the_working_directory():
    for bad in ("/tmp/x", "../elsewhere"):
        with pytest.raises(ConfigError, match="results_dir"):
            validate_config({"results_dir": bad})
    with pytest.raises(ConfigError, match="'predict.input_dir'.*results_ph2"):
        validate_config({"results_dir": "results_ph2", "predict": {"input_dir": "results_ph2/x"}})


def test_the_ph2_config_does_not_inherit_the_demo(tmp_path):
    """`--configfile config/ph2.yaml` reads no key of config/config.yaml (the demo): every job
    writes under results_ph2/, no synthetic data, no demo prediction."""
    run = run_snakemake(tmp_path, "-n", "--forceall", "--configfile",
                        str(REPO / "config" / "ph2.yaml"), timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "synthetic_data" not in out and "predict_demo_images" not in out
    assert "train_lesion_ph2" in out and "results_ph2/tables/table8_lesion_test_ph2.html" in out
    outputs = [line.split("output:")[1] for line in out.splitlines() if "output:" in line]
    assert outputs and all(o.strip().startswith("results_ph2/") for o in outputs), outputs[:3]


# ---- SymDerm's PH² images --------------------------------------------------------------------
def test_symderm_ph2_images_that_are_ph2_test_images_are_excluded():
    symderm = pd.DataFrame({"image_id": ["IMD001", "IMD002", "ISIC_0000001", "IMD003"],
                            "split": ["fold0", "test", "fold1", "fold1"]})
    ph2 = pd.DataFrame({"image_id": ["IMD001", "IMD002", "IMD003"],
                        "split": ["test", "test", "fold0"]})
    with pytest.raises(LeakageError, match=r"2 row\(s\) are PH2 test images.*IMD001"):
        check_ph2_pairs(symderm, [ph2])               # the guard fails without the exclusion
    out = exclude_ph2_test_images(symderm, [ph2], log=lambda *a: None)
    assert out["split"].tolist() == ["excluded", "excluded", "fold1", "fold1"]
    assert check_ph2_pairs(out, [ph2]) == 2


# ---- classes of a bundle, references of a table ----------------------------------------------
def test_validation_macro_f1_uses_the_datasets_classes(tmp_path):
    """PH²'s 3 classes: perfect predictions of 2 present classes score 1.0 over the classes
    present in the model's dataset definition, not 2 / 7 over HAM10000's."""
    targets = np.array([0, 0, 1, 1])
    probs = np.eye(3)[targets]
    path = tmp_path / "predictions_val.csv"
    write_predictions(path, ["a", "b", "c", "d"], targets, probs, PH2_CLASSES)
    got = validation_metrics({0: path}, classes("ph2"))["mean"]
    assert got["accuracy"] == 1.0
    assert got["f1"] == pytest.approx(2 / 3)          # melanoma absent: counted 0 of 3
    with pytest.raises(ValueError, match="classes"):
        validation_metrics({0: path}, classes("ham10000"))


def test_the_thesis_numbers_are_never_beside_a_ph2_table(tmp_path):
    reference = REPO / "config" / "reference"
    ph2, demo = grid(_config("ph2.yaml")), grid(_config("config.yaml"))
    for name in ("table5_segmentation", "table6_symmetry_val", "table7_symmetry_cam_localisation"):
        assert reference_table(reference, name, demo) == str(reference / f"{name}.csv")
        assert reference_table(reference, name, ph2) == []
    assert reference_table(reference, "table8_lesion_test_ph2", ph2) == []
    assert "on PH²" in table_title("table5_segmentation", ph2)
    assert "PH² (asymmetry)" in table_title("table6_symmetry_test", ph2)
    assert table_labels("table7_symmetry_cam_localisation", ph2)["dataset"] == "PH²"
    assert table_title("table5_segmentation", demo).startswith(
        "Table 5 — Segmentation networks on HAM10000")


# ---- a short real-data run -------------------------------------------------------------------
@pytest.mark.slow
@needs_sample
def test_the_ph2_segmenter_learns_real_lesions(tmp_path):
    """config/ph2.yaml on the real 40-case sample, reduced (64 px, DeepLabV3+ only, 10 epochs):
    on the 8 held-out test images the segmenter's Dice is well above what a mask of every pixel
    scores (the best trivial mask; the empty mask scores 0)."""
    data = tmp_path / "resources" / "data"
    data.mkdir(parents=True)
    (data / "PH2Dataset").symlink_to(SAMPLE)
    raw = yaml.safe_load((REPO / "config" / "ph2.yaml").read_text())
    raw["data"]["image_size"] = 64
    raw["segmentation"].update(architectures=["deeplabv3plus"], input_size=64,
                               train={"max_epochs": 10, "patience": 10, "batch_size": 8,
                                      "lr": 1.0e-3})
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(raw))
    target = "results_ph2/segmentation/deeplabv3plus/metrics_test.csv"
    run = run_snakemake(tmp_path, target, "--cores", "2", "--configfile",
                        str(tmp_path / "small.yaml"), timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    dice = float(pd.read_csv(tmp_path / target)["dice"].iloc[0])
    gt = np.load(tmp_path / "results_ph2" / "cache" / "ph2" / "gt_masks.npy")
    splits = pd.read_csv(tmp_path / "results_ph2" / "splits" / "ph2.csv")
    index = pd.read_csv(tmp_path / "results_ph2" / "cache" / "ph2" / "index.csv")
    rows = index.set_index("image_id").loc[splits.query("split == 'test'")["image_id"], "row"]
    share = float(gt[rows.to_numpy()].mean())
    everything = 2 * share / (1 + share)                # Dice of a mask of every pixel
    assert len(rows) == 8 and dice > everything + 0.15, (dice, everything)


# ---- PH² as a further external test set of the HAM10000 models (predict_external) -----------
def _paper_with_ph2(external=("isic2019", "ph2"), **data) -> dict:
    raw = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    raw["data"]["ph2"] = {"xlsx": "resources/data/PH2Dataset/PH2_dataset.xlsx",
                          "images_root": "resources/data/PH2Dataset/PH2 Dataset images"}
    raw["data"].update(data)
    raw["roles"] = {"external": {"ham10000": list(external) if external is not None
                                 else None}}
    return validate_config(raw)


def test_a_list_of_external_sets_predicts_the_first_in_the_training_job():
    g = grid(_paper_with_ph2())
    assert g.external == (("ham10000", "isic2019"), ("ham10000", "ph2_ham"))
    assert g.external_later == (("ham10000", "ph2_ham"),)
    assert g.external_of == {"ham10000": "isic2019"}            # the training job's set
    assert g.externals_of("ham10000") == ("isic2019", "ph2_ham")
    assert g.externals_later_of("isic2016") == ()
    assert g.external_sets == ("isic2019", "ph2_ham")
    assert "ph2_ham" in g.cam_datasets and "ph2_ham" in g.datasets
    assert g.test_sets_of_ph2 == ("ph2_ham",)                   # SymDerm's PH² rows: not trained
    # the place in the list decides: without ISIC 2019's data PH² is still predicted after
    # training (the training jobs do not change when ISIC 2019 comes or goes)
    no_isic = grid(_paper_with_ph2(isic2019=None))
    assert no_isic.external == (("ham10000", "ph2_ham"),) and no_isic.external_of == {}
    assert no_isic.external_later == (("ham10000", "ph2_ham"),)
    # paper.yaml as shipped (data.ph2: null): ISIC 2019 only, as before
    paper = grid(_config("paper.yaml"))
    assert paper.external == (("ham10000", "isic2019"),) and paper.external_later == ()
    with pytest.raises(ConfigError, match=r"roles.external.ham10000"):
        validate_config({"roles": {"external": {"ham10000": ["ph2", "ph2"]}}})
    with pytest.raises(ConfigError, match=r"roles.external.ham10000"):
        validate_config({"roles": {"external": {"ham10000": []}}})


def test_adding_ph2_after_isic2019_changes_no_training_job():
    """The training jobs' inputs and outputs are those of the config without PH²; PH² adds one
    predict_external job per model x fold reading the fold's model.pt."""
    from selcn.grid import Fold, Model

    with_ph2, without = Jobs.of(_paper_with_ph2()), Jobs.of(_config("paper.yaml"))
    for model in with_ph2.grid.models():
        assert with_ph2.lesion_training_inputs("ham10000", model) == \
            without.lesion_training_inputs("ham10000", model)
    assert with_ph2.lesion_training_outputs("ham10000") == \
        without.lesion_training_outputs("ham10000")
    assert (with_ph2.external_later_sets(), without.external_later_sets()) == (("ph2_ham",), ())
    inputs = with_ph2.external_prediction_inputs("ham10000", Model("lae", "seg"), Fold(3),
                                                 "ph2_ham")
    assert inputs == {"model": "results/lesion/ham10000/lae-seg/fold3/model.pt",
                      "ext_images": "results/cache/ph2_ham/images.npy",
                      "ext_index": "results/cache/ph2_ham/index.csv",
                      "ext_splits": "results/splits/ph2_ham.csv",
                      "ext_masks": "results/masks/ph2_ham.npy",
                      "ext_cams": "results/cams/seg/ph2_ham.npy"}
    assert with_ph2.external_prediction_output().endswith(
        "{classifier_mask}-{symmetry_mask}/fold{fold}/predictions_{external}.csv")
    with pytest.raises(ValueError, match="predict no 'isic2019' after training"):
        with_ph2.external_prediction_inputs("ham10000", Model("none", "off"), Fold(0),
                                            "isic2019")
    assert len(with_ph2.external_prediction_files("ham10000", "ph2_ham")) == 48
    assert with_ph2.external_segmentation_files() == ["results/segmentation/external_ph2_ham.csv"]
    assert with_ph2.external_mask_score_inputs("ph2_ham")["gt_masks"] == \
        "results/cache/ph2_ham/gt_masks.npy"
    assert without.external_segmentation_files() == []


def test_the_report_has_tables_5_and_10_of_ph2_as_an_external_set():
    from selcn.report.registry import report_tables, table_options

    names = report_tables(grid(_paper_with_ph2()))
    assert names.index("table5_external_segmentation") == names.index("table5_segmentation") + 1
    assert names.index("table10_ph2_melanoma") == names.index("table10_isic2019") + 1
    shipped = report_tables(grid(_config("paper.yaml")))
    assert "table10_ph2_melanoma" not in shipped and "table5_external_segmentation" not in shipped
    only_ph2 = report_tables(grid(_paper_with_ph2(external=("ph2",))))   # in the training job
    assert "table10_ph2_melanoma" in only_ph2 and "table10_isic2019" not in only_ph2
    cfg = _paper_with_ph2()
    assert table_options("table10_ph2_melanoma", grid(cfg), cfg) == {
        "intervals": {"n_boot": 1000, "confidence": 0.95, "seed": 42}}
    assert table_options("table8_lesion_test", grid(cfg), cfg) == {}


def _write_folds(root: Path, model: str, folds: list[np.ndarray], targets: np.ndarray,
                 split: str = "ph2_ham") -> list[Path]:
    from selcn.data.labels import HAM_CLASSES

    out = []
    for k, probs in enumerate(folds):
        path = root / "results" / "lesion" / "ham10000" / model / f"fold{k}" / \
            f"predictions_{split}.csv"
        write_predictions(path, [f"IMD{i:03d}" for i in range(len(targets))], targets, probs,
                          HAM_CLASSES)
        out.append(path)
    return out


def _probs(mel: list[float], nv: list[float], other: float = 0.0) -> np.ndarray:
    """7-class rows with the given P(mel), P(nv) (index 4, 5) and the rest spread on bkl (2)."""
    p = np.zeros((len(mel), 7))
    p[:, 4], p[:, 5] = mel, nv
    p[:, 2] = 1 - p[:, 4] - p[:, 5]
    return p


def test_melanoma_vs_nevus_from_the_7_class_outputs(tmp_path):
    """Known answer: 2 melanomas, 3 nevi. Decision P(mel) > P(nv), whatever bkl holds; AUROC of
    P(mel); fold rows mean ± std, ensemble rows with a bootstrap interval."""
    from selcn.report.external import binary_scores, binary_table

    targets = np.array([4, 4, 5, 5, 5])                       # mel, mel, nv, nv, nv
    fold0 = _probs([0.30, 0.10, 0.05, 0.20, 0.10], [0.20, 0.30, 0.80, 0.10, 0.60])
    fold1 = _probs([0.60, 0.40, 0.10, 0.05, 0.30], [0.30, 0.50, 0.85, 0.60, 0.10])
    files = _write_folds(tmp_path, "none-off", [fold0, fold1], targets)
    # fold 0: IMD000 mel (0.30 > 0.20, though bkl 0.5 is the arg-max) right, IMD001 missed,
    # IMD003 a nevus called melanoma (0.20 > 0.10): sensitivity 1/2, specificity 2/3
    scores = binary_scores(pd.read_csv(files[0]))
    assert scores["sensitivity"] == 0.5 and scores["specificity"] == pytest.approx(2 / 3)
    assert scores["accuracy"] == 0.6 and scores["balanced_accuracy"] == pytest.approx(7 / 12)
    # P(mel) ranks: mel 0.30 beats every nevus, mel 0.10 beats IMD002 (0.05), ties IMD004
    assert scores["auroc"] == pytest.approx((3 + 1 + 0.5) / 6)
    assert scores["argmax_mel_nv"] == pytest.approx(2 / 5)   # bkl is the arg-max of 3 rows
    split = tmp_path / "results" / "splits" / "ph2_ham.csv"
    split.parent.mkdir(parents=True)
    pd.DataFrame({"image_id": [f"IMD{i:03d}" for i in range(5)], "group": "all-one"}).to_csv(
        split, index=False)
    table = binary_table([*files, split], intervals={"n_boot": 200, "confidence": 0.9,
                                                     "seed": 1})
    assert table["estimate"].tolist() == ["folds", "ensemble"]
    folds, ensemble = table.iloc[0], table.iloc[1]
    assert folds["n_folds"] == 2 and folds["n_images"] == 5
    fold1_scores = binary_scores(pd.read_csv(files[1]))
    assert folds["sensitivity_mean"] == pytest.approx((0.5 + fold1_scores["sensitivity"]) / 2)
    assert folds["auroc_std"] == pytest.approx(abs(scores["auroc"] - fold1_scores["auroc"]) / 2)
    assert np.isnan(folds["auroc_ci_low_mean"]) and np.isnan(ensemble["auroc_std"])
    mean = (fold0 + fold1) / 2
    assert ensemble["auroc_mean"] == pytest.approx(binary_scores(pd.DataFrame(
        {"image_id": list("abcde"), "target": targets, "pred": mean.argmax(1),
         **{f"prob_{c}": mean[:, i] for i, c in enumerate(
             ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"))}}))["auroc"])
    # one lesion holds every image: each replicate draws it whole, the interval is the value
    assert ensemble["sensitivity_ci_low_mean"] == ensemble["sensitivity_ci_high_mean"] == \
        ensemble["sensitivity_mean"]
    by_image = binary_table(files, intervals={"n_boot": 200, "confidence": 0.9, "seed": 1})
    # by image (no split table): 2 melanomas, one found by the ensemble, resampled
    assert by_image.iloc[1]["sensitivity_mean"] == 0.5
    assert by_image.iloc[1]["sensitivity_ci_low_mean"] < 0.5 < \
        by_image.iloc[1]["sensitivity_ci_high_mean"]


def test_melanoma_vs_nevus_needs_hams_classes_and_one_set(tmp_path):
    from selcn.report.external import binary_table

    three = tmp_path / "results" / "lesion" / "ham10000" / "none-off" / "fold0" / \
        "predictions_ph2_ham.csv"
    write_predictions(three, ["a", "b"], np.array([0, 2]), np.eye(3)[[0, 2]], PH2_CLASSES)
    with pytest.raises(ValueError, match="no 'prob_mel' column"):
        binary_table([three])
    files = _write_folds(tmp_path / "x", "none-off", [_probs([0.6], [0.4])], np.array([4]))
    other = _write_folds(tmp_path / "y", "none-off", [_probs([0.6], [0.4])], np.array([4]),
                         split="isic2019")
    with pytest.raises(ValueError, match="several sets"):
        binary_table([*files, *other])
    bkl = _write_folds(tmp_path / "z", "none-off", [_probs([0.6], [0.4])], np.array([2]))
    with pytest.raises(ValueError, match="neither melanoma nor nevus"):
        binary_table(bkl)


def test_the_segmenter_on_the_masks_of_an_external_set(tmp_path):
    """score_external_masks scores the test rows (pixels pooled, and per image) and the table
    names the data; Dice 1 for the ground truth itself."""
    import json

    from selcn.external import score_external_masks
    from selcn.report.external import external_segmentation_table

    gt = np.zeros((3, 8, 8), np.uint8)
    gt[0, :4], gt[1, :, :2], gt[2, 2:6, 2:6] = 1, 1, 1
    pred = gt.copy()
    pred[1] = 0                                           # one image missed entirely
    np.save(tmp_path / "gt.npy", gt)
    np.save(tmp_path / "pred.npy", pred)
    ids = ["IMD001", "IMD002", "IMD003"]
    pd.DataFrame({"row": range(3), "image_id": ids}).to_csv(tmp_path / "index.csv", index=False)
    pd.DataFrame({"image_id": ids, "split": ["test", "test", "excluded"]}).to_csv(
        tmp_path / "splits.csv", index=False)
    (tmp_path / "selected.json").write_text(json.dumps({"arch": "unet"}))
    out = tmp_path / "results" / "segmentation" / "external_ph2_ham.csv"
    row = score_external_masks(tmp_path / "pred.npy", tmp_path / "gt.npy", tmp_path / "index.csv",
                               tmp_path / "splits.csv", tmp_path / "selected.json", "ph2_ham",
                               out).iloc[0]
    # rows 0 and 1 (row 2 is excluded): 32 of 48 lesion pixels found, none wrong
    assert (row["arch"], row["n_images"]) == ("unet", 2)
    assert row["dice"] == pytest.approx(2 * 32 / (2 * 32 + 16))
    assert row["jaccard"] == pytest.approx(32 / 48) and row["specificity"] == 1.0
    assert row["dice_image_mean"] == pytest.approx(0.5)   # 1 and 0
    table = external_segmentation_table([out])
    assert table["dataset"].tolist() == ["PH²"] and table["dice"].iloc[0] == row["dice"]
    np.save(tmp_path / "pred.npy", pred[:2])
    with pytest.raises(ValueError, match=r"predicted masks \(2, 8, 8\) and ground truth"):
        score_external_masks(tmp_path / "pred.npy", tmp_path / "gt.npy", tmp_path / "index.csv",
                             tmp_path / "splits.csv", tmp_path / "selected.json", "ph2_ham", out)


def _random_ham_model(path: Path, model: str = "seg-off") -> Path:
    """A random-init lesion model.pt of HAM10000's 7 classes (timm's test_efficientnet, 32 px)."""
    from selcn import lesion
    from selcn.checkpoints import save_model_file
    from selcn.data.labels import HAM_CLASSES
    from selcn.grid import Cell, Model

    cfg = validate_config({"seed": 0, "lesion": {"architecture": "test_efficientnet",
                                                 "pretrained": False, "input_size": 32}})
    net = lesion.network(cfg, Cell("ham10000", Model.parse(model)))
    save_model_file(path, net.build(len(HAM_CLASSES)),
                    **{**net.record(), "class_names": list(HAM_CLASSES),
                       "num_classes": len(HAM_CLASSES), "fold": 0, "best_epoch": 0})
    return path


@needs_sample
def test_the_real_sample_as_an_external_test_set(tmp_path):
    """The reader path on real images: PH² read as ph2_ham (32 nevi -> nv, 8 melanomas -> mel),
    cached, predicted by a HAM10000 model file as predict_external does (masked input), and
    scored by Table 10 (PH²)'s builder; a 3-class PH² model refuses the set."""
    from selcn.data.inputs import StageInputs
    from selcn.data.preprocess import build_cache
    from selcn.external import predict_external
    from selcn.report.external import binary_table

    table = read_dataset("ph2_ham", _sample_paths())
    cache = tmp_path / "cache" / "ph2_ham"
    index = build_cache(table, cache, 32, hair_removal=False, log=lambda *a: None)
    splits = tmp_path / "splits" / "ph2_ham.csv"
    splits.parent.mkdir()
    index[["image_id", "label", "target", "group"]].assign(split="test").to_csv(splits,
                                                                                index=False)
    model = _random_ham_model(tmp_path / "results" / "lesion" / "ham10000" / "seg-off" /
                              "fold0" / "model.pt")
    inputs = StageInputs(str(cache / "images.npy"), str(cache / "index.csv"), str(splits),
                         masks=str(cache / "gt_masks.npy"))
    out = model.parent / "predictions_ph2_ham.csv"
    predicted = predict_external(model, inputs, out)
    assert len(predicted) == 40
    assert pd.Series(np.asarray(classes("ham10000"))[predicted["target"]]).value_counts() \
        .to_dict() == {"nv": 32, "mel": 8}
    row = binary_table([out, splits]).iloc[1]                 # the (one-fold) ensemble
    assert row["n_images"] == 40 and 0 <= row["auroc_mean"] <= 1
    assert row["auroc_ci_low_mean"] <= row["auroc_mean"] <= row["auroc_ci_high_mean"]
    from dataclasses import replace

    with pytest.raises(ValueError, match="predicted lesion masks"):
        predict_external(model, replace(inputs, masks=None), tmp_path / "x.csv")
    ph2_index = cache.parent / "ph2_index.csv"
    index.assign(label=read_dataset("ph2", _sample_paths())["label"],
                 target=read_dataset("ph2", _sample_paths())["target"]).to_csv(ph2_index,
                                                                               index=False)
    with pytest.raises(ValueError, match="differs from the model's class"):
        predict_external(model, replace(inputs, index=str(ph2_index)), tmp_path / "y.csv")


# ---- the PH² grid's per-class tables, captions naming the roles' datasets --------------------
def test_per_class_tables_of_the_ph2_grid():
    from selcn.report.registry import (
        PER_CLASS_PATTERN,
        per_class_dataset,
        per_class_labels,
        per_class_number,
        report_tables,
    )
    from selcn.report.tables import per_class_name, per_class_spec

    names = report_tables(grid(_config("ph2.yaml")))
    assert [n for n in names if "per_class" in n] == ["table11_per_class_model1_ph2",
                                                      "table12_per_class_model3_ph2"]
    name = per_class_name(3, "ph2")
    assert (per_class_number(name), per_class_dataset(name)) == (3, "ph2")
    assert per_class_labels(name) == {"table": "Table 12", "dataset": "PH²",
                                      "content": "per class, model 3, test split"}
    spec = per_class_spec(3, name)
    assert "on the PH² test split" in spec.title and not spec.has_reference
    assert per_class_spec(3).has_reference and "HAM10000 test split" in per_class_spec(3).title
    import re

    assert re.fullmatch(PER_CLASS_PATTERN, name) and re.fullmatch(PER_CLASS_PATTERN,
                                                                  "per_class_model7")
    assert not re.fullmatch(PER_CLASS_PATTERN, "per_class_model7_symderm")
    with pytest.raises(ValueError, match="not a per-class table name"):
        per_class_dataset("per_class_model7_isic2016")
    jobs = Jobs.of(_config("ph2.yaml"))
    from selcn.grid import Model

    assert jobs.lesion_model_files(per_class_dataset(name), Model("none", "none"),
                                   "predictions_test.csv")[0] == \
        "results_ph2/lesion/ph2/none-none/fold0/predictions_test.csv"


def test_the_captions_name_the_roles_datasets():
    """Tables 5-9 (and the per-class tables) on PH²'s roles name PH², not HAM10000 / SymDerm,
    and say why they have no thesis column; the default roles render the thesis' text
    (tests/test_captions.py: the renderings)."""
    from selcn.report.registry import TABLE_REGISTRY, datasets_resolved, render_caption

    captions = REPO / "workflow" / "report"
    ph2, demo = _config("ph2.yaml"), _config("config.yaml")
    assert datasets_resolved(ph2)["roles"]["symmetry"] == {
        "dataset": "ph2_symmetry", "label": "PH² (asymmetry)", "published": False}
    assert datasets_resolved(demo)["roles"]["segmentation"]["published"]

    def caption(cfg, name, **wildcards):
        c = TABLE_REGISTRY[name].caption
        return render_caption(captions / f"{c.template}.rst", cfg, {**c.wildcards, **wildcards})

    expect = {"table5_segmentation": ("on PH²: Dice", "the thesis published Table 5 on "
                                                       "HAM10000, not on PH²."),
              "table6_symmetry_test": ("network on PH² (asymmetry)", "not on PH² (asymmetry)."),
              "table7_symmetry_cam_localisation": ("strategy) on PH² images",
                                                   "localisation_ph2.csv"),
              "table8_lesion_test_ph2": ("models on\nPH², the test split",
                                         "results/lesion/ph2/"),
              "table9_lesion_cam_localisation_ph2": ("(best fold) on PH² images",
                                                     "results/lesion/ph2/")}
    for name, sentences in expect.items():
        text = caption(ph2, name)
        for sentence in sentences:
            assert sentence in text, (name, sentence)
        assert "*thesis* columns are" not in text, name
        default = caption(demo, name.removesuffix("_ph2"))
        assert "*thesis* columns are" in default and "PH²" not in default, name
    per_class = render_caption(captions / "table_per_class.rst", ph2,
                               {"name": "table11_per_class_model1_ph2"})
    assert "on the PH² test split" in per_class and "per_class_model<N>_ph2.html" in per_class
    assert "on the HAM10000 test split" in render_caption(
        captions / "table_per_class.rst", demo, {"name": "table11_per_class_model1"})


@pytest.mark.slow
def test_the_demo_with_ph2_after_isic2019(tmp_path):
    """The demo with a synthetic PH² listed after ISIC 2019 (roles.external.ham10000:
    [isic2019, ph2]), reduced to one lesion model that masks its input and takes a CAM (model
    7) on 2 folds: the training jobs predict ISIC 2019, `predict_external` predicts PH² from
    each fold's model.pt, the segmenter is scored on PH²'s masks; Tables 5 and 10 on PH²."""
    tiny = {
        "roles": {"external": {"ham10000": ["isic2019", "ph2"]}},
        "data": {"image_size": 32, "balance": {"target_per_class": 12, "max_copies": 3},
                 "synthetic": {**TINY_SYNTHETIC, "n_ph2": 10}},
        "segmentation": {"architectures": ["unet"], "input_size": 32, "train": SHORT_TRAIN},
        "symmetry": {"masks": ["seg"], "folds": 2, "compare_architectures": [],
                     "scratch_baseline": False, "input_size": 32, "cam_size": 8,
                     "train": SHORT_TRAIN},
        "lesion": {"classifier_masks": ["seg"], "symmetry_masks": ["seg"],
                   "datasets": ["ham10000"], "folds": 2, "input_size": 32, "train": SHORT_TRAIN},
        "export": {"enabled": False},
        "report": {"bootstrap": 20},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    configs = ("--configfile", str(REPO / "config" / "config.yaml"), str(tmp_path / "tiny.yaml"))
    targets = ["results/tables/table10_ph2_melanoma.html",
               "results/tables/table5_external_segmentation.html",
               "results/tables/table10_isic2019.html"]
    run = run_snakemake(tmp_path, *targets, *configs, "--cores", "2", timeout=1200)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    res = tmp_path / "results"
    for fold in (0, 1):
        folder = res / "lesion" / "ham10000" / "seg-seg" / f"fold{fold}"
        log = res / "logs" / "lesion" / f"predict_ph2_ham_ham10000_seg-seg_fold{fold}.log"
        assert "[external]" in log.read_text() and (folder / "predictions_isic2019.csv").is_file()
        pred = pd.read_csv(folder / "predictions_ph2_ham.csv")
        assert len(pred) == 10 and set(pred["target"]) <= {4, 5}          # mel, nv
        train_log = (res / "logs" / "lesion" / f"train_ham10000_seg-seg_fold{fold}.log")
        assert "ph2_ham" not in train_log.read_text()                 # not the training job's
    table = pd.read_csv(res / "tables" / "table10_ph2_melanoma.csv")
    assert table["estimate"].tolist() == ["folds", "ensemble"] and set(table["model"]) == {7}
    assert table["n_images"].tolist() == [10, 10]
    ensemble = table.iloc[1]
    assert ensemble["auroc_ci_low_mean"] <= ensemble["auroc_mean"] <= ensemble["auroc_ci_high_mean"]
    seg = pd.read_csv(res / "tables" / "table5_external_segmentation.csv")
    assert seg[["dataset", "arch", "n_images"]].values.tolist() == [["PH²", "unet", 10]]
    assert 0 <= seg["dice"].iloc[0] <= 1
    html = (res / "tables" / "table10_ph2_melanoma.html").read_text()
    assert "AUROC of P(mel)" in html and "Table 10 (PH²)" in html
