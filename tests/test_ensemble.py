"""Fold ensembles (mean class probability over the fold models) against hand computations."""

import numpy as np
import pandas as pd
import pytest

from selcn.ensemble import ensemble_from_files, ensembles_by_model, fold_ensemble
from selcn.predictions import prediction_frame, probabilities, write_predictions

CLASSES = ["benign", "malignant", "other"]


def _frame(ids, targets, probs):
    return prediction_frame(ids, targets, np.asarray(probs, float), CLASSES)


def test_mean_probability_hand_computed():
    ids, t = ["a", "b"], [0, 1]
    f0 = _frame(ids, t, [[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]])     # fold 0 says 0, 0
    f1 = _frame(ids, t, [[0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])     # fold 1 says 1, 1
    f2 = _frame(ids, t, [[0.4, 0.3, 0.3], [0.3, 0.3, 0.4]])     # fold 2 says 0, 2
    ens = fold_ensemble([f0, f1, f2])
    # a: (0.7 + 0.1 + 0.4) / 3 = 0.4, (0.2 + 0.8 + 0.3) / 3 = 0.4333, 0.5 / 3 -> class 1
    # b: 1.0 / 3, 1.4 / 3, 0.6 / 3 -> class 1
    np.testing.assert_allclose(probabilities(ens), [[0.4, 1.3 / 3, 0.5 / 3],
                                                    [1.0 / 3, 1.4 / 3, 0.2]])
    assert list(ens["pred"]) == [1, 1] and list(ens["target"]) == t
    assert list(ens["image_id"]) == ids
    # the ensemble is not a majority vote: folds vote (0, 1, 0) on "a", the mean says 1
    assert [int(f.loc[0, "pred"]) for f in (f0, f1, f2)] == [0, 1, 0]


def test_rows_matched_by_image_id_not_by_position():
    f0 = _frame(["a", "b"], [0, 1], [[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]])
    f1 = _frame(["b", "a"], [1, 0], [[0.3, 0.7, 0.0], [0.5, 0.5, 0.0]])
    ens = fold_ensemble([f0, f1])
    np.testing.assert_allclose(probabilities(ens), [[0.7, 0.3, 0.0], [0.2, 0.8, 0.0]])
    assert list(ens["image_id"]) == ["a", "b"]


def test_single_fold_is_itself():
    f = _frame(["a", "b", "c"], [0, 1, 2], np.eye(3)[[2, 1, 0]])
    pd.testing.assert_frame_equal(fold_ensemble([f]), f)


def test_inconsistent_folds_are_named():
    f0 = _frame(["a", "b"], [0, 1], np.eye(3)[:2])
    with pytest.raises(ValueError, match="no folds"):
        fold_ensemble([])
    with pytest.raises(ValueError, match="fold 1 and fold 0 cover different images"):
        fold_ensemble([f0, _frame(["a", "c"], [0, 1], np.eye(3)[:2])])
    with pytest.raises(ValueError, match="image b has target 2 in fold 1"):
        fold_ensemble([f0, _frame(["a", "b"], [0, 2], np.eye(3)[:2])])
    other = prediction_frame(["a", "b"], [0, 1], np.eye(2), ["x", "y"])
    with pytest.raises(ValueError, match="classes"):
        fold_ensemble([f0, other])
    with pytest.raises(ValueError, match="twice"):
        fold_ensemble([_frame(["a", "a"], [0, 0], np.eye(3)[:2])])


def test_ensembles_by_model_from_contract_paths(tmp_path):
    probs = {("none", "off"): ([[0.6, 0.4, 0.0]], [[0.0, 1.0, 0.0]]),    # mean (.3, .7) -> 1
             ("lae", "seg"): ([[0.9, 0.1, 0.0]], [[0.7, 0.3, 0.0]])}    # mean (.8, .2) -> 0
    for (cm, sm), per_fold in probs.items():
        for k, p in enumerate(per_fold):
            write_predictions(tmp_path / f"results/lesion/ham10000/{cm}-{sm}/fold{k}/"
                              "predictions_test.csv", ["ISIC_1"], [0], np.asarray(p), CLASSES)
    paths = sorted(tmp_path.glob("results/lesion/ham10000/*/fold*/predictions_test.csv"))
    ens = ensembles_by_model(paths)
    assert list(ens) == [1, 11]
    assert int(ens[1]["pred"].item()) == 1 and int(ens[11]["pred"].item()) == 0
    np.testing.assert_allclose(probabilities(ens[11]), [[0.8, 0.2, 0.0]])
    one = ensemble_from_files([p for p in paths if "lae-seg" in str(p)])
    pd.testing.assert_frame_equal(one, ens[11])
    val = tmp_path / "results/lesion/ham10000/none-off/fold0/predictions_val.csv"
    write_predictions(val, ["ISIC_2"], [0], np.eye(3)[:1], CLASSES)
    with pytest.raises(ValueError, match="mix datasets / splits"):
        ensembles_by_model(paths + [val])
