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
* a **segmenter** (:data:`SEGMENTERS`) is a segmentation architecture; under
  ``segmentation.mode: axis`` every one feeds its own masks, and a model or variant that reads
  masks (its own input's, or its CAMs') carries one (``Model.segmenter``, a ``{segmenter}``
  folder in its paths);
* a **search scope** (:data:`SEARCH_SCOPES`) says whose hyper-parameter search a training reads:
  the network's shared search, or (``hpo.scope: per_model``) the model's own; a model whose own
  search differs from the shared one is trained both ways, the per-model copy in a ``per_model``
  folder (``Model.search``);
* a :class:`Shape` is which of those two optional folders a path carries (one rule per shape);
* :class:`Grid` holds the wildcard values a validated config selects (:func:`grid`).

``rules/common.smk`` builds its wildcard constraints from here, ``config/schema.yaml``'s enums
are checked against it by ``tests/test_grid.py``, and the package imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from selcn.errors import ConfigError

__all__ = [
    "MASKS", "NO_MASK", "CAM_OFF", "CAM_SOURCES", "MASK_LABELS", "MASK_NOUNS", "INITS",
    "DATASETS", "DATASETS_WITH_GT_MASKS", "LESION_DATASETS", "CAM_DATASETS", "DATASET_LABELS",
    "DATA_KEYS", "data_key", "ROLES", "ROLE_DATASETS", "ROLE_DEFAULTS", "role_dataset",
    "NETWORKS", "SPLITS", "SPLIT_LABELS", "SYMMETRY_MODEL_NUMBERS", "needs_masks",
    "check_mask", "Fold", "Model", "Cell", "SymmetryVariant", "Grid", "grid", "alternation",
    "CAM_OWN", "CAM_LABELS", "MULTITASK_NUMBER", "MULTITASK_NAME", "MultitaskModel", "MULTITASK",
    "lesion_model", "SEGMENTERS", "SEGMENTER_LABELS", "SEGMENTER_MODES", "SEGMENTER_STRIDES",
    "SHARED", "PER_MODEL", "SEARCH_SCOPES", "SEARCHED_PER_MODEL", "Shape", "PLAIN",
    "segmenter_encoder", "uses_segmenter",
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

#: the segmentation architectures of segmentation-models-pytorch the workflow trains (config
#: ``segmentation.architectures``; the ``{arch}`` and ``{segmenter}`` wildcards), each with the
#: side its input must be a multiple of (``segmentation.input_size``): 16 where the network
#: resizes its skips (U-Net, PSPNet) or its encoder runs at stride 16 (DeepLabV3 / V3+), 32
#: (the encoder's output stride, checked by segmentation-models-pytorch) for the others;
#: :mod:`selcn.models.segmentation` builds them
SEGMENTER_STRIDES: dict[str, int] = {
    "deeplabv3plus": 16, "unet": 16, "unetplusplus": 32, "fpn": 32, "segformer": 32,
    "deeplabv3": 16, "pspnet": 16, "linknet": 32, "manet": 32, "upernet": 32}
SEGMENTERS: tuple[str, ...] = tuple(SEGMENTER_STRIDES)
#: readable names (table rows, figure legends)
SEGMENTER_LABELS: dict[str, str] = {
    "deeplabv3plus": "DeepLabV3+", "unet": "U-Net", "unetplusplus": "UNet++", "fpn": "FPN",
    "segformer": "SegFormer", "deeplabv3": "DeepLabV3", "pspnet": "PSPNet",
    "linknet": "LinkNet", "manet": "MA-Net", "upernet": "UPerNet"}
#: the architectures segmentation-models-pytorch builds on no Mix Transformer (``mit_b*``)
#: encoder
_NO_MIT: tuple[str, ...] = ("unetplusplus", "linknet")
#: ``segmentation.mode``: ``select`` (train every architecture, the best on the selection split
#: masks every image, the thesis) or ``axis`` (every architecture masks the images of its own
#: models: the grid grows by the segmenter)
SEGMENTER_MODES: tuple[str, ...] = ("select", "axis")
#: ``hpo.scope``: one search per network (``shared``, the thesis) or one per model
SHARED, PER_MODEL = "shared", "per_model"
SEARCH_SCOPES: tuple[str, ...] = (SHARED, PER_MODEL)
#: the networks a ``per_model`` scope searches once per model: the symmetry network once per
#: input mask (and segmenter), the lesion network once per grid cell and dataset (the
#: segmentation network keeps one search)
SEARCHED_PER_MODEL: tuple[str, ...] = ("symmetry", "lesion")

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


def uses_segmenter(classifier_mask: str, cam_source: str) -> bool:
    """Whether a lesion model depends on the segmentation network: its input is masked, or its
    CAMs come from a symmetry network trained on masked inputs (models 3-12; not 1 and 2)."""
    return needs_masks(classifier_mask) or (cam_source != CAM_OFF and needs_masks(cam_source))


def segmenter_encoder(segmentation: Mapping, arch: str) -> str:
    """The encoder of segmentation architecture ``arch`` in a validated config's
    ``segmentation`` section: its ``encoders`` entry, else ``encoder``."""
    return (segmentation.get("encoders") or {}).get(arch) or segmentation["encoder"]


@dataclass(frozen=True)
class Shape:
    """Which optional folders the paths of a model or variant carry: its ``{segmenter}``
    (``segmentation.mode: axis``) and ``per_model`` (its per-model search's copy). A rule's
    output patterns have one shape, so a stage has one rule per shape in use, named with
    :attr:`suffix` (the plain shape: the rule's own name)."""

    segmenter: bool = False
    per_model: bool = False

    @property
    def suffix(self) -> str:
        """``""``, ``"_by_segmenter"``, ``"_per_model"`` or ``"_by_segmenter_per_model"``."""
        return ("_by_segmenter" if self.segmenter else "") + \
            (f"_{PER_MODEL}" if self.per_model else "")

    def folders(self, segmenter: str = "{segmenter}", search: str = "{search}") -> str:
        """The folders it adds to a model's folder: ``""``, ``"/<segmenter>"``,
        ``"/<search>"`` or both (values, or by default the patterns ``{segmenter}`` and
        ``{search}``: a rule's ``{search}`` wildcard is constrained to ``per_model``, so its
        jobs read their scope from their wildcards)."""
        return (f"/{segmenter}" if self.segmenter else "") + \
            (f"/{search}" if self.per_model else "")

    @property
    def tag(self) -> str:
        """The same as a file-name part (a job's log): ``""``, ``"_{segmenter}"``,
        ``"_{search}"`` or ``"_{segmenter}_{search}"``."""
        return self.folders().replace("/", "_")


#: the shape of the thesis' paths (no optional folder)
PLAIN = Shape()


def _check_variant_fields(segmenter: str | None, search: str, reads_masks: bool,
                          what: str) -> None:
    """ValueError for a ``segmenter`` outside :data:`SEGMENTERS`, one given to a ``what``
    that reads no predicted mask, or a ``search`` outside :data:`SEARCH_SCOPES`."""
    if segmenter is not None:
        if segmenter not in SEGMENTERS:
            raise ValueError(f"unknown segmenter {segmenter!r} (one of {', '.join(SEGMENTERS)})")
        if not reads_masks:
            raise ValueError(f"{what} reads no predicted mask: it has no segmenter "
                             f"(got {segmenter!r})")
    if search not in SEARCH_SCOPES:
        raise ValueError(f"unknown search scope {search!r} (one of {', '.join(SEARCH_SCOPES)})")


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
    ``{classifier_mask}-{symmetry_mask}`` of its paths. Two optional values say how it was
    trained, each a folder under its own (:attr:`folder`): its :attr:`segmenter` (under
    ``segmentation.mode: axis``, models 3-12 only: ``Model("seg", "lae", "unet")``, folder
    ``seg-lae/unet``) and its :attr:`search` (``per_model``: the copy trained with its own
    search's values, folder ``seg-lae/per_model``). Constructing one checks every value.
    """

    classifier_mask: str
    cam_source: str
    #: the segmentation architecture whose masks it reads (its input's, its CAMs'), under
    #: ``segmentation.mode: axis``; None: the one selected architecture (or none read)
    segmenter: str | None = None
    #: whose search its hyper-parameters come from: :data:`SHARED` (the network's search, or
    #: the fixed values) or :data:`PER_MODEL` (its own; never model 1, whose own search is the
    #: shared one)
    search: str = SHARED

    def __post_init__(self) -> None:
        check_mask(self.classifier_mask, "classifier mask")
        if self.cam_source not in CAM_SOURCES:
            raise ValueError(f"unknown CAM source {self.cam_source!r} "
                             f"(one of {', '.join(CAM_SOURCES)})")
        _check_variant_fields(self.segmenter, self.search, self.uses_segmenter,
                              f"lesion model {self.name}")
        if self.search == PER_MODEL and self.cam_source == CAM_OFF and \
                self.classifier_mask == NO_MASK:
            raise ValueError("model 1 (none-off) has no per-model copy: the shared lesion "
                             "search is its own")

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
    def uses_segmenter(self) -> bool:
        """Whether it depends on the segmentation network (:func:`uses_segmenter`)."""
        return uses_segmenter(self.classifier_mask, self.cam_source)

    @property
    def name(self) -> str:
        return f"{self.classifier_mask}-{self.cam_source}"

    @property
    def shape(self) -> Shape:
        """The optional folders of its paths."""
        return Shape(self.segmenter is not None, self.search == PER_MODEL)

    @property
    def folder(self) -> str:
        """Its folder under ``results/lesion/<dataset>/``: :attr:`name`, then its segmenter
        and ``per_model`` where it has them (``seg-lae/unet/per_model``)."""
        return self.name + self.shape.folders(self.segmenter or "", self.search)

    @property
    def thesis_model(self) -> Model:
        """The grid's model without segmenter and search scope."""
        return Model(self.classifier_mask, self.cam_source)

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
        return f"{self.dataset}/{self.model.folder}"


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
    A masked variant may carry its :attr:`segmenter` and a :attr:`search` scope, as a
    :class:`Model` does (:attr:`folder`: ``pretrained-seg/unet/per_model``).
    """

    pretrained: bool
    mask: str
    #: the segmentation architecture whose masks it reads (``segmentation.mode: axis``)
    segmenter: str | None = None
    #: whose search its hyper-parameters come from (:data:`SHARED` or :data:`PER_MODEL`)
    search: str = SHARED

    def __post_init__(self) -> None:
        check_mask(self.mask, "symmetry input mask")
        _check_variant_fields(self.segmenter, self.search, self.needs_masks,
                              f"symmetry variant {self}")

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

    @property
    def shape(self) -> Shape:
        """The optional folders of its paths."""
        return Shape(self.segmenter is not None, self.search == PER_MODEL)

    @property
    def folder(self) -> str:
        """Its folder under ``results/symmetry/``: the ``{variant}`` name, then its segmenter
        and ``per_model`` where it has them."""
        return str(self) + self.shape.folders(self.segmenter or "", self.search)

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
    #: every external test set of the lesion models (``roles.external``, as datasets: PH² is
    #: ``ph2_ham``), ``(lesion dataset, external set)`` pairs in the config's order: by default
    #: ``(("ham10000", "isic2019"),)`` when ISIC 2019 is configured (``data.isic2019`` not
    #: null) and HAM10000 is a lesion dataset; a set whose data is null is left out
    external: tuple[tuple[str, str], ...] = ()
    #: the pairs of :attr:`external` predicted after training, by rule ``predict_external``
    #: (one job per model x fold x set, reading the fold's ``model.pt``): every set of a
    #: ``roles.external`` list but its first; the others (a set named alone, or first in a
    #: list) are predicted inside the training job (:attr:`external_of`)
    external_later: tuple[tuple[str, str], ...] = ()
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
    #: the segmenter axis (config ``segmentation.mode: axis``): the architectures of
    #: :attr:`seg_archs`, each feeding the masks of its own models and variants (``{segmenter}``);
    #: ``()`` under ``select`` (the selected architecture feeds every mask, no such folder)
    segmenters: tuple[str, ...] = ()
    #: the networks searched once per model (``hpo.enabled`` and ``hpo.scope: per_model``; those
    #: of :data:`SEARCHED_PER_MODEL` in ``hpo.networks``); ``()``: one shared search per network
    per_model_networks: tuple[str, ...] = ()

    # ---- the segmenter axis and the per-model search ---------------------------------------------
    @property
    def reference_segmenter(self) -> str | None:
        """The segmenter of the models and variants the thesis' tables, the statistics, the
        figures and the export show (:meth:`models`): the first of :attr:`segmenters` under
        ``axis``; None under ``select`` (the selected architecture, no folder)."""
        return self.segmenters[0] if self.segmenters else None

    def segmenters_of(self, reads_masks: bool) -> tuple[str | None, ...]:
        """The segmenters a model or variant that does (not) read masks is trained with:
        :attr:`segmenters` when it reads masks under ``axis``, else ``(None,)``."""
        return self.segmenters if reads_masks and self.segmenters else (None,)

    @property
    def search_mask(self) -> str:
        """The input mask of the shared symmetry search: the baseline ``none`` when the grid
        has it, else its first mask (also the per-model search of that mask)."""
        masks = self.symmetry_input_masks
        return NO_MASK if NO_MASK in masks else masks[0]

    def variant_has_copy(self, mask: str, segmenter: str | None = None) -> bool:
        """Whether a symmetry variant of input mask ``mask`` (masked: with ``segmenter``, default
        the :attr:`reference_segmenter`) is also trained with its own search (``per_model``;
        not the shared search's own cell: :attr:`search_mask`, a masked one on the reference
        segmenter's masks)."""
        if "symmetry" not in self.per_model_networks:
            return False
        seg = (segmenter or self.reference_segmenter) if needs_masks(mask) else None
        shared = (self.search_mask,
                  self.reference_segmenter if needs_masks(self.search_mask) else None)
        return (mask, seg) != shared

    def model_has_copy(self, model: Model) -> bool:
        """Whether lesion ``model`` is also trained in its per-model copy: its own lesion search
        differs from the shared one (every model but 1), or its CAMs come from a symmetry
        variant that has a copy."""
        own = "lesion" in self.per_model_networks and model.thesis_model != Model(NO_MASK,
                                                                                  CAM_OFF)
        return own or (model.takes_cam and
                       self.variant_has_copy(model.cam_source, model.segmenter))

    def models_of(self, model: Model) -> list[Model]:
        """Every trained model of thesis ``model``: one per segmenter (:meth:`segmenters_of`),
        each in the shared scope and, where it has one, its per-model copy."""
        out = []
        for seg in self.segmenters_of(model.uses_segmenter):
            shared = Model(model.classifier_mask, model.cam_source, seg)
            out.append(shared)
            if self.model_has_copy(shared):
                out.append(replace(shared, search=PER_MODEL))
        return out

    def trained_models(self, shape: Shape | None = None) -> list[Model]:
        """Every lesion model trained (per lesion dataset), thesis order, then segmenter, then
        scope: :meth:`models` under ``select`` and the shared scope; under ``axis`` models 3-12
        once per segmenter (2 + 10 S); under ``per_model`` with the per-model copies. Those of
        one path ``shape`` only when given."""
        out = [m for base in self.models() for m in self.models_of(base.thesis_model)]
        return [m for m in out if shape is None or m.shape == shape]

    def cam_variant_of(self, model: Model) -> SymmetryVariant:
        """The symmetry variant whose CAMs ``model`` (a CAM model) takes: its CAM source's,
        with the model's segmenter and, for a per-model copy, the variant's per-model copy
        where it has one."""
        search = PER_MODEL if model.search == PER_MODEL and \
            self.variant_has_copy(model.cam_source, model.segmenter) else SHARED
        return self.cam_variant(model.cam_source, model.segmenter, search)

    def reported_variants(self, shape: Shape | None = None) -> list[SymmetryVariant]:
        """The Table 6 variants the report shows: :attr:`symmetry_variants`, a masked one
        with the :attr:`reference_segmenter` (those of one path ``shape`` when given)."""
        out = []
        for name in self.symmetry_variants:
            v = SymmetryVariant.parse(name)
            out.append(replace(v, segmenter=self.reference_segmenter if v.needs_masks else None))
        return [v for v in out if shape is None or v.shape == shape]

    def trained_variants(self, shape: Shape | None = None) -> list[SymmetryVariant]:
        """Every symmetry variant trained: each Table 6 variant, a masked one once per
        segmenter (1 + 2 S per initialisation under ``axis``), then the per-model copies of
        the CAM variants whose search is their own (those a lesion model's copy reads). Those
        of one path ``shape`` only when given."""
        out = []
        for name in self.symmetry_variants:
            v = SymmetryVariant.parse(name)
            out += [replace(v, segmenter=seg) for seg in self.segmenters_of(v.needs_masks)]
        for mask in self.cam_masks():
            out += [self.cam_variant(mask, seg, PER_MODEL)
                    for seg in self.segmenters_of(needs_masks(mask))
                    if self.variant_has_copy(mask, seg)]
        return [v for v in out if shape is None or v.shape == shape]

    def cam_masks(self) -> tuple[str, ...]:
        """The symmetry input masks whose CAMs a lesion model takes (its CAM sources)."""
        return tuple(m for m in self.symmetry_input_masks if m in self.cam_sources)

    def cam_exports(self, shape: Shape | None = None) -> list[SymmetryVariant]:
        """The CAM variants whose CAMs are exported (rule ``symmetry_cams`` and its shapes):
        every symmetry input mask's, per segmenter, and the per-model copies of
        :meth:`trained_variants`; of one ``shape`` when given."""
        out = [self.cam_variant(m, seg) for m in self.symmetry_input_masks
               for seg in self.segmenters_of(needs_masks(m))]
        out += [v for v in self.trained_variants() if v.search == PER_MODEL]
        return [v for v in out if shape is None or v.shape == shape]

    @staticmethod
    def shapes(items: Iterable[Model | SymmetryVariant]) -> list[Shape]:
        """The path shapes ``items`` occupy, the plain one first (one rule each)."""
        found = {i.shape for i in items}
        return [s for s in (PLAIN, Shape(True), Shape(False, True), Shape(True, True))
                if s in found]

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
        """``lesion dataset -> the external test set its training job predicts`` (ISIC 2019 for
        HAM10000, if used); the sets predicted after training are :attr:`external_later`."""
        later = set(self.external_later)
        return dict(pair for pair in self.external if pair not in later)

    def externals_of(self, dataset: str) -> tuple[str, ...]:
        """Every external test set of lesion ``dataset``'s models, the in-job one first."""
        return tuple(e for d, e in self.external if d == dataset)

    def externals_later_of(self, dataset: str) -> tuple[str, ...]:
        """The external test sets of ``dataset``'s models predicted after training."""
        return tuple(e for d, e in self.external_later if d == dataset)

    @property
    def external_sets(self) -> tuple[str, ...]:
        """Every external test set of the config, each once (in-job and later)."""
        return tuple(dict.fromkeys(e for _, e in self.external))

    @property
    def cam_datasets(self) -> tuple[str, ...]:
        """The datasets the lesion stage sees (its lesion datasets, their external test sets and
        the localisation dataset), so the symmetry CAMs are computed for them."""
        used = {*self.lesion_datasets, *self.external_sets, self.localisation_dataset}
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
                     if d in self.lesion_datasets or d in self.external_sets)

    @property
    def folds(self) -> tuple[Fold, ...]:
        """The lesion folds as :class:`Fold` objects."""
        return tuple(Fold(k) for k in self.lesion_folds)

    def models(self) -> list[Model]:
        """The lesion models in the thesis' order (numbers follow the full 3 x 4 grid, 1-12,
        also when the config selects a subset): those the thesis' tables, statistics, figures
        and the export show, in the shared search's scope, under ``segmentation.mode: axis``
        models 3-12 with the :attr:`reference_segmenter` (every trained model:
        :meth:`trained_models`)."""
        ref = self.reference_segmenter
        return sorted((Model(cm, cs, ref if uses_segmenter(cm, cs) else None)
                       for cm in self.classifier_masks for cs in self.cam_sources),
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

    def cam_variant(self, cam_source: str, segmenter: str | None = None,
                    search: str = SHARED) -> SymmetryVariant:
        """The symmetry model (Table 6 row) whose CAMs feed the lesion models of
        ``cam_source`` (a mask, not ``off``): a masked one with ``segmenter`` (default the
        :attr:`reference_segmenter`), in the ``search`` scope."""
        mask = check_mask(cam_source, "CAM source")
        seg = (segmenter or self.reference_segmenter) if needs_masks(mask) else None
        return SymmetryVariant(self.symmetry_pretrained, mask, seg, search)


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


def _external_sets(given: Mapping, lesion_datasets: Iterable[str], data: Mapping
                   ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """``(every pair, the pairs predicted after training)`` of config ``roles.external``.

    A lesion dataset names one set (predicted in its training job) or a list: the first is
    predicted in the training job, every further one after training (rule
    ``predict_external``), so adding a set to a list retrains nothing. The place in the list
    decides, not what is configured: a first set whose data is null is left out and the next
    is still predicted after training. Sets of a lesion dataset that is not trained, and sets
    whose ``data.<set>`` is null, are left out. ConfigError (naming the key) for a lesion
    dataset that is not one, a set that cannot serve or is listed twice.
    """
    pairs: list[tuple[str, str]] = []
    later: list[tuple[str, str]] = []
    for lesion_dataset, value in given.items():
        key = f"roles.external.{lesion_dataset}"
        if lesion_dataset not in LESION_DATASETS:
            raise ConfigError(f"{key}: {lesion_dataset!r} is not a lesion dataset (one of "
                              f"{', '.join(LESION_DATASETS)})")
        names = [] if value is None else [value] if isinstance(value, str) else list(value)
        if len(set(names)) != len(names):
            raise ConfigError(f"{key}: {names} lists a test set twice")
        for position, name in enumerate(names):
            if lesion_dataset not in lesion_datasets or (name in data and data[name] is None):
                continue                    # not trained here, or the test set is not there
            _check_role("external", name, data, key)
            if lesion_dataset != "ham10000":
                raise ConfigError(f"{key}: an external test set needs the classes of the "
                                  f"lesion dataset; {name!r} is labelled in HAM10000's")
            pair = (lesion_dataset, role_dataset("external", name))
            pairs.append(pair)
            if position:
                later.append(pair)
    return tuple(pairs), tuple(later)


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
    external, later = _external_sets(roles["external"] or {}, les["datasets"], data)
    multitask = cfg.get("multitask") or {}
    multitask_datasets: tuple[str, ...] = ()
    if multitask.get("enabled"):
        multitask_datasets = tuple(multitask.get("datasets") or les["datasets"])
        outside = [d for d in multitask_datasets if d not in les["datasets"]]
        if outside:
            raise ConfigError(f"multitask.datasets: {outside} not in lesion.datasets "
                              f"({', '.join(les['datasets'])}): model 13 is reported beside "
                              "the grid of the same dataset")
    segmenters = _segmenters(cfg["segmentation"])
    hpo = cfg.get("hpo") or {}
    per_model = (tuple(n for n in SEARCHED_PER_MODEL if n in hpo.get("networks", ()))
                 if hpo.get("enabled") and hpo.get("scope", SHARED) == PER_MODEL else ())
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
        external=external,
        external_later=later,
        segmentation_dataset=role_dataset("segmentation", roles["segmentation"]),
        symmetry_dataset=role_dataset("symmetry", roles["symmetry"]),
        localisation_dataset=role_dataset("localisation", roles["localisation"]),
        symmetry_arch_variants=arch_variants,
        multitask_datasets=multitask_datasets,
        segmenters=segmenters,
        per_model_networks=per_model,
    )


def _segmenters(seg: Mapping) -> tuple[str, ...]:
    """The segmenter axis of a validated ``segmentation`` section (``()`` under ``select``).

    ConfigError (naming the key) for an architecture whose input side
    ``segmentation.input_size`` is not a multiple of (:data:`SEGMENTER_STRIDES`) or whose encoder
    it cannot take (a Mix Transformer ``mit_b*`` under UNet++ or LinkNet).
    """
    for arch in seg["architectures"]:
        stride = SEGMENTER_STRIDES[arch]
        if seg["input_size"] % stride:
            raise ConfigError(f"segmentation.input_size: {seg['input_size']} px is not a multiple "
                              f"of {stride}, which {SEGMENTER_LABELS[arch]} ({arch}) needs")
        encoder = segmenter_encoder(seg, arch)
        if encoder.startswith("mit_") and arch in _NO_MIT:
            key = "encoders" if arch in (seg.get("encoders") or {}) else "encoder"
            raise ConfigError(f"segmentation.{key}: {SEGMENTER_LABELS[arch]} ({arch}) cannot "
                              f"take the Mix Transformer encoder {encoder!r}; give it another "
                              f"in segmentation.encoders (e.g. {{{arch}: resnet34}})")
    return tuple(seg["architectures"]) if seg.get("mode") == "axis" else ()
