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

