"""Readers: each bad input is one DataFormatError naming the file and the field."""

import shutil

import numpy as np
import pandas as pd
import pytest

from selcn.data.preprocess import build_cache, load_image
from selcn.data.readers import (
    DataFormatError,
    read_dataset,
    read_ham10000,
    read_isic2016,
    read_isic2019,
    read_symderm,
)
from selcn.data.synthetic import SyntheticSpec, dataset_paths, generate_all

KW = dict(seed=5, n_lesions=14, min_lesions_per_class=1, n_symderm_own=4, n_symderm_from_ham=4,
          n_isic2019_new=16, n_isic2019_from_ham=3, n_isic2016_train=6, n_isic2016_test=4,
          width=64, height=48)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine")
    generate_all(root, SyntheticSpec(**KW), log=lambda *a: None)
    return root


@pytest.fixture
def data(pristine, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(pristine, root)
    return root, dataset_paths(root)


def _set(t, col, value):
    t = t.copy()
    t[col] = value
    return t


def _edit_csv(path, fn, header=True):
    t = pd.read_csv(path, dtype=str, keep_default_na=False, header=0 if header else None)
    t = fn(t)
    t.to_csv(path, index=False, header=header)


def _ham(p):
    return read_ham10000(p["metadata"], p["image_dirs"], p["mask_dir"])


def test_all_four_read(data):
    _, paths = data
    for ds in ("ham10000", "symderm", "isic2019", "isic2016"):
        t = read_dataset(ds, paths[ds])
        assert len(t) and {"image_id", "label", "target", "group", "path", "mask_path"} <= set(t)


def test_missing_file(data):
    _, paths = data
    p = dict(paths["ham10000"], metadata=str(paths["ham10000"]["metadata"]) + ".nope")
    with pytest.raises(DataFormatError, match=r"HAM10000_metadata.csv.nope: file not found"):
        _ham(p)


def test_missing_image(data):
    root, paths = data
    image_id = pd.read_csv(paths["ham10000"]["metadata"])["image_id"].iloc[3]
    next(root.glob(f"HAM10000/*/{image_id}.jpg")).unlink()
    with pytest.raises(DataFormatError, match=rf"HAM10000_metadata.csv: image of image_id "
                                              rf"'{image_id}' \(line 5\) not found"):
        _ham(paths["ham10000"])


def test_missing_mask(data):
    root, paths = data
    image_id = pd.read_csv(paths["ham10000"]["metadata"])["image_id"].iloc[0]
    (root / "HAM10000" / "HAM10000_segmentations_lesion_tschandl"
     / f"{image_id}_segmentation.png").unlink()
    with pytest.raises(DataFormatError, match=rf"mask of image_id '{image_id}'"):
        _ham(paths["ham10000"])
    mask = pd.read_csv(paths["symderm"]["csv"])["Mask"].iloc[1]
    (root / "SymDerm" / "masks" / mask).unlink()
    with pytest.raises(DataFormatError,
                       match=rf"SymDerm_v2_labels.csv: mask of field 'Mask' '{mask}'"):
        read_symderm(**paths["symderm"])


def test_unknown_label(data):
    _, paths = data
    _edit_csv(paths["ham10000"]["metadata"],
              lambda t: t.assign(dx=t["dx"].where(t.index != 2, "melanoma")))
    with pytest.raises(DataFormatError, match=r"HAM10000_metadata.csv: field 'dx' has unknown "
                                              r"label 'melanoma' \(line 4\)"):
        _ham(paths["ham10000"])
    _edit_csv(paths["symderm"]["csv"], lambda t: t.assign(labels_symmetry="3"))
    with pytest.raises(DataFormatError, match=r"field 'labels_symmetry' has unknown label '3'"):
        read_symderm(**paths["symderm"])
    _edit_csv(paths["isic2016"]["train_ground_truth"],
              lambda t: _set(t, 1, t[1].where(t.index != 0, "maybe")), header=False)
    with pytest.raises(DataFormatError, match=r"Training_GroundTruth.csv: field 'label' has "
                                              r"unknown label 'maybe' \(line 1\)"):
        read_isic2016(**paths["isic2016"])


def test_isic2016_test_labels_are_0_or_1(data):
    _, paths = data
    _edit_csv(paths["isic2016"]["test_ground_truth"], lambda t: _set(t, 1, "2.0"), header=False)
    with pytest.raises(DataFormatError,
                       match=r"Test_GroundTruth.csv: field 'label' has unknown label '2.0'"):
        read_isic2016(**paths["isic2016"])


def test_isic2019_not_one_hot(data):
    _, paths = data
    _edit_csv(paths["isic2019"]["ground_truth"], lambda t: t.assign(MEL="1.0"))
    with pytest.raises(DataFormatError, match=r"GroundTruth.csv: line \d+ .* is not one-hot"):
        read_isic2019(**paths["isic2019"])


def test_duplicate_image_id(data):
    _, paths = data
    _edit_csv(paths["ham10000"]["metadata"],
              lambda t: pd.concat([t, t.iloc[[1]]], ignore_index=True))
    with pytest.raises(DataFormatError,
                       match=r"duplicate image id '.*' in field 'image_id' \(lines 3, "):
        _ham(paths["ham10000"])


def test_misspelled_column(data):
    _, paths = data
    _edit_csv(paths["ham10000"]["metadata"], lambda t: t.rename(columns={"dx": "dxx"}))
    with pytest.raises(DataFormatError, match=r"missing column 'dx' .*did you mean 'dxx'"):
        _ham(paths["ham10000"])
    _edit_csv(paths["isic2019"]["ground_truth"], lambda t: t.drop(columns="UNK"))
    with pytest.raises(DataFormatError,
                       match=r"ISIC_2019_Training_GroundTruth.csv: missing column 'UNK'"):
        read_isic2019(**paths["isic2019"])


def test_empty_dataset(data):
    _, paths = data
    _edit_csv(paths["symderm"]["csv"], lambda t: t.iloc[:0])
    with pytest.raises(DataFormatError, match=r"SymDerm_v2_labels.csv: no rows \(empty dataset"):
        read_symderm(**paths["symderm"])
    open(paths["isic2016"]["test_ground_truth"], "w").close()
    with pytest.raises(DataFormatError, match=r"Test_GroundTruth.csv: empty file"):
        read_isic2016(**paths["isic2016"])
    only_scc = lambda t: t.assign(**{c: "0.0" for c in t.columns[1:]}).assign(SCC="1.0")  # noqa: E731
    _edit_csv(paths["isic2019"]["ground_truth"], only_scc)
    with pytest.raises(DataFormatError, match=r"no rows left after dropping SCC, UNK"):
        read_isic2019(**paths["isic2019"])


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_unreadable_or_truncated_image(data, damage, tmp_path):
    _, paths = data
    table = _ham(paths["ham10000"])
    victim = table["path"].iloc[2]
    raw = open(victim, "rb").read()
    with open(victim, "wb") as fh:
        fh.write(raw[: len(raw) // 2] if damage == "truncated" else b"not an image at all")
    with pytest.raises(DataFormatError, match=rf"{victim}: unreadable or truncated image"):
        load_image(victim)
    out = tmp_path / "cache"
    with pytest.raises(DataFormatError, match="unreadable or truncated"):
        build_cache(table, out, 32, threads=2, log=lambda *a: None)
    assert not list(out.glob("*.npy")) and not (out / "index.csv").exists()


def test_isic2019_drops_scc_unk_and_ham_ids(data):
    _, paths = data
    ham = _ham(paths["ham10000"])
    gt = pd.read_csv(paths["isic2019"]["ground_truth"])
    t = read_isic2019(**paths["isic2019"], exclude_ids=ham["image_id"])
    n_scc_unk = int(gt["SCC"].sum() + gt["UNK"].sum())
    n_ham = len(set(gt["image"]) & set(ham["image_id"]))
    assert t.attrs["dropped"] == {"SCC/UNK": n_scc_unk, "in HAM10000": n_ham}
    assert len(t) == len(gt) - n_scc_unk - n_ham
    assert set(t["label"]) <= {"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"}
    assert np.array_equal(t["target"], t["label"].map(
        {c: i for i, c in enumerate(("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"))}))


def test_isic2019_missing_image_names_its_csv_line(data):
    root, paths = data
    gt = pd.read_csv(paths["isic2019"]["ground_truth"])
    keep = gt[(gt["SCC"] == 0) & (gt["UNK"] == 0)]
    i = keep.index[-1]
    (root / "ISIC2019" / "ISIC_2019_Training_Input" / f"{gt['image'][i]}.jpg").unlink()
    with pytest.raises(DataFormatError, match=rf"GroundTruth.csv: image of image "
                                              rf"'{gt['image'][i]}' \(line {i + 2}\) not found"):
        read_isic2019(**paths["isic2019"])


def test_a_duplicated_column_is_named(data, tmp_path):
    """pandas reads a column named twice as ``dx`` and ``dx.1``; the readers refuse it."""
    _, paths = data
    meta = paths["ham10000"]["metadata"]
    lines = open(meta).read().splitlines()
    header = lines[0].split(",")
    lines[0] = ",".join(header + ["dx"])
    open(meta, "w").write("\n".join(line + ("," + line.split(",")[header.index("dx")]
                                            if i else "") for i, line in enumerate(lines)) + "\n")
    assert "dx.1" in pd.read_csv(meta).columns                       # what pandas does
    n = len(header) + 1
    with pytest.raises(DataFormatError, match=rf"HAM10000_metadata.csv: duplicated column 'dx' "
                                              rf"\(fields {header.index('dx') + 1} and {n}\)"):
        _ham(paths["ham10000"])
    from selcn.data.tables import read_csv

    table = tmp_path / "splits.csv"
    table.write_text("image_id,split, split\na,fold0,test\n")        # names are stripped
    with pytest.raises(ValueError, match=r"splits.csv: duplicated column 'split' \(fields 2 and "
                                         r"3\) in the header \(split table\)"):
        read_csv(table, ("image_id", "split"), "split table")
