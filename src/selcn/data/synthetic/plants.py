"""Copies of one image planted in two datasets, so the overlap guard (:mod:`selcn.data.overlap`)
has something to find in the demo and the tests (``data.synthetic.plant_copies``).

The published sets share images the same ways (issue 22: SymDerm v2.0 holds ISIC 2016 test
images; ISIC releases carry one image under several ids, ISIC 2019 names some ``*_downsampled``;
images are re-encoded and resized between releases). :func:`plant_copies` runs after every
writer of :func:`selcn.data.synthetic.generate_all` and only *adds*: new image / mask files and
new CSV rows (every other row and file stays byte-identical). The copies (:data:`PLANTS`):

=====================  ==========================================  ==============  ===========
kind                   copy                                        found by        expected
=====================  ==========================================  ==============  ===========
``same_id``            ISIC 2016 test image -> SymDerm, same id    id + pixels     SymDerm fold
                       (SymDerm's ``File`` = ``<id>.jpg``)                         copy leaves
``renamed``            ISIC 2016 test image -> SymDerm, new id     pixels          as above
``downsampled``        HAM10000 image -> ISIC 2019 as              id + pixels     ISIC 2019
                       ``<id>_downsampled.jpg``                                    loses it
``reencoded``          HAM10000 image, JPEG quality 60 at 80 %     perceptual      HAM10000 fold
                       -> ISIC 2016 test, new id (x 2)             hash            copy leaves
``reencoded_train``    ISIC 2016 test image, quality 60 at 80 %    perceptual      ISIC 2016 fold
                       -> ISIC 2016 training, new id               hash            copy leaves
=====================  ==========================================  ==============  ===========

"Expected" is what ``protocol: leakage_free`` does when the copy's test image is in a test
split and its training copy in a fold (the splits decide; a HAM10000 image may be a test image
itself). New ids are ``ISIC_90000xx`` (no writer draws ids that high). Each pick draws from
``numpy`` generators seeded by ``(seed, "plants", k)``, among the images no other writer copied
(HAM10000: of lesions not picked before).
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from selcn.atomic import atomic_path
from selcn.data.labels import ISIC2019_COLUMNS

__all__ = ["PLANTS", "Plant", "plant_copies", "reencode", "PLANTED_ID_BASE", "REENCODE"]

#: the copies planted, in order: ``(kind, number of copies)``
PLANTS: tuple[tuple[str, int], ...] = (("same_id", 1), ("renamed", 1), ("downsampled", 1),
                                      ("reencoded", 2), ("reencoded_train", 1))
#: the first planted id number (``ISIC_9000000``)
PLANTED_ID_BASE = 9_000_000
#: the re-encoding of a perceptual copy: JPEG quality and scale of both sides
REENCODE = {"quality": 60, "scale": 0.8}
_ISIC2019_COL = {"akiec": "AK", "bcc": "BCC", "bkl": "BKL", "df": "DF", "mel": "MEL", "nv": "NV",
                 "vasc": "VASC"}
_SEED_CODE = 9


@dataclass(frozen=True)
class Plant:
    """One planted copy: its ``kind`` (:data:`PLANTS`), the original (``source_dataset``,
    ``source_id``) and the copy (``dataset``, ``image_id``, ``part``: ``train`` / ``test`` /
    ``""``)."""

    kind: str
    source_dataset: str
    source_id: str
    dataset: str
    image_id: str
    part: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "source": f"{self.source_dataset}/{self.source_id}",
                "copy": f"{self.dataset}/{self.image_id}" + (f" ({self.part})" if self.part
                                                             else "")}


def reencode(src: str | Path, dst: str | Path, quality: int = REENCODE["quality"],
             scale: float = REENCODE["scale"]) -> None:
    """Write ``src`` (an image file) to ``dst`` as JPEG at ``quality``, both sides scaled by
    ``scale`` (area interpolation): a copy another release might hold."""
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"could not read {src}")
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    if not cv2.imwrite(str(dst), small, [cv2.IMWRITE_JPEG_QUALITY, int(quality)]):
        raise OSError(f"could not write {dst}")


def _read_rows(path: str | Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return [row for row in csv.reader(fh)]


def _write_rows(path: str | Path, rows: list[list]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)


def _pick(seed: int, k: int, candidates: Sequence[Any]) -> Any:
    if not candidates:
        raise ValueError("plant_copies: no image left to copy (raise the synthetic set's sizes)")
    rng = np.random.default_rng([seed, _SEED_CODE, k])
    return candidates[int(rng.integers(len(candidates)))]


def plant_copies(paths: Mapping[str, Mapping[str, Any]], ham_images: Sequence, isic2016: Sequence,
                 seed: int) -> list[Plant]:
    """Plant the copies of :data:`PLANTS` into the datasets written under ``paths``
    (:func:`selcn.data.synthetic.dataset_paths`): ``ham_images`` are HAM10000's
    :class:`~selcn.data.synthetic.writers.HamImage` list, ``isic2016`` ISIC 2016's
    :class:`~selcn.data.synthetic.writers.DrawnImage` list. Appends rows to the SymDerm label
    file, both ISIC 2019 CSVs (kept sorted by image id) and both ISIC 2016 CSVs. Returns the
    planted copies."""
    sym, i19, i16 = paths["symderm"], paths["isic2019"], paths["isic2016"]
    sym_rows = _read_rows(sym["csv"])
    gt19, meta19 = _read_rows(i19["ground_truth"]), _read_rows(i19["metadata"])
    train16, test16 = _read_rows(i16["train_ground_truth"]), _read_rows(i16["test_ground_truth"])
    used = {r[0].rsplit(".", 1)[0] for r in sym_rows[1:]} | {r[0] for r in gt19[1:]}
    free_ham = [h for h in ham_images if h.image_id not in used]
    tests = [d for d in isic2016 if d.part == "test"]
    plants: list[Plant] = []
    new_id = iter(f"ISIC_{PLANTED_ID_BASE + i:07d}" for i in range(100))
    k = 0
    for kind, copies in PLANTS:
        for _ in range(copies):
            k += 1
            if kind in ("same_id", "renamed", "reencoded_train"):
                src = _pick(seed, k, tests)
                tests = [d for d in tests if d is not src]
            else:                        # one image per lesion: copies of distinct lesions
                src = _pick(seed, k, free_ham)
                free_ham = [h for h in free_ham if h.lesion_id != src.lesion_id]
            if kind in ("same_id", "renamed"):
                name = src.image_id if kind == "same_id" else next(new_id)
                shutil.copyfile(src.path, Path(sym["image_dir"]) / f"{name}.jpg")
                if not cv2.imwrite(str(Path(sym["mask_dir"]) / f"{name}.png"), src.mask):
                    raise OSError(f"could not write the mask of {name}")
                sym_rows.append([f"{name}.jpg", f"{name}.png", "ISIC2017",
                                 str(src.lesion.symderm_label)])
                plants.append(Plant(kind, "isic2016", src.image_id, "symderm", name))
            elif kind == "downsampled":
                name = f"{src.image_id}_downsampled"
                shutil.copyfile(src.path, Path(i19["image_dir"]) / f"{name}.jpg")
                col = _ISIC2019_COL[src.lesion.cls]
                gt19.append([name] + [str(1.0 if c == col else 0.0) for c in ISIC2019_COLUMNS])
                meta19.append([name, str(src.age), src.site, src.lesion_id, src.sex])
                plants.append(Plant(kind, "ham10000", src.image_id, "isic2019", name))
            elif kind == "reencoded":
                name = next(new_id)
                reencode(src.path, Path(i16["test_image_dir"]) / f"{name}.jpg")
                test16.append([name, str(float(src.lesion.cls == "mel"))])
                plants.append(Plant(kind, "ham10000", src.image_id, "isic2016", name, "test"))
            else:                                                       # reencoded_train
                name = next(new_id)
                reencode(src.path, Path(i16["train_image_dir"]) / f"{name}.jpg")
                train16.append([name, "malignant" if src.malignant else "benign"])
                plants.append(Plant(kind, "isic2016", src.image_id, "isic2016", name, "train"))
    order = sorted(range(1, len(gt19)), key=lambda i: gt19[i][0])
    _write_rows(sym["csv"], sym_rows)
    _write_rows(i19["ground_truth"], [gt19[0]] + [gt19[i] for i in order])
    _write_rows(i19["metadata"], [meta19[0]] + [meta19[i] for i in order])
    _write_rows(i16["train_ground_truth"], train16)
    _write_rows(i16["test_ground_truth"], test16)
    return plants
