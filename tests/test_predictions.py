"""Prediction CSV format (docs/contracts.md): write / read round trip and bad input."""

import numpy as np
import pandas as pd
import pytest

from selcn.predictions import (
    class_names,
    prediction_frame,
    probabilities,
    read_predictions,
    write_predictions,
)

CLASSES = ["asymmetric", "symmetric"]


def test_round_trip_keeps_ids_targets_and_probabilities(tmp_path):
    ids = ["0001", "ISIC_0024306", "IMD002"]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    path = tmp_path / "sub" / "predictions_val.csv"
    written = write_predictions(path, ids, [0, 1, 1], probs, CLASSES)
    assert not list(path.parent.glob(".*.tmp"))
    table = read_predictions(path, expected_classes=CLASSES)
    assert list(table.columns) == ["image_id", "target", "pred", "prob_asymmetric",
                                   "prob_symmetric"]
    assert table["image_id"].tolist() == ids                 # leading zeros kept
    assert table["target"].tolist() == [0, 1, 1]
    assert table["pred"].tolist() == [0, 1, 0]               # tie -> first class
    np.testing.assert_allclose(probabilities(table), probs)
    assert class_names(table) == CLASSES
    pd.testing.assert_frame_equal(table, written)


def test_frame_checks_shapes():
    with pytest.raises(ValueError, match=r"expected \(2, 2\)"):
        prediction_frame(["a", "b"], [0, 1], np.ones((2, 3)) / 3, CLASSES)
    with pytest.raises(ValueError, match="2 targets for 3 images"):
        prediction_frame(["a", "b", "c"], [0, 1], np.ones((3, 2)) / 2, CLASSES)


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.drop(columns="pred"), "'pred'"),
    (lambda d: d.assign(target=[0, 2]), "'target'"),
    (lambda d: d.assign(pred=[0.5, 1]), "'pred'"),
    (lambda d: d.assign(prob_symmetric=[0.1, "x"]), "'prob_symmetric'"),
    (lambda d: d.assign(prob_symmetric=[0.1, 1.5]), "'prob_symmetric'"),
    (lambda d: d.drop(columns=["prob_asymmetric", "prob_symmetric"]), "prob_<class>"),
])
def test_bad_files_name_file_and_field(tmp_path, edit, field):
    good = prediction_frame(["a", "b"], [0, 1], np.array([[0.7, 0.3], [0.4, 0.6]]), CLASSES)
    path = tmp_path / "predictions_test.csv"
    edit(good).to_csv(path, index=False)
    with pytest.raises(ValueError) as err:
        read_predictions(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_expected_classes_and_missing_file(tmp_path):
    path = tmp_path / "p.csv"
    write_predictions(path, ["a"], [0], np.array([[0.6, 0.4]]), CLASSES)
    with pytest.raises(ValueError, match="expected"):
        read_predictions(path, expected_classes=["benign", "malignant"])
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_predictions(tmp_path / "nope.csv")
