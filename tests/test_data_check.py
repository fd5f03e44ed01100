"""check_data: every configured dataset's files looked up, problems named; header-only (nothing
decoded) or deep (every file decoded by the cache's loader)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import PH2_SAMPLE_IMAGES
from selcn.data.check import CheckOptions, check_data, check_dataset, image_size
from selcn.data.preprocess import LoaderSettings
from selcn.data.readers import DataFormatError, read_ham10000

REPO = Path(__file__).resolve().parents[1]


def _ham(root, n=4, drop_image=None, drop_mask=None):
    """A HAM10000 layout of ``n`` 30x20 images; ``drop_*`` = index of a file left out."""
    meta = root / "HAM10000_metadata.csv"
    img_dir, mask_dir = root / "part1", root / "masks"
    img_dir.mkdir(parents=True)
    mask_dir.mkdir()
    lines = ["lesion_id,image_id,dx,dx_type,age,sex,localization"]
    for i in range(n):
        image_id = f"ISIC_{i:07d}"
        lines.append(f"HAM_{i:07d},{image_id},{'nv' if i % 2 else 'mel'},histo,50,male,back")
        if i != drop_image:
            cv2.imwrite(str(img_dir / f"{image_id}.jpg"), np.full((20, 30, 3), 128, np.uint8))
        if i != drop_mask:
            cv2.imwrite(str(mask_dir / f"{image_id}_segmentation.png"),
                        np.zeros((20, 30), np.uint8))
    meta.write_text("\n".join(lines) + "\n")
    return {"metadata": str(meta), "image_dirs": [str(img_dir)], "mask_dir": str(mask_dir)}


def test_image_size_reads_the_header(tmp_path):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((7, 11, 3), np.uint8))
    assert image_size(path) == (11, 7)


def test_all_found(tmp_path):
    paths = _ham(tmp_path)
    check = check_dataset("ham10000", paths)
    assert check.ok and check.rows == 4 and check.masks == 4
    assert check.per_class == {"mel": 2, "nv": 2}
    assert check.sizes == {(30, 20): 4}


def test_names_a_missing_image_and_a_missing_mask(tmp_path):
    paths = _ham(tmp_path, n=5, drop_image=1, drop_mask=3)
    with pytest.raises(DataFormatError, match="ISIC_0000001"):     # the strict reader stops
        read_ham10000(paths["metadata"], paths["image_dirs"], paths["mask_dir"])
    check = check_dataset("ham10000", paths)
    assert not check.ok and check.rows == 3                       # rows 1 and 3 left out
    assert len(check.missing) == 2
    assert "image of image_id 'ISIC_0000001' (line 3)" in check.missing[0]
    assert "mask of image_id 'ISIC_0000003' (line 5)" in check.missing[1]
    text = str(check_data({"data": {"ham10000": paths}}))
    assert "ISIC_0000001" in text and "ISIC_0000003" in text and "problems found" in text


def test_unreadable_label_file_and_header(tmp_path):
    paths = _ham(tmp_path, n=2)
    (tmp_path / "part1" / "ISIC_0000000.jpg").write_bytes(b"not a jpeg")
    check = check_dataset("ham10000", paths)
    assert len(check.unreadable) == 1 and "ISIC_0000000" in check.unreadable[0]
    bad = dict(paths, metadata=str(tmp_path / "nope.csv"))
    result = check_data({"data": {"ham10000": bad, "symderm": None}})
    assert [d.dataset for d in result.datasets] == ["ham10000"]   # null = not configured
    assert "nope.csv: file not found" in result.datasets[0].error
    assert "label file problem" in str(result)


# ---- header-only vs deep -------------------------------------------------------------------
def _with_lesions(paths, n=4):
    """Give every mask of :func:`_ham` a lesion (they are all empty there)."""
    for i in range(n):
        mask = np.zeros((20, 30), np.uint8)
        mask[5:15, 8:22] = 255
        cv2.imwrite(f"{paths['mask_dir']}/ISIC_{i:07d}_segmentation.png", mask)
    return paths


def test_the_header_check_says_what_it_skipped(tmp_path):
    result = check_data({"data": {"ham10000": _ham(tmp_path)}})
    text = str(result)
    assert result.ok and "header-only check (no pixel decoded); skipped: truncated or corrupt " \
        "pixel data, mask values" in text and "check_data_deep" in text


def test_deep_finds_a_truncated_jpeg_the_header_check_misses(tmp_path):
    paths = _with_lesions(_ham(tmp_path))
    victim = tmp_path / "part1" / "ISIC_0000002.jpg"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(victim), rng.integers(0, 255, (20, 30, 3), dtype=np.uint8),
                [cv2.IMWRITE_JPEG_QUALITY, 95])
    victim.write_bytes(victim.read_bytes()[:-300])
    shallow = check_data({"data": {"ham10000": paths}})
    assert shallow.ok                                           # the header is intact
    deep = check_data({"data": {"ham10000": paths}}, options=CheckOptions(deep=True))
    assert not deep.ok and len(deep.datasets[0].unreadable) == 1
    assert f"{victim}: unreadable or truncated image" in deep.datasets[0].unreadable[0]
    text = str(deep)
    assert "ISIC_0000002" in text and "deep check: every image and mask decoded" in text
    assert deep.table()["unreadable"].tolist() == [1]


def test_deep_reports_mask_values_and_an_all_empty_mask_set(tmp_path):
    paths = _ham(tmp_path)                                      # every mask all 0
    assert check_data({"data": {"ham10000": paths}}).ok        # headers cannot tell
    deep = check_data({"data": {"ham10000": paths}}, options=CheckOptions(deep=True))
    d = deep.datasets[0]
    assert not deep.ok and d.empty_masks == 4 and d.mask_values == {"0": 4}
    assert "all 4 masks are empty" in d.invalid[0]
    for i in range(4):                                          # 0/1 masks: lesions, fine
        mask = np.zeros((20, 30), np.uint8)
        mask[5:15, 8:22] = 1
        cv2.imwrite(f"{paths['mask_dir']}/ISIC_{i:07d}_segmentation.png", mask)
    deep = check_data({"data": {"ham10000": paths}}, options=CheckOptions(deep=True))
    assert deep.ok and deep.datasets[0].mask_values == {"0/1": 4}
    assert "masks 0/1 (4)" in deep.table()["notes"].iloc[0]


def test_both_depths_report_16_bit_exif_size_mismatch_and_too_large(tmp_path):
    from PIL import Image

    paths = _with_lesions(_ham(tmp_path, n=4))
    part = tmp_path / "part1"
    Image.fromarray(np.full((20, 30), 40000, np.uint16)).save(part / "ISIC_0000000.png")
    (part / "ISIC_0000000.jpg").unlink()
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(np.full((30, 20, 3), 90, np.uint8)).save(part / "ISIC_0000001.jpg",
                                                              exif=exif)   # 20 x 30 displayed
    cv2.imwrite(str(tmp_path / "masks" / "ISIC_0000002_segmentation.png"),
                np.zeros((10, 10), np.uint8))
    cv2.imwrite(str(part / "ISIC_0000003.jpg"), np.zeros((200, 300, 3), np.uint8))
    options = CheckOptions(loader=LoaderSettings(max_pixels=10_000))
    for deep in (False, True):
        result = check_data({"data": {"ham10000": paths}},
                            options=CheckOptions(deep=deep, loader=options.loader))
        d = result.datasets[0]
        assert d.depths == {"16-bit": 1} and d.rotated == 1, deep
        assert len(d.invalid) == 2 and not result.ok
        assert "ISIC_0000002_segmentation.png: mask is 10 x 10 px but its image" in d.invalid[0]
        assert "ISIC_0000002.jpg is 30 x 20 px" in d.invalid[0]
        assert "ISIC_0000003.jpg: image too large: 300 x 200 px" in d.invalid[1]
        assert "16-bit 1; EXIF-rotated 1" in result.table()["notes"].iloc[0]
    tolerant = check_data({"data": {"ham10000": paths}}, options=CheckOptions(
        deep=True, loader=LoaderSettings(max_pixels=10**6, resize_masks=True)))
    assert tolerant.ok and tolerant.datasets[0].resized_masks == 2     # 10 x 10 and 300 x 200


def test_check_data_reads_the_loader_settings_of_the_config(tmp_path):
    paths = _ham(tmp_path)
    result = check_data({"data": {"ham10000": paths, "max_pixels": 100}})
    assert len(result.datasets[0].invalid) == 8     # 4 images, 4 masks: 30 x 20 = 600 px > 100


def test_deep_check_of_the_real_ph2_sample(tmp_path):
    """The 40 real PH2 cases laid out as SymDerm rows (links, nothing copied): 24-bit BMP
    images and 1-bit BMP masks, every mask read as {0, 1} with a lesion."""
    root = PH2_SAMPLE_IMAGES
    if not root.is_dir():
        pytest.skip(f"PH2 sample not found at {root} (../shared/data/ph2-sample)")
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    lines = ["File,Mask,Dataset,labels_symmetry"]
    for i, case in enumerate(sorted(p for p in root.iterdir() if p.is_dir())):
        name = case.name
        (tmp_path / "images" / f"{name}.bmp").symlink_to(
            case / f"{name}_Dermoscopic_Image" / f"{name}.bmp")
        (tmp_path / "masks" / f"{name}.bmp").symlink_to(case / f"{name}_lesion" /
                                                         f"{name}_lesion.bmp")
        lines.append(f"{name}.bmp,{name}.bmp,PH2,{i % 3}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    paths = {"csv": str(tmp_path / "labels.csv"), "image_dir": str(tmp_path / "images"),
             "mask_dir": str(tmp_path / "masks")}
    deep = check_data({"data": {"symderm": paths}}, options=CheckOptions(deep=True, threads=2))
    d = deep.datasets[0]
    assert deep.ok, str(deep)
    assert d.rows == d.masks == 40 and d.mask_values == {"0/1 (1-bit)": 40}
    assert d.empty_masks == d.full_masks == 0 and not d.depths and not d.rotated
