"""The vocabulary of the workflow: mask values, datasets, networks, protocols, model numbers,
symmetry variants, and the :class:`Grid` of wildcard values a validated config selects.

A mask plays two roles, named apart everywhere:

* a **masking strategy** (:data:`MASKS`: ``none | seg | lae``) masks a network's *input* image:
  the symmetry network's (``{mask}`` wildcard, :attr:`Grid.symmetry_input_masks`, config
  ``symmetry.masks``) and the lesion classifier's (``{classifier_mask}``,
  :attr:`Grid.classifier_masks`, config ``lesion.classifier_masks``);
* a **CAM source** (:data:`CAM_SOURCES`: ``off | none | seg | lae``) says which symmetry model's
  Grad-CAM++ maps the lesion network takes (``{symmetry_mask}`` wildcard,
  :attr:`Grid.cam_sources`, config ``lesion.symmetry_masks``): the model trained with that
  masking strategy, or :data:`CAM_OFF` for no CAM at all (the baselines).

``rules/common.smk`` builds its wildcard constraints from here, ``config/schema.yaml``'s enums
are checked against it by ``tests/test_grid.py``, and the package imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from selcn.errors import ConfigError

__all__ = [
    "MASKS", "CLASSIFIER_MASKS", "SYMMETRY_INPUT_MASKS", "CAM_OFF", "CAM_SOURCES", "MASK_LABELS",
    "MASK_NOUNS", "INITS", "DATASETS", "DATASETS_WITH_GT_MASKS", "LESION_DATASETS",
    "CAM_DATASETS", "DATASET_LABELS", "NETWORKS", "PROTOCOLS", "SPLITS", "SPLIT_LABELS",
    "SYMMETRY_MODEL_NUMBERS", "model_number", "SymmetryVariant", "symmetry_variant", "Grid",
    "grid", "alternation", "SELECTION_SPLITS", "selection_split",
]

#: the masking strategies of a network's input image (thesis Figure 3), in the thesis' order
MASKS: tuple[str, ...] = ("none", "seg", "lae")
#: input masks of the lesion classifier (``{classifier_mask}``)
CLASSIFIER_MASKS: tuple[str, ...] = MASKS
#: input masks of the symmetry network (``{mask}``; the part after ``-`` of a variant)
SYMMETRY_INPUT_MASKS: tuple[str, ...] = MASKS
#: the CAM source of a lesion model without CAM transfer
CAM_OFF = "off"
#: CAM sources of the lesion network (``{symmetry_mask}``): off, or a symmetry input mask
CAM_SOURCES: tuple[str, ...] = (CAM_OFF, *SYMMETRY_INPUT_MASKS)
#: readable names of the mask values (table rows, figure titles)
MASK_LABELS: dict[str, str] = {CAM_OFF: "No CAM transfer", "none": "Without masks",
                               "seg": "Segmentation masks", "lae": "LAE masks"}
#: the masks as nouns (``"ImageNet-pretrained, segmentation mask"``)
MASK_NOUNS: dict[str, str] = {"none": "no mask", "seg": "segmentation mask", "lae": "LAE mask"}
#: initialisations of a symmetry variant
INITS: tuple[str, ...] = ("pretrained", "scratch")

#: every dataset of the workflow (``{dataset}``)
DATASETS: tuple[str, ...] = ("ham10000", "symderm", "isic2019", "isic2016")
#: the datasets published with ground-truth lesion masks (their cache has ``gt_masks.npy``)
DATASETS_WITH_GT_MASKS: tuple[str, ...] = ("ham10000", "symderm")
#: datasets a lesion grid is trained on (``{lesion_dataset}``, config ``lesion.datasets``)
LESION_DATASETS: tuple[str, ...] = ("ham10000", "isic2016")
#: datasets the lesion stage sees, so the symmetry CAMs are computed for them
CAM_DATASETS: tuple[str, ...] = ("ham10000", "isic2019", "isic2016")
DATASET_LABELS: dict[str, str] = {"ham10000": "HAM10000", "symderm": "SymDerm v2.0",
                                  "isic2019": "ISIC 2019", "isic2016": "ISIC 2016"}

#: the three trained networks (``{network}``)
NETWORKS: tuple[str, ...] = ("segmentation", "symmetry", "lesion")
#: evaluation protocols (config ``protocol``)
PROTOCOLS: tuple[str, ...] = ("leakage_free", "thesis")
#: the prediction split every choice of a protocol reads (segmentation architecture, best
#: symmetry / lesion fold): validation under leakage_free, the test split under thesis (the
#: thesis' own choice)
SELECTION_SPLITS: dict[str, str] = {"leakage_free": "val", "thesis": "test"}
#: prediction splits (``{split}``): validation folds, test split, the external test set
SPLITS: tuple[str, ...] = ("val", "test", "isic2019")
SPLIT_LABELS: dict[str, str] = {"val": "validation folds", "test": "test split"}

#: Table 6 row numbers of the thesis (model 1 from scratch, 2-4 ImageNet-pretrained)
SYMMETRY_MODEL_NUMBERS: dict[str, int] = {
    "scratch-none": 1, "pretrained-none": 2, "pretrained-seg": 3, "pretrained-lae": 4,
}


def alternation(values) -> str:
    """A wildcard-constraint regex matching exactly ``values``: ``("a", "b")`` -> ``"a|b"``."""
    return "|".join(str(v) for v in values)


def model_number(classifier_mask: str, cam_source: str) -> int:
    """Thesis model number (1-12) of a lesion grid cell: ``1 + 4 * i + j`` for the classifier
    mask's index ``i`` in :data:`CLASSIFIER_MASKS` and the CAM source's ``j`` in
    :data:`CAM_SOURCES`, e.g. ``("none", "off")`` -> 1, ``("seg", "lae")`` -> 8."""
    if classifier_mask not in CLASSIFIER_MASKS:
        raise ValueError(f"unknown classifier mask {classifier_mask!r} "
                         f"(one of {', '.join(CLASSIFIER_MASKS)})")
    if cam_source not in CAM_SOURCES:
        raise ValueError(f"unknown CAM source {cam_source!r} (one of {', '.join(CAM_SOURCES)})")
    return 1 + 4 * CLASSIFIER_MASKS.index(classifier_mask) + CAM_SOURCES.index(cam_source)


@dataclass(frozen=True)
class SymmetryVariant:
    """A Table 6 row: the symmetry network's initialisation and input mask.

    ``str(v)`` is the ``{variant}`` wildcard, e.g. ``pretrained-seg``; :meth:`parse` inverts it.
    """

    pretrained: bool
    mask: str

    def __post_init__(self):
        if self.mask not in SYMMETRY_INPUT_MASKS:
            raise ValueError(f"unknown symmetry input mask {self.mask!r} "
                             f"(one of {', '.join(SYMMETRY_INPUT_MASKS)})")

    @property
    def init(self) -> str:
        """``pretrained`` or ``scratch``."""
        return INITS[0] if self.pretrained else INITS[1]

    def __str__(self) -> str:
        return f"{self.init}-{self.mask}"

    @classmethod
    def parse(cls, text: str) -> SymmetryVariant:
        """``"pretrained-seg"`` -> ``SymmetryVariant(pretrained=True, mask="seg")``."""
        init, _, mask = str(text).partition("-")
        if init not in INITS or mask not in SYMMETRY_INPUT_MASKS:
            raise ValueError(f"unknown symmetry variant {text!r} (expected "
                             f"{{{'|'.join(INITS)}}}-{{{'|'.join(SYMMETRY_INPUT_MASKS)}}})")
        return cls(init == INITS[0], mask)

    @classmethod
    def pattern(cls) -> str:
        """The regex of every variant name (the ``{variant}`` wildcard constraint)."""
        return f"(?:{alternation(INITS)})-(?:{alternation(SYMMETRY_INPUT_MASKS)})"


def selection_split(protocol: str) -> str:
    """``val`` under ``protocol: leakage_free``, ``test`` under ``protocol: thesis``: the split
    the segmentation architecture and the best symmetry / lesion fold are chosen on."""
    if protocol not in SELECTION_SPLITS:
        raise ValueError(f"unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
    return SELECTION_SPLITS[protocol]


def symmetry_variant(mask: str, pretrained: bool) -> str:
    """Name of a Table 6 row, e.g. ``pretrained-seg`` or ``scratch-none``."""
    return str(SymmetryVariant(bool(pretrained), mask))


@dataclass(frozen=True)
class Grid:
    """The wildcard values of the workflow, read from a validated config (:func:`grid`)."""

    seg_archs: tuple[str, ...]
    #: input masks of the symmetry network (``{mask}``; config ``symmetry.masks``)
    symmetry_input_masks: tuple[str, ...]
    symmetry_folds: tuple[int, ...]
    #: Table 6 rows (``{variant}``): scratch-none, pretrained-none, ...
    symmetry_variants: tuple[str, ...]
    #: the symmetry architecture comparison (``{arch}``)
    symmetry_archs: tuple[str, ...]
    #: input masks of the lesion classifier (``{classifier_mask}``)
    classifier_masks: tuple[str, ...]
    #: CAM sources of the lesion network (``{symmetry_mask}``; config ``lesion.symmetry_masks``)
    cam_sources: tuple[str, ...]
    lesion_folds: tuple[int, ...]
    lesion_datasets: tuple[str, ...]
    #: external test sets of the lesion models: ``{"ham10000": "isic2019"}`` when ISIC 2019 is
    #: configured (``data.isic2019`` not null) and HAM10000 is a lesion dataset, else ``{}``
    external: tuple[tuple[str, str], ...] = ()
    #: comparison architectures a Table 6 variant already trains, ``(arch, variant)``: the
    #: stage's own ``symmetry.architecture`` without mask at ``symmetry.pretrained`` is the same
    #: training as the variant ``<init>-none`` (same network, data, folds, seed, settings)
    symmetry_arch_variants: tuple[tuple[str, str], ...] = ()

    @property
    def symmetry_arch_trained(self) -> tuple[str, ...]:
        """The comparison architectures trained by their own jobs (``train_symmetry_arch``):
        every one but those a Table 6 variant already trains (:attr:`symmetry_arch_variants`)."""
        reused = dict(self.symmetry_arch_variants)
        return tuple(a for a in self.symmetry_archs if a not in reused)

    @property
    def external_of(self) -> dict[str, str]:
        """``lesion dataset -> its external test set`` (ISIC 2019 for HAM10000, if used)."""
        return dict(self.external)

    @property
    def cam_datasets(self) -> tuple[str, ...]:
        """The datasets the lesion stage sees, so the symmetry CAMs are computed for them."""
        used = set(self.lesion_datasets) | set(self.external_of.values())
        return tuple(d for d in CAM_DATASETS if d in used)

    @property
    def datasets(self) -> tuple[str, ...]:
        """Every dataset this config uses: cached, split and checked (HAM10000 and SymDerm
        always; ISIC 2019 / ISIC 2016 only when the lesion stage uses them)."""
        used = {"ham10000", "symderm", *self.cam_datasets}
        return tuple(d for d in DATASETS if d in used)

    def models(self) -> list[dict]:
        """The lesion models in the thesis' order: ``number``, ``classifier_mask``,
        ``symmetry_mask`` (the CAM source). Numbers follow the full 3 x 4 grid (1-12) even when
        the config selects a subset."""
        out = [{"number": model_number(cm, cs), "classifier_mask": cm, "symmetry_mask": cs}
               for cm in self.classifier_masks for cs in self.cam_sources]
        return sorted(out, key=lambda m: m["number"])


def grid(cfg: Mapping) -> Grid:
    """The grid of wildcard values of a validated config.

    Raises :class:`selcn.errors.ConfigError` when a CAM source of the lesion grid has no
    symmetry model (its mask is missing from ``symmetry.masks``).
    """
    sym = cfg["symmetry"]
    les = cfg["lesion"]
    variants = [symmetry_variant(m, sym["pretrained"]) for m in sym["masks"]]
    if sym["scratch_baseline"] and "none" in sym["masks"]:
        variants.insert(0, symmetry_variant("none", False))
    variants = list(dict.fromkeys(variants))
    cam_sources = tuple(m for m in CAM_SOURCES if m in les["symmetry_masks"])
    missing = [m for m in cam_sources if m != CAM_OFF and m not in sym["masks"]]
    if missing:
        raise ConfigError(f"lesion.symmetry_masks {missing} need the same masks in symmetry.masks")
    data = cfg.get("data", {})
    for d in les["datasets"]:
        if d in data and data[d] is None:
            raise ConfigError(f"lesion.datasets names {d!r} but data.{d} is null (no such data); "
                              f"remove {d!r} from lesion.datasets or configure data.{d}")
    external = (("ham10000", "isic2019"),) if ("ham10000" in les["datasets"]
                                                and data.get("isic2019", {}) is not None) else ()
    own = symmetry_variant("none", sym["pretrained"])
    arch_variants = (((sym["architecture"], own),)
                     if sym["architecture"] in sym["compare_architectures"] and own in variants
                     else ())
    return Grid(
        seg_archs=tuple(cfg["segmentation"]["architectures"]),
        symmetry_input_masks=tuple(m for m in SYMMETRY_INPUT_MASKS if m in sym["masks"]),
        symmetry_folds=tuple(range(sym["folds"])),
        symmetry_variants=tuple(variants),
        symmetry_archs=tuple(sym["compare_architectures"]),
        classifier_masks=tuple(m for m in CLASSIFIER_MASKS if m in les["classifier_masks"]),
        cam_sources=cam_sources,
        lesion_folds=tuple(range(les["folds"])),
        lesion_datasets=tuple(les["datasets"]),
        external=external,
        symmetry_arch_variants=arch_variants,
    )
