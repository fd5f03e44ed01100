"""Class lists and label mappings of the datasets (``docs/contracts.md``, "Labels").

The index of a class in its tuple is its integer ``target``. Each dataset declares its own label
set; PH² has three (its images serve three roles, one dataset name each):

* ``ph2``: the clinical diagnosis, :data:`PH2_CLASSES` (common nevus, atypical nevus,
  melanoma; the lesion classifier);
* ``ph2_symmetry``: the asymmetry label mapped to :data:`SYMMETRY_CLASSES` as SymDerm maps its
  labels (:data:`PH2_ASYMMETRY_TO_SYMMETRY`; the symmetry network);
* ``ph2_ham``: the diagnosis in HAM10000's classes (:data:`PH2_TO_HAM`: nevi -> ``nv``,
  melanoma -> ``mel``; the external test set of the HAM10000 models).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["HAM_CLASSES", "HAM_CLASS_NAMES", "ISIC2019_COLUMNS", "ISIC2019_TO_HAM",
           "ISIC2019_DROPPED", "SYMMETRY_CLASSES", "SYMDERM_TO_SYMMETRY", "ISIC2016_CLASSES",
           "ISIC2016_TEST_LABELS", "PH2_CLASSES", "PH2_CLASS_NAMES", "PH2_DIAGNOSIS_COLUMNS",
           "PH2_ASYMMETRY_TO_SYMMETRY", "PH2_TO_HAM", "symderm_label_of_ph2",
           "DATASET_CLASSES", "classes", "target_of"]

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

#: PH² (Mendonça et al. 2013), the clinical diagnosis in target order.
PH2_CLASSES: tuple[str, ...] = ("common_nevus", "atypical_nevus", "melanoma")
PH2_CLASS_NAMES: Mapping[str, str] = {"common_nevus": "Common nevus",
                                      "atypical_nevus": "Atypical nevus", "melanoma": "Melanoma"}
#: the diagnosis columns of ``PH2_dataset.xlsx`` (an ``X`` in exactly one of them) -> class
PH2_DIAGNOSIS_COLUMNS: Mapping[str, str] = {"Common Nevus": "common_nevus",
                                            "Atypical Nevus": "atypical_nevus",
                                            "Melanoma": "melanoma"}
#: PH² asymmetry (0 fully symmetric, 1 symmetric in one axis, 2 fully asymmetric) -> the two
#: symmetry classes, as SymDerm's labels map (SymDerm label = 2 - PH² asymmetry: SymDerm 0 ->
#: asymmetric, 1 / 2 -> symmetric)
PH2_ASYMMETRY_TO_SYMMETRY: Mapping[int, str] = {0: "symmetric", 1: "symmetric", 2: "asymmetric"}
#: PH²'s diagnosis in HAM10000's classes (the literature's external test: nevi -> nv)
PH2_TO_HAM: Mapping[str, str] = {"common_nevus": "nv", "atypical_nevus": "nv", "melanoma": "mel"}


def symderm_label_of_ph2(asymmetry: int) -> int:
    """SymDerm v2.0's ``labels_symmetry`` of a PH² image of asymmetry ``asymmetry`` (0/1/2):
    ``2 - asymmetry`` (0 fully asymmetric, 1 symmetric to one axis, 2 to two axes)."""
    if int(asymmetry) not in PH2_ASYMMETRY_TO_SYMMETRY:
        raise ValueError(f"PH2 asymmetry must be 0, 1 or 2, got {asymmetry!r}")
    return 2 - int(asymmetry)


DATASET_CLASSES: Mapping[str, tuple[str, ...]] = {
    "ham10000": HAM_CLASSES, "isic2019": HAM_CLASSES,
    "symderm": SYMMETRY_CLASSES, "isic2016": ISIC2016_CLASSES,
    "ph2": PH2_CLASSES, "ph2_symmetry": SYMMETRY_CLASSES, "ph2_ham": HAM_CLASSES,
}


def classes(dataset: str) -> tuple[str, ...]:
    """The class names of ``dataset`` (a key of :data:`DATASET_CLASSES`) in target order."""
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
