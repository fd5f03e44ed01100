"""One writer per published format of the synthetic set (the mirror of :mod:`selcn.data.readers`).

Each ``write_<dataset>`` takes the paths of its config block ``data.<dataset>`` (the keys of
:func:`dataset_paths`, as the matching ``read_<dataset>`` does), an :class:`ImageSpec` (seed,
image size, placement: shared by all writers) and its own image counts, empties its
directories, draws and renders its lesions (:mod:`selcn.data.synthetic.render`) and writes
images, masks and CSVs in the dataset's published layout. It returns the dataset's summary
(image counts per class or label). Every image draws from its own ``numpy`` generator seeded by
``(seed, dataset, number)``, so a dataset is deterministic for a seed and independent of the
others, except that SymDerm and ISIC 2019 copy images of HAM10000 (as the published sets do):
:func:`write_ham10000` also returns the :class:`HamImage` list they pick from.

CSVs are written atomically (:func:`selcn.atomic.atomic_path`) after their images.
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
from selcn.data.labels import HAM_CLASSES, ISIC2019_COLUMNS
from selcn.data.synthetic.render import PLACEMENTS, Lesion, render, sample_lesion

__all__ = ["dataset_paths", "ImageSpec", "HamImage", "DrawnImage", "write_ham10000",
           "write_symderm", "write_isic2019", "write_isic2016", "write_ph2", "HAM_FRACTIONS",
           "ISIC2019_FRACTIONS", "SYMDERM_FRACTIONS", "PH2_FRACTIONS", "PH2_ASYMMETRY_FRACTIONS"]

#: image fractions of the HAM10000 classes (6705/1113/1099/514/327/142/115 of 10,015)
HAM_FRACTIONS: Mapping[str, float] = {"akiec": 327 / 10015, "bcc": 514 / 10015,
                                      "bkl": 1099 / 10015, "df": 115 / 10015,
                                      "mel": 1113 / 10015, "nv": 6705 / 10015,
                                      "vasc": 142 / 10015}
#: ISIC 2019 training classes (25,331 images, UNK empty in the published table)
ISIC2019_FRACTIONS: Mapping[str, float] = {"MEL": 4522, "NV": 12875, "BCC": 3323, "AK": 867,
                                           "BKL": 2624, "DF": 239, "VASC": 253, "SCC": 628}
_ISIC2019_FROM_HAM = {"AK": "akiec", "BCC": "bcc", "BKL": "bkl", "DF": "df", "MEL": "mel",
                      "NV": "nv", "VASC": "vasc", "SCC": "akiec"}
#: SymDerm v2.0 label frequencies (1,228 / 633 / 794)
SYMDERM_FRACTIONS = (1228 / 2655, 633 / 2655, 794 / 2655)
#: PH²'s diagnoses (80 / 80 / 40 of 200) and asymmetry 0 / 1 / 2 (117 / 31 / 52)
PH2_FRACTIONS: Mapping[str, float] = {"common_nevus": 0.4, "atypical_nevus": 0.4, "melanoma": 0.2}
PH2_ASYMMETRY_FRACTIONS = (117 / 200, 31 / 200, 52 / 200)
#: the lesion model drawn for a PH² diagnosis (an atypical nevus looks like the renderer's
#: benign keratosis: irregular, mottled; a stand-in, the classes only need to differ)
_PH2_RENDER_CLASS = {"common_nevus": "nv", "atypical_nevus": "bkl", "melanoma": "mel"}
_DATASET_CODE = {"ham10000": 1, "symderm": 2, "isic2019": 3, "isic2016": 4, "ph2": 5}
#: anatomical sites drawn for the HAM10000 and ISIC 2019 metadata
_SITES = ["back", "lower extremity", "trunk", "upper extremity", "abdomen", "face", "chest",
          "foot", "scalp", "neck", "hand", "unknown"]


# ---------------------------------------------------------------------------- layout
def dataset_paths(root: str | Path) -> dict[str, dict[str, Any]]:
    """The published layout under ``root`` (``resources/data`` in the schema's defaults),
    keyed like the config's ``data.<dataset>`` blocks."""
    r = str(root).rstrip("/")
    ham, sym, i19, i16 = f"{r}/HAM10000", f"{r}/SymDerm", f"{r}/ISIC2019", f"{r}/ISIC2016"
    ph2 = f"{r}/PH2Dataset"
    return {
        "ham10000": {"metadata": f"{ham}/HAM10000_metadata.csv",
                     "image_dirs": [f"{ham}/HAM10000_images_part1", f"{ham}/HAM10000_images_part2"],
                     "mask_dir": f"{ham}/HAM10000_segmentations_lesion_tschandl"},
        "symderm": {"csv": f"{sym}/SymDerm_v2_labels.csv", "image_dir": f"{sym}/images",
                    "mask_dir": f"{sym}/masks"},
        "isic2019": {"ground_truth": f"{i19}/ISIC_2019_Training_GroundTruth.csv",
                     "metadata": f"{i19}/ISIC_2019_Training_Metadata.csv",
                     "image_dir": f"{i19}/ISIC_2019_Training_Input"},
        "isic2016": {"train_ground_truth": f"{i16}/ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
                     "test_ground_truth": f"{i16}/ISBI2016_ISIC_Part3_Test_GroundTruth.csv",
                     "train_image_dir": f"{i16}/ISBI2016_ISIC_Part3_Training_Data",
                     "test_image_dir": f"{i16}/ISBI2016_ISIC_Part3_Test_Data"},
        "ph2": {"xlsx": f"{ph2}/PH2_dataset.xlsx", "images_root": f"{ph2}/PH2 Dataset images"},
    }


# ---------------------------------------------------------------------------- helpers
def _fresh_dirs(dirs: Sequence[str | Path]) -> None:
    """Create every directory of ``dirs`` empty (an existing one is removed first)."""
    for d in map(Path, dirs):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)


def _write_image(path: Path, img_bgr: np.ndarray) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), img_bgr, params):
        raise OSError(f"could not write {path}")


def _write_csv(path: str | Path, header: list[str] | None, rows: list[list]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            wr = csv.writer(fh)
            if header:
                wr.writerow(header)
            wr.writerows(rows)


def _allocate(n: int, fractions: Mapping[str, float], floor: int, big: str) -> dict[str, int]:
    """Split ``n`` items over classes by ``fractions`` with at least ``floor`` each; the
    ``big`` class gives up what the floors take."""
    total = sum(fractions.values())
    out = {c: max(floor, int(round(n * f / total))) for c, f in fractions.items()}
    out[big] += n - sum(out.values())
    if out[big] < floor:
        raise ValueError(f"{n} items cannot give every one of {len(out)} classes {floor} "
                         f"(raise n or lower the floor)")
    return out


def _rng(seed: int, dataset: str, number: int) -> np.random.Generator:
    return np.random.default_rng([seed, _DATASET_CODE[dataset], number])


# ---------------------------------------------------------------------------- writers
@dataclass(frozen=True)
class ImageSpec:
    """How every writer draws its images (the part of ``data.synthetic`` they share).

    Attributes:
        seed: the workflow seed; image ``number`` of a dataset draws from the ``numpy``
            generator seeded by ``(seed, dataset, number)``.
        width: image width (px).
        height: image height (px).
        placement: where each lesion sits, one of :data:`~selcn.data.synthetic.render.PLACEMENTS`
            (see :func:`~selcn.data.synthetic.render.render`).

    Raises:
        ValueError: ``placement`` is not one of the :data:`PLACEMENTS`.
    """

    seed: int
    width: int
    height: int
    placement: str = "centre"

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")


@dataclass(frozen=True)
class HamImage:
    """One written HAM10000 image, for the datasets that copy it (SymDerm, ISIC 2019).

    ``mask`` is the uint8 ``(H, W)`` ground truth in {0, 255}; ``age`` (float, or ``""`` when
    unknown), ``sex`` and ``site`` are the values of its metadata row."""

    image_id: str
    lesion_id: str
    lesion: Lesion
    path: Path
    mask: np.ndarray
    age: float | str
    sex: str
    site: str


@dataclass(frozen=True)
class DrawnImage:
    """One written ISIC 2016 image, for the planted copies (:mod:`selcn.data.synthetic.plants`).

    ``part`` is ``train`` / ``test``; ``mask`` the uint8 ``(H, W)`` lesion drawn, in {0, 255};
    ``malignant`` its label."""

    image_id: str
    part: str
    lesion: Lesion
    path: Path
    mask: np.ndarray
    malignant: bool


def write_ham10000(metadata: str | Path, image_dirs: Sequence[str | Path], mask_dir: str | Path,
                   *, spec: ImageSpec, n_lesions: int,
                   min_lesions_per_class: int) -> tuple[dict[str, Any], list[HamImage]]:
    """HAM10000: ``n_lesions`` lesions with 1-3 images each (``ISIC_#######.jpg`` alternating
    between the two ``image_dirs``), a Tschandl-style mask ``<image_id>_segmentation.png`` per
    image in ``mask_dir`` and ``HAM10000_metadata.csv``
    (``lesion_id,image_id,dx,dx_type,age,sex,localization``). Classes are shaped like
    HAM10000 with at least ``min_lesions_per_class`` lesions per class; images are drawn as
    ``spec`` says (seed, ``width x height``, placement: :class:`ImageSpec`).

    Returns:
        ``(summary, images)``: lesion and image counts per class, and the written images.
    """
    _fresh_dirs([*image_dirs, mask_dir])
    seed, placement = spec.seed, spec.placement
    W, H = spec.width, spec.height
    per_class = _allocate(n_lesions, HAM_FRACTIONS, min_lesions_per_class, "nv")
    lesion_rng = _rng(seed, "ham10000", 0)
    order = [c for c in HAM_CLASSES for _ in range(per_class[c])]
    lesion_rng.shuffle(order)
    # 1-3 images per lesion; classes at the floor are topped up to 1.5 images per floor lesion
    # so that the test split and every fold see each class
    n_images = lesion_rng.choice([1, 2, 3], size=len(order), p=[0.5, 0.32, 0.18])
    cls_of = np.array(order)
    for c in HAM_CLASSES:
        need = int(np.ceil(1.5 * min_lesions_per_class)) - int(n_images[cls_of == c].sum())
        for li in lesion_rng.permutation(np.nonzero(cls_of == c)[0]):
            if need <= 0:
                break
            add = min(need, 3 - int(n_images[li]))
            n_images[li] += add
            need -= add
    rows: list[list] = []
    images: list[HamImage] = []
    pd_dirs = [Path(p) for p in image_dirs]
    mask_dir = Path(mask_dir)
    n_img = 0
    dx_types = {"mel": "histo", "bcc": "histo", "akiec": "histo", "df": "consensus",
                "vasc": "consensus", "bkl": "histo", "nv": "follow_up"}
    for li, cls in enumerate(order):
        r = _rng(seed, "ham10000", 1 + li)
        lesion = sample_lesion(cls, r)
        lesion_id = f"HAM_{li:07d}"
        k = int(n_images[li])
        age = float(5 * r.integers(2, 18)) if r.random() > 0.01 else ""
        sex = r.choice(["male", "female", "unknown"], p=[0.54, 0.45, 0.01])
        site = r.choice(_SITES)
        dx_type = dx_types[cls] if r.random() < 0.8 else "histo"
        for _ in range(k):
            image_id = f"ISIC_{24306 + n_img:07d}"
            img, mask = render(lesion, r, W, H, hair=r.random() < 1 / 3, placement=placement)
            part = pd_dirs[0] if n_img % 2 == 0 else pd_dirs[1]
            _write_image(part / f"{image_id}.jpg", img)
            _write_image(mask_dir / f"{image_id}_segmentation.png", mask)
            rows.append([lesion_id, image_id, cls, dx_type, age, sex, site])
            images.append(HamImage(image_id, lesion_id, lesion, part / f"{image_id}.jpg", mask,
                                   age, sex, site))
            n_img += 1
    _write_csv(metadata, ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"],
               rows)
    summary = {"lesions": len(order), "images": len(rows),
               "classes": {c: sum(1 for r_ in rows if r_[2] == c) for c in HAM_CLASSES}}
    return summary, images


def write_symderm(csv: str | Path, image_dir: str | Path, mask_dir: str | Path, *,
                  ham_images: Sequence[HamImage], spec: ImageSpec, n_own: int,
                  n_from_ham: int) -> dict[str, Any]:
    """SymDerm v2.0: ``SymDerm_v2_labels.csv`` (``File,Mask,Dataset,labels_symmetry``), images in
    ``image_dir``, masks ``<name>.png`` in ``mask_dir``. ``n_from_ham`` images are copies of
    ``ham_images`` (same ids, ``Dataset`` = HAM10000, the label from the drawn outline); the
    ``n_own`` others alternate PH2-style ``IMD###.bmp`` and ISIC 2017 ``ISIC_#######.jpg``,
    labels drawn with the SymDerm frequencies, images drawn as ``spec`` says
    (:class:`ImageSpec`). Returns the image counts per label."""
    _fresh_dirs([image_dir, mask_dir])
    seed, placement = spec.seed, spec.placement
    W, H = spec.width, spec.height
    rows = []
    pick = _rng(seed, "symderm", 0).permutation(len(ham_images))[:n_from_ham]
    for i in sorted(pick):
        ham = ham_images[i]
        image_id = ham.image_id
        shutil.copyfile(ham.path, Path(image_dir) / f"{image_id}.jpg")
        _write_image(Path(mask_dir) / f"{image_id}.png", ham.mask)
        rows.append([f"{image_id}.jpg", f"{image_id}.png", "HAM10000", ham.lesion.symderm_label])
    for j in range(n_own):
        r = _rng(seed, "symderm", 1 + j)
        label = int(r.choice(3, p=SYMDERM_FRACTIONS))
        cls = str(r.choice(["nv", "mel", "bkl", "nv", "mel"]))
        lesion = sample_lesion(cls, r, axes=label)
        if j % 2 == 0:
            name, source, ext = f"IMD{j // 2 + 1:03d}", "PH2", ".bmp"
        else:
            name, source, ext = f"ISIC_{10000 + j:07d}", "ISIC2017", ".jpg"
        img, mask = render(lesion, r, W, H, hair=r.random() < 1 / 3, placement=placement)
        _write_image(Path(image_dir) / f"{name}{ext}", img)
        _write_image(Path(mask_dir) / f"{name}.png", mask)
        rows.append([f"{name}{ext}", f"{name}.png", source, label])
    _write_csv(csv, ["File", "Mask", "Dataset", "labels_symmetry"], rows)
    return {"images": len(rows), "labels": {k: sum(1 for r_ in rows if r_[3] == k)
                                            for k in (0, 1, 2)}}


def write_isic2019(ground_truth: str | Path, metadata: str | Path, image_dir: str | Path, *,
                   ham_images: Sequence[HamImage], spec: ImageSpec, n_new: int,
                   n_from_ham: int) -> dict[str, Any]:
    """ISIC 2019: the one-hot ``ISIC_2019_Training_GroundTruth.csv``
    (``image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK``), ``ISIC_2019_Training_Metadata.csv``
    (``image,age_approx,anatom_site_general,lesion_id,sex``) and ``<image>.jpg`` in
    ``image_dir``, rows sorted by image id. ``n_from_ham`` images are copies of ``ham_images``
    (same ids and metadata, as the published set holds HAM10000); the ``n_new`` others are
    colour-shifted, some with a circular frame, shaped like the ISIC 2019 classes plus some SCC
    and UNK rows, images drawn as ``spec`` says (:class:`ImageSpec`; a lesion placed inside the
    frame). Returns the image counts per column."""
    _fresh_dirs([image_dir])
    seed, placement = spec.seed, spec.placement
    W, H = spec.width, spec.height
    gt_rows, meta_rows = [], []
    pick = _rng(seed, "isic2019", 0).permutation(len(ham_images))[:n_from_ham]
    to_col = {v: k for k, v in _ISIC2019_FROM_HAM.items() if k != "SCC"}
    for i in sorted(pick):
        ham = ham_images[i]
        image_id = ham.image_id
        shutil.copyfile(ham.path, Path(image_dir) / f"{image_id}.jpg")
        col = to_col[ham.lesion.cls]
        gt_rows.append([image_id] + [1.0 if c == col else 0.0 for c in ISIC2019_COLUMNS])
        meta_rows.append([image_id, ham.age, ham.site, ham.lesion_id, ham.sex])
    n_unk = max(1, n_new // 60) if n_new >= 10 else 0
    cols = _allocate(n_new - n_unk, ISIC2019_FRACTIONS,
                     max(1, n_new // 40) if n_new >= 16 else 0, "NV") if n_new else {}
    order19 = [c for c in cols for _ in range(cols[c])] + ["UNK"] * n_unk
    _rng(seed, "isic2019", 0).shuffle(order19)
    for j, col in enumerate(order19):
        r = _rng(seed, "isic2019", 1 + j)
        cls = _ISIC2019_FROM_HAM.get(col, str(r.choice(HAM_CLASSES)))
        lesion = sample_lesion(cls, r)
        image_id = f"ISIC_{53000 + j:07d}"
        img, _ = render(lesion, r, W, H, hair=r.random() < 1 / 3, shift=True,
                        frame=r.random() < 0.4, placement=placement)
        _write_image(Path(image_dir) / f"{image_id}.jpg", img)
        gt_rows.append([image_id] + [1.0 if c == col else 0.0 for c in ISIC2019_COLUMNS])
        lesion_id = f"BCN_{20000 + j:07d}" if r.random() < 0.8 else ""
        meta_rows.append([image_id, float(5 * r.integers(3, 17)), str(r.choice(_SITES)),
                          lesion_id, str(r.choice(["male", "female"]))])
    order_idx = np.argsort([row[0] for row in gt_rows])
    _write_csv(ground_truth, ["image"] + list(ISIC2019_COLUMNS), [gt_rows[i] for i in order_idx])
    _write_csv(metadata, ["image", "age_approx", "anatom_site_general", "lesion_id", "sex"],
               [meta_rows[i] for i in order_idx])
    return {"images": len(gt_rows), "from_ham10000": len(pick),
            "classes": {c: sum(1 for r_ in gt_rows if r_[1 + ISIC2019_COLUMNS.index(c)] == 1.0)
                        for c in ISIC2019_COLUMNS}}


def write_isic2016(train_ground_truth: str | Path, test_ground_truth: str | Path,
                   train_image_dir: str | Path, test_image_dir: str | Path, *, spec: ImageSpec,
                   n_train: int, n_test: int,
                   drawn: list[DrawnImage] | None = None) -> dict[str, Any]:
    """ISIC 2016 part 3: header-less ``image,benign|malignant`` (training) and
    ``image,0.0|1.0`` (test) CSVs and ``<image>.jpg`` in the two image directories
    (``n_train`` and ``n_test`` images); about 1 in 5 images malignant (melanoma, at least 2 per
    split), images drawn as ``spec`` says (:class:`ImageSpec`). Returns the benign / malignant
    counts per split; ``drawn`` (a list) receives every written image (:class:`DrawnImage`,
    for the planted copies of :mod:`selcn.data.synthetic.plants`)."""
    _fresh_dirs([train_image_dir, test_image_dir])
    seed, placement = spec.seed, spec.placement
    W, H = spec.width, spec.height
    counts: dict[str, dict[str, int]] = {}
    number = 0
    for part, n, gt_path, image_dir in (("train", n_train, train_ground_truth, train_image_dir),
                                        ("test", n_test, test_ground_truth, test_image_dir)):
        rows = []
        n_mal = max(2, int(round(0.2 * n)))
        labels = np.array([1] * n_mal + [0] * (n - n_mal))
        _rng(seed, "isic2016", 10_000 + len(part)).shuffle(labels)
        for mal in labels:
            r = _rng(seed, "isic2016", 1 + number)
            cls = "mel" if mal else str(r.choice(["nv", "nv", "nv", "bkl", "df", "vasc"]))
            lesion = sample_lesion(cls, r)
            image_id = f"ISIC_{number * 3 + (0 if part == 'train' else 1):07d}"
            img, mask = render(lesion, r, W, H, hair=r.random() < 1 / 3, placement=placement)
            _write_image(Path(image_dir) / f"{image_id}.jpg", img)
            if drawn is not None:
                drawn.append(DrawnImage(image_id, part, lesion, Path(image_dir) /
                                        f"{image_id}.jpg", mask, bool(mal)))
            if part == "train":
                rows.append([image_id, "malignant" if mal else "benign"])
            else:
                rows.append([image_id, float(mal)])
            number += 1
        _write_csv(gt_path, None, rows)
        counts[part] = {"benign": int((labels == 0).sum()), "malignant": int(labels.sum())}
    return counts


def _write_ph2_sheet(path: str | Path, rows: list[tuple[str, str, int]]) -> None:
    """``PH2_dataset.xlsx`` as published: a legend block, the two-row header (row 12
    ``Clinical Diagnosis``, row 13 the column names), one row per case ``(image id, diagnosis,
    asymmetry)`` from row 14; written atomically."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Folha1"
    sheet["F2"] = "Legends"
    for row, (value, text) in enumerate(((0, "Fully Simmetric"), (1, "Symmetric in 1 axes"),
                                         (2, "Fully Asymmetric")), start=3):
        sheet.cell(row, 7, value)
        sheet.cell(row, 8, text)
    sheet["F3"] = "Asymmetry"
    sheet["C12"] = "Clinical Diagnosis"
    header = ["Image Name", "Histological Diagnosis", "Common Nevus", "Atypical Nevus",
              "Melanoma", "Asymmetry\n(0/1/2)", "Pigment Network\n(AT/T)",
              "Dots/Globules\n(A/AT/T)", "Streaks\n(A/P)", "Regression Areas\n(A/P)",
              "Blue-Whitish Veil\n(A/P)"]
    for col, name in enumerate(header, start=1):
        sheet.cell(13, col, name)
    column = {"common_nevus": 3, "atypical_nevus": 4, "melanoma": 5}
    for i, (image_id, diagnosis, asymmetry) in enumerate(rows):
        sheet.cell(14 + i, 1, image_id)
        sheet.cell(14 + i, column[diagnosis], "X")
        sheet.cell(14 + i, 6, asymmetry)
    with atomic_path(path) as tmp:
        book.save(tmp)


def write_ph2(xlsx: str | Path, images_root: str | Path, *, spec: ImageSpec,
              n: int) -> dict[str, Any]:
    """PH² as distributed: ``n`` cases ``IMD001`` ... in ``images_root``
    (``IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp``, 24-bit, and the lesion mask
    ``IMDxxx/IMDxxx_lesion/IMDxxx_lesion.bmp``, 1-bit, lesion = 255) and the official
    spreadsheet ``xlsx`` (legend block, two-row header, an ``X`` in one of the three diagnosis
    columns, asymmetry 0/1/2), written last. Diagnoses in PH²'s proportions
    (:data:`PH2_FRACTIONS`, at least one each), asymmetry drawn with PH²'s frequencies and
    rendered as ``2 - asymmetry`` mirror axes; images drawn as ``spec`` says. Returns the counts
    per diagnosis and asymmetry."""
    from PIL import Image

    if n < 3:
        raise ValueError(f"write_ph2: n must be >= 3 (one case per diagnosis), got {n}")
    _fresh_dirs([images_root])
    per_class = _allocate(n, PH2_FRACTIONS, 1, "common_nevus")
    order = [c for c in PH2_FRACTIONS for _ in range(per_class[c])]
    _rng(spec.seed, "ph2", 0).shuffle(order)
    rows = []
    for j, diagnosis in enumerate(order):
        r = _rng(spec.seed, "ph2", 1 + j)
        asymmetry = int(r.choice(3, p=PH2_ASYMMETRY_FRACTIONS))
        lesion = sample_lesion(_PH2_RENDER_CLASS[diagnosis], r, axes=2 - asymmetry)
        img, mask = render(lesion, r, spec.width, spec.height, hair=r.random() < 0.1,
                           placement=spec.placement)
        image_id = f"IMD{j + 1:03d}"
        case = Path(images_root) / image_id
        (case / f"{image_id}_Dermoscopic_Image").mkdir(parents=True)
        (case / f"{image_id}_lesion").mkdir()
        _write_image(case / f"{image_id}_Dermoscopic_Image" / f"{image_id}.bmp", img)
        Image.fromarray(mask > 0).save(case / f"{image_id}_lesion" / f"{image_id}_lesion.bmp")
        rows.append((image_id, diagnosis, asymmetry))
    _write_ph2_sheet(xlsx, rows)
    return {"images": len(rows),
            "classes": {c: sum(1 for _, d, _ in rows if d == c) for c in PH2_FRACTIONS},
            "asymmetry": {a: sum(1 for *_, x in rows if x == a) for a in (0, 1, 2)}}
