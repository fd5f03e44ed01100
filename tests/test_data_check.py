"""check_data: every configured dataset's files looked up, problems named, nothing decoded."""

import cv2
import numpy as np
import pytest

from selcn.data.check import check_data, check_dataset, image_size
from selcn.data.readers import DataFormatError, read_ham10000


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
