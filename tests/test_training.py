"""The training core: early stopping, best weights, training accuracy, determinism, predict
(resume states: tests/test_resume.py)."""

import io
import re
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from selcn.data.datasets import CachedImageDataset, make_loader
from selcn.training import (
    FitConfig,
    epoch_line,
    fit,
    predict,
    predict_proba,
    resolve_device,
    set_seed,
)


class TinyNet(nn.Module):
    """conv -> dropout (so the torch RNG matters) -> pooled features (+ CAM mean) -> 3 classes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(7, 3)

    def forward(self, image, cam):
        features = self.drop(torch.relu(self.bn(self.conv(image))).mean((2, 3)))
        return self.head(torch.cat([features, cam.mean((1, 2, 3))[:, None]], 1))


def tiny_data():
    """48 tiny images (8 x 8), 3 classes, CAMs (4 x 4); shared with tests/test_resume.py."""
    rng = np.random.default_rng(0)
    n = 48
    targets = rng.integers(0, 3, n)
    images = rng.integers(0, 60, (n, 8, 8, 3), dtype=np.uint8)
    for i, t in enumerate(targets):  # a learnable signal: class t brightens channel t
        images[i, :, :, t] += 150
    cams = rng.random((n, 4, 4)).astype(np.float16)
    return images, targets, cams


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def _loaders(data, num_workers=0, seed=3):
    images, targets, cams = data
    train = CachedImageDataset(images, np.arange(32), targets[:32], cams=cams,
                               transforms=np.arange(32) % 4)
    val = CachedImageDataset(images, np.arange(32, 48), targets[32:], cams=cams)
    return (make_loader(train, 5, shuffle=True, num_workers=num_workers, seed=seed),
            make_loader(val, 8, shuffle=False, num_workers=0, seed=seed))


def _accuracy(outputs, targets):
    return {"accuracy": float((outputs.argmax(1) == targets).mean())}


def _fit(data, out_dir, epochs=3, num_workers=0, metrics_fn=_accuracy, job_key=None,
         loss_fn=None, **cfg):
    set_seed(0)
    model = TinyNet()
    train, val = _loaders(data, num_workers)
    cfg = FitConfig(**{"max_epochs": epochs, "patience": 10, "lr": 3e-2, "momentum": 0.9,
                       "weight_decay": 1e-4, "seed": 5, "device": "cpu", "progress": False,
                       **cfg})
    return fit(model, train, val, loss_fn or nn.CrossEntropyLoss(), out_dir, cfg,
               metrics_fn=metrics_fn, job_key=job_key)


def _losses(history):
    return history.drop(columns="seconds")


def test_history_columns_and_learning(data, tmp_path):
    result = _fit(data, tmp_path, epochs=4)
    table = pd.read_csv(tmp_path / "history.csv")
    assert list(table.columns) == ["epoch", "train_loss", "val_loss", "train_accuracy",
                                   "accuracy", "lr", "seconds"]
    assert table["epoch"].tolist() == [1, 2, 3, 4]
    assert (table["lr"] == 3e-2).all() and (table["seconds"] > 0).all()
    assert table["train_loss"].iloc[-1] < table["train_loss"].iloc[0]
    assert not result.model.training


class RecordingLoss(nn.Module):
    """Cross-entropy that keeps (epoch's training argmax hits, samples) of every training batch."""

    def __init__(self):
        super().__init__()
        self.ce = nn.CrossEntropyLoss()
        self.hits: list[tuple[int, int]] = []

    def forward(self, outputs, target):
        if torch.is_grad_enabled():
            self.hits.append((int((outputs.argmax(1) == target).sum()), len(target)))
        return self.ce(outputs, target)


def test_train_accuracy_is_counted_on_the_training_batches(data, tmp_path):
    loss = RecordingLoss()
    result = _fit(data, tmp_path, epochs=2, loss_fn=loss)
    per_epoch = len(loss.hits) // 2
    assert per_epoch == 7  # 32 training samples in batches of 5
    for epoch in (0, 1):
        hits = loss.hits[epoch * per_epoch:(epoch + 1) * per_epoch]
        expected = sum(h for h, _ in hits) / sum(n for _, n in hits)
        assert result.history["train_accuracy"].iloc[epoch] == pytest.approx(expected, abs=0)
    capped = _fit(data, tmp_path / "capped", epochs=1, loss_fn=RecordingLoss(),
                  max_train_batches=2)
    assert 0 <= capped.history["train_accuracy"].iloc[0] <= 1


class TinySegNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, image):
        return self.conv(image)


def test_segmentation_history_has_no_train_accuracy(data, tmp_path):
    images, _, _ = data
    target_masks = (images[..., 0] > 100).astype(np.uint8)
    train = CachedImageDataset(images, np.arange(32), target_masks=target_masks)
    val = CachedImageDataset(images, np.arange(32, 48), target_masks=target_masks)
    cfg = FitConfig(max_epochs=2, patience=5, lr=1e-2, device="cpu", progress=False,
                    extra_inputs=())
    result = fit(TinySegNet(), make_loader(train, 8, shuffle=True), make_loader(val, 8,
                 shuffle=False), nn.BCEWithLogitsLoss(), tmp_path, cfg)
    assert list(result.history.columns) == ["epoch", "train_loss", "val_loss", "lr", "seconds"]


def test_metrics_may_not_overwrite_own_columns(data, tmp_path):
    with pytest.raises(ValueError, match="train_accuracy"):
        _fit(data, tmp_path, epochs=1, metrics_fn=lambda o, t: {"train_accuracy": 1.0})


def test_is_deterministic_on_cpu(data, tmp_path):
    a = _fit(data, tmp_path / "a", epochs=2)
    b = _fit(data, tmp_path / "b", epochs=2)
    pd.testing.assert_frame_equal(_losses(a.history), _losses(b.history))
    c = _fit(data, tmp_path / "c", epochs=2, seed=6)
    assert c.history["train_loss"].iloc[1] != a.history["train_loss"].iloc[1]


class ScriptedValLoss(nn.Module):
    """Cross-entropy in training; during validation of epoch k, ``val_losses[k - 1]``.

    ``snapshots`` (epoch -> weights) is filled by the metrics function after each validation
    pass, so its length is the number of finished epochs.
    """

    def __init__(self, val_losses, snapshots):
        super().__init__()
        self.val_losses, self.snapshots = list(val_losses), snapshots
        self.ce = nn.CrossEntropyLoss()

    def forward(self, outputs, target):
        if torch.is_grad_enabled():
            return self.ce(outputs, target)
        return outputs.sum() * 0 + self.val_losses[len(self.snapshots)]


def test_early_stopping_keeps_the_best_weights(data, tmp_path):
    snapshots = {}
    set_seed(0)
    model = TinyNet()

    def snapshot(outputs, targets):
        snapshots[len(snapshots) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return {}

    loss = ScriptedValLoss([3.0, 2.0, 2.5, 1.5, 1.6, 1.5, 1.7, 0.1, 0.1], snapshots)
    train, val = _loaders(data)
    cfg = FitConfig(max_epochs=9, patience=3, lr=1e-2, seed=1, device="cpu", progress=False)
    result = fit(model, train, val, loss, tmp_path, cfg, metrics_fn=snapshot)
    # best epoch 4 (1.5); then 1.6, 1.5 (not lower), 1.7: three epochs without improvement
    assert result.history["epoch"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert result.history["val_loss"].tolist() == pytest.approx([3.0, 2.0, 2.5, 1.5, 1.6, 1.5,
                                                                 1.7])
    assert result.best_epoch == 4 and result.best_val_loss == pytest.approx(1.5)
    assert result.stopped_early
    for key, value in result.model.state_dict().items():
        torch.testing.assert_close(value, snapshots[4][key], rtol=0, atol=0)
    assert not torch.equal(snapshots[7]["head.weight"], snapshots[4]["head.weight"])


def test_predict(data, tmp_path):
    result = _fit(data, tmp_path, epochs=1)
    _, val = _loaders(data)
    out = predict(result.model, val)
    assert out["outputs"].shape == (16, 3) and out["outputs"].dtype == np.float32
    np.testing.assert_array_equal(out["rows"], np.arange(32, 48))
    np.testing.assert_array_equal(out["targets"], data[1][32:])
    again = predict(result.model, val, device="cpu")
    np.testing.assert_array_equal(again["outputs"], out["outputs"])  # eval mode: no dropout



def test_predict_proba_checks_row_order(data):
    model = TinyNet()
    _, val = _loaders(data)
    proba = predict_proba(model, val, np.arange(32, 48))
    logits = predict(model, val)["outputs"]
    np.testing.assert_allclose(proba, torch.softmax(torch.as_tensor(logits), 1).numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    with pytest.raises(RuntimeError, match="out of order"):
        predict_proba(model, val, np.arange(33, 49))

def test_resolve_device_and_config_errors():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda"}
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("tpu9")
    with pytest.raises(ValueError, match="patience"):
        FitConfig(max_epochs=3, patience=0, lr=1e-3)
    with pytest.raises(ValueError, match="momentum"):
        FitConfig(max_epochs=3, patience=1, lr=1e-3, momentum=1.0)


# ---- what the log says ------------------------------------------------------------------
def test_epoch_line():
    cfg = FitConfig(max_epochs=15, patience=5, lr=1e-3)
    row = {"epoch": 3, "train_loss": 0.8123, "val_loss": 0.7344, "train_accuracy": 0.5,
           "accuracy": 0.7123, "lr": 1e-3, "seconds": 1.1}
    assert epoch_line(row, cfg, [1.1, 1.3, 1.2], best=True, stopped=False) == (
        "[training] epoch 3/15: train_loss=0.812 val_loss=0.734 accuracy=0.712 "
        "(1.2 s/epoch, at most 14 s left) — best")
    row.update(epoch=9, val_loss=0.00012)
    assert epoch_line(row, cfg, [150.0], best=False, stopped=False).endswith(
        "val_loss=0.00012 accuracy=0.712 (2 min/epoch, at most 15 min left)")
    assert epoch_line(row, cfg, [1.0], best=False, stopped=True).endswith(
        "(1.0 s/epoch, stopping early: val_loss not lower for 5 epochs)")
    row["epoch"] = 15
    assert epoch_line(row, cfg, [6000.0], best=False, stopped=True).endswith(
        "(1.7 h/epoch, last epoch)")


def test_fit_logs_one_line_per_epoch_and_no_progress_bar(data, tmp_path, capfd):
    _fit(data, tmp_path, epochs=3, progress=True)       # progress asked, stderr is no terminal
    err = capfd.readouterr().err
    assert "\r" not in err and "batch/s" not in err and "it/s" not in err
    lines = err.splitlines()
    assert len(lines) == 3
    for k, line in enumerate(lines, 1):
        assert re.fullmatch(rf"\[training\] epoch {k}/3: train_loss=\d\.\d{{3}} "
                            r"val_loss=\d\.\d{3} accuracy=\d\.\d{3} \(\d+\.\d s/epoch, "
                            r"(at most \d+ s left|last epoch)\)( — best)?", line), line


def test_a_progress_bar_only_on_a_terminal(data, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _fit(data, tmp_path, epochs=1, progress=True)
    assert "epoch 1/1: 100%" in terminal.getvalue()           # tqdm's bar, then the line
    assert "[training] epoch 1/1: " in terminal.getvalue()


# ---- a multi-task network: outputs and targets as mappings (model 13) ----------------------
class TwoHeadNet(nn.Module):
    """A shared conv with two heads: ``{"logits": (B, 3), "mask": (B, 1, 8, 8)}``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.head = nn.Linear(6, 3)
        self.mask = nn.Conv2d(6, 1, 1)

    def forward(self, image):
        features = torch.relu(self.conv(image))
        return {"logits": self.head(features.mean((2, 3))), "mask": self.mask(features)}


class TwoTaskDataset(torch.utils.data.Dataset):
    """The tiny images with two targets: ``target`` (class) and ``mask`` (bright pixels)."""

    def __init__(self, data, rows):
        self.items = CachedImageDataset(data[0], rows, data[1][rows])
        self.masks = (data[0][rows, ..., 0] > 100).astype(np.float32)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return {**self.items[i], "mask": torch.from_numpy(self.masks[i][None])}


def _two_task_loss(outputs, targets):
    assert set(outputs) == {"logits", "mask"} and set(targets) == {"target", "mask"}
    assert outputs["logits"].dtype == torch.float32
    return (nn.functional.cross_entropy(outputs["logits"], targets["target"])
            + nn.functional.binary_cross_entropy_with_logits(outputs["mask"], targets["mask"]))


class StreamingMetrics:
    """A :class:`selcn.training.BatchMetrics`: counts the batches it sees and their accuracy."""

    def __init__(self):
        self.resets, self.batches = 0, []

    def reset(self):
        self.resets += 1
        self.right = self.seen = 0

    def update(self, outputs, targets):
        self.batches.append(len(targets["target"]))
        self.right += int((outputs["logits"].argmax(1) == targets["target"]).sum())
        self.seen += len(targets["target"])

    def compute(self):
        return {"accuracy": self.right / self.seen}


def _two_task_fit(data, out_dir, metrics_fn):
    set_seed(0)
    train = make_loader(TwoTaskDataset(data, np.arange(32)), 5, shuffle=True, seed=3)
    val = make_loader(TwoTaskDataset(data, np.arange(32, 48)), 8, shuffle=False, seed=3)
    cfg = FitConfig(max_epochs=3, patience=5, lr=3e-2, seed=5, device="cpu", progress=False,
                    extra_inputs=(), targets=("target", "mask"))
    return fit(TwoHeadNet(), train, val, _two_task_loss, out_dir, cfg, metrics_fn=metrics_fn)


def test_a_model_of_several_outputs_and_a_batch_of_several_targets(data, tmp_path):
    """Outputs and targets reach the loss as mappings; whole-set metrics get numpy mappings,
    a streaming metrics object every validation batch (reset once per epoch), and the history
    has no train_accuracy (the outputs are no plain classification)."""
    seen = {}

    def whole_set(outputs, targets):
        seen.update(outputs=outputs, targets=targets)
        return {"accuracy": float((outputs["logits"].argmax(1) == targets["target"]).mean())}

    result = _two_task_fit(data, tmp_path / "whole", whole_set)
    assert seen["outputs"]["logits"].shape == (16, 3)
    assert seen["outputs"]["mask"].shape == (16, 1, 8, 8)
    np.testing.assert_array_equal(seen["targets"]["target"], data[1][32:])
    assert list(result.history.columns) == ["epoch", "train_loss", "val_loss", "accuracy", "lr",
                                            "seconds"]
    assert result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0]
    streaming = StreamingMetrics()
    again = _two_task_fit(data, tmp_path / "streamed", streaming)
    assert streaming.resets == 3 and streaming.batches == [8, 8] * 3
    pd.testing.assert_frame_equal(_losses(again.history), _losses(result.history))
    out = predict(again.model, make_loader(TwoTaskDataset(data, np.arange(32, 48)), 8,
                                           shuffle=False), extra_inputs=())
    assert out["outputs"]["logits"].shape == (16, 3) and out["outputs"]["mask"].dtype == \
        np.float32
    with pytest.raises(ValueError, match="targets"):
        FitConfig(max_epochs=1, patience=1, lr=1e-3, targets=())
