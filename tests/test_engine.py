"""The stage engine (selcn.engine) and the stage inputs (selcn.data.inputs): weighted loss,
history metrics, best-fold criterion, data opening, and the resume key of a fold (a finished
fold leaves no resume state; another job does not resume it)."""

import json
import os

import numpy as np
import pytest
import torch

from helpers import make_cache
from selcn import symmetry
from selcn.config import validate_config
from selcn.data.inputs import StageInputs, fold_parts
from selcn.engine import Training, accuracy_metrics, fit_network, job_key, train_fold, weighted_loss
from selcn.grid import Fold, SymmetryVariant
from selcn.protocol import policy
from selcn.selection import FoldCriterion, best_fold_criterion


def symmetry_cache(root, n):
    """A tiny SymDerm-like cache (48 px, folds 0-2, test and excluded rows, masks)."""
    return make_cache(root, "symmetry", n=n)


def _cfg(tmp_path):
    """A CPU symmetry config: squeezenet from scratch at 64 px, 2 epochs."""
    return validate_config({
        "device": "cpu", "weights": {"cache_dir": None},
        "symmetry": {"pretrained": False, "input_size": 64, "cam_size": 8,
                     "train": {"max_epochs": 2, "patience": 2, "batch_size": 8, "lr": 1e-3}},
    })


# ---- loss, metrics, criterion -------------------------------------------------------------
def test_weighted_loss_uses_inverse_class_frequency():
    loss = weighted_loss(np.array([0, 0, 0, 1]), 2, weighted=True)
    np.testing.assert_allclose(loss.weight.numpy(), [4 / 6, 4 / 2])
    assert weighted_loss(np.array([0, 1]), 2, weighted=False).weight is None


def test_weighted_cross_entropy_weights():
    targets = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1])     # n = (3, 9), N = 12, C = 2
    loss = weighted_loss(targets, 2, weighted=True)
    torch.testing.assert_close(loss.weight, torch.tensor([12 / (3 * 2), 12 / (9 * 2)]))
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1])
    manual = (2 * torch.nn.functional.cross_entropy(logits[:1], y[:1]) * 1
              + (2 / 3) * torch.nn.functional.cross_entropy(logits[1:], y[1:])) / (2 + 2 / 3)
    torch.testing.assert_close(loss(logits, y), manual)
    assert weighted_loss(targets, 2, weighted=False).weight is None


def test_accuracy_metrics_known_answer():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])   # pred 0, 1, 1, 1
    scores = accuracy_metrics(logits, np.array([0, 0, 1, 1]))
    assert scores == {"accuracy": 0.75, "balanced_accuracy": 0.75}
    scores = accuracy_metrics(logits, np.array([0, 1, 1, 1]))
    assert scores == {"accuracy": 1.0, "balanced_accuracy": 1.0}


def test_best_fold_criterion_is_one_type_for_both_stages():
    lf, th = policy("leakage_free"), policy("thesis")
    assert best_fold_criterion(lf, "balanced_accuracy") == FoldCriterion(
        "val", "balanced_accuracy", "val_balanced_accuracy")
    assert best_fold_criterion(lf).name == "val_accuracy"
    assert best_fold_criterion(th, "balanced_accuracy") == ("test", "accuracy", "test_accuracy")
    with pytest.raises(ValueError, match="unknown protocol 'paper'"):
        best_fold_criterion(policy("paper"))


# ---- data ---------------------------------------------------------------------------------
def test_open_stage_data_checks_every_array(tmp_path):
    root = symmetry_cache(tmp_path, n=12)
    images, index = str(root / "images.npy"), str(root / "index.csv")
    data = StageInputs(images, index, str(root / "splits.csv"), masks=str(root / "masks.npy"),
                       gt_masks=str(root / "gt_masks.npy")).open()
    assert data.images.shape == (12, 48, 48, 3) and data.masks.shape == (12, 48, 48)
    assert data.cams is None and len(data.splits) == 12
    assert data.image_ids[3] == "ISIC_0000003"
    np.save(tmp_path / "small.npy", np.zeros((12, 24, 24), np.uint8))
    with pytest.raises(ValueError, match="small.npy: predicted masks must have shape"):
        StageInputs(images, index, masks=str(tmp_path / "small.npy")).open()
    with pytest.raises(FileNotFoundError, match="ground-truth masks not found"):
        StageInputs(images, index, gt_masks=str(tmp_path / "x.npy")).open()
    np.save(tmp_path / "images.npy", np.zeros((11, 48, 48, 3), np.uint8))
    with pytest.raises(ValueError, match=r"expected uint8 \(N=12, S, S, 3\)"):
        StageInputs(str(tmp_path / "images.npy"), index).open()


def test_stage_inputs_from_named_inputs_and_what_a_model_reads(tmp_path):
    """A rule's named inputs (optionally prefixed: the external test set) -> StageInputs; a
    model reads the predicted masks only when its input is masked, the CAMs only with an
    E-Layer, and a missing one it needs is named."""
    named = {"images": "i.npy", "index": "x.csv", "splits": "s.csv", "masks": "m.npy",
             "ext_images": "ei.npy", "ext_index": "ex.csv", "hpo": "best.json"}
    inputs = StageInputs.named(named)
    assert (inputs.images, inputs.splits, inputs.masks, inputs.cams) == ("i.npy", "s.csv",
                                                                         "m.npy", None)
    assert inputs.files() == ["i.npy", "x.csv", "s.csv", "m.npy"]
    assert StageInputs.named(named, "ext_").files() == ["ei.npy", "ex.csv"]
    assert inputs.only(masks=False, cams=False).masks is None
    assert inputs.only(masks=True, cams=False).masks == "m.npy"
    with pytest.raises(ValueError, match="symmetry CAMs"):
        inputs.only(masks=True, cams=True)
    with pytest.raises(ValueError, match="'images' and 'index' are required"):
        StageInputs.named({"index": "x.csv"})


def test_fold_parts_name_the_missing_fold(tmp_path):
    root = symmetry_cache(tmp_path, n=12)
    data = StageInputs(str(root / "images.npy"), str(root / "index.csv"),
                       str(root / "splits.csv")).open()
    folds, parts = fold_parts(data.splits, Fold(2))
    assert folds == ["fold0", "fold1", "fold2"] and set(parts) == {"train", "val", "test"}
    with pytest.raises(ValueError, match="fold 'fold3' not in field 'split'"):
        fold_parts(data.splits, Fold(3))


# ---- the resume key -----------------------------------------------------------------------
def test_job_key_follows_config_wildcards_and_input_files(tmp_path):
    cfg = _cfg(tmp_path)
    path = tmp_path / "input.npy"
    np.save(path, np.zeros(3))

    def key_of(config, fold=0, inputs=(path,)):
        return job_key(Training.of(config, "symmetry"), "symmetry", {"fold": fold}, inputs)

    key = key_of(cfg, inputs=[path, None])
    assert json.loads(json.dumps(key)) == key                  # JSON-able as it is
    section = {k: v for k, v in cfg["symmetry"].items() if k != "resources"}
    assert key["config"] == json.loads(json.dumps(section, default=str))
    assert key["seed"] == cfg["seed"] and key["protocol"] == cfg["protocol"]
    assert list(key["inputs"]) == [str(path)]
    assert key_of(cfg) == key
    assert key_of(cfg, fold=1) != key
    other = {**cfg, "symmetry": {**cfg["symmetry"], "input_size": 32}}
    assert key_of(other) != key
    longer = {**cfg, "symmetry": {**cfg["symmetry"],
                                  "resources": {**cfg["symmetry"]["resources"], "runtime": 999}}}
    assert key_of(longer) == key  # resumes
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))   # the file was rewritten
    assert key_of(cfg) != key


def test_a_different_job_key_does_not_resume(tmp_path):
    root = symmetry_cache(tmp_path / "cache", n=24)
    cfg = _cfg(tmp_path)
    data = StageInputs(str(root / "images.npy"), str(root / "index.csv"),
                       str(root / "splits.csv")).open()
    parts = symmetry.fold_tables(data.splits, Fold(0))
    net = symmetry.network(cfg, SymmetryVariant(False, "none"))
    out = tmp_path / "fit"

    def run(key):
        return fit_network(net, data, parts, out, Training.of(cfg, "symmetry"), key)

    first = run({"job": "a"})
    assert [t["epoch"] for t in first.timings] == [1, 2]
    assert (out / ".resume" / "state.pt").is_file()            # fit itself keeps it
    again = run({"job": "a"})                                  # the same job: nothing left to do
    assert again.timings == [] and again.best_epoch == first.best_epoch
    other = run({"job": "b"})                                  # another job starts afresh
    assert [t["epoch"] for t in other.timings] == [1, 2]
    assert other.history["train_loss"].tolist() == first.history["train_loss"].tolist()


@pytest.mark.slow
def test_a_finished_fold_leaves_no_resume_state_and_resumes_only_its_own_inputs(
        tmp_path, monkeypatch, capsys):
    root = symmetry_cache(tmp_path / "cache", n=24)
    cfg = _cfg(tmp_path)
    out = tmp_path / "symmetry" / "scratch-seg" / "fold0"
    net = symmetry.network(cfg, "scratch-seg")
    inputs = StageInputs(str(root / "images.npy"), str(root / "index.csv"),
                         str(root / "splits.csv"), masks=str(root / "masks.npy"))

    def train():
        return train_fold(net, inputs, Fold(0), out, Training.of(cfg, "symmetry"))

    train()
    assert (out / "model.pt").is_file() and not (out / ".resume").exists()

    # a job killed after its last epoch (its resume state not yet removed) ...
    import selcn.engine

    monkeypatch.setattr(selcn.engine, "clear_resume_state", lambda out_dir: None)
    train()
    assert (out / ".resume" / "state.pt").is_file()
    capsys.readouterr()
    train()                                                     # ... resumes the same job
    assert "resumed from" in capsys.readouterr().err
    masks = np.load(root / "masks.npy")
    stat = (root / "masks.npy").stat()
    np.save(root / "masks.npy", masks)                          # an upstream rerun
    os.utime(root / "masks.npy", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    train()
    err = capsys.readouterr().err
    assert "resumed from" not in err and "starting afresh" in err
