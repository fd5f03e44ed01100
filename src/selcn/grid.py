"""The vocabulary of the workflow and its small value objects.

Every wildcard value is defined here once, and validated once, by the constructor of the value
object that carries it; code that holds such an object trusts it:

* a **mask** (:data:`MASKS`: ``none | seg | lae``) masks a network's *input* image with the
  predicted lesion mask; :func:`needs_masks` says whether it reads the predicted masks;
* a **CAM source** (:data:`CAM_SOURCES`: ``off | none | seg | lae``) says which symmetry
  model's Grad-CAM++ maps a lesion model takes: the one trained with that mask, or
  :data:`CAM_OFF` (no CAM, the baselines);
* a :class:`Model` is a lesion model of the thesis' grid (classifier mask x CAM source ->
  model number 1-12, whether it needs the predicted masks, whether it takes a CAM, its folder
  name ``<classifier_mask>-<cam_source>``); a :class:`Cell` is a model on a lesion dataset;
* a :class:`Fold` is a cross-validation fold (``3`` <-> ``"fold3"``: one encode / decode);
* a :class:`SymmetryVariant` is a Table 6 row ``{pretrained|scratch}-{mask}``;
* :class:`Grid` holds the wildcard values a validated config selects (:func:`grid`).

``rules/common.smk`` builds its wildcard constraints from here, ``config/schema.yaml``'s enums
are checked against it by ``tests/test_grid.py``, and the package imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from selcn.errors import ConfigError

__all__ = [
    "MASKS", "NO_MASK", "CAM_OFF", "CAM_SOURCES", "MASK_LABELS", "MASK_NOUNS", "INITS",
    "DATASETS", "DATASETS_WITH_GT_MASKS", "LESION_DATASETS", "CAM_DATASETS", "DATASET_LABELS",
    "DATA_KEYS", "data_key", "ROLES", "ROLE_DATASETS", "ROLE_DEFAULTS", "role_dataset",
    "NETWORKS", "SPLITS", "SPLIT_LABELS", "SYMMETRY_MODEL_NUMBERS", "needs_masks",
    "check_mask", "Fold", "Model", "Cell", "SymmetryVariant", "Grid", "grid", "alternation",
    "CAM_OWN", "CAM_LABELS", "MULTITASK_NUMBER", "MULTITASK_NAME", "MultitaskModel", "MULTITASK",
    "lesion_model",
]

#: the masking strategies of a network's input image (thesis Figure 3), in the thesis' order
MASKS: tuple[str, ...] = ("none", "seg", "lae")
#: the mask that leaves the image as it is
NO_MASK = "none"
#: the CAM source of a lesion model without CAM transfer
CAM_OFF = "off"
#: CAM sources of the lesion network (``{symmetry_mask}``): off, or a symmetry input mask
CAM_SOURCES: tuple[str, ...] = (CAM_OFF, *MASKS)
#: readable names of the mask values (table rows, figure titles)
MASK_LABELS: dict[str, str] = {CAM_OFF: "No CAM transfer", "none": "Without masks",
                               "seg": "Segmentation masks", "lae": "LAE masks"}
#: the CAM source of model 13 (:data:`MULTITASK`): its own symmetry head's class activation
#: map, computed in the same forward pass (not one of :data:`CAM_SOURCES`: no wildcard value)
CAM_OWN = "own"
#: readable names of every CAM source a lesion model row may carry (:data:`MASK_LABELS` and
#: model 13's :data:`CAM_OWN`)
CAM_LABELS: dict[str, str] = {**MASK_LABELS, CAM_OWN: "Own symmetry head (one network)"}
#: the masks as nouns (``"ImageNet-pretrained, segmentation mask"``)
MASK_NOUNS: dict[str, str] = {"none": "no mask", "seg": "segmentation mask", "lae": "LAE mask"}
#: initialisations of a symmetry variant
INITS: tuple[str, ...] = ("pretrained", "scratch")

#: every dataset of the workflow (``{dataset}``): one per label set; PH²'s images serve as
#: ``ph2`` (clinical diagnosis), ``ph2_symmetry`` (asymmetry) and ``ph2_ham`` (nv / mel)
DATASETS: tuple[str, ...] = ("ham10000", "symderm", "isic2019", "isic2016", "ph2",
                             "ph2_symmetry", "ph2_ham")
#: the config block ``data.<key>`` a dataset is read from (itself where not listed)
DATA_KEYS: dict[str, str] = {"ph2_symmetry": "ph2", "ph2_ham": "ph2"}
#: the datasets published with ground-truth lesion masks (their cache has ``gt_masks.npy``)
DATASETS_WITH_GT_MASKS: tuple[str, ...] = ("ham10000", "symderm", "ph2", "ph2_symmetry",
                                           "ph2_ham")
#: datasets a lesion grid is trained on (``{lesion_dataset}``, config ``lesion.datasets``)
LESION_DATASETS: tuple[str, ...] = ("ham10000", "isic2016", "ph2")
#: datasets the lesion stage may see, so the symmetry CAMs are computed for them
CAM_DATASETS: tuple[str, ...] = ("ham10000", "isic2019", "isic2016", "ph2", "ph2_ham")
DATASET_LABELS: dict[str, str] = {"ham10000": "HAM10000", "symderm": "SymDerm v2.0",
                                  "isic2019": "ISIC 2019", "isic2016": "ISIC 2016",
                                  "ph2": "PH²", "ph2_symmetry": "PH² (asymmetry)",
                                  "ph2_ham": "PH² (nevus / melanoma)"}

#: the roles a config gives datasets (config ``roles``) and their defaults (the thesis')
ROLES: tuple[str, ...] = ("segmentation", "symmetry", "localisation", "external")
ROLE_DEFAULTS: dict[str, object] = {"segmentation": "ham10000", "symmetry": "symderm",
                                    "localisation": "ham10000",
                                    "external": {"ham10000": "isic2019"}}
#: the datasets (as the config names them) each role accepts: segmentation and localisation
#: need ground-truth masks, symmetry needs symmetry labels, an external test set the classes
#: of the lesion dataset it tests (HAM10000's)
ROLE_DATASETS: dict[str, tuple[str, ...]] = {
    "segmentation": ("ham10000", "symderm", "ph2"), "symmetry": ("symderm", "ph2"),
    "localisation": ("ham10000", "ph2"), "external": ("isic2019", "ph2")}
#: role -> (dataset as the config names it -> the dataset of the role's label set)
_ROLE_VIEWS: dict[str, dict[str, str]] = {"symmetry": {"ph2": "ph2_symmetry"},
                                          "external": {"ph2": "ph2_ham"}}

#: the three trained networks (``{network}``)
NETWORKS: tuple[str, ...] = ("segmentation", "symmetry", "lesion")
#: prediction splits (``{split}``): validation folds, test split, the external test set
SPLITS: tuple[str, ...] = ("val", "test", "isic2019", "ph2_ham")
SPLIT_LABELS: dict[str, str] = {"val": "validation folds", "test": "test split"}

#: Table 6 row numbers of the thesis (model 1 from scratch, 2-4 ImageNet-pretrained)
SYMMETRY_MODEL_NUMBERS: dict[str, int] = {
    "scratch-none": 1, "pretrained-none": 2, "pretrained-seg": 3, "pretrained-lae": 4,
}


def data_key(dataset: str) -> str:
    """The config block ``data.<key>`` of ``dataset``: ``ph2_symmetry`` -> ``ph2``."""
    return DATA_KEYS.get(dataset, dataset)


def role_dataset(role: str, name: str) -> str:
    """The dataset that serves ``role`` when the config names ``name`` for it: the dataset of the
    role's label set (``role_dataset("symmetry", "ph2")`` -> ``"ph2_symmetry"``)."""
    return _ROLE_VIEWS.get(role, {}).get(name, name)


def alternation(values: Iterable) -> str:
    """A wildcard-constraint regex matching exactly ``values``: ``("a", "b")`` -> ``"a|b"``."""
    return "|".join(str(v) for v in values)


def check_mask(mask: str, role: str = "mask") -> str:
    """``mask`` if it is one of :data:`MASKS`, else ValueError naming ``role``."""
    if mask not in MASKS:
        raise ValueError(f"unknown {role} {mask!r} (one of {', '.join(MASKS)})")
    return mask


def needs_masks(mask: str) -> bool:
    """Whether input mask ``mask`` reads the predicted lesion masks (every mask but ``none``)."""
    return check_mask(mask) != NO_MASK


@dataclass(frozen=True, order=True)
class Fold:
    """A cross-validation fold: ``Fold(3)``; its split-table value and folder name
    ``fold3`` (:attr:`name`); :meth:`parse` reads ``3``, ``"3"`` or ``"fold3"``."""

    index: int

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"a fold is a non-negative integer, got {self.index!r}")

    @property
    def name(self) -> str:
        """``fold<k>``: the ``split`` value of its rows and its folder name."""
        return f"fold{self.index}"

    def __str__(self) -> str:
        return self.name

    def __int__(self) -> int:
        return self.index

    @staticmethod
    def is_name(text: str) -> bool:
        """Whether ``text`` is a fold's split value (``fold<k>``)."""
        text = str(text)
        return text.startswith("fold") and text[4:].isdigit()

    @classmethod
    def parse(cls, value: int | str | Fold) -> Fold:
        """``3``, ``"3"`` (a ``{fold}`` wildcard) or ``"fold3"`` -> ``Fold(3)``."""
        if isinstance(value, Fold):
            return value
        text = str(value)
        digits = text[4:] if cls.is_name(text) else text
        if not digits.isdigit():
            raise ValueError(f"not a fold: {value!r} (expected k or fold<k>)")
        return cls(int(digits))


@dataclass(frozen=True, order=True)
class Model:
    """A lesion model of the thesis' grid: the classifier's input mask and its CAM source.

    ``Model("seg", "lae")`` is model 8; :attr:`name` (``seg-lae``) is its folder name and the
    ``{classifier_mask}-{symmetry_mask}`` of its paths. Constructing one checks both values.
    """

    classifier_mask: str
    cam_source: str

    def __post_init__(self) -> None:
        check_mask(self.classifier_mask, "classifier mask")
        if self.cam_source not in CAM_SOURCES:
            raise ValueError(f"unknown CAM source {self.cam_source!r} "
                             f"(one of {', '.join(CAM_SOURCES)})")

    @property
    def number(self) -> int:
        """Thesis model number: ``1 + 4 * i + j`` for the classifier mask's index ``i`` in
        :data:`MASKS` and the CAM source's ``j`` in :data:`CAM_SOURCES` (1-12)."""
        return 1 + 4 * MASKS.index(self.classifier_mask) + CAM_SOURCES.index(self.cam_source)

    @property
    def needs_masks(self) -> bool:
        """Whether its input is masked (reads the predicted lesion masks)."""
        return self.classifier_mask != NO_MASK

    @property
    def takes_cam(self) -> bool:
        """Whether it has an E-Layer fed with symmetry CAMs."""
        return self.cam_source != CAM_OFF

    @property
    def name(self) -> str:
        return f"{self.classifier_mask}-{self.cam_source}"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> Model:
        """``"seg-lae"`` -> ``Model("seg", "lae")``."""
        cm, sep, cs = str(text).partition("-")
        if not sep:
            raise ValueError(f"not a lesion model: {text!r} (expected "
                             "<classifier_mask>-<cam_source>)")
        return cls(cm, cs)

    @classmethod
    def of_number(cls, number: int) -> Model:
        """The model of thesis number ``number`` (1-12)."""
        n = int(number)
        if not 1 <= n <= len(MASKS) * len(CAM_SOURCES):
            raise ValueError(f"no lesion model {number!r} (1-{len(MASKS) * len(CAM_SOURCES)})")
        i, j = divmod(n - 1, len(CAM_SOURCES))
        return cls(MASKS[i], CAM_SOURCES[j])

    def baseline(self) -> Model:
        """The model of the same classifier mask without CAM (1, 5 or 9)."""
        return Model(self.classifier_mask, CAM_OFF)


@dataclass(frozen=True)
class Cell:
    """A lesion model trained on one lesion dataset: ``Cell("ham10000", Model("seg", "lae"))``."""

    dataset: str
    model: Model

    def __post_init__(self) -> None:
        if self.dataset not in LESION_DATASETS:
            raise ValueError(f"unknown lesion dataset {self.dataset!r} "
                             f"(one of {', '.join(LESION_DATASETS)})")

    def __str__(self) -> str:
        return f"{self.dataset}/{self.model.name}"


#: the thesis' future work (7.2 (2)): one end-to-end symmetry-enhanced network, model 13, the one
#: lesion model outside the 3 x 4 grid (:mod:`selcn.multitask`)
MULTITASK_NUMBER = 13
#: its folder name under ``results/lesion/<dataset>/`` (:func:`selcn.paths.multitask_dir`)
MULTITASK_NAME = "multitask"


@dataclass(frozen=True)
class MultitaskModel:
    """Model 13: one shared encoder with a mask decoder, a symmetry head and a lesion head whose
    E-Layer takes the symmetry head's own CAM (:mod:`selcn.models.multitask`).

    It answers what a :class:`Model` answers, so that the report's builders treat its rows as
    they treat the grid's: :attr:`number` 13, :attr:`name` ``multitask`` (its folder), its
    classifier input is the whole image (``classifier_mask`` ``none``: it reads no predicted
    mask file), its CAM source :data:`CAM_OWN` (it reads no CAM file: :attr:`takes_cam` is
    False), and its baseline is model 1 (the same unmasked EfficientNet without CAM).
    :class:`Grid.models` never lists it (the grid's 12); :attr:`Grid.multitask_datasets` says
    where it is trained.
    """

    classifier_mask: str = NO_MASK
    cam_source: str = CAM_OWN

    def __post_init__(self) -> None:
        if (self.classifier_mask, self.cam_source) != (NO_MASK, CAM_OWN):
            raise ValueError(f"model {MULTITASK_NUMBER} has no variants (got "
                             f"{self.classifier_mask!r}, {self.cam_source!r})")

    @property
    def number(self) -> int:
        return MULTITASK_NUMBER

    @property
    def needs_masks(self) -> bool:
        """Reads no predicted mask file (its own mask head gates it, when configured)."""
        return False

    @property
    def takes_cam(self) -> bool:
        """Reads no CAM file (its CAM comes from its own symmetry head)."""
        return False

    @property
    def name(self) -> str:
        return MULTITASK_NAME

    def __str__(self) -> str:
        return self.name

    def baseline(self) -> Model:
        """Model 1: the unmasked classifier without CAM transfer."""
        return Model(NO_MASK, CAM_OFF)


#: model 13
MULTITASK = MultitaskModel()


def lesion_model(number: int) -> Model | MultitaskModel:
    """The lesion model of thesis number ``number``: a grid :class:`Model` (1-12) or
    :data:`MULTITASK` (13); ValueError for any other number."""
    if int(number) == MULTITASK_NUMBER:
        return MULTITASK
    return Model.of_number(number)


@dataclass(frozen=True)
class SymmetryVariant:
    """A Table 6 row: the symmetry network's initialisation and input mask.

    ``str(v)`` is the ``{variant}`` wildcard, e.g. ``pretrained-seg``; :meth:`parse` inverts it.
    """

    pretrained: bool
    mask: str

    def __post_init__(self) -> None:
        check_mask(self.mask, "symmetry input mask")

    @property
    def init(self) -> str:
        """``pretrained`` or ``scratch``."""
        return INITS[0] if self.pretrained else INITS[1]

    @property
    def needs_masks(self) -> bool:
        return self.mask != NO_MASK

    @property
    def number(self) -> int | None:
        """Its Table 6 row number, None for a variant the thesis did not train."""
        return SYMMETRY_MODEL_NUMBERS.get(str(self))

    def __str__(self) -> str:
        return f"{self.init}-{self.mask}"

    @classmethod
    def parse(cls, text: str | SymmetryVariant) -> SymmetryVariant:
        """``"pretrained-seg"`` -> ``SymmetryVariant(pretrained=True, mask="seg")``."""
        if isinstance(text, SymmetryVariant):
            return text
        init, _, mask = str(text).partition("-")
        if init not in INITS or mask not in MASKS:
            raise ValueError(f"unknown symmetry variant {text!r} (expected "
                             f"{{{'|'.join(INITS)}}}-{{{'|'.join(MASKS)}}})")
        return cls(init == INITS[0], mask)

    @classmethod
    def pattern(cls) -> str:
        """The regex of every variant name (the ``{variant}`` wildcard constraint)."""
        return f"(?:{alternation(INITS)})-(?:{alternation(MASKS)})"


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
    #: the initialisation of the symmetry models whose CAMs feed the lesion stage
    symmetry_pretrained: bool = False
    #: external test sets of the lesion models (``roles.external``, as datasets: PH² is
    #: ``ph2_ham``): ``{"ham10000": "isic2019"}`` when ISIC 2019 is configured (``data.isic2019``
    #: not null) and HAM10000 is a lesion dataset, else ``{}``
    external: tuple[tuple[str, str], ...] = ()
    #: the dataset the segmentation networks train on (config ``roles.segmentation``)
    segmentation_dataset: str = "ham10000"
    #: the dataset the symmetry networks train on (``roles.symmetry``; PH²: ``ph2_symmetry``)
    symmetry_dataset: str = "symderm"
    #: the dataset every CAM is localised on (``roles.localisation``; the thesis' Tables 7, 9, 15)
    localisation_dataset: str = "ham10000"
    #: comparison architectures a Table 6 variant already trains, ``(arch, variant)``: the
    #: stage's own ``symmetry.architecture`` without mask at ``symmetry.pretrained`` is the same
    #: training as the variant ``<init>-none`` (same network, data, folds, seed, settings)
    symmetry_arch_variants: tuple[tuple[str, str], ...] = ()
    #: the lesion datasets model 13 (:data:`MULTITASK`) is trained on (config
    #: ``multitask.enabled`` / ``multitask.datasets``); ``()``: model 13 is off
    multitask_datasets: tuple[str, ...] = ()

    @property
    def multitask(self) -> bool:
        """Whether model 13 is trained (config ``multitask.enabled``)."""
        return bool(self.multitask_datasets)

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
        """The datasets the lesion stage sees (its lesion datasets, their external test sets and
        the localisation dataset), so the symmetry CAMs are computed for them."""
        used = {*self.lesion_datasets, *self.external_of.values(), self.localisation_dataset}
        return tuple(d for d in CAM_DATASETS if d in used)

    @property
    def datasets(self) -> tuple[str, ...]:
        """Every dataset this config uses: cached, split and checked (the datasets of the
        roles and those the lesion stage sees)."""
        used = {self.segmentation_dataset, self.symmetry_dataset, *self.cam_datasets}
        return tuple(d for d in DATASETS if d in used)

    @property
    def test_sets_of_ph2(self) -> tuple[str, ...]:
        """The PH² datasets whose ``test`` rows are test images (PH² a lesion dataset, or an
        external test set): SymDerm's PH² images of them must not train the symmetry network."""
        return tuple(d for d in ("ph2", "ph2_ham")
                     if d in self.lesion_datasets or d in self.external_of.values())

    @property
    def folds(self) -> tuple[Fold, ...]:
        """The lesion folds as :class:`Fold` objects."""
        return tuple(Fold(k) for k in self.lesion_folds)

    def models(self) -> list[Model]:
        """The lesion models in the thesis' order (numbers follow the full 3 x 4 grid, 1-12,
        also when the config selects a subset)."""
        return sorted((Model(cm, cs) for cm in self.classifier_masks for cs in self.cam_sources),
                      key=lambda m: m.number)

    def model(self, number: int) -> Model:
        """Model ``number`` of this grid; ConfigError when the config's grid lacks it."""
        hits = [m for m in self.models() if m.number == int(number)]
        if not hits:
            raise ConfigError(f"lesion model {number} is not in this config's grid (models "
                              f"{', '.join(str(m.number) for m in self.models())})")
        return hits[0]

    def cells(self, dataset: str | None = None) -> list[Cell]:
        """Every (lesion dataset, model) of the grid, or those of ``dataset``."""
        datasets = self.lesion_datasets if dataset is None else (dataset,)
        return [Cell(d, m) for d in datasets for m in self.models()]

    def cam_variant(self, cam_source: str) -> SymmetryVariant:
        """The symmetry model (Table 6 row) whose CAMs feed the lesion models of
        ``cam_source`` (a mask, not ``off``)."""
        return SymmetryVariant(self.symmetry_pretrained, check_mask(cam_source, "CAM source"))


def _roles(cfg: Mapping) -> dict:
    """The config's ``roles`` with the defaults of :data:`ROLE_DEFAULTS` where absent."""
    given = cfg.get("roles") or {}
    return {role: given.get(role, ROLE_DEFAULTS[role]) for role in ROLES}


def _check_role(role: str, name: str, data: Mapping, key: str) -> None:
    """ConfigError naming ``key`` when ``name`` cannot serve ``role`` or has no data."""
    if name not in ROLE_DATASETS[role]:
        needs = {"segmentation": "ground-truth lesion masks", "localisation":
                 "ground-truth lesion masks", "symmetry": "symmetry labels",
                 "external": "HAM10000's classes"}[role]
        raise ConfigError(f"{key}: {name!r} cannot serve as the {role} dataset (it needs "
                          f"{needs}: one of {', '.join(ROLE_DATASETS[role])})")
    if name in data and data[name] is None:
        raise ConfigError(f"{key} names {name!r} but data.{name} is null (no such data); "
                          f"configure data.{name} or choose another dataset")


def grid(cfg: Mapping) -> Grid:
    """The grid of wildcard values of a validated config.

    Raises :class:`selcn.errors.ConfigError` when a CAM source of the lesion grid has no
    symmetry model (its mask is missing from ``symmetry.masks``), a lesion dataset has no
    data, or a role (``roles.*``) names a dataset that lacks what the role needs (masks for
    segmentation and localisation, symmetry labels, HAM10000's classes for an external test)
    or whose data is null; each message names the key.
    """
    sym = cfg["symmetry"]
    les = cfg["lesion"]
    variants = [str(SymmetryVariant(sym["pretrained"], m)) for m in sym["masks"]]
    if sym["scratch_baseline"] and NO_MASK in sym["masks"]:
        variants.insert(0, str(SymmetryVariant(False, NO_MASK)))
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
    roles = _roles(cfg)
    for role in ("segmentation", "symmetry", "localisation"):
        _check_role(role, roles[role], data, f"roles.{role}")
    external = []
    for lesion_dataset, name in (roles["external"] or {}).items():
        key = f"roles.external.{lesion_dataset}"
        if lesion_dataset not in LESION_DATASETS:
            raise ConfigError(f"{key}: {lesion_dataset!r} is not a lesion dataset (one of "
                              f"{', '.join(LESION_DATASETS)})")
        if name is None or lesion_dataset not in les["datasets"] or \
                (name in data and data[name] is None):
            continue                        # not trained here, or the test set is not there
        _check_role("external", name, data, key)
        if lesion_dataset != "ham10000":
            raise ConfigError(f"{key}: an external test set needs the classes of the lesion "
                              f"dataset; {name!r} is labelled in HAM10000's")
        external.append((lesion_dataset, role_dataset("external", name)))
    multitask = cfg.get("multitask") or {}
    multitask_datasets: tuple[str, ...] = ()
    if multitask.get("enabled"):
        multitask_datasets = tuple(multitask.get("datasets") or les["datasets"])
        outside = [d for d in multitask_datasets if d not in les["datasets"]]
        if outside:
            raise ConfigError(f"multitask.datasets: {outside} not in lesion.datasets "
                              f"({', '.join(les['datasets'])}): model 13 is reported beside "
                              "the grid of the same dataset")
    own = str(SymmetryVariant(sym["pretrained"], NO_MASK))
    arch_variants = (((sym["architecture"], own),)
                     if sym["architecture"] in sym["compare_architectures"] and own in variants
                     else ())
    return Grid(
        seg_archs=tuple(cfg["segmentation"]["architectures"]),
        symmetry_input_masks=tuple(m for m in MASKS if m in sym["masks"]),
        symmetry_folds=tuple(range(sym["folds"])),
        symmetry_variants=tuple(variants),
        symmetry_archs=tuple(sym["compare_architectures"]),
        classifier_masks=tuple(m for m in MASKS if m in les["classifier_masks"]),
        cam_sources=cam_sources,
        lesion_folds=tuple(range(les["folds"])),
        lesion_datasets=tuple(les["datasets"]),
        symmetry_pretrained=bool(sym["pretrained"]),
        external=tuple(external),
        segmentation_dataset=role_dataset("segmentation", roles["segmentation"]),
        symmetry_dataset=role_dataset("symmetry", roles["symmetry"]),
        localisation_dataset=role_dataset("localisation", roles["localisation"]),
        symmetry_arch_variants=arch_variants,
        multitask_datasets=multitask_datasets,
    )
