import pytest
import torch
from torch import nn

from selcn.checkpoints import load_model_file, save_model_file


def test_model_file_round_trip_keeps_meta_and_weights(tmp_path):
    model = nn.Linear(3, 2)
    path = tmp_path / "sub" / "model.pt"
    save_model_file(path, model, required=("arch",), arch="linear", class_names=["a", "b"])
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temp left
    blob = load_model_file(path, required=("arch", "class_names"), what="test model")
    assert blob["arch"] == "linear" and blob["class_names"] == ["a", "b"]
    assert torch.equal(blob["state_dict"]["weight"], model.weight.detach())


def test_save_model_file_names_missing_metadata(tmp_path):
    with pytest.raises(ValueError, match="missing metadata arch, size"):
        save_model_file(tmp_path / "model.pt", nn.Linear(1, 1), required=("arch", "size"))
    assert not (tmp_path / "model.pt").exists()


def test_load_model_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="test model not found"):
        load_model_file(tmp_path / "model.pt", required=(), what="test model")
    torch.save({"arch": "x"}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"model.pt: not a test model file \(missing size, "
                                         r"state_dict\)"):
        load_model_file(tmp_path / "model.pt", required=("arch", "size"), what="test model")
