"""What an evaluation protocol implies, in one place: :class:`Protocol`, resolved once from the
config's ``protocol`` by :func:`policy`.

Two protocols exist (config ``protocol``):

* ``leakage_free`` (the default) - the test split and the folds are grouped by lesion
  (``lesion_id``), so no lesion is on two sides; the lesion training part is balanced inside
  each training fold; SymDerm images of HAM10000 test lesions never train the symmetry
  network; ISIC 2019 loses every HAM10000 image; ISIC 2016 is tested on its 379 official test
  images; an image of a test set found in a training set (by id, pixels or perceptual hash:
  :mod:`selcn.data.overlap`) leaves the training side (an external set such as ISIC 2019 loses
  it instead); every choice (segmentation architecture, best symmetry / lesion fold) reads
  validation data only, and CAMs are localised on the test split; where the thesis' code
  differs from its text or from sound practice the corrected behaviour is kept (Dropout(0.2)
  before every head, balancing keeps every original image, the LAE box clipped about its
  centre: ``docs/differences.md``);
* ``thesis`` - the thesis' own order: image-level splits, the pooled training images balanced
  before they are cut into folds, no cross-dataset exclusion, ISIC 2016 tested on 20 % of its
  official training images, choices made on the test split (test accuracy), CAMs localised on
  every image with a ground-truth mask (as the thesis' ``evaluate_cam.py``); overlaps between
  test and training sets are reported, not removed; the author's code is reproduced where it is
  cheap (no dropout on E-Layer models and 0.4 on the baselines, balancing that samples 2,000 per
  class from every version of an image, the LAE box's start clipped at 0 keeping its length, the
  hair filter on the author's grey image); ``leakage_free``'s hair filter spares the pigment
  network (``docs/real-images.md``).

A config value left ``null`` (``lesion.dropout.*``, ``data.balance.sampling``,
``symmetry.lae_clip`` / ``lesion.lae_clip``, ``data.hair_removal``) takes the protocol's default:
:meth:`Protocol.setting`.

Code and caption templates read the fields of the policy; none compares a protocol's name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["PROTOCOLS", "Protocol", "policy", "LEAKAGE_FREE", "THESIS", "PROJECT_DEFAULTS",
           "THESIS_CODE_DEFAULTS"]


@dataclass(frozen=True)
class Protocol:
    """The policy of one protocol.

    Attributes:
        name: ``leakage_free`` or ``thesis`` (the config value).
        selection_split: the prediction split every choice reads: ``val`` or ``test``.
        localisation_split: the images a CAM localisation scores: ``test`` (the test split) or
            None (every image with a ground-truth mask).
        grouped: test split, folds and search splits grouped by lesion (else image level).
        balance_in_fold: the lesion training part is balanced inside each training fold
            (else the pooled training + validation images are balanced first and the balanced
            table, augmented copies included, is cut into folds).
        exclude_symderm_test_lesions: SymDerm images of HAM10000 test lesions are ``excluded``.
        exclude_ham_from_isic2019: ISIC 2019 images that are HAM10000 images are ``excluded``.
        isic2016_official_test: ISIC 2016 is tested on its official test images (else on a
            stratified ``data.test_fraction`` of its official training images, the official
            test images ``excluded``).
        remove_overlaps: an image of a test set found in a training set
            (``results/splits/overlaps.csv``, :mod:`selcn.data.overlap`) is ``excluded`` from
            the training side (an external set that loses overlaps loses it instead), and the
            leakage check fails on any left; else overlaps are only reported.
        thesis_code: the defaults of the settings where the thesis' code differs from the
            project (:data:`THESIS_CODE_DEFAULTS` vs :data:`PROJECT_DEFAULTS`, read through
            :meth:`setting`): dropout, balancing sampling, LAE clipping, hair filter.
        summary: one sentence for the report on what the protocol does.
    """

    name: str
    selection_split: str
    localisation_split: str | None
    grouped: bool
    balance_in_fold: bool
    exclude_symderm_test_lesions: bool
    exclude_ham_from_isic2019: bool
    isic2016_official_test: bool
    remove_overlaps: bool
    thesis_code: bool
    summary: str

    @property
    def selects_on_test(self) -> bool:
        """Whether choices read the test split (the thesis' own choice)."""
        return self.selection_split == "test"

    @property
    def localised_on(self) -> str:
        """What a localisation scores, in words (``best_fold.json``, captions)."""
        return ("test split" if self.localisation_split == "test"
                else "every image with a ground-truth mask")

    def setting(self, name: str, value: object = None) -> object:
        """A setting where the thesis' code and the project differ: ``value`` (the config's)
        when it is not None, else the protocol's default (:data:`THESIS_CODE_DEFAULTS` when
        :attr:`thesis_code`, else :data:`PROJECT_DEFAULTS`). KeyError for an unknown name."""
        defaults = THESIS_CODE_DEFAULTS if self.thesis_code else PROJECT_DEFAULTS
        if name not in defaults:
            raise KeyError(f"no protocol setting {name!r} (one of {', '.join(defaults)})")
        return defaults[name] if value is None else value

    def as_dict(self) -> dict:
        """The policy as plain values (for caption templates and JSON)."""
        return {**asdict(self), "selects_on_test": self.selects_on_test,
                "localised_on": self.localised_on}


#: the project's choices where the thesis' code differs (``docs/differences.md``):
#: ``dropout_elayer`` / ``dropout_baseline`` (``lesion.dropout``: the dropout before the head
#: of models with / without the E-Layer), ``balance_sampling`` (``data.balance.sampling``:
#: :data:`selcn.data.splits.BALANCE_SAMPLINGS`), ``lae_clip`` (``symmetry.lae_clip``,
#: ``lesion.lae_clip``: :data:`selcn.masks.LAE_CLIPS`), ``hair_removal`` (``data.hair_removal``:
#: :data:`selcn.data.preprocess.HAIR_METHODS`; the project's is the pigment-sparing filter, as
#: measured on PH², docs/real-images.md)
PROJECT_DEFAULTS: dict[str, object] = {
    "dropout_elayer": 0.2, "dropout_baseline": 0.2, "balance_sampling": "keep_originals",
    "lae_clip": "centred", "hair_removal": "pigment_sparing"}
#: the thesis' code: no dropout on E-Layer models, timm's 0.4 on the baselines; 2,000 per
#: class sampled from every version (original + flips / rotation) of an image; the LAE box's
#: start clipped at 0 keeping its 1.4 x length; the thesis' hair filter on the author's grey image
#: (``COLOR_RGB2GRAY`` of a BGR image)
THESIS_CODE_DEFAULTS: dict[str, object] = {
    "dropout_elayer": 0.0, "dropout_baseline": 0.4, "balance_sampling": "all_versions",
    "lae_clip": "start", "hair_removal": "thesis_code"}


LEAKAGE_FREE = Protocol(
    name="leakage_free", selection_split="val", localisation_split="test", grouped=True,
    balance_in_fold=True, exclude_symderm_test_lesions=True, exclude_ham_from_isic2019=True,
    isic2016_official_test=True, remove_overlaps=True, thesis_code=False,
    summary=("test split and folds grouped by lesion_id, balancing inside each training fold, "
             "no SymDerm image of a HAM10000 test lesion in symmetry training, no HAM10000 "
             "image in the ISIC 2019 external set, no test image (by id, pixels or perceptual "
             "hash) in any training set, every choice made on validation data"))
THESIS = Protocol(
    name="thesis", selection_split="test", localisation_split=None, grouped=False,
    balance_in_fold=False, exclude_symderm_test_lesions=False, exclude_ham_from_isic2019=False,
    isic2016_official_test=False, remove_overlaps=False, thesis_code=True,
    summary=("the thesis' order: image-level splits, balancing before the folds are cut, no "
             "cross-dataset exclusion (overlaps between test and training sets reported, not "
             "removed), choices made on the test split, the author's dropout, balancing "
             "sampling and LAE clipping"))

_POLICIES: dict[str, Protocol] = {p.name: p for p in (LEAKAGE_FREE, THESIS)}
#: the protocol names (config ``protocol``), the default first
PROTOCOLS: tuple[str, ...] = tuple(_POLICIES)


def policy(name: str | Protocol) -> Protocol:
    """The :class:`Protocol` of ``name`` (a policy passes through); ValueError for an unknown
    name."""
    if isinstance(name, Protocol):
        return name
    try:
        return _POLICIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown protocol {name!r} (one of {', '.join(PROTOCOLS)})") from None
