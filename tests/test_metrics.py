"""Classification and segmentation metrics against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
)

from selcn.metrics import classification_metrics, per_class_report, segmentation_metrics


def test_classification_metrics_hand_example():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # recall per class: 2/3, 1/2, 1 -> balanced accuracy = macro recall
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["recall"] == pytest.approx(m["balanced_accuracy"])
    # precision per class: 1, 1/2, 1/2
    assert m["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert set(m) == {"accuracy", "balanced_accuracy", "kappa", "precision", "recall", "f1"}


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_classification_metrics_match_sklearn(average):
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 7, 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 7, 300))
    m = classification_metrics(y_true, y_pred, average=average)
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert m["kappa"] == pytest.approx(cohen_kappa_score(y_true, y_pred))
    assert m["precision"] == pytest.approx(precision_score(y_true, y_pred, average=average))
    assert m["recall"] == pytest.approx(recall_score(y_true, y_pred, average=average))
    assert m["f1"] == pytest.approx(f1_score(y_true, y_pred, average=average))


def test_classification_labels_count_absent_classes():
    y = [0, 1, 0, 1]
    assert classification_metrics(y, y)["f1"] == 1.0
    assert classification_metrics(y, y, labels=[0, 1, 2])["f1"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="equal length"):
        classification_metrics([0, 1], [0])


def test_per_class_report():
    names = ["akiec", "bcc", "bkl"]
    table = per_class_report([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], names)
    assert list(table.index) == names and list(table.columns) == ["precision", "recall", "f1",
                                                                   "support"]
    assert table.loc["bcc", "precision"] == pytest.approx(2 / 3)
    assert table.loc["akiec", "recall"] == pytest.approx(0.5)
    assert table["support"].tolist() == [2, 3, 0]
    assert table.loc["bkl", "f1"] == 0.0


def _random_masks(seed, n=5, size=16):
    rng = np.random.default_rng(seed)
    gt = rng.random((n, size, size)) < 0.3
    pred = np.where(rng.random((n, size, size)) < 0.8, gt, ~gt)
    return pred, gt


def _sklearn_seg(pred, gt):
    p, g = pred.ravel().astype(int), gt.ravel().astype(int)
    return {"dice": f1_score(g, p), "jaccard": jaccard_score(g, p),
            "sensitivity": recall_score(g, p), "specificity": recall_score(g, p, pos_label=0),
            "accuracy": accuracy_score(g, p)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segmentation_metrics_pooled_match_sklearn(seed):
    pred, gt = _random_masks(seed)
    ours = segmentation_metrics(pred.astype(np.uint8), gt)
    for name, value in _sklearn_seg(pred, gt).items():
        assert ours[name] == pytest.approx(value), name
        assert isinstance(ours[name], float)


def test_segmentation_metrics_per_image_match_sklearn():
    pred, gt = _random_masks(3, n=4)
    ours = segmentation_metrics(pred, gt, per_image=True)
    for i in range(4):
        for name, value in _sklearn_seg(pred[i], gt[i]).items():
            assert ours[name][i] == pytest.approx(value), (i, name)
    assert ours["dice"].shape == (4,)
    # a single (H, W) mask is one image
    single = segmentation_metrics(pred[0], gt[0])
    assert single["dice"] == pytest.approx(ours["dice"][0])


def test_segmentation_metrics_empty_masks():
    empty = np.zeros((2, 8, 8), dtype=bool)
    m = segmentation_metrics(empty, empty)
    assert m == {"dice": 1.0, "jaccard": 1.0, "sensitivity": 1.0, "specificity": 1.0,
                 "accuracy": 1.0}
    full = np.ones((2, 8, 8), dtype=bool)
    m = segmentation_metrics(empty, full)
    assert m["dice"] == 0.0 and m["sensitivity"] == 0.0 and m["accuracy"] == 0.0
    with pytest.raises(ValueError, match="differ"):
        segmentation_metrics(empty, full[:1])


# ---- ISIC-standard metrics from the probabilities (issue 22.3) ------------------------------
from selcn.metrics import (  # noqa: E402
    expected_calibration_error,
    probability_metrics,
    reliability_bins,
)


def _probs(rng, n, c):
    y = rng.integers(0, c, n)
    p = rng.dirichlet(np.ones(c), n)
    p[np.arange(n), y] += rng.uniform(0, 1, n)
    return y, p / p.sum(axis=1, keepdims=True)


def test_auroc_matches_sklearn_one_vs_rest():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    y, p = _probs(rng, 300, 7)
    names = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    m = probability_metrics(y, p, names)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    per_class = roc_auc_score(y, p, multi_class="ovr", average=None)
    for c, name in enumerate(names):
        assert m[f"auroc_{name}"] == pytest.approx(per_class[c])
        assert m[f"auroc_{name}"] == pytest.approx(roc_auc_score(y == c, p[:, c]))
    assert "average_precision" not in m


def test_binary_auroc_and_average_precision_match_sklearn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(8)
    y, p = _probs(rng, 200, 2)
    m = probability_metrics(y, p, ["benign", "malignant"])
    assert m["auroc"] == pytest.approx(roc_auc_score(y, p[:, 1]))
    assert m["auroc_malignant"] == pytest.approx(m["auroc"])
    assert m["average_precision"] == pytest.approx(average_precision_score(y, p[:, 1]))


def test_auroc_of_an_absent_class_is_undefined_and_left_out_of_the_mean():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1]])
    m = probability_metrics(y, p)
    assert np.isnan(m["auroc_2"])                               # class 2 never occurs
    assert m["auroc_0"] == pytest.approx(1.0) and m["auroc_1"] == pytest.approx(1.0)
    assert m["auroc"] == pytest.approx(1.0)


def test_ece_hand_computed():
    """Top-label confidences 0.95, 0.9, 0.65, 0.55, each alone in its bin of width 1/15
    ((0.9333, 1], (0.8667, 0.9333], (0.6, 0.6667], (0.5333, 0.6]); right: yes, no, yes, no.
    ECE = (|1 - .95| + |0 - .9| + |1 - .65| + |0 - .55|) / 4 = (.05 + .9 + .35 + .55) / 4."""
    p = np.array([[0.95, 0.05], [0.1, 0.9], [0.65, 0.35], [0.45, 0.55]])
    y = np.array([0, 0, 0, 0])
    assert expected_calibration_error(y, p) == pytest.approx((0.05 + 0.9 + 0.35 + 0.55) / 4)
    # two bins of width 1/2: (0, .5] empty, (.5, 1] holds all: |acc .5 - mean conf .7625|
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(abs(0.5 - 0.7625))
    bins = reliability_bins(y, p, n_bins=2)
    assert list(bins["n"]) == [0, 4] and np.isnan(bins.loc[0, "accuracy"])
    assert bins.loc[1, "confidence"] == pytest.approx(0.7625)
    # the right edge belongs to its bin: confidence 0.5 falls in (0, .5]
    assert list(reliability_bins([0], [[0.5, 0.5]], n_bins=2)["n"]) == [1, 0]
    # perfectly calibrated in each bin: ECE 0
    assert expected_calibration_error([0, 1], [[0.5, 0.5], [0.5, 0.5]], n_bins=2) == 0.0
    assert probability_metrics(y, p)["ece"] == pytest.approx(expected_calibration_error(y, p))
    with pytest.raises(ValueError, match="class indices"):
        expected_calibration_error([2], [[0.5, 0.5]])
