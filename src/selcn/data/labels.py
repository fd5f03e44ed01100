"""Class lists and label mappings of the four datasets (``docs/contracts.md``, "Labels").

The index of a class in its tuple is its integer ``target``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["HAM_CLASSES", "HAM_CLASS_NAMES", "ISIC2019_COLUMNS", "ISIC2019_TO_HAM",
           "ISIC2019_DROPPED", "SYMMETRY_CLASSES", "SYMDERM_TO_SYMMETRY", "ISIC2016_CLASSES",
           "ISIC2016_TEST_LABELS", "DATASET_CLASSES", "classes", "target_of"]

#: HAM10000 / ISIC 2019 classes in target order.
HAM_CLASSES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
HAM_CLASS_NAMES: Mapping[str, str] = {
    "akiec": "Actinic keratosis", "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis-like lesion", "df": "Dermatofibroma", "mel": "Melanoma",
    "nv": "Melanocytic nevus", "vasc": "Vascular lesion",
}

#: the one-hot columns of ``ISIC_2019_Training_GroundTruth.csv``, in the published order.
ISIC2019_COLUMNS: tuple[str, ...] = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
ISIC2019_TO_HAM: Mapping[str, str] = {"AK": "akiec", "BCC": "bcc", "BKL": "bkl", "DF": "df",
                                      "MEL": "mel", "NV": "nv", "VASC": "vasc"}
#: ISIC 2019 classes without a HAM10000 counterpart: their rows are dropped.
ISIC2019_DROPPED: tuple[str, ...] = ("SCC", "UNK")

#: SymDerm, binary: label 0 -> asymmetric (0); labels 1, 2 (one / two axes) -> symmetric (1).
SYMMETRY_CLASSES: tuple[str, ...] = ("asymmetric", "symmetric")
SYMDERM_TO_SYMMETRY: Mapping[int, str] = {0: "asymmetric", 1: "symmetric", 2: "symmetric"}

#: ISIC 2016 part 3: the training CSV gives the words, the test CSV 0.0 / 1.0.
ISIC2016_CLASSES: tuple[str, ...] = ("benign", "malignant")
ISIC2016_TEST_LABELS: Mapping[float, str] = {0.0: "benign", 1.0: "malignant"}

DATASET_CLASSES: Mapping[str, tuple[str, ...]] = {
    "ham10000": HAM_CLASSES, "isic2019": HAM_CLASSES,
    "symderm": SYMMETRY_CLASSES, "isic2016": ISIC2016_CLASSES,
}


def classes(dataset: str) -> tuple[str, ...]:
    """The class names of ``dataset`` (``ham10000|symderm|isic2019|isic2016``) in target order."""
    try:
        return DATASET_CLASSES[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r} "
                       f"(one of {', '.join(DATASET_CLASSES)})") from None


def target_of(dataset: str, label: str) -> int:
    """Integer target of class ``label`` in ``dataset``."""
    names = classes(dataset)
    if label not in names:
        raise KeyError(f"{dataset}: unknown label {label!r} (one of {', '.join(names)})")
    return names.index(label)
