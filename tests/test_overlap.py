"""The overlap guard (selcn.data.overlap, selcn.data.splits.exclude_overlaps): matching by id
under other namings, by pixels under another id, by perceptual hash after re-encoding and
resizing, near-misses that must not match (other views of a synthetic lesion, different real PH²
images), and what each protocol does with a match."""

from pathlib import Path

import cv2
import imagehash
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import PH2_SAMPLE_IMAGES
from selcn.config import validate_config
from selcn.data.overlap import (
    EXCLUDE_TEST,
    EXCLUDE_TRAINING,
    OUTCOME_LEFT,
    OUTCOME_REMOVED_TEST,
    OUTCOME_REMOVED_TRAINING,
    OVERLAP_COLUMNS,
    PHASH_THRESHOLD,
    REPORT_ONLY,
    ImageSet,
    OverlapError,
    OverlapPlan,
    check_overlaps,
    find_overlaps,
    hamming,
    match_sets,
    normalise_id,
    perceptual_hash,
    plan_of,
    resolve,
    summarise,
)
from selcn.data.preprocess import load_image, preprocess_image
from selcn.data.splits import exclude_overlaps, fixed_test_ids
from selcn.data.synthetic import render, sample_lesion
from selcn.data.synthetic.plants import reencode
from selcn.grid import grid
from selcn.protocol import LEAKAGE_FREE, THESIS

REPO = Path(__file__).resolve().parents[1]
PH2 = PH2_SAMPLE_IMAGES
S = 128                                                    # the demo's cache side


def _lesion_image(seed: int, view: int) -> np.ndarray:
    """A synthetic dermoscopy image (RGB, 300 x 225) of lesion ``seed``, view ``view``."""
    lesion = sample_lesion("nv", np.random.default_rng([seed, 1]))
    bgr, _ = render(lesion, np.random.default_rng([seed, view]), 300, 225, hair=False)
    return np.ascontiguousarray(bgr[..., ::-1])


def _cached(rgb: np.ndarray) -> np.ndarray:
    """As the cache job stores an image: hair removal, resized to S x S."""
    return preprocess_image(rgb, S, hair_removal=True)


def _reencoded(rgb: np.ndarray, tmp_path: Path) -> np.ndarray:
    """``rgb`` written as PNG, re-encoded by the planting code (JPEG quality 60, 80 %), read."""
    src, dst = tmp_path / "src.png", tmp_path / "copy.jpg"
    cv2.imwrite(str(src), rgb[..., ::-1])
    reencode(src, dst)
    return load_image(dst)


def _set(dataset: str, ids, images) -> ImageSet:
    return ImageSet.of(dataset, ids, np.stack(images), log=lambda *a: None)


# ---- matching ---------------------------------------------------------------------------------
def test_normalise_id_makes_one_spelling_of_every_naming():
    for name in ("ISIC_0012345.jpg", "ISIC_0012345", "isic_12345", "images/ISIC-0012345.JPG",
                 "ISIC_0012345_downsampled", "ISIC_0012345_segmentation.png", "ISIC0012345"):
        assert normalise_id(name) == "ISIC_0012345", name
    assert normalise_id("IMD002.bmp") == normalise_id("IMD002") == "IMD002"
    assert normalise_id("IMD002_lesion.bmp") == "IMD002"
    assert normalise_id("ISIC_0012346") != normalise_id("ISIC_0012345")


def test_hamming_against_hand_counted_bits():
    a = np.array([[0b1011, 0], [0, 0]], np.uint64)
    b = np.array([[0b0001, 0], [0, 1], [2**63, 2**63 + 1]], np.uint64)
    # a0 ^ b0 = 0b1010 (2 bits); a0 ^ b1: 0b1011 and bit 0 of word 2 (4 bits); a0 ^ b2:
    # 0b1011 | 2**63 (4 bits) and 2**63 + 1 (2 bits); a1 (zeros): the bits of each b row
    assert hamming(a, b).tolist() == [[2, 4, 6], [1, 1, 3]]


def test_perceptual_hash_is_imagehash_phash_of_256_bits():
    image = _cached(_lesion_image(0, 2))
    words = perceptual_hash(image)
    bits = imagehash.phash(Image.fromarray(image), hash_size=16).hash.flatten()
    assert words.shape == (4,) and words.dtype == np.uint64
    assert np.unpackbits(words.astype(">u8").view(np.uint8)).tolist() == bits.astype(int).tolist()


def test_found_by_id_under_another_naming():
    # two different images; the ids are one image's in two namings (ISIC 2019's _downsampled,
    # SymDerm's File with its extension)
    a, b = _cached(_lesion_image(1, 2)), _cached(_lesion_image(2, 2))
    test = _set("isic2016", ["ISIC_0012345", "ISIC_0000001"], [a, a[::-1]])
    train = _set("symderm", ["ISIC_12345_downsampled.jpg", "IMD002"], [b, b[:, ::-1]])
    m = match_sets(test, train)
    assert len(m) == 1
    row = m.iloc[0]
    assert (row["test_image"], row["training_image"]) == ("ISIC_0012345",
                                                          "ISIC_12345_downsampled.jpg")
    assert (row["found_by"], row["by_id"], row["by_pixels"], row["by_phash"]) == (
        "id", True, False, False)
    assert row["distance"] > PHASH_THRESHOLD


def test_found_by_pixels_under_another_id():
    a, b = _cached(_lesion_image(3, 2)), _cached(_lesion_image(4, 2))
    test = _set("isic2016", ["ISIC_0000004"], [a])
    train = _set("symderm", ["ISIC_9000000", "ISIC_0000004x"], [a.copy(), b])
    m = match_sets(test, train)
    assert m[["test_image", "training_image", "found_by"]].values.tolist() == [
        ["ISIC_0000004", "ISIC_9000000", "pixels"]]
    assert bool(m["by_pixels"].iloc[0]) and not m["by_id"].iloc[0]
    assert m["distance"].iloc[0] == 0


def test_found_by_perceptual_hash_after_reencoding_and_resizing(tmp_path):
    rgb = _lesion_image(5, 2)
    original, copy = _cached(rgb), _cached(_reencoded(rgb, tmp_path))
    assert not np.array_equal(original, copy)                  # no pixel match
    test = _set("isic2016", ["ISIC_9000001"], [copy])
    train = _set("ham10000", ["ISIC_0024306", "ISIC_0024307"],
                 [original, _cached(_lesion_image(6, 2))])
    m = match_sets(test, train)
    assert m[["training_image", "found_by"]].values.tolist() == [["ISIC_0024306",
                                                                  "perceptual hash"]]
    d = int(m["distance"].iloc[0])
    assert d == int(hamming(perceptual_hash(copy)[None], perceptual_hash(original)[None])[0, 0])
    assert 0 < d <= PHASH_THRESHOLD


def test_another_view_of_one_synthetic_lesion_is_no_match():
    # same lesion parameters, another draw of position, rotation, background: a near-miss
    views = [_cached(_lesion_image(seed, v)) for seed in range(3) for v in (2, 3)]
    test = _set("ham10000", [f"a{i}" for i in range(0, 6, 2)], views[0::2])
    train = _set("symderm", [f"b{i}" for i in range(1, 6, 2)], views[1::2])
    assert match_sets(test, train).empty
    d = hamming(test.phash, train.phash)
    assert d.min() > 2 * PHASH_THRESHOLD


@pytest.mark.skipif(not PH2.is_dir(), reason="shared/data/ph2-sample not present")
def test_ph2_different_real_images_stay_far_above_the_threshold(tmp_path):
    """The documented threshold (docs/differences.md, "Overlaps"): the 40 real PH² images,
    cached as the workflow caches them, are 60 bits or more apart; their re-encoded, resized
    copies are found."""
    cases = sorted(PH2.glob("IMD*"))
    assert len(cases) == 40
    rgbs = [load_image(c / f"{c.name}_Dermoscopic_Image" / f"{c.name}.bmp") for c in cases]
    images = [_cached(rgb) for rgb in rgbs]
    ids = [c.name for c in cases]
    ph2 = _set("ph2", ids, images)
    d = hamming(ph2.phash, ph2.phash)[np.triu_indices(40, 1)]
    assert d.min() >= 60 and d.min() > PHASH_THRESHOLD + 24        # measured: 60-150 bits
    assert 105 < d.mean() < 115
    same = match_sets(ph2, _set("other", [f"x{i}" for i in ids], images))   # pixels, no id
    assert sorted(zip(same["test_image"], same["training_image"])) == [(i, f"x{i}") for i in ids]
    copies = [_cached(_reencoded(rgb, tmp_path)) for rgb in rgbs[:10]]
    m = match_sets(_set("copies", ids[:10], copies), ph2)
    assert sorted(zip(m["test_image"], m["training_image"])) == [(i, i) for i in ids[:10]]
    assert m["distance"].max() <= 22                                # measured: 0-22 bits


# ---- the plan and what the protocols do -------------------------------------------------------
def _demo_grid():
    import yaml
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return grid(validate_config(raw))


def test_the_plan_of_the_demo_pairs_every_test_set_with_every_training_set():
    plan = plan_of(_demo_grid(), LEAKAGE_FREE)
    assert plan.test_sets == ("ham10000", "isic2016", "isic2019")
    assert plan.training_sets == (("ham10000", "segmentation, lesion, search"),
                                  ("symderm", "symmetry"), ("isic2016", "lesion, search"))
    assert (plan.externals, plan.losing, plan.fixed) == (("isic2019",), ("isic2019",),
                                                         ("isic2019", "isic2016"))
    assert len(plan.pairs()) == 9 and ("isic2016", "symderm") in plan.pairs()
    assert plan.test_splits_needed("symderm") == ["ham10000"]
    assert plan.test_splits_needed("isic2016") == ["ham10000"]
    assert plan.test_splits_needed("ham10000") == []             # ISIC 2016's test is fixed
    assert plan.action("isic2019") == EXCLUDE_TEST and plan.action("isic2016") == EXCLUDE_TRAINING
    thesis = plan_of(_demo_grid(), THESIS)
    assert thesis.fixed == ("isic2019",) and not thesis.remove
    assert thesis.action("isic2016") == REPORT_ONLY and thesis.test_splits_needed("symderm") == []
    assert OverlapPlan.from_params(plan.as_params()) == plan


def test_fixed_test_ids():
    index = pd.DataFrame({"image_id": ["a", "b", "c"], "source": ["ISIC2016_train",
                                                                  "ISIC2016_test",
                                                                  "ISIC2016_test"]})
    assert fixed_test_ids("isic2016", index, LEAKAGE_FREE) == ["b", "c"]
    assert fixed_test_ids("isic2016", index, THESIS) is None
    assert fixed_test_ids("isic2019", index, LEAKAGE_FREE, external=True) == ["a", "b", "c"]
    assert fixed_test_ids("ham10000", index, LEAKAGE_FREE) is None


PLAN = OverlapPlan(test_sets=("ham10000", "isic2016", "isic2019"),
                   training_sets=(("ham10000", "lesion"), ("symderm", "symmetry")),
                   externals=("isic2019",), losing=("isic2019",), fixed=("isic2019", "isic2016"))


def _table(rows):
    return pd.DataFrame([(i, "x", 0, i, s) for i, s in rows],
                        columns=["image_id", "label", "target", "group", "split"])


def _overlaps(plan: OverlapPlan) -> pd.DataFrame:
    """Hand-made matches: an ISIC 2016 test image copied into SymDerm (fold0) and into HAM10000
    (fold1), a HAM10000 test image in SymDerm (fold1), a HAM10000 training image in SymDerm
    (fold0, no overlap), a HAM10000 image in ISIC 2019."""
    rows = [("isic2016", "I16_T", "symderm", "S1", True), ("isic2016", "I16_T", "ham10000",
                                                            "H_COPY", True),
            ("ham10000", "H_TEST", "symderm", "S2", False),
            ("ham10000", "H_TRAIN", "symderm", "S3", False),
            ("isic2019", "I19_H", "ham10000", "H_TRAIN", True)]
    out = pd.DataFrame([{"test_set": t, "test_image": ti, "training_set": s, "training_image": si,
                         "found_by": "pixels", "by_id": False, "by_pixels": True,
                         "by_phash": True, "distance": 0, "test_fixed": fixed,
                         "action": plan.action(t)} for t, ti, s, si, fixed in rows],
                       columns=list(OVERLAP_COLUMNS))
    return out


def _splits():
    return {"ham10000": _table([("H_TEST", "test"), ("H_TRAIN", "fold0"), ("H_COPY", "fold1")]),
            "symderm": _table([("S1", "fold0"), ("S2", "fold1"), ("S3", "fold0"),
                               ("S4", "test")]),
            "isic2016": _table([("I16_T", "test"), ("I16_F", "fold0")]),
            "isic2019": _table([("I19_H", "test"), ("I19_N", "test")])}


def test_leakage_free_removes_the_training_copy_and_keeps_the_test_split_whole():
    overlaps, s = _overlaps(PLAN), _splits()
    ham = exclude_overlaps("ham10000", s["ham10000"], overlaps, losing=False,
                           log=lambda *a: None)
    assert ham["split"].tolist() == ["test", "fold0", "excluded"]     # H_COPY = ISIC 2016 test
    sym = exclude_overlaps("symderm", s["symderm"], overlaps, losing=False,
                           test_splits={"ham10000": ham}, log=lambda *a: None)
    # S1 (ISIC 2016 test, fixed), S2 (HAM10000 test) leave; S3 (a HAM10000 training image) stays
    assert sym["split"].tolist() == ["excluded", "excluded", "fold0", "test"]
    i19 = exclude_overlaps("isic2019", s["isic2019"], overlaps, losing=True, log=lambda *a: None)
    assert i19["split"].tolist() == ["excluded", "test"]             # the archive loses its copy
    i16 = exclude_overlaps("isic2016", s["isic2016"], overlaps, losing=False,
                           log=lambda *a: None)
    assert i16["split"].tolist() == ["test", "fold0"]                # its test split stays whole
    after = {"ham10000": ham, "symderm": sym, "isic2016": i16, "isic2019": i19}
    resolved = resolve(PLAN, overlaps, after)
    assert sorted(zip(resolved["test_image"], resolved["training_image"], resolved["outcome"])) \
        == [("H_TEST", "S2", OUTCOME_REMOVED_TRAINING), ("I16_T", "H_COPY",
                                                         OUTCOME_REMOVED_TRAINING),
            ("I16_T", "S1", OUTCOME_REMOVED_TRAINING), ("I19_H", "H_TRAIN", OUTCOME_REMOVED_TEST)]
    assert set(check_overlaps(PLAN, resolved).values()) == {0}
    summary = summarise(PLAN, resolved)
    assert len(summary) == len(PLAN.pairs())                          # one outcome per pair here
    row = summary[(summary["test_set"] == "isic2016") & (summary["training_set"] == "symderm")]
    assert row[["outcome", "count", "found_by_id", "found_by_content"]].values.tolist() == [
        [OUTCOME_REMOVED_TRAINING, 1, 0, 1]]
    none = summary[(summary["test_set"] == "isic2016") & (summary["training_set"] == "ham10000")]
    assert none["count"].tolist() == [1]


def test_a_copy_takes_the_other_images_of_its_lesion_out_of_the_folds():
    """A training copy of a test image is the test image's lesion: its lesion's other views
    (same ``group``) leave the folds with it, so each lesion stays in one split."""
    ham = _splits()["ham10000"]
    ham = pd.concat([ham, _table([("H_VIEW", "fold0")]).assign(group="H_COPY"),
                     _table([("H_OTHER", "fold0")])], ignore_index=True)
    out = exclude_overlaps("ham10000", ham, _overlaps(PLAN), losing=False, log=lambda *a: None)
    assert out["split"].tolist() == ["test", "fold0", "excluded", "excluded", "fold0"]
    assert (out.groupby("group")["split"].nunique() == 1).all()


def test_a_test_split_drawn_later_drops_every_copy_conservatively():
    overlaps = _overlaps(PLAN)
    overlaps.loc[overlaps["test_image"] == "H_TEST", "test_fixed"] = False
    # SymDerm's split job without HAM10000's split table: every match of HAM10000 counts
    sym = exclude_overlaps("symderm", _splits()["symderm"], overlaps, losing=False,
                           log=lambda *a: None)
    assert sym["split"].tolist() == ["excluded", "excluded", "excluded", "test"]


def test_thesis_only_reports_and_the_check_fails_on_a_copy_left_under_leakage_free():
    thesis = OverlapPlan(**{**PLAN.__dict__, "remove": False})
    overlaps, s = _overlaps(thesis), _splits()
    assert set(overlaps["action"]) == {REPORT_ONLY}
    for d, t in s.items():                           # nothing applies: every table unchanged
        assert exclude_overlaps(d, t, overlaps, losing=d in thesis.losing,
                                test_splits=s, log=lambda *a: None).equals(t)
    resolved = resolve(thesis, overlaps, s)
    assert set(resolved["outcome"]) == {OUTCOME_LEFT}
    assert check_overlaps(thesis, resolved) == {
        "ham10000 x ham10000": 0, "ham10000 x symderm": 1, "isic2016 x ham10000": 1,
        "isic2016 x symderm": 1, "isic2019 x ham10000": 1, "isic2019 x symderm": 0}
    with pytest.raises(OverlapError, match=r"4 test image\(s\) still have a copy"):
        check_overlaps(PLAN, resolve(PLAN, _overlaps(PLAN), s))


def test_find_overlaps_marks_fixed_test_images_and_the_planned_action():
    a, b, c = (_cached(_lesion_image(seed, 2)) for seed in (7, 8, 9))
    sets = {"ham10000": _set("ham10000", ["ISIC_0024306", "ISIC_0024307"], [a, b]),
            "isic2016": _set("isic2016", ["ISIC_0000001", "ISIC_0000002"], [a.copy(), c]),
            "isic2019": _set("isic2019", ["ISIC_0024307_downsampled"], [c]),
            "symderm": _set("symderm", ["ISIC_0000002"], [c.copy()])}
    out = find_overlaps(PLAN, sets, {"isic2016": ["ISIC_0000001"]}, log=lambda *x: None)
    assert list(out.columns) == list(OVERLAP_COLUMNS)
    got = {(r.test_set, r.test_image, r.training_set, r.training_image):
           (r.found_by, bool(r.test_fixed), r.action) for r in out.itertuples()}
    assert got == {
        # the ISIC 2016 test image ISIC_0000001 is HAM10000's ISIC_0024306 (same pixels)
        ("isic2016", "ISIC_0000001", "ham10000", "ISIC_0024306"): ("pixels", True,
                                                                   EXCLUDE_TRAINING),
        # ISIC_0000002 (not a fixed test image here) is in SymDerm under its own id
        ("isic2016", "ISIC_0000002", "symderm", "ISIC_0000002"): ("id", False, EXCLUDE_TRAINING),
        # ISIC 2019 (an archive, every row a test image) names HAM10000's ISIC_0024307 so,
        # though its pixels are SymDerm's ISIC_0000002's
        ("isic2019", "ISIC_0024307_downsampled", "ham10000", "ISIC_0024307"): ("id", True,
                                                                               EXCLUDE_TEST),
        ("isic2019", "ISIC_0024307_downsampled", "symderm", "ISIC_0000002"): ("pixels", True,
                                                                              EXCLUDE_TEST)}


def test_the_split_jobs_read_the_overlaps_under_leakage_free_only():
    import yaml

    from selcn.jobs import Jobs

    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo, thesis = (Jobs.of(validate_config({**raw, "protocol": p}))
                    for p in ("leakage_free", "thesis"))
    overlaps = "results/splits/overlaps.csv"
    assert demo.split_overlap_inputs("ham10000") == {"overlaps": overlaps}
    assert demo.split_overlap_inputs("symderm") == {
        "overlaps": overlaps, "test_ham10000": "results/splits/ham10000.csv"}
    assert demo.split_overlap_inputs("isic2016") == {
        "overlaps": overlaps, "test_ham10000": "results/splits/ham10000.csv"}
    assert demo.split_overlap_inputs("isic2019") == {"overlaps": overlaps}     # it loses
    assert all(thesis.split_overlap_inputs(d) == {} for d in thesis.grid.datasets)
    inputs = demo.overlap_inputs()
    assert sorted(inputs) == sorted(f"{k}_{d}" for d in ("ham10000", "symderm", "isic2019",
                                                         "isic2016") for k in ("images", "index"))
    assert inputs["images_symderm"] == "results/cache/symderm/images.npy"
