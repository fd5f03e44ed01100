"""Statistics of the report on hand-made predictions with known answers."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from selcn.report.stats import (
    accuracy_samples,
    baseline_comparison,
    baseline_comparison_from_files,
    bootstrap_difference,
    holm,
    macro_f1_samples,
    mcnemar_exact,
)


def test_mcnemar_hand_computed():
    # b = 1 (baseline right, model wrong), c = 6 (baseline wrong, model right), 3 ties.
    # Exact two-sided p = 2 * P(X <= 1 | n=7, 1/2) = 2 * (1 + 7) / 128 = 0.125.
    base = np.array([1, 0, 0, 0, 0, 0, 0, 1, 1, 0], dtype=bool)
    model = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 0], dtype=bool)
    res = mcnemar_exact(base, model)
    assert (res["b"], res["c"]) == (1, 6)
    assert res["p_value"] == pytest.approx(0.125)


def test_mcnemar_no_discordant_pairs_and_symmetric_case():
    same = np.array([1, 0, 1], dtype=bool)
    assert mcnemar_exact(same, same) == {"b": 0, "c": 0, "p_value": 1.0}
    # b = c = 5: p = 1
    base = np.array([1] * 5 + [0] * 5, dtype=bool)
    assert mcnemar_exact(base, ~base)["p_value"] == pytest.approx(1.0)
    # b = 0, c = 5: p = 2 / 32
    assert mcnemar_exact(np.zeros(5, bool), np.ones(5, bool))["p_value"] == pytest.approx(1 / 16)
    with pytest.raises(ValueError, match="shapes"):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))


def test_vectorised_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 50)
    p = np.where(rng.random(50) < 0.6, y, rng.integers(0, 4, 50))
    idx = rng.integers(0, 50, size=(7, 50))
    labels = [0, 1, 2, 3]
    for r in range(7):
        yt, yp = y[idx[r]], p[idx[r]]
        assert accuracy_samples(y, p, idx)[r] == pytest.approx(np.mean(yt == yp))
        assert macro_f1_samples(y, p, idx, labels)[r] == pytest.approx(
            f1_score(yt, yp, average="macro", labels=labels, zero_division=0))


def _fold(target, base, model, ids=None):
    ids = ids or [f"img{i}" for i in range(len(target))]
    return pd.DataFrame({"image_id": ids, "target": target, "pred_base": base,
                         "pred_model": model})


def test_bootstrap_known_answers():
    # identical classifiers: difference 0 and a degenerate interval
    f = _fold([0, 1, 1, 0], [0, 1, 0, 0], [0, 1, 0, 0])
    assert bootstrap_difference([f, f], n_boot=50) == {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0,
                                                       "p_value": 1.0}
    # model always right, baseline always wrong: +1 on every resample
    f = _fold([0, 1, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0])
    res = bootstrap_difference([f], n_boot=50)
    assert res == {"diff": 1.0, "ci_low": 1.0, "ci_high": 1.0,
                   "p_value": pytest.approx(2 / 51)}           # never 0: (0 + 1) / (50 + 1)
    # fold 0: +0.2, fold 1: +0.4 (5 images) -> mean +0.3; interval contains it
    t = [0, 0, 0, 0, 0]
    f0 = _fold(t, [0, 0, 0, 1, 1], [0, 0, 0, 0, 1])
    f1 = _fold(t, [0, 0, 0, 1, 1], [0, 0, 0, 0, 0])
    res = bootstrap_difference([f0, f1], n_boot=400, seed=1)
    assert res["diff"] == pytest.approx(0.3)
    assert res["ci_low"] <= 0.3 <= res["ci_high"]
    assert res["ci_low"] >= 0.0 and res["ci_high"] <= 0.8


def test_bootstrap_interval_narrows_with_more_images():
    rng = np.random.default_rng(3)

    def width(n):
        y = np.zeros(n, int)
        base = (rng.random(n) < 0.3).astype(int)     # baseline wrong on ~30 %
        model = np.zeros(n, int)                     # model always right
        r = bootstrap_difference([_fold(list(y), list(base), list(model))], n_boot=300)
        return r["ci_high"] - r["ci_low"]

    assert width(400) < width(25)


def test_bootstrap_shared_resample_needs_same_images():
    f0 = _fold([0, 1], [0, 1], [0, 1], ids=["a", "b"])
    f1 = _fold([0, 1], [0, 1], [0, 1], ids=["a", "c"])
    with pytest.raises(ValueError, match="same images"):
        bootstrap_difference([f0, f1], shared_resample=True)
    assert bootstrap_difference([f0, f1], n_boot=10)["diff"] == 0.0


def _long(model, cm, sm, fold, target, pred, n_classes=3, confidence=1.0):
    """Predictions of one fold; the predicted class gets probability ``confidence``."""
    df = pd.DataFrame({"model": model, "classifier_mask": cm, "symmetry_mask": sm,
                       "fold": fold, "image_id": [f"i{k}" for k in range(len(target))],
                       "target": target, "pred": pred})
    conf = np.broadcast_to(np.asarray(confidence, float), (len(pred),))
    for c in range(n_classes):
        df[f"prob_c{c}"] = np.where(np.asarray(pred) == c, conf, (1 - conf) / (n_classes - 1))
    return df


def test_baseline_comparison_groups_and_mcnemar():
    t = [0, 1, 2, 0, 1, 2]
    frames = []
    for fold in (0, 1):
        frames.append(_long(1, "none", "off", fold, t, [0, 1, 2, 1, 2, 0]))   # 3/6 right
        frames.append(_long(2, "none", "none", fold, t, [0, 1, 2, 0, 1, 2]))  # 6/6 right
        frames.append(_long(7, "seg", "seg", fold, t, t))                      # no baseline 5
    res = baseline_comparison(pd.concat(frames), n_boot=100)
    assert list(res["model"]) == [2]
    row = res.iloc[0]
    assert row["baseline"] == 1 and row["n_folds"] == 2 and row["n_images"] == 6
    assert row["accuracy_diff"] == pytest.approx(0.5)
    assert row["f1_diff"] == pytest.approx(1.0 - f1_score(t, [0, 1, 2, 1, 2, 0], average="macro"))
    # one observation per image: the fold ensembles (here equal to each fold), b = 0, c = 3
    # -> p = 2 * (1 / 2) ** 3 = 0.25; pooling the 2 folds would give b = 0, c = 6, p = 1 / 32
    assert (row["mcnemar_b"], row["mcnemar_c"]) == (0, 3)
    assert row["mcnemar_p"] == pytest.approx(0.25)
    assert row["mcnemar_p_fold0"] == row["mcnemar_p_fold1"] == pytest.approx(0.25)
    assert row["mcnemar_p_holm"] == pytest.approx(0.25)                   # one comparison
    assert (row["ensemble_accuracy_base"], row["ensemble_accuracy_model"]) == (0.5, 1.0)


def test_baseline_comparison_from_files(tmp_path):
    t = [0, 1, 1, 0]
    for cm, sm, pred in (("lae", "off", [0, 0, 1, 1]), ("lae", "lae", [0, 1, 1, 1])):
        for k in (0, 1):
            d = tmp_path / "results/lesion/ham10000" / f"{cm}-{sm}" / f"fold{k}"
            d.mkdir(parents=True)
            pd.DataFrame({"image_id": ["a", "b", "c", "d"], "target": t, "pred": pred,
                          "prob_x": 0.5, "prob_y": 0.5}).to_csv(d / "predictions_test.csv",
                                                                 index=False)
    paths = sorted(tmp_path.glob("results/lesion/ham10000/*/fold*/predictions_test.csv"))
    res = baseline_comparison_from_files(paths, n_boot=20)
    assert list(res["model"]) == [12] and res.iloc[0]["baseline"] == 9
    assert res.iloc[0]["accuracy_diff"] == pytest.approx(0.25)



def test_holm_hand_computed():
    # m = 4, sorted 0.005, 0.01, 0.03, 0.04 -> 4 * 0.005 = 0.02, 3 * 0.01 = 0.03,
    # 2 * 0.03 = 0.06, max(0.06, 1 * 0.04) = 0.06; back in the input order
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # capped at 1; NaN = no test, not counted: m = 2
    np.testing.assert_allclose(holm([0.6, np.nan, 0.2]), [0.6, np.nan, 0.4])
    np.testing.assert_allclose(holm([0.7, 0.8]), [1.0, 1.0])
    assert holm([]).size == 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


def test_holm_over_the_comparisons_of_the_table():
    # nine models against their baselines; model 2 much better than model 1, others equal
    t = [0] * 12
    frames = []
    for fold in range(2):
        for number, (cm, sm) in enumerate([(cm, sm) for cm in ("none", "seg", "lae")
                                           for sm in ("off", "none", "seg", "lae")], start=1):
            pred = [1] * 10 + [0] * 2 if sm == "off" else [0] * 12
            if number not in (1, 2, 5, 9):
                pred = [1] * 10 + [0] * 2
            frames.append(_long(number, cm, sm, fold, t, pred))
    res = baseline_comparison(pd.concat(frames), n_boot=50).set_index("model")
    assert list(res.index) == [2, 3, 4, 6, 7, 8, 10, 11, 12]
    assert res.loc[2, "mcnemar_p"] == pytest.approx(2 * 0.5 ** 10)     # b = 0, c = 10
    assert res.loc[3, "mcnemar_p"] == 1.0                                # identical
    adjusted = holm(res["mcnemar_p"].to_numpy())
    np.testing.assert_allclose(res["mcnemar_p_holm"], adjusted)
    assert res.loc[2, "mcnemar_p_holm"] == pytest.approx(9 * 2 * 0.5 ** 10)
    np.testing.assert_allclose(res["accuracy_p_holm"], holm(res["accuracy_p"].to_numpy()))


def test_pooling_folds_is_significant_but_the_ensemble_is_not():
    """4 folds predict the same 20 test images: baseline right on 1 image the model gets
    wrong, model right on 6 images the baseline gets wrong (b = 2, c = 8 per fold)."""
    n = 20
    t = [0] * n
    base = [0] * 10 + [1] * 8 + [0] * 2            # wrong on images 10..17
    model = [0] * 10 + [0] * 8 + [1] * 2           # wrong on images 18, 19
    frames = []
    for fold, conf in enumerate((0.9, 0.8, 0.7, 0.6)):   # folds differ in confidence only
        frames.append(_long(1, "none", "off", fold, t, base, n_classes=2, confidence=conf))
        frames.append(_long(2, "none", "none", fold, t, model, n_classes=2, confidence=conf))
    long = pd.concat(frames, ignore_index=True)
    # the former definition: the 4 folds concatenated, b = 8, c = 32 -> p far below 0.05
    pooled = long.pivot_table(index=["fold", "image_id"], columns="model", values="pred")
    right = pooled.eq(0)
    p_pooled = mcnemar_exact(right[1].to_numpy(), right[2].to_numpy())
    assert (p_pooled["b"], p_pooled["c"]) == (8, 32) and p_pooled["p_value"] < 0.05
    # one observation per image: b = 2, c = 8, p = 2 * P(X <= 2 | 10, 1/2) = 2 * 56 / 1024
    row = baseline_comparison(long, n_boot=50).iloc[0]
    assert (row["mcnemar_b"], row["mcnemar_c"], row["n_images"]) == (2, 8, 20)
    assert row["mcnemar_p"] == pytest.approx(2 * 56 / 1024) and row["mcnemar_p"] > 0.05
    for k in range(4):
        assert row[f"mcnemar_p_fold{k}"] == pytest.approx(2 * 56 / 1024)


def test_ensemble_decides_by_mean_probability():
    """The McNemar pairs come from the ensemble, not from any single fold: the model's folds
    disagree on image 0, their mean probability decides it."""
    t = [0, 0, 0]
    frames = [_long(1, "none", "off", k, t, [1, 1, 1], n_classes=2) for k in (0, 1)]
    frames.append(_long(2, "none", "none", 0, t, [0, 1, 1], n_classes=2, confidence=0.9))
    frames.append(_long(2, "none", "none", 1, t, [1, 1, 1], n_classes=2, confidence=0.6))
    row = baseline_comparison(pd.concat(frames, ignore_index=True), n_boot=20).iloc[0]
    # image 0: P(class 0) = (0.9 + 0.4) / 2 = 0.65 -> right; images 1, 2 wrong: c = 1
    assert (row["mcnemar_b"], row["mcnemar_c"]) == (0, 1)
    assert row["ensemble_accuracy_model"] == pytest.approx(1 / 3)



# ---- statistics by lesion (issue 22.2) ------------------------------------------------------
from scipy.stats import binomtest  # noqa: E402

from selcn.report.stats import (  # noqa: E402
    auroc_weighted,
    balanced_accuracy_weighted,
    bootstrap_interval,
    comparisons,
    mcnemar_clustered,
    read_groups,
    resample_weights,
    signflip_pvalue,
)


def test_signflip_pvalue_hand_computed():
    # d = (3, 1): 4 sign patterns, |sum| = 4, 2, 2, 4 -> P(|D| >= 4) = 2 / 4
    assert signflip_pvalue([3, 1]) == pytest.approx(0.5)
    # d = (2, 1, 1): sums 4, 2, 2, 0, 0, -2, -2, -4 -> P(|D| >= 4) = 2 / 8
    assert signflip_pvalue([2, 1, 1]) == pytest.approx(0.25)
    assert signflip_pvalue([0, 0]) == 1.0 and signflip_pvalue([]) == 1.0
    assert signflip_pvalue([2, -2]) == 1.0                      # observed 0: every pattern
    with pytest.raises(ValueError, match="integers"):
        signflip_pvalue([0.5])


@pytest.mark.parametrize("b, c", [(1, 6), (0, 5), (2, 8), (7, 7), (3, 20)])
def test_signflip_of_single_images_is_the_exact_mcnemar(b, c):
    d = [-1] * b + [1] * c + [0] * 4
    assert signflip_pvalue(d) == pytest.approx(binomtest(b, b + c, 0.5).pvalue, abs=1e-12)


def _clustered_case():
    """8 images in 4 lesions of 2: the model is right and the baseline wrong on both images of
    lesions A, B and C (c = 6), the converse on one image of lesion D (b = 1)."""
    base = np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype=bool)
    model = np.array([1, 1, 1, 1, 1, 1, 0, 1], dtype=bool)
    groups = ["A", "A", "B", "B", "C", "C", "D", "D"]
    return base, model, groups


def test_clustered_mcnemar_differs_from_the_image_level_test():
    base, model, groups = _clustered_case()
    # image level: b = 1, c = 6 -> 2 * (1 + 7) / 128 = 0.125
    assert mcnemar_exact(base, model)["p_value"] == pytest.approx(0.125)
    assert mcnemar_clustered(base, model)["p_value"] == pytest.approx(0.125)
    # lesion level: d = (2, 2, 2, -1), D = 5; the 16 sign patterns give |sum| >= 5 only for
    # (+, +, +, ±) and (-, -, -, ±): 4 / 16
    res = mcnemar_clustered(base, model, groups)
    assert (res["b"], res["c"], res["lesions"], res["discordant_lesions"]) == (1, 6, 4, 4)
    assert res["p_value"] == pytest.approx(0.25)


def test_resample_weights_draw_whole_lesions():
    groups = ["A", "A", "B", "C", "C", "C"]
    w = resample_weights(groups, 6, 200, np.random.default_rng(0))
    assert w.shape == (200, 6)
    # images of one lesion always share their multiplicity; 3 lesions drawn per replicate
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 3] == w[:, 4]).all() and (w[:, 4] == w[:, 5]).all()
    assert (w[:, [0, 2, 3]].sum(axis=1) == 3).all()
    # without groups: each image is drawn alone, n draws per replicate
    assert (resample_weights(None, 6, 50, np.random.default_rng(0)).sum(axis=1) == 6).all()


def test_lesion_bootstrap_hand_computed():
    """Two lesions: A (3 images, model right and baseline wrong on each: d = +1 per image) and
    B (1 image, d = -1). Point difference (3 - 1) / 4 = 0.5.

    Lesion level: a replicate draws 2 lesions; AA gives +1, AB / BA (3 - 1) / 4 = +0.5, BB -1,
    with probabilities 1/4, 1/2, 1/4: the 10 % quantile is -1, the 90 % quantile +1, and
    P(d <= 0) = 1/4 (p = 2 / 4 = 0.5).

    Image level: a replicate draws 4 images, each B with probability 1/4; d = (4 - 2 k) / 4
    for k draws of B: P(k = 0) = 0.316, P(1) = 0.422, P(2) = 0.211, P(3) = 0.047,
    P(4) = 0.004: the 10 % quantile is 0 (P(d <= -0.5) = 0.051, P(d <= 0) = 0.262), the 90 %
    quantile +1, P(d <= 0) = 0.262 (p = 0.523). The lesion interval is the wider one."""
    f = _fold([0, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1])
    f["group"] = ["A", "A", "A", "B"]
    lesion = bootstrap_difference([f], n_boot=4000, seed=3, confidence=0.8)
    assert lesion["diff"] == pytest.approx(0.5)
    assert (lesion["ci_low"], lesion["ci_high"]) == (-1.0, 1.0)
    assert lesion["p_value"] == pytest.approx(0.5, abs=0.04)
    image = bootstrap_difference([f.drop(columns="group")], n_boot=4000, seed=3,
                                 confidence=0.8)
    assert image["diff"] == pytest.approx(0.5)
    assert (image["ci_low"], image["ci_high"]) == (0.0, 1.0)
    assert image["p_value"] == pytest.approx(2 * 0.2617, abs=0.04)


def test_weighted_metrics_match_sklearn_with_weights():
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 40)
    p = np.where(rng.random(40) < 0.6, y, rng.integers(0, 3, 40))
    score = rng.random(40).round(1)                               # ties included
    w = rng.integers(0, 3, size=(5, 40)).astype(float)
    for r in range(5):
        keep = w[r] > 0
        assert balanced_accuracy_weighted(y, p, w)[r:r + 1][0] == pytest.approx(
            balanced_accuracy_score(y[keep], p[keep], sample_weight=w[r][keep]))
        assert macro_f1_samples(y, p, np.repeat(np.arange(40), w[r].astype(int))[None],
                                [0, 1, 2])[0] == pytest.approx(
            f1_score(y, p, average="macro", labels=[0, 1, 2], sample_weight=w[r]))
        assert auroc_weighted(y == 1, score, w)[r] == pytest.approx(
            roc_auc_score(y == 1, score, sample_weight=w[r]))


def test_bootstrap_interval_of_a_statistic():
    y = np.array([0, 0, 1, 1])
    p = np.array([0, 0, 1, 0])
    res = bootstrap_interval(lambda w: (w @ (y == p)) / w.sum(axis=1), 4, ["a", "a", "b", "b"],
                             n_boot=500, confidence=0.9, seed=0)
    # lesions a (2 right) and b (1 of 2): replicates aa 1.0, ab 0.75, bb 0.5
    assert res["value"] == pytest.approx(0.75)
    assert res["ci_low"] == pytest.approx(0.5) and res["ci_high"] == pytest.approx(1.0)


def test_baseline_comparison_by_lesion_and_against_model1():
    """Models 1 (baseline) and 2 on 8 images in 4 lesions of 2 (the case above): lesion-level
    p = 0.25, image-level p = 0.125; model 5 (seg, no CAM) equals model 1."""
    t = [0] * 8
    base = [1, 1, 1, 1, 1, 1, 0, 0]                  # right on images 6, 7
    model = [0, 0, 0, 0, 0, 0, 1, 0]                 # right on 0..5 and 7
    groups = {f"i{k}": "ABCD"[k // 2] for k in range(8)}
    frames = []
    for fold in (0, 1):
        frames.append(_long(1, "none", "off", fold, t, base, n_classes=2))
        frames.append(_long(2, "none", "none", fold, t, model, n_classes=2))
        frames.append(_long(5, "seg", "off", fold, t, base, n_classes=2))
    long = pd.concat(frames, ignore_index=True)
    lesion = baseline_comparison(long, n_boot=50, groups=groups).iloc[0]
    assert (lesion["model"], lesion["baseline"], lesion["unit"]) == (2, 1, "lesion")
    assert (lesion["n_images"], lesion["n_lesions"]) == (8, 4)
    assert (lesion["mcnemar_b"], lesion["mcnemar_c"]) == (1, 6)
    assert lesion["mcnemar_p"] == pytest.approx(0.25)
    assert lesion["mcnemar_p_image"] == pytest.approx(0.125)
    assert lesion["mcnemar_p_fold0"] == pytest.approx(0.25)
    image = baseline_comparison(long, n_boot=50).iloc[0]
    assert image["unit"] == "image" and image["mcnemar_p"] == pytest.approx(0.125)
    vs1 = baseline_comparison(long, n_boot=50, groups=groups, against="model1")
    assert list(vs1["model"]) == [2, 5] and set(vs1["baseline"]) == {1}
    assert vs1.set_index("model").loc[5, "mcnemar_p"] == 1.0      # identical predictions
    # Holm over the family: 2 comparisons
    assert vs1.set_index("model").loc[2, "mcnemar_p_holm"] == pytest.approx(0.5)
    both = comparisons(long, n_boot=50, groups=groups)
    assert list(both["against"]) == ["model1", "model1", "group"]
    assert list(both["model"]) == [2, 5, 2]
    assert both.iloc[2]["mcnemar_p_holm"] == pytest.approx(0.25)   # its own family of one
    with pytest.raises(ValueError, match="not in the split table"):
        baseline_comparison(long, n_boot=10, groups={"i0": "A"})
    with pytest.raises(ValueError, match="against"):
        baseline_comparison(long, against="model 1")


def test_read_groups(tmp_path):
    path = tmp_path / "splits.csv"
    pd.DataFrame({"image_id": ["0001", "b"], "label": "x", "target": 0, "group": ["L1", "L1"],
                  "split": "test"}).to_csv(path, index=False)
    assert read_groups(path) == {"0001": "L1", "b": "L1"}
    pd.DataFrame({"image_id": ["a"], "label": ["x"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="splits.csv: missing column 'group'"):
        read_groups(path)
