"""What an evaluation protocol implies, in one place: :class:`Protocol`, resolved once from the
config's ``protocol`` by :func:`policy`.

Two protocols exist (config ``protocol``):

* ``leakage_free`` (the default) - the test split and the folds are grouped by lesion
  (``lesion_id``), so no lesion is on two sides; the lesion training part is balanced inside
  each training fold; SymDerm images of HAM10000 test lesions never train the symmetry
  network; ISIC 2019 loses every HAM10000 image; ISIC 2016 is tested on its 379 official test
  images; every choice (segmentation architecture, best symmetry / lesion fold) reads
  validation data only, and CAMs are localised on the test split;
* ``thesis`` - the thesis' own order: image-level splits, the pooled training images balanced
  before they are cut into folds, no cross-dataset exclusion, ISIC 2016 tested on 20 % of its
  official training images, choices made on the test split (test accuracy), CAMs localised on
  every image with a ground-truth mask (as the thesis' ``evaluate_cam.py``).

Code and caption templates read the fields of the policy; none compares a protocol's name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["PROTOCOLS", "Protocol", "policy", "LEAKAGE_FREE", "THESIS"]


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

    def as_dict(self) -> dict:
        """The policy as plain values (for caption templates and JSON)."""
        return {**asdict(self), "selects_on_test": self.selects_on_test,
                "localised_on": self.localised_on}


LEAKAGE_FREE = Protocol(
    name="leakage_free", selection_split="val", localisation_split="test", grouped=True,
    balance_in_fold=True, exclude_symderm_test_lesions=True, exclude_ham_from_isic2019=True,
    isic2016_official_test=True,
    summary=("test split and folds grouped by lesion_id, balancing inside each training fold, "
             "no SymDerm image of a HAM10000 test lesion in symmetry training, no HAM10000 "
             "image in the ISIC 2019 external set, every choice made on validation data"))
THESIS = Protocol(
    name="thesis", selection_split="test", localisation_split=None, grouped=False,
    balance_in_fold=False, exclude_symderm_test_lesions=False, exclude_ham_from_isic2019=False,
    isic2016_official_test=False,
    summary=("the thesis' order: image-level splits, balancing before the folds are cut, no "
             "cross-dataset exclusion, choices made on the test split"))

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
