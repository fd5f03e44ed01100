"""The training core: resume property, job keys of resume states, early stopping, best weights,
training accuracy, determinism, predict."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from selcn.data.datasets import CachedImageDataset, make_loader
from selcn.training import (
    RESUME_STATE,
    FitConfig,
    clear_resume_state,
    file_identity,
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


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 48
    targets = rng.integers(0, 3, n)
    images = rng.integers(0, 60, (n, 8, 8, 3), dtype=np.uint8)
    for i, t in enumerate(targets):  # a learnable signal: class t brightens channel t
        images[i, :, :, t] += 150
    cams = rng.random((n, 4, 4)).astype(np.float16)
    return images, targets, cams


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


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_gives_the_same_history(data, tmp_path, num_workers):
    whole = _fit(data, tmp_path / "whole", num_workers=num_workers)

    calls = {"n": 0}

    def dies_in_epoch_2(outputs, targets):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")  # mid-epoch 2: after training, before saving
        return _accuracy(outputs, targets)

    with pytest.raises(KeyboardInterrupt):
        _fit(data, tmp_path / "resumed", num_workers=num_workers, metrics_fn=dies_in_epoch_2)
    partial = pd.read_csv(tmp_path / "resumed" / "history.csv")
    assert partial["epoch"].tolist() == [1]
    assert (tmp_path / "resumed" / RESUME_STATE).is_file()

    torch.manual_seed(123)  # the restarted job's RNG and init differ: the state must win
    resumed = _fit(data, tmp_path / "resumed", num_workers=num_workers)
    pd.testing.assert_frame_equal(_losses(resumed.history), _losses(whole.history))
    on_disk = pd.read_csv(tmp_path / "resumed" / "history.csv")
    pd.testing.assert_frame_equal(_losses(on_disk), _losses(pd.read_csv(tmp_path / "whole" /
                                                                        "history.csv")))
    for a, b in zip(resumed.model.state_dict().values(), whole.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert resumed.best_epoch == whole.best_epoch


def test_resume_restores_best_weights_saved_as_the_model(data, tmp_path):
    """The state keeps the best weights once when they are the epoch's own (``best`` None)."""
    val_losses = [1.0, 2.0, 3.0]  # best epoch 1

    def run(out_dir, finished_epochs=0, die_at=None):
        snapshots = dict.fromkeys(range(1, finished_epochs + 1))
        calls = {"n": 0}

        def metrics(outputs, targets):
            calls["n"] += 1
            if calls["n"] == die_at:
                raise KeyboardInterrupt("killed")  # after validating, before saving
            snapshots[len(snapshots) + 1] = None
            return _accuracy(outputs, targets)

        return _fit(data, out_dir, metrics_fn=metrics,
                    loss_fn=ScriptedValLoss(val_losses, snapshots))

    whole = run(tmp_path / "whole")
    assert whole.best_epoch == 1
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", die_at=2)
    state = torch.load(tmp_path / "resumed" / RESUME_STATE, weights_only=False)
    assert state["epoch"] == state["best_epoch"] == 1 and state["best"] is None
    resumed = run(tmp_path / "resumed", finished_epochs=1)
    assert resumed.best_epoch == 1 and [t["epoch"] for t in resumed.timings] == [2, 3]
    pd.testing.assert_frame_equal(_losses(resumed.history), _losses(whole.history))
    for a, b in zip(resumed.model.state_dict().values(), whole.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_finished_run_is_not_retrained_and_other_settings_start_afresh(data, tmp_path,
                                                                       capfd):
    first = _fit(data, tmp_path, epochs=2)
    again = _fit(data, tmp_path, epochs=2)
    pd.testing.assert_frame_equal(again.history, first.history)  # same seconds: not rerun
    assert again.timings == []
    capfd.readouterr()
    longer = _fit(data, tmp_path, epochs=3)  # max_epochs is part of the key: a fresh run
    assert [t["epoch"] for t in longer.timings] == [1, 2, 3]
    assert "differs in max_epochs (2 → 3)" in capfd.readouterr().err
    pd.testing.assert_frame_equal(_losses(longer.history.iloc[:2]), _losses(first.history))
    other = _fit(data, tmp_path, epochs=1, lr=1e-3)
    assert other.history["epoch"].tolist() == [1]
    assert other.history["train_loss"].iloc[0] != first.history["train_loss"].iloc[0]
    assert "differs in lr (0.03 → 0.001), max_epochs (3 → 1);" in capfd.readouterr().err


def test_unreadable_resume_state_starts_afresh(data, tmp_path, capfd):
    whole = _fit(data, tmp_path / "whole", epochs=2)
    state = tmp_path / "torn" / RESUME_STATE
    state.parent.mkdir(parents=True)
    state.write_bytes(b"half a file")
    capfd.readouterr()
    torn = _fit(data, tmp_path / "torn", epochs=2)
    pd.testing.assert_frame_equal(_losses(torn.history), _losses(whole.history))
    assert [t["epoch"] for t in torn.timings] == [1, 2]
    notes = [line for line in capfd.readouterr().err.splitlines() if "not resuming" in line]
    assert len(notes) == 1 and "unreadable" in notes[0] and str(state) in notes[0]
    # a readable file that is not a resume state (a dict without its entries) likewise
    torch.save({"fingerprint": "x", "epoch": 1}, state)
    again = _fit(data, tmp_path / "torn", epochs=2)
    assert [t["epoch"] for t in again.timings] == [1, 2]
    notes = [line for line in capfd.readouterr().err.splitlines() if "not resuming" in line]
    assert len(notes) == 1 and "unreadable" in notes[0] and "lacks bad_epochs" in notes[0]


def _job_key(inputs, lr=1e-3):
    return {"config": {"train": {"lr": lr, "batch_size": 5}, "seed": 0, "protocol": "thesis"},
            "inputs": file_identity(inputs)}


def _resume_notes(capfd):
    return [line for line in capfd.readouterr().err.splitlines()
            if "not resuming" in line or "resumed from" in line]


def test_state_of_another_config_or_other_inputs_is_not_reused(data, tmp_path, capfd):
    masks, splits = tmp_path / "masks.npy", tmp_path / "splits.csv"
    masks.write_bytes(b"m" * 10)
    splits.write_text("id,fold\n")
    out = tmp_path / "job"
    first = _fit(data, out, epochs=2, job_key=_job_key([masks, splits]))
    assert [t["epoch"] for t in first.timings] == [1, 2]
    capfd.readouterr()

    same = _fit(data, out, epochs=2, job_key=_job_key([masks, splits]))  # the same job
    assert same.timings == []
    assert _resume_notes(capfd) == [f"[training] resumed from {out / RESUME_STATE} after epoch 2"]

    other_config = _fit(data, out, epochs=2, job_key=_job_key([masks, splits], lr=1e-2))
    assert [t["epoch"] for t in other_config.timings] == [1, 2]
    notes = _resume_notes(capfd)
    assert len(notes) == 1
    assert "written for another job, differs in config (train.lr); starting afresh" in notes[0]

    # an upstream rerun rewrites the masks: same size, newer mtime
    stat = masks.stat()
    masks.write_bytes(b"M" * 10)
    os.utime(masks, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    other_inputs = _fit(data, out, epochs=2, job_key=_job_key([masks, splits], lr=1e-2))
    assert [t["epoch"] for t in other_inputs.timings] == [1, 2]
    notes = _resume_notes(capfd)
    assert len(notes) == 1 and f"differs in inputs ({masks})" in notes[0]
    pd.testing.assert_frame_equal(_losses(other_inputs.history), _losses(other_config.history))

    no_key = _fit(data, out, epochs=2)  # a job key dropped is a difference too
    assert [t["epoch"] for t in no_key.timings] == [1, 2]
    notes = _resume_notes(capfd)
    assert len(notes) == 1 and "differs in job_key (none in this job);" in notes[0]


def test_an_interrupted_job_with_a_key_resumes(data, tmp_path):
    inputs = tmp_path / "cams.npy"
    inputs.write_bytes(b"c" * 7)
    whole = _fit(data, tmp_path / "whole", job_key=_job_key([inputs]))
    calls = {"n": 0}

    def dies_in_epoch_2(outputs, targets):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return _accuracy(outputs, targets)

    with pytest.raises(KeyboardInterrupt):
        _fit(data, tmp_path / "resumed", metrics_fn=dies_in_epoch_2, job_key=_job_key([inputs]))
    resumed = _fit(data, tmp_path / "resumed", job_key=_job_key([inputs]))
    assert [t["epoch"] for t in resumed.timings] == [2, 3]
    pd.testing.assert_frame_equal(_losses(resumed.history), _losses(whole.history))


def test_key_difference_names_every_differing_part():
    from selcn.training import _key_difference

    old = {"job_key": {"config": {"train": {"lr": 0.1}, "x": None}, "inputs": {"a": [1, 2]}},
           "lr": 0.1, "max_epochs": 5}
    new = {"job_key": {"config": {"train": {"lr": 0.2}}, "inputs": {"a": [1, 2]}},
           "lr": 0.1, "max_epochs": 6}
    assert _key_difference(old, new) == "config (train.lr and 1 more), max_epochs (5 → 6)"
    assert _key_difference({"lr": 1}, {"job_key": {"config": {}}, "lr": 1}) == \
        "job_key (none in the state)"


def test_file_identity(tmp_path):
    a = tmp_path / "a.npy"
    a.write_bytes(b"abc")
    identity = file_identity([a, None])
    assert identity == {str(a): [3, a.stat().st_mtime_ns]}
    with pytest.raises(FileNotFoundError, match="does not exist"):
        file_identity([tmp_path / "missing.npy"])
    with pytest.raises(IsADirectoryError, match="directory"):
        file_identity([tmp_path])


def test_clear_resume_state_removes_the_state(data, tmp_path):
    result = _fit(data, tmp_path, epochs=2)
    assert (tmp_path / RESUME_STATE).is_file()
    assert clear_resume_state(tmp_path) is True
    assert not (tmp_path / ".resume").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]
    assert clear_resume_state(tmp_path) is False
    rerun = _fit(data, tmp_path, epochs=2)  # a forced rerun trains from epoch 1
    assert [t["epoch"] for t in rerun.timings] == [1, 2]
    pd.testing.assert_frame_equal(_losses(rerun.history), _losses(result.history))


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
    cfg = FitConfig(max_epochs=2, patience=5, lr=1e-2, device="cpu", progress=False)
    result = fit(TinySegNet(), make_loader(train, 8, shuffle=True), make_loader(val, 8,
                 shuffle=False), nn.BCEWithLogitsLoss(), tmp_path, cfg, extra_inputs=())
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
