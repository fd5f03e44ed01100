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

from helpers import run_snakemake
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
SAMPLE = REPO.parent / "shared" / "data" / "ph2-sample" / "PH2Dataset"
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
