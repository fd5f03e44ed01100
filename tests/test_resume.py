"""Resume states (selcn.resume): the resume property, the job keys of resume states, unreadable
and unsafe state files, file identity, clearing a state."""

import os
import pickle
import random

import numpy as np
import pandas as pd
import pytest
import torch

from selcn.data.datasets import CachedImageDataset, make_loader
from selcn.resume import (
    _STATE_KEYS,
    RESUME_STATE,
    ResumeKey,
    _key_difference,
    _rng_state,
    clear_resume_state,
    file_identity,
    load_state,
    restore_random_state,
    save_state,
)
from selcn.training import FitConfig
from test_training import ScriptedValLoss, _accuracy, _fit, _losses, tiny_data


@pytest.fixture(scope="module")
def data():
    return tiny_data()


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
    state = torch.load(tmp_path / "resumed" / RESUME_STATE, weights_only=True)
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


# ---- no pickle runs ---------------------------------------------------------------------
class Payload:
    """Unpickled, it would create the file ``marker`` (``open(marker, "w")``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_a_state_holding_a_pickled_object_is_refused_unread(data, tmp_path, capfd, writer):
    whole = _fit(data, tmp_path / "whole", epochs=2)
    marker = tmp_path / "payload-ran"
    state = tmp_path / "planted" / RESUME_STATE
    state.parent.mkdir(parents=True)
    planted = {"fingerprint": "x", "epoch": 1, "payload": Payload(marker)}
    if writer == "torch.save":
        torch.save(planted, state)
    else:
        state.write_bytes(pickle.dumps(planted, protocol=4))
    # the payload is real: an unrestricted unpickler runs it
    if writer == "torch.save":
        torch.load(state, weights_only=False)
    else:
        pickle.loads(state.read_bytes())
    assert marker.is_file()
    marker.unlink()

    capfd.readouterr()
    planted_run = _fit(data, tmp_path / "planted", epochs=2)
    assert not marker.exists()                                    # the payload did not run
    assert [t["epoch"] for t in planted_run.timings] == [1, 2]    # trained from epoch 1
    pd.testing.assert_frame_equal(_losses(planted_run.history), _losses(whole.history))
    err = capfd.readouterr().err
    notes = [line for line in err.splitlines() if "not resuming" in line]
    assert len(notes) == 1, err
    assert notes[0].startswith(f"[training] not resuming from {state}: unreadable (")
    assert notes[0].endswith("; starting afresh")
    assert "UnpicklingError" in notes[0]
    # the planted file is replaced by a state of this job, which loads without pickles
    assert set(torch.load(state, weights_only=True)) >= set(_STATE_KEYS)


def test_the_saved_state_loads_with_weights_only(data, tmp_path):
    _fit(data, tmp_path, epochs=1)
    state = torch.load(tmp_path / RESUME_STATE, weights_only=True)
    assert set(state) == {*_STATE_KEYS, "key"}
    assert state["epoch"] == 1 and state["history"][0]["epoch"] == 1
    rng = state["rng"]
    assert isinstance(rng["python"], tuple) and isinstance(rng["numpy"]["key"], torch.Tensor)
    assert all(isinstance(g, torch.Tensor) for g in state["loader"])


def test_random_state_round_trips_through_a_weights_only_file(data, tmp_path):
    images, targets, cams = data
    loader = make_loader(CachedImageDataset(images, np.arange(8), targets[:8], cams=cams), 4,
                         shuffle=True, seed=1)
    model = torch.nn.Linear(2, 2)
    cfg = FitConfig(max_epochs=1, patience=1, lr=1e-3, device="cpu", progress=False)
    key = ResumeKey.for_job(model, cfg, loader, {"config": {"x": 1}})
    progress = {"epoch": 1, "bad_epochs": 0, "best_loss": 0.5, "best_epoch": 1, "best": None,
                "model": model.state_dict(), "optimizer": {}, "scaler": {}, "history": []}
    random.seed(1)
    np.random.seed(2)
    np.random.standard_normal()  # numpy keeps a cached gaussian: it must survive too
    torch.manual_seed(3)
    next(iter(loader))
    path = tmp_path / RESUME_STATE
    save_state(path, key, progress, loader)

    def draws():
        return (random.random(), np.random.standard_normal(), np.random.rand(),
                torch.rand(3).tolist(), [b["row"].tolist() for b in loader])

    expected = draws()
    assert _rng_state()["numpy"]["pos"] != state_numpy_pos(path)  # the draws moved the RNGs on
    state = load_state(path, key)
    assert state is not None and state["best_loss"] == 0.5
    restore_random_state(state, loader)
    assert draws() == expected
    with pytest.raises(ValueError, match="progress lacks history"):
        save_state(path, key, {k: v for k, v in progress.items() if k != "history"}, loader)


def state_numpy_pos(path):
    return torch.load(path, weights_only=True)["rng"]["numpy"]["pos"]


def test_resume_key_is_canonical_and_frozen(data):
    images, targets, cams = data
    loader = make_loader(CachedImageDataset(images, np.arange(8), targets[:8], cams=cams), 4,
                         shuffle=True)
    cfg = FitConfig(max_epochs=2, patience=1, lr=1e-3, device="cpu", progress=False)
    model = torch.nn.Linear(2, 2)
    key = ResumeKey.for_job(model, cfg, loader, {"inputs": {"a": (1, 2)}, "config": {}})
    again = ResumeKey.for_job(model, FitConfig(**{**vars(cfg), "device": "auto",
                                                  "progress": True}),
                              loader, {"config": {}, "inputs": {"a": [1, 2]}})
    assert key == again and key.fingerprint == again.fingerprint  # device / progress: not part
    assert key.spec["job_key"] == {"config": {}, "inputs": {"a": [1, 2]}}
    assert key.spec["n_train"] == 8 and key.spec["batch_size"] == 4
    other = ResumeKey.for_job(model, FitConfig(**{**vars(cfg), "seed": 1}), loader, None)
    assert other.fingerprint != key.fingerprint
    assert _key_difference(key.spec, other.spec) == "job_key (none in this job), seed (0 → 1)"
    with pytest.raises(AttributeError):
        key.canonical = "{}"
