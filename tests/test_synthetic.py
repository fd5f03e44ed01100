"""The synthetic dermoscopy generator: published formats, round trip through the readers,
labels that agree with the drawn shapes, determinism, one writer per format, the class floor."""

import filecmp
import importlib

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from selcn.data.labels import HAM_CLASSES, ISIC2019_COLUMNS
from selcn.data.preprocess import load_mask
from selcn.data.readers import read_dataset
from selcn.data.synthetic import (
    PLACEMENT_MARGIN,
    SyntheticSpec,
    _allocate,
    dataset_paths,
    generate_all,
    mirror_score,
    outline_offsets,
    render,
    sample_lesion,
    write_isic2016,
)

render_module = importlib.import_module("selcn.data.synthetic.render")   # not the function

TINY = dict(seed=3, n_lesions=30, min_lesions_per_class=2, n_symderm_own=24,
            n_symderm_from_ham=12, n_isic2019_new=20, n_isic2019_from_ham=6,
            n_isic2016_train=10, n_isic2016_test=6, width=128, height=96)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    # without the planted copies (test_planted_copies_only_add_files_and_rows adds them)
    summary = generate_all(root, SyntheticSpec(plant_copies=False, **TINY), log=lambda *a: None)
    return root, dataset_paths(root), summary


@pytest.fixture(scope="module")
def data_anywhere(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_anywhere")
    summary = generate_all(root, SyntheticSpec(placement="anywhere", plant_copies=False, **TINY),
                           log=lambda *a: None)
    return root, dataset_paths(root), summary


def test_dataset_paths_mirror_the_schema_defaults(repo):
    schema = yaml.safe_load((repo / "config" / "schema.yaml").read_text())
    data = schema["properties"]["data"]["properties"]
    expected = dataset_paths("resources/data")
    for ds, paths in expected.items():
        # the block's paths (data.symderm.missing is a setting, not a path)
        defaults = {k: v["default"] for k, v in data[ds]["properties"].items() if k != "missing"}
        assert defaults == paths, ds


def test_ham10000_published_format(data):
    root, paths, summary = data
    p = paths["ham10000"]
    meta = pd.read_csv(p["metadata"])
    assert list(meta.columns) == ["lesion_id", "image_id", "dx", "dx_type", "age", "sex",
                                  "localization"]
    assert meta["image_id"].str.fullmatch(r"ISIC_\d{7}").all()
    assert meta["lesion_id"].str.fullmatch(r"HAM_\d{7}").all()
    per_lesion = meta.groupby("lesion_id").size()
    assert per_lesion.between(1, 3).all() and (per_lesion > 1).any()
    counts = meta.drop_duplicates("lesion_id")["dx"].value_counts()
    assert set(counts.index) == set(HAM_CLASSES)
    assert counts.min() >= TINY["min_lesions_per_class"] and counts.idxmax() == "nv"
    assert meta["dx"].value_counts().min() >= 1.5 * TINY["min_lesions_per_class"]   # image floor
    parts = [sorted(f.name for f in (root / "HAM10000" / d).iterdir())
             for d in ("HAM10000_images_part1", "HAM10000_images_part2")]
    assert parts[0] and parts[1] and len(parts[0]) + len(parts[1]) == len(meta)
    first = meta["image_id"].iloc[0]
    img = Image.open(next((root / "HAM10000").glob(f"*/{first}.jpg")))
    assert img.format == "JPEG" and img.size == (TINY["width"], TINY["height"])
    mask = Image.open(root / "HAM10000" / "HAM10000_segmentations_lesion_tschandl"
                      / f"{first}_segmentation.png")
    assert mask.mode == "L" and set(np.unique(np.asarray(mask))) <= {0, 255}


def test_other_published_formats(data):
    root, paths, _ = data
    sym = pd.read_csv(paths["symderm"]["csv"])
    assert list(sym.columns) == ["File", "Mask", "Dataset", "labels_symmetry"]
    assert set(sym["labels_symmetry"]) == {0, 1, 2}
    ph2 = sym[sym["Dataset"] == "PH2"]
    assert len(ph2) and ph2["File"].str.fullmatch(r"IMD\d{3}\.bmp").all()
    assert Image.open(root / "SymDerm" / "images" / ph2["File"].iloc[0]).format == "BMP"
    ham_ids = set(pd.read_csv(paths["ham10000"]["metadata"])["image_id"])
    from_ham = sym[sym["Dataset"] == "HAM10000"]["File"].str.replace(".jpg", "")
    assert len(from_ham) == TINY["n_symderm_from_ham"] and set(from_ham) <= ham_ids

    gt = pd.read_csv(paths["isic2019"]["ground_truth"])
    assert list(gt.columns) == ["image", *ISIC2019_COLUMNS]
    assert (gt[list(ISIC2019_COLUMNS)].sum(axis=1) == 1.0).all()
    assert gt["SCC"].sum() >= 1 and gt["UNK"].sum() >= 1
    assert len(set(gt["image"]) & ham_ids) == TINY["n_isic2019_from_ham"]
    meta = pd.read_csv(paths["isic2019"]["metadata"], keep_default_na=False)
    assert list(meta.columns) == ["image", "age_approx", "anatom_site_general", "lesion_id", "sex"]

    train = (root / "ISIC2016" / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv").read_text()
    test = (root / "ISIC2016" / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv").read_text()
    first = train.splitlines()[0].split(",")
    assert first[0].startswith("ISIC_") and first[1] in ("benign", "malignant")   # no header
    assert {line.split(",")[1] for line in test.splitlines()} == {"0.0", "1.0"}


def test_round_trip_through_the_readers(data):
    _, paths, summary = data
    ham = read_dataset("ham10000", paths["ham10000"])
    assert len(ham) == summary["ham10000"]["images"]
    assert ham["label"].value_counts().to_dict() == \
        {k: v for k, v in summary["ham10000"]["classes"].items() if v}
    assert (ham["group"] == ham["lesion_id"]).all() and (ham["mask_path"] != "").all()
    sym = read_dataset("symderm", paths["symderm"], ham_metadata=paths["ham10000"]["metadata"])
    assert len(sym) == summary["symderm"]["images"]
    lesion_of = dict(zip(ham["image_id"], ham["group"]))
    from_ham = sym[sym["ham_image_id"] != ""]
    assert (from_ham["group"] == from_ham["ham_image_id"].map(lesion_of)).all()
    i19 = read_dataset("isic2019", paths["isic2019"], exclude_ids=ham["image_id"])
    c = summary["isic2019"]["classes"]
    dropped = c["SCC"] + c["UNK"] + TINY["n_isic2019_from_ham"]
    assert len(i19) == summary["isic2019"]["images"] - dropped
    assert not set(i19["image_id"]) & set(ham["image_id"])
    i16 = read_dataset("isic2016", paths["isic2016"])
    assert (i16["official_split"] == "test").sum() == TINY["n_isic2016_test"]
    assert set(i16["label"]) == {"benign", "malignant"}


@pytest.mark.parametrize("placement", ["centre", "anywhere"])
def test_symmetry_labels_agree_with_the_drawn_shapes(placement, request):
    _, paths, _ = request.getfixturevalue("data" if placement == "centre" else "data_anywhere")
    sym = read_dataset("symderm", paths["symderm"])
    for _, row in sym.iterrows():
        best, perp, _ = mirror_score(load_mask(row["mask_path"]))
        label = row["symmetry_label"]
        if label == 0:
            assert best < 0.9, (row["image_id"], best)
        else:
            assert best > 0.95, (row["image_id"], best)
            if label == 2:
                assert perp > 0.94, (row["image_id"], perp)
            else:
                assert perp < 0.92, (row["image_id"], perp)


def test_mirror_score_of_known_shapes():
    ellipse = np.zeros((80, 100), np.uint8)
    yy, xx = np.mgrid[0:80, 0:100]
    ellipse[((xx - 50) / 30) ** 2 + ((yy - 40) / 15) ** 2 <= 1] = 1
    best, perp, angle = mirror_score(ellipse)
    assert best > 0.97 and perp > 0.97 and min(abs(angle), abs(angle - 180), abs(angle - 90)) < 3
    ell = ellipse.copy()
    ell[20:40, 20:50] = 1                                      # an L-shaped bump
    ell[40:75, 70:76] = 1
    assert mirror_score(ell)[0] < 0.9


def test_asymmetry_is_more_frequent_in_melanoma_than_in_nevi():
    rng = np.random.default_rng(0)
    asym = {c: np.mean([sample_lesion(c, rng).axes == 0 for _ in range(150)])
            for c in ("mel", "nv")}
    assert asym["mel"] > asym["nv"] + 0.3


def test_render_is_a_dermoscopy_like_image():
    rng = np.random.default_rng(1)
    img, mask = render(sample_lesion("mel", rng), rng, 160, 120, hair=False)
    assert img.shape == (120, 160, 3) and img.dtype == np.uint8 and mask.shape == (120, 160)
    inside, outside = img[mask > 0].mean(), img[mask == 0].mean()
    assert inside < outside - 30                                   # a dark lesion on skin
    corners = [img[:12, :12], img[:12, -12:], img[-12:, :12], img[-12:, -12:]]
    means = sorted(c.mean() for c in corners)
    assert means[0] < means[-1] - 25                               # the dark vignette corner


def test_generation_is_deterministic(tmp_path):
    kw = dict(TINY, n_lesions=12, min_lesions_per_class=1, n_symderm_own=4, n_symderm_from_ham=2,
              n_isic2019_new=4, n_isic2019_from_ham=2, n_isic2016_train=4, n_isic2016_test=4,
              width=64, height=48)
    a = generate_all(tmp_path / "a", SyntheticSpec(**kw), log=lambda *x: None)
    b = generate_all(tmp_path / "b", SyntheticSpec(**kw), log=lambda *x: None)
    [d.pop(k) for d in (a, b) for k in ("seconds", "cpu_seconds")]
    assert a == b
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert files and all(filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False)
                         for f in files)
    c = generate_all(tmp_path / "c", SyntheticSpec(**dict(kw, seed=4)), log=lambda *x: None)
    c.pop("seconds"), c.pop("cpu_seconds")
    assert not filecmp.cmp(tmp_path / "a" / files[0], tmp_path / "c" / files[0], shallow=False) \
        or a != c


def test_a_writer_alone_writes_what_generate_all_writes(data, tmp_path):
    # each dataset draws from its own generators: ISIC 2016 written on its own is the same
    root, _, summary = data
    paths = dataset_paths(tmp_path)["isic2016"]
    counts = write_isic2016(**paths, spec=SyntheticSpec(**TINY).image_spec,
                            n_train=TINY["n_isic2016_train"], n_test=TINY["n_isic2016_test"])
    assert counts == summary["isic2016"]
    ours = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(ours) == TINY["n_isic2016_train"] + TINY["n_isic2016_test"] + 2
    assert all(filecmp.cmp(tmp_path / f, root / f, shallow=False) for f in ours)


def test_class_floor_and_shape():
    n = _allocate(300, {"a": 0.9, "b": 0.05, "c": 0.05}, 20, "a")
    assert n == {"a": 260, "b": 20, "c": 20}
    with pytest.raises(ValueError, match="cannot give"):
        _allocate(30, {"a": 0.9, "b": 0.05, "c": 0.05}, 20, "a")


# ---- placement ------------------------------------------------------------------------------
def _ham_masks(root, paths):
    meta = pd.read_csv(paths["ham10000"]["metadata"])
    masks, images = [], []
    for image_id in meta["image_id"]:
        masks.append(load_mask(f"{paths['ham10000']['mask_dir']}/{image_id}_segmentation.png"))
        path = next((root / "HAM10000").glob(f"*/{image_id}.jpg"))
        images.append(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32))
    return masks, images


def _centroids(masks):
    """``(n, 2)`` mask centroids as fractions of the image width / height."""
    out = []
    for m in masks:
        ys, xs = np.nonzero(m)
        out.append((xs.mean() / m.shape[1], ys.mean() / m.shape[0]))
    return np.array(out)


def test_anywhere_spreads_the_lesions_and_keeps_them_whole(data, data_anywhere):
    centre_masks, _ = _ham_masks(*data[:2])
    masks, _ = _ham_masks(*data_anywhere[:2])
    assert len(masks) == len(centre_masks) == data_anywhere[2]["ham10000"]["images"]
    # centre: the centroid within ~0.04 of the image centre, the centre pixel in the lesion
    spread_c = _centroids(centre_masks).std(0)
    spread_a = _centroids(masks).std(0)
    assert (spread_c < 0.06).all() and (spread_a > 0.08).all(), (spread_c, spread_a)
    centre_in = [np.mean([m[m.shape[0] // 2, m.shape[1] // 2] > 0 for m in ms])
                 for ms in (centre_masks, masks)]
    assert centre_in[0] > 0.95 and centre_in[1] < 0.8, centre_in
    # nothing clipped: every lesion whole, off the border by the margin (to a pixel)
    keep = int(np.floor(PLACEMENT_MARGIN * min(TINY["width"], TINY["height"])))
    assert keep >= 1
    for m in masks:
        assert m.any()
        assert not (m[:keep].any() or m[-keep:].any() or m[:, :keep].any() or m[:, -keep:].any())
    # SymDerm's own images are placed the same way (its masks feed the mirror score)
    sym = read_dataset("symderm", data_anywhere[1]["symderm"])
    own = [load_mask(p) for p in sym.loc[sym["ham_image_id"] == "", "mask_path"]]
    assert own and _centroids(own).std(0).min() > 0.06


def test_anywhere_masks_stay_aligned_with_the_drawn_lesions(data_anywhere):
    # the lesion's edge is where its mask says: the ring just outside the mask is brighter than
    # the inside by more there than with the mask moved by 4 px in any direction
    masks, images = _ham_masks(*data_anywhere[:2])

    def contrast(img, m):
        m = m > 0
        ring = (cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & ~m
        return img[ring].mean() - img[m].mean()

    best = []
    for img, m in zip(images, masks):
        own = contrast(img, m)
        moved = [contrast(img, np.roll(m, s, axis)) for s in (-4, 4) for axis in (0, 1)]
        best.append(own > max(moved))
    assert np.mean(best) > 0.8, np.mean(best)


def test_anywhere_keeps_the_outline_inside_image_and_frame(monkeypatch):
    # the renderer's own centre and outline: the mask lies within the outline's extent, the
    # extent keeps the margin from the border, and with a frame the lesion is in its clear part
    w, h = 160, 120
    drawn = []
    place = render_module._place_anywhere

    def spy(rng, offsets, w_, h_, frame, **kw):
        c = place(rng, offsets, w_, h_, frame, **kw)
        drawn.append((c, offsets))
        return c

    monkeypatch.setattr(render_module, "_place_anywhere", spy)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:h, 0:w]
    centres = []
    for i, cls in enumerate(["mel", "nv", "bkl", "bcc", "akiec", "df", "vasc", "df"] * 8):
        frame = i % 2 == 0
        lesion = sample_lesion(cls, rng)
        img, mask = render(lesion, rng, w, h, hair=False, shift=frame, frame=frame,
                           placement="anywhere")
        (cx, cy), off = drawn[-1]
        centres.append((cx / w, cy / h))
        ys, xs = np.nonzero(mask)
        lo, hi = np.array([cx, cy]) + off.min(0), np.array([cx, cy]) + off.max(0)
        assert (xs.min(), ys.min()) >= tuple(lo - 0.5) and (xs.max(), ys.max()) <= tuple(hi + 0.5)
        assert np.abs([xs.min() - lo[0], ys.min() - lo[1], hi[0] - xs.max(),
                       hi[1] - ys.max()]).max() <= 1.5            # the extent is the mask's
        margin = PLACEMENT_MARGIN * min(w, h)
        assert lo.min() >= margin - 1e-6 and hi[0] <= w - 1 - margin + 1e-6 \
            and hi[1] <= h - 1 - margin + 1e-6
        if frame:
            d = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
            # not darkened by the frame (clear to d = 1.02), the margin kept from its edge
            assert d[mask > 0].max() <= 1.02 - 0.9 * margin / (min(w, h) / 2), cls
            assert img[d > 1.08].max() <= 16                       # the frame itself is black
    assert np.array(centres).std(0).min() > 0.08


def test_outline_offsets_of_an_ellipse():
    lesion = sample_lesion("nv", np.random.default_rng(0))
    lesion.cos[:], lesion.sin[:], lesion.aspect = 0.0, 0.0, 2.0     # R(theta) = 1: an ellipse
    flat = outline_offsets(lesion, 10.0, 0.0)
    np.testing.assert_allclose(flat.min(0), [-20, -10], atol=1e-3)
    np.testing.assert_allclose(flat.max(0), [20, 10], atol=1e-3)
    upright = outline_offsets(lesion, 10.0, np.pi / 2)               # long axis along y
    np.testing.assert_allclose(upright.max(0), [10, 20], atol=1e-3)
    diagonal = outline_offsets(lesion, 10.0, np.pi / 4)
    # x extent of the rotated ellipse: sqrt(a^2 cos^2 + b^2 sin^2) = sqrt(250)
    np.testing.assert_allclose(diagonal.max(0), [np.sqrt(250)] * 2, atol=1e-2)


def test_placement_is_checked():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="placement"):
        render(sample_lesion("nv", rng), rng, 64, 48, hair=False, placement="corner")
    with pytest.raises(ValueError, match="placement"):
        generate_all("unused", SyntheticSpec(placement="corner", **TINY), log=lambda *a: None)


def test_planted_copies_only_add_files_and_rows(tmp_path):
    """data.synthetic.plant_copies: the copies of selcn.data.synthetic.plants are new files and
    new CSV rows; every other file and row is what the generator writes without them."""
    import csv

    from selcn.data.synthetic.plants import PLANTS

    kw = dict(TINY, n_lesions=12, min_lesions_per_class=1, n_symderm_own=4, n_symderm_from_ham=2,
              n_isic2019_new=4, n_isic2019_from_ham=2, n_isic2016_train=4, n_isic2016_test=4,
              width=64, height=48)
    a = generate_all(tmp_path / "a", SyntheticSpec(plant_copies=False, **kw), log=lambda *x: None)
    b = generate_all(tmp_path / "b", SyntheticSpec(**kw), log=lambda *x: None)
    assert "planted" not in a and len(b["planted"]) == sum(n for _, n in PLANTS) == 6
    files_a = {p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()}
    files_b = {p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()}
    added = files_b - files_a
    assert files_a <= files_b and len([f for f in added if "masks" not in str(f)]) == 6
    changed = sorted(str(f) for f in files_a
                     if not filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False))
    assert changed == ["ISIC2016/ISBI2016_ISIC_Part3_Test_GroundTruth.csv",
                       "ISIC2016/ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
                       "ISIC2019/ISIC_2019_Training_GroundTruth.csv",
                       "ISIC2019/ISIC_2019_Training_Metadata.csv",
                       "SymDerm/SymDerm_v2_labels.csv"]
    for f in changed:
        rows_a = list(csv.reader(open(tmp_path / "a" / f, newline="")))
        rows_b = list(csv.reader(open(tmp_path / "b" / f, newline="")))
        assert [r for r in rows_b if r in rows_a] == rows_a        # old rows kept, in order
    kinds = {p["kind"]: p for p in b["planted"]}
    src = kinds["same_id"]["source"].split("/")[1]
    assert kinds["same_id"]["copy"] == f"symderm/{src}"
    assert kinds["downsampled"]["copy"].endswith("_downsampled")
    root = tmp_path / "b"
    for kind, source_dir, copy_dir in (
            ("same_id", "ISIC2016/ISBI2016_ISIC_Part3_Test_Data", "SymDerm/images"),
            ("renamed", "ISIC2016/ISBI2016_ISIC_Part3_Test_Data", "SymDerm/images"),
            ("downsampled", "HAM10000/HAM10000_images_part*", "ISIC2019/ISIC_2019_Training_Input")):
        source_id = kinds[kind]["source"].split("/")[1]
        copy_id = kinds[kind]["copy"].split("/")[1]
        source = next(root.glob(f"{source_dir}/{source_id}.jpg"))
        assert filecmp.cmp(source, root / copy_dir / f"{copy_id}.jpg", shallow=False), kind
    paths = dataset_paths(root)
    # the readers see every planted copy
    tables = {d: read_dataset(d, p, ham_metadata=paths["ham10000"]["metadata"]
                              if d == "symderm" else None)
              for d, p in dataset_paths(tmp_path / "b").items() if d in ("symderm", "isic2019",
                                                                         "isic2016")}
    for plant in b["planted"]:
        dataset, image_id = plant["copy"].split(" ")[0].split("/")
        assert image_id in set(tables[dataset]["image_id"]), plant
