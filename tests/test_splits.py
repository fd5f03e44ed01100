"""Leakage-free splits, the leakage check, balancing and the shared flip/rotate transform."""

import numpy as np
import pandas as pd
import pytest

from selcn.data.splits import (
    LeakageError,
    apply_transform,
    balance,
    check_no_leakage,
    leakage_report,
    make_splits,
    split_isic2016,
    split_isic2019,
    split_symderm,
    split_table,
)
from selcn.protocol import policy

CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
LESIONS = {"akiec": 20, "bcc": 24, "bkl": 40, "df": 16, "mel": 45, "nv": 300, "vasc": 18}


@pytest.fixture(scope="module")
def ham():
    rng = np.random.default_rng(0)
    rows, n = [], 0
    for c, k in LESIONS.items():
        for j in range(k):
            for _ in range(int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))):
                rows.append({"row": n, "image_id": f"ISIC_{n:07d}", "label": c,
                             "target": CLASSES.index(c), "group": f"HAM_{c}_{j}"})
                n += 1
    return pd.DataFrame(rows)


def test_leakage_free_split(ham):
    s = split_table(ham, test_fraction=0.2, n_folds=4, seed=1, log=lambda *a: None)
    assert set(s["split"]) == {"test", "fold0", "fold1", "fold2", "fold3"}
    # no group crosses any boundary
    assert (s.groupby("group")["split"].nunique() == 1).all()
    assert check_no_leakage(s)["groups_crossing_test"] == 0
    # test size and stratification
    assert (s["split"] == "test").mean() == pytest.approx(0.2, abs=0.03)
    overall = s["label"].value_counts(normalize=True)
    for part, t in s.groupby("split"):
        share = t["label"].value_counts(normalize=True).reindex(CLASSES, fill_value=0)
        assert (share - overall.reindex(CLASSES)).abs().max() < 0.05, part
        assert (t["label"].value_counts().reindex(CLASSES, fill_value=0) > 0).all(), part
    sizes = s[s["split"] != "test"]["split"].value_counts()
    assert sizes.max() / sizes.min() < 1.15
    assert sizes.sum() == pytest.approx(0.8 * len(ham), rel=0.05)
    again = split_table(ham, test_fraction=0.2, n_folds=4, seed=1, log=lambda *a: None)
    assert again.equals(s)


def test_thesis_protocol_is_image_level_and_says_so(ham):
    logged = []
    s = split_table(ham, n_folds=4, seed=1, protocol=policy("thesis"), log=logged.append)
    rep = leakage_report(s)
    assert rep["groups_crossing_test"] > 0 and rep["test_rows_sharing_group"] > 0
    assert "protocol thesis: image-level split" in logged[0]
    with pytest.raises(LeakageError, match="both sides of the test boundary"):
        check_no_leakage(s, name="ham10000")
    assert (s["split"] == "test").mean() == pytest.approx(0.2, abs=0.01)
    with pytest.raises(ValueError, match="unknown protocol"):
        split_table(ham, protocol=policy("leaky"))


def test_check_catches_a_group_in_two_folds(ham):
    s = split_table(ham, n_folds=3, seed=0, log=lambda *a: None)
    multi = s.groupby("group").size()
    g = multi[multi > 1].index[0]
    rows = s.index[s["group"] == g]
    s.loc[rows[0], "split"] = "fold0" if s.loc[rows[1], "split"] != "fold0" else "fold1"
    with pytest.raises(LeakageError):
        check_no_leakage(s)


def test_symderm_excludes_images_of_ham_test_lesions(ham):
    ham_splits = split_table(ham, n_folds=4, seed=1, log=lambda *a: None)
    picked = ham.sample(150, random_state=0)
    own = pd.DataFrame({"image_id": [f"IMD{i:03d}" for i in range(60)]})
    sym = pd.concat([
        pd.DataFrame({"image_id": picked["image_id"], "ham_image_id": picked["image_id"],
                      "group": picked["image_id"]}),
        own.assign(ham_image_id="", group=own["image_id"])], ignore_index=True)
    rng = np.random.default_rng(2)
    sym["target"] = rng.integers(0, 2, len(sym))
    sym["label"] = np.where(sym["target"] == 1, "symmetric", "asymmetric")
    s = split_symderm(sym, ham_splits, n_folds=3, seed=0, log=lambda *a: None)
    test_groups = set(ham_splits.loc[ham_splits["split"] == "test", "group"])
    lesion = dict(zip(ham["image_id"], ham["group"]))
    expect = sym["ham_image_id"].map(lambda i: lesion.get(i, "") in test_groups)
    assert (s["split"] == "excluded").tolist() == expect.tolist()
    assert set(s["split"]) == {"excluded", "test", "fold0", "fold1", "fold2"}
    assert (s.loc[sym["ham_image_id"] != "", "group"]
            == sym.loc[sym["ham_image_id"] != "", "ham_image_id"].map(lesion)).all()
    check_no_leakage(s, ham_splits=ham_splits, name="symderm")
    bad = s.copy()
    bad.loc[bad["split"] == "excluded", "split"] = "fold0"
    with pytest.raises(LeakageError, match="HAM10000 test lesions"):
        check_no_leakage(bad, ham_splits=ham_splits, name="symderm")
    thesis = split_symderm(sym, ham_splits, n_folds=3, seed=0, protocol=policy("thesis"),
                           log=lambda *a: None)
    assert "excluded" not in set(thesis["split"])


def test_isic2019_external_set_holds_no_ham_image(ham):
    ham_splits = split_table(ham, n_folds=4, seed=1, log=lambda *a: None)
    ids = list(ham["image_id"][:5]) + [f"ISIC_9{i:06d}" for i in range(20)]
    idx = pd.DataFrame({"image_id": ids, "label": "nv", "target": 5, "group": ids})
    s = split_isic2019(idx, ham["image_id"], log=lambda *a: None)
    assert (s["split"] == "excluded").sum() == 5 and (s["split"] == "test").sum() == 20
    check_no_leakage(s, ham_splits=ham_splits, external=True, name="isic2019")
    with pytest.raises(LeakageError, match="are HAM10000 images"):
        check_no_leakage(s.assign(split="test"), ham_splits=ham_splits, external=True,
                         name="isic2019")


def test_isic2016_official_test_and_train_folds():
    n = 40
    idx = pd.DataFrame({"image_id": [f"ISIC_{i:07d}" for i in range(n)],
                        "target": [i % 5 == 0 for i in range(n)]})
    idx["target"] = idx["target"].astype(int)
    idx["label"] = np.where(idx["target"] == 1, "malignant", "benign")
    idx["group"] = idx["image_id"]
    idx["source"] = ["ISIC2016_test" if i >= 30 else "ISIC2016_train" for i in range(n)]
    s = split_isic2016(idx, n_folds=3, seed=0, log=lambda *a: None)
    assert (s["split"] == "test").tolist() == [i >= 30 for i in range(n)]
    assert s.loc[:29, "split"].value_counts().to_dict() == {"fold0": 10, "fold1": 10, "fold2": 10}
    out = make_splits("isic2016", idx, n_folds=3, log=lambda *a: None)
    assert list(out.columns) == ["image_id", "label", "target", "group", "split"]


def test_isic2016_thesis_split_is_20_percent_of_the_900_stratified():
    rng = np.random.default_rng(0)
    n_train, n_test = 900, 379
    target = np.r_[np.zeros(727, int), np.ones(173, int)]          # ISIC 2016 train: 173 malignant
    idx = pd.DataFrame({"image_id": [f"ISIC_{i:07d}" for i in range(n_train + n_test)],
                        "target": np.r_[rng.permutation(target), rng.integers(0, 2, n_test)]})
    idx["label"] = np.where(idx["target"] == 1, "malignant", "benign")
    idx["group"] = idx["image_id"]
    idx["official_split"] = ["train"] * n_train + ["test"] * n_test
    s = split_isic2016(idx, n_folds=4, seed=0, protocol=policy("thesis"),
                       log=lambda *a: None)
    train, official_test = s.iloc[:n_train], s.iloc[n_train:]
    assert (official_test["split"] == "excluded").all()
    test = train[train["split"] == "test"]
    assert len(test) == 180                                        # 20 % of 900
    assert test["target"].sum() in (34, 35)                        # 20 % of 173 malignant
    folds = train.loc[train["split"] != "test", "split"].value_counts()
    assert sorted(folds.index) == ["fold0", "fold1", "fold2", "fold3"]
    assert folds.sum() == 720 and folds.max() - folds.min() <= 1


def test_balance_counts():
    counts = {0: 50, 1: 10, 2: 3, 3: 0}
    table = pd.DataFrame({"target": np.repeat(list(counts), list(counts.values()))})
    table["row"] = np.arange(len(table)) + 100
    b = balance(table, target_per_class=20, max_copies=3, seed=0)
    assert list(b.columns) == ["row", "transform"]
    t = b.merge(table, on="row")
    n = t.groupby("target").size().to_dict()
    assert n == {0: 20, 1: 20, 2: 12}                    # 3 images x (1 + 3 copies) = 12
    big = t[t["target"] == 0]
    assert big["row"].is_unique and (big["transform"] == 0).all()
    for _, g in t[t["target"] > 0].groupby("row"):
        assert (g["transform"] == 0).sum() == 1          # every original kept once
        copies = g.loc[g["transform"] > 0, "transform"]
        assert len(copies) <= 3 and copies.is_unique and copies.isin([1, 2, 3]).all()
    b2 = balance(table, 20, max_copies=1, seed=0).merge(table, on="row")
    assert b2.groupby("target").size().to_dict() == {0: 20, 1: 20, 2: 6}
    assert balance(table, 20, max_copies=0, seed=0).merge(table, on="row") \
        .groupby("target").size().to_dict() == {0: 20, 1: 10, 2: 3}
    assert balance(table, 20, 3, seed=0).equals(b)
    with pytest.raises(ValueError, match="max_copies"):
        balance(table, 20, max_copies=4)


def test_apply_transform_on_images_masks_and_cams():
    img = np.arange(4 * 6 * 3).reshape(4, 6, 3)
    mask = img[..., 0]
    assert apply_transform(img, 0) is img
    assert np.array_equal(apply_transform(img, 1), img[:, ::-1])
    assert np.array_equal(apply_transform(img, 2), img[::-1])
    r = apply_transform(img, 3)
    assert r.shape == (6, 4, 3) and r[0, 0, 0] == img[0, -1, 0]   # counter-clockwise
    for code in range(4):
        assert np.array_equal(apply_transform(img, code)[..., 0], apply_transform(mask, code))
        assert apply_transform(img, code).flags["C_CONTIGUOUS"]
    with pytest.raises(ValueError, match="unknown transform"):
        apply_transform(img, 4)


def test_balance_all_versions_draws_the_target_from_every_version():
    """The thesis' sampling (utils/balance_ham.py): a class below the target gets its original
    and three copies per image; the target is drawn from those versions (originals may be
    lost); classes above it and the project's sampling do not change."""
    from selcn.data.splits import balance_settings

    counts = {0: 50, 1: 10, 2: 3}
    table = pd.DataFrame({"target": np.repeat(list(counts), list(counts.values()))})
    table["row"] = np.arange(len(table)) + 100
    b = balance(table, 20, 3, seed=0, sampling="all_versions").merge(table, on="row")
    assert b.groupby("target").size().to_dict() == {0: 20, 1: 20, 2: 12}
    assert not b.duplicated(["row", "transform"]).any()        # each version at most once
    cls1 = b[b["target"] == 1]            # 10 images x 4 versions = 40 -> 20 drawn
    assert set(cls1["transform"]) <= {0, 1, 2, 3}
    assert (cls1["transform"] == 0).sum() < 10                 # originals lost (seed 0: 6)
    cls2 = b[b["target"] == 2]            # 3 x 4 = 12 <= 20: every version, each image 4 times
    assert cls2.groupby("row")["transform"].apply(sorted).tolist() == [[0, 1, 2, 3]] * 3
    keep = balance(table, 20, 3, seed=0)
    assert keep.equals(balance(table, 20, 3, seed=0, sampling="keep_originals"))
    assert b[b["target"] == 0][["row", "transform"]].reset_index(drop=True).equals(
        keep.merge(table, on="row").query("target == 0")[["row", "transform"]]
        .reset_index(drop=True))                               # down-sampling unchanged
    # HAM10000's training part (80 % of each class; bkl 879) at 2,000 (docs/differences.md,
    # item 5): bkl keeps 509 of its 879 originals (2000 / 4 expected; the author's run: 506)
    ham = {"akiec": 262, "bcc": 411, "bkl": 879, "df": 92, "mel": 890, "nv": 5364, "vasc": 114}
    part = pd.DataFrame({"target": np.repeat(np.arange(7), list(ham.values()))})
    part["row"] = np.arange(len(part))
    drawn = balance(part, 2000, 3, seed=42, sampling="all_versions").merge(part, on="row")
    bkl = drawn[drawn["target"] == 2]
    assert len(bkl) == 2000 and (bkl["transform"] == 0).sum() == 509
    with pytest.raises(ValueError, match="sampling"):
        balance(table, 20, sampling="all")
    # config null -> the protocol's default
    from selcn.protocol import LEAKAGE_FREE, THESIS
    cfg = {"target_per_class": 20, "max_copies": 3, "sampling": None}
    assert balance_settings(cfg, LEAKAGE_FREE)["sampling"] == "keep_originals"
    assert balance_settings(cfg, THESIS)["sampling"] == "all_versions"
    assert balance_settings({**cfg, "sampling": "keep_originals"}, THESIS)["sampling"] == \
        "keep_originals"
    assert balance_settings(None, THESIS) is None
