"""One guard against test images in training sets: every pair (test set, training set) of a
config, matched by image id and by content.

What is a pair (:class:`OverlapPlan`, :func:`plan_of` the config's grid and protocol): every
*test set* — the test split of every lesion dataset (HAM10000, ISIC 2016, PH²) and every
external set (ISIC 2019, PH²) — against every *training set* — the folds (``fold<k>`` rows) of
the datasets networks train on: the segmentation network's (``roles.segmentation``, HAM10000),
the symmetry network's (``roles.symmetry``, SymDerm), the lesion datasets' (their searches draw
from the same folds). A dataset that is both (HAM10000) is paired with itself too:
near-duplicates beyond its lesion ids.

How two images match (one row of ``results/splits/overlaps.csv`` per (test image, training
image), :func:`find_overlaps`):

* **id** — :func:`normalise_id` of both names are equal (``ISIC_0012345.jpg``, ``ISIC_12345``,
  ``isic-0012345``, ISIC 2019's ``ISIC_0012345_downsampled`` and SymDerm's ``File`` are one id);
* **pixels** — the same :func:`pixel_hash` (BLAKE2b of the cached ``uint8`` array: every
  dataset is decoded, hair-removed and resized to ``S x S`` the same way, so a byte-identical
  copy under any name has one hash);
* **perceptual hash** — the 256-bit pHash (:func:`perceptual_hash`: the ``imagehash``
  package's DCT hash, ``hash_size`` 16, of the cached image in grey at 64 x 64) of both lie
  within :data:`PHASH_THRESHOLD` bits (Hamming distance): a re-encoded or resized copy.

The threshold (``docs/differences.md``, "Overlap guard"), measured on cached images (hair
removal, 128 and 384 px, as the cache jobs do): the 780 distances between the 40 different real
PH2 images of ``shared/data/ph2-sample`` are 60-150 bits (1st percentile 78, mean 109.5); a PH2
image re-encoded as JPEG (quality 60-90) and resized to 75-100 % lies at 0-22 bits of its
original (quality 50 at half size: mean 15, 95th percentile 26, at most 38); the synthetic
planted copies lie at 0-2 bits, other views of one synthetic lesion at 86 or more.
:data:`PHASH_THRESHOLD` = 32 bits sits between (the 64-bit pHash does not separate: two
different PH2 images lie 6 bits apart, the vignette of the dermatoscope dominating its 8 x 8
lowest frequencies).

What the protocol does (:attr:`selcn.protocol.Protocol.remove_overlaps`): under
``leakage_free`` a test split stays whole and the training image is ``excluded`` from its
dataset's split table (:func:`selcn.data.splits.exclude_overlaps`, run by every split job);
an external set (``OverlapPlan.losing``: ISIC 2019, which also loses every HAM10000 image by
id) loses its copy instead. ``check_splits`` (:func:`check_overlaps`) fails the run on any
test image left with a copy in a training fold. Under ``thesis`` the overlaps are only reported
(:func:`summarise`, the report's "Overlaps" table).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from selcn import paths
from selcn.errors import ConfigError
from selcn.grid import DATASET_LABELS, DATASETS, Grid
from selcn.protocol import Protocol

__all__ = ["PHASH_THRESHOLD", "PHASH_SIZE", "PHASH_WORDS", "ARCHIVES", "overlaps_file",
           "overlap_summary_file", "plan_of", "OVERLAP_COLUMNS", "SUMMARY_COLUMNS",
           "EXCLUDE_TRAINING", "EXCLUDE_TEST", "REPORT_ONLY", "OUTCOMES", "OverlapPlan",
           "ImageSet", "normalise_id", "pixel_hash", "perceptual_hash", "perceptual_hashes",
           "hamming", "match_sets", "find_overlaps", "read_overlaps", "test_images_of",
           "resolve", "summarise", "check_overlaps", "OverlapError"]

#: side of the pHash's DCT block kept (``imagehash.phash(hash_size=...)``): 16 -> 256 bits
PHASH_SIZE = 16
#: 64-bit words of one perceptual hash
PHASH_WORDS = PHASH_SIZE * PHASH_SIZE // 64
#: the largest Hamming distance (bits of the 256-bit pHash) at which two images are one image
#: re-encoded or resized (measured: see the module docstring and docs/differences.md)
PHASH_THRESHOLD = 32
#: external test sets that are archives holding training data (ISIC 2019: HAM10000, ISIC
#: 2016 / 2017 images): they lose their copies of training images; any other test set (a
#: curated one: PH²) stays whole and the training side loses the copies
ARCHIVES: tuple[str, ...] = ("isic2019",)
#: the planned actions (column ``action`` of :func:`overlaps_file`)
EXCLUDE_TRAINING = "exclude training image"
EXCLUDE_TEST = "exclude test image"
REPORT_ONLY = "report only"
OVERLAP_COLUMNS = ("test_set", "test_image", "training_set", "training_image", "found_by",
                   "by_id", "by_pixels", "by_phash", "distance", "test_fixed", "action")
SUMMARY_COLUMNS = ("test_set", "test_part", "training_set", "trains", "outcome", "found_by_id",
                   "found_by_content", "by_pixels", "by_phash", "count")

_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp")
#: name suffixes that do not change which image a name means (ISIC 2019 ``_downsampled``,
#: mask and PH2 folder suffixes)
_SUFFIXES = ("_downsampled", "_segmentation", "_lesion", "_dermoscopic_image")
_ISIC_ID = re.compile(r"ISIC[_\- ]?0*(\d+)", re.IGNORECASE)


class OverlapError(ValueError):
    """A test image still has a copy in a training fold where the protocol removes overlaps."""


def overlaps_file() -> str:
    """Every match between a test set and a training set (``find_overlaps``, before the
    splits): ``<results>/splits/overlaps.csv``."""
    return f"{paths.results_dir()}/splits/overlaps.csv"


def overlap_summary_file() -> str:
    """One row per pair (test set, training set) and outcome, after the splits
    (``check_splits``; the report's "Overlaps" table): ``<results>/splits/overlap_summary.csv``."""
    return f"{paths.results_dir()}/splits/overlap_summary.csv"


# ---------------------------------------------------------------------------- matching
def normalise_id(name: str) -> str:
    """One spelling of an image's name: the file name without folders, image extensions and
    the suffixes ``_downsampled`` / ``_segmentation`` / ``_lesion`` / ``_Dermoscopic_Image``,
    upper case; an ISIC id as ``ISIC_`` + 7 digits.

    ``"ISIC_0012345.jpg"``, ``"images/isic_12345"``, ``"ISIC-0012345_downsampled"`` ->
    ``"ISIC_0012345"``; ``"IMD002.bmp"`` -> ``"IMD002"``.
    """
    stem = PurePosixPath(str(name).strip().replace("\\", "/")).name
    while True:
        root, ext = os.path.splitext(stem)
        if ext.lower() not in _EXTENSIONS or not root:
            break
        stem = root
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if stem.lower().endswith(suffix) and len(stem) > len(suffix):
                stem, changed = stem[:-len(suffix)], True
    match = _ISIC_ID.fullmatch(stem)
    if match:
        return f"ISIC_{int(match.group(1)):07d}"
    return stem.upper()


def pixel_hash(image: np.ndarray) -> str:
    """BLAKE2b (128 bits, hex) of a cached image's shape and ``uint8`` bytes: equal for equal
    arrays only."""
    a = np.ascontiguousarray(image)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((a.shape, a.dtype.str)).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def perceptual_hash(image: np.ndarray) -> np.ndarray:
    """The 256-bit pHash of one ``uint8`` image ``(H, W, 3)`` RGB or ``(H, W)`` grey
    (``imagehash.phash(hash_size=16)``: grey, Lanczos to 64 x 64, 2-D DCT, the 16 x 16 lowest
    frequencies against their median), as ``uint64 (4,)`` (big-endian words, bit 0 of the first
    word = the first coefficient)."""
    import imagehash
    from PIL import Image

    bits = imagehash.phash(Image.fromarray(np.ascontiguousarray(image)),
                           hash_size=PHASH_SIZE).hash.flatten()
    return np.packbits(bits.astype(np.uint8)).view(">u8").astype(np.uint64)


def perceptual_hashes(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """:func:`perceptual_hash` of every image (``(N, S, S, 3)`` cache, a memory map is fine):
    ``uint64 (N, 4)``."""
    out = np.empty((len(images), PHASH_WORDS), np.uint64)
    for i, image in enumerate(images):
        out[i] = perceptual_hash(np.asarray(image))
    return out


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distances between every pair of perceptual hashes: ``a`` ``(n, W)``, ``b`` ``(m, W)``
    ``uint64`` words -> ``(n, m)`` ``int64``."""
    a = np.asarray(a, dtype=np.uint64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.uint64).reshape(len(b), -1)
    out = np.zeros((len(a), len(b)), np.int64)
    for w in range(a.shape[1]):
        out += np.bitwise_count(a[:, w, None] ^ b[None, :, w])
    return out


@dataclass(frozen=True)
class ImageSet:
    """The images of one dataset as the guard compares them (one entry per cache row).

    Attributes:
        dataset: the dataset's name (``ham10000`` ...).
        ids: the image ids of the cache index, in row order.
        pixels: :func:`pixel_hash` of every row.
        phash: :func:`perceptual_hash` of every row, ``uint64 (N, 4)``.
    """

    dataset: str
    ids: tuple[str, ...]
    pixels: tuple[str, ...]
    phash: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if not len(self.ids) == len(self.pixels) == len(self.phash):
            raise ValueError(f"{self.dataset}: {len(self.ids)} ids, {len(self.pixels)} pixel "
                             f"hashes and {len(self.phash)} perceptual hashes")

    @classmethod
    def of(cls, dataset: str, image_ids: Iterable[str], images: np.ndarray,
           log: Callable[[str], None] = print) -> ImageSet:
        """Hash every row of a cache: ``images`` uint8 ``(N, S, S, 3)`` (memory map), ``image_ids``
        its index's ``image_id`` column (N)."""
        ids = tuple(map(str, image_ids))
        if len(ids) != len(images):
            raise ValueError(f"{dataset}: {len(ids)} index rows but {len(images)} cached images")
        pixels, phash = [], np.empty((len(ids), PHASH_WORDS), np.uint64)
        for i in range(len(ids)):
            image = np.asarray(images[i])
            pixels.append(pixel_hash(image))
            phash[i] = perceptual_hash(image)
        log(f"{dataset}: {len(ids)} images hashed")
        return cls(dataset, ids, tuple(pixels), phash)


def match_sets(test: ImageSet, train: ImageSet, threshold: int = PHASH_THRESHOLD,
               chunk: int = 256) -> pd.DataFrame:
    """Every (test image, training image) of two image sets found by id, pixels or perceptual
    hash (a row is never matched with itself: same dataset, same row). Columns:
    ``test_image, training_image, by_id, by_pixels, by_phash`` (bools), ``distance`` (pHash
    bits), ``found_by`` (``id``, else ``pixels``, else ``perceptual hash``)."""
    same = test.dataset == train.dataset
    found: dict[tuple[int, int], None] = {}
    train_ids: dict[str, list[int]] = {}
    for j, name in enumerate(train.ids):
        train_ids.setdefault(normalise_id(name), []).append(j)
    train_pixels: dict[str, list[int]] = {}
    for j, h in enumerate(train.pixels):
        train_pixels.setdefault(h, []).append(j)
    for i, name in enumerate(test.ids):
        for j in train_ids.get(normalise_id(name), ()):
            found[(i, j)] = None
        for j in train_pixels.get(test.pixels[i], ()):
            found[(i, j)] = None
    for start in range(0, len(test.ids), chunk):
        dist = hamming(test.phash[start:start + chunk], train.phash)
        for i, j in zip(*np.nonzero(dist <= threshold)):
            found[(start + int(i), int(j))] = None
    rows = []
    for i, j in found:
        if same and i == j:
            continue
        by_id = normalise_id(test.ids[i]) == normalise_id(train.ids[j])
        by_pixels = test.pixels[i] == train.pixels[j]
        distance = int(hamming(test.phash[i:i + 1], train.phash[j:j + 1])[0, 0])
        by_phash = distance <= threshold
        rows.append({"test_image": test.ids[i], "training_image": train.ids[j],
                     "found_by": "id" if by_id else "pixels" if by_pixels else "perceptual hash",
                     "by_id": by_id, "by_pixels": by_pixels, "by_phash": by_phash,
                     "distance": distance})
    columns = ["test_image", "training_image", "found_by", "by_id", "by_pixels", "by_phash",
               "distance"]
    return pd.DataFrame(rows, columns=columns).sort_values(
        ["test_image", "training_image"], ignore_index=True)


# ---------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class OverlapPlan:
    """Which pairs the guard checks and what it does with a match.

    Attributes:
        test_sets: datasets with a test side (the lesion datasets' test splits, the external
            sets), in order.
        training_sets: ``(dataset, what trains on its folds)`` (``"segmentation, lesion"``),
            in order.
        externals: the external test sets (every row of them is a test image).
        losing: the external sets that lose their copies of training images instead of the
            training side (:data:`ARCHIVES`).
        fixed: test sets whose test images are known before any split (the external sets; ISIC
            2016 under ``isic2016_official_test``): :func:`selcn.data.splits.fixed_test_ids`.
        remove: the protocol removes overlaps (:attr:`selcn.protocol.Protocol.remove_overlaps`).
        threshold: :data:`PHASH_THRESHOLD`.
    """

    test_sets: tuple[str, ...]
    training_sets: tuple[tuple[str, str], ...]
    externals: tuple[str, ...] = ()
    losing: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    remove: bool = True
    threshold: int = PHASH_THRESHOLD

    def __post_init__(self) -> None:
        loose = [d for d in (*self.losing, *self.externals) if d not in self.fixed
                 or (d in self.losing and d not in self.externals)]
        if loose:
            raise ConfigError(f"overlap plan: {loose}: a losing set is an external set, and "
                              "every external set is fixed (all its rows are test images)")
        unknown = [d for d in (*self.externals, *self.fixed) if d not in self.test_sets]
        if unknown:
            raise ConfigError(f"overlap plan: {unknown} are not test sets ({self.test_sets})")
        trained = {d for d, _ in self.training_sets}
        both = [d for d in self.losing if d in trained]
        if both:
            raise ConfigError(f"overlap plan: {both} cannot both train a network and lose its "
                              "overlaps as an external set")

    @property
    def training_datasets(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.training_sets)

    @property
    def datasets(self) -> tuple[str, ...]:
        """Every dataset the guard reads (test sets, then the training sets not among them)."""
        return tuple(dict.fromkeys((*self.test_sets, *self.training_datasets)))

    def trains(self, dataset: str) -> str:
        """What trains on ``dataset``'s folds (``""`` for a dataset that trains nothing)."""
        return dict(self.training_sets).get(dataset, "")

    def pairs(self) -> list[tuple[str, str]]:
        """Every ``(test set, training set)`` the guard checks."""
        return [(t, d) for t in self.test_sets for d in self.training_datasets]

    def action(self, test_set: str) -> str:
        """What happens to a match of ``test_set``: :data:`EXCLUDE_TEST` (a losing set),
        :data:`EXCLUDE_TRAINING`, or :data:`REPORT_ONLY` where the protocol removes nothing."""
        if not self.remove:
            return REPORT_ONLY
        return EXCLUDE_TEST if test_set in self.losing else EXCLUDE_TRAINING

    def test_splits_needed(self, dataset: str) -> list[str]:
        """The test sets whose split tables the split job of ``dataset`` reads: those whose
        test images it must drop from its folds, that are not ``dataset`` itself, are not
        known before the splits (:attr:`fixed`) and come before ``dataset`` in
        :data:`selcn.grid.DATASETS` (two datasets that are both test and training sets would
        otherwise wait for each other: the later one's folds then drop their copies of *any*
        image of the earlier one, :func:`selcn.data.splits.exclude_overlaps`); none where
        nothing is removed."""
        if not self.remove or dataset not in self.training_datasets:
            return []
        rank = {d: i for i, d in enumerate(DATASETS)}
        return [t for t in self.test_sets
                if t != dataset and t not in self.fixed and t not in self.losing
                and rank.get(t, len(rank)) < rank.get(dataset, len(rank))]

    def reads_overlaps(self, dataset: str) -> bool:
        """Whether the split job of ``dataset`` reads :func:`overlaps_file`."""
        return self.remove and (dataset in self.training_datasets or dataset in self.losing)

    def as_params(self) -> dict:
        """Plain values for a rule's ``params`` (:meth:`from_params` reads them back)."""
        return {"test_sets": list(self.test_sets),
                "training_sets": [list(p) for p in self.training_sets],
                "externals": list(self.externals), "losing": list(self.losing),
                "fixed": list(self.fixed),
                "remove": self.remove, "threshold": self.threshold}

    @classmethod
    def from_params(cls, params: Mapping) -> OverlapPlan:
        return cls(tuple(params["test_sets"]),
                   tuple((str(d), str(r)) for d, r in params["training_sets"]),
                   tuple(params["externals"]), tuple(params["losing"]), tuple(params["fixed"]),
                   bool(params["remove"]), int(params["threshold"]))


def plan_of(grid: Grid, protocol: Protocol) -> OverlapPlan:
    """The pairs of a config: test sets = the lesion datasets (their test splits) and the
    external sets of :attr:`selcn.grid.Grid.external`; training sets = the segmentation
    dataset, the symmetry dataset and the lesion datasets (what trains on each, joined);
    losing = the external sets that are :data:`ARCHIVES`; fixed = every external set, and
    ISIC 2016 where its official test images are the test split."""
    externals = tuple(dict.fromkeys(e for _, e in grid.external))
    test_sets = tuple(dict.fromkeys((*grid.lesion_datasets, *externals)))
    roles: dict[str, list[str]] = {}
    for dataset, role in ((grid.segmentation_dataset, "segmentation"),
                          (grid.symmetry_dataset, "symmetry"),
                          *((d, "lesion, search") for d in grid.lesion_datasets)):
        roles.setdefault(dataset, []).append(role)
    fixed = [*externals]
    if protocol.isic2016_official_test and "isic2016" in test_sets:
        fixed.append("isic2016")
    return OverlapPlan(test_sets=test_sets,
                       training_sets=tuple((d, ", ".join(r)) for d, r in roles.items()),
                       externals=externals, losing=tuple(e for e in externals if e in ARCHIVES),
                       fixed=tuple(dict.fromkeys(fixed)), remove=protocol.remove_overlaps)


def find_overlaps(plan: OverlapPlan, sets: Mapping[str, ImageSet],
                  fixed_test: Mapping[str, Iterable[str]] | None = None,
                  log: Callable[[str], None] = print) -> pd.DataFrame:
    """Every match of every pair of ``plan`` (:data:`OVERLAP_COLUMNS`): ``sets`` holds the
    :class:`ImageSet` of every dataset of ``plan.datasets``; ``fixed_test`` the image ids that
    are test images before any split, per test set of ``plan.fixed`` (column ``test_fixed``);
    ``action`` is :meth:`OverlapPlan.action` of the test set."""
    fixed_test = {k: set(map(str, v)) for k, v in (fixed_test or {}).items()}
    missing = [d for d in plan.datasets if d not in sets]
    if missing:
        raise ValueError(f"find_overlaps: no images of {missing}")
    parts = []
    for test_set, training_set in plan.pairs():
        m = match_sets(sets[test_set], sets[training_set], plan.threshold)
        m.insert(0, "test_set", test_set)
        m.insert(2, "training_set", training_set)
        fixed = fixed_test.get(test_set, set())
        m["test_fixed"] = m["test_image"].isin(fixed) | (test_set in plan.externals)
        m["action"] = plan.action(test_set)
        log(f"{test_set} x {training_set}: {len(m)} match(es) ({int(m['by_id'].sum())} by id, "
            f"{int(m['by_pixels'].sum())} by pixels, {int(m['by_phash'].sum())} by perceptual "
            "hash)")
        parts.append(m)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return out.reindex(columns=list(OVERLAP_COLUMNS))


def read_overlaps(path: str) -> pd.DataFrame:
    """:func:`overlaps_file` as written by ``find_overlaps`` (bool and int columns typed);
    ValueError naming the file and the missing column(s)."""
    table = pd.read_csv(path, dtype={"test_image": str, "training_image": str},
                        keep_default_na=False)
    missing = [c for c in OVERLAP_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    for col in ("by_id", "by_pixels", "by_phash", "test_fixed"):
        table[col] = table[col].astype(str).str.lower().isin(("true", "1"))
    return table


# ---------------------------------------------------------------------------- after the splits
def test_images_of(test_set: str, overlaps: pd.DataFrame,
                   splits: Mapping[str, pd.DataFrame]) -> set[str]:
    """The image ids of ``test_set`` that are test images: ``test`` rows of its split table
    when ``splits`` has it, else the ``test_fixed`` ids of ``overlaps``."""
    if test_set in splits:
        t = splits[test_set]
        return set(t.loc[t["split"].astype(str) == "test", "image_id"].astype(str))
    rows = overlaps[(overlaps["test_set"] == test_set) & overlaps["test_fixed"]]
    return set(rows["test_image"].astype(str))


def _split_of(splits: Mapping[str, pd.DataFrame], dataset: str) -> dict[str, str]:
    t = splits[dataset]
    return dict(zip(t["image_id"].astype(str), t["split"].astype(str)))


#: outcomes of a match after the splits (:func:`resolve`)
OUTCOME_REMOVED_TRAINING = "removed from training"
OUTCOME_REMOVED_TEST = "removed from the test set"
OUTCOME_LEFT = "left in training (reported)"
OUTCOME_GUARDED = "training image excluded by another guard"
OUTCOMES = (OUTCOME_REMOVED_TRAINING, OUTCOME_REMOVED_TEST, OUTCOME_LEFT, OUTCOME_GUARDED)


def resolve(plan: OverlapPlan, overlaps: pd.DataFrame,
            splits: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The matches that are test / training overlaps once every split table is written, with
    what became of them: ``test_split``, ``training_split`` and ``outcome`` —
    :data:`OUTCOME_REMOVED_TRAINING` (``excluded`` by this guard), :data:`OUTCOME_REMOVED_TEST`
    (a losing set's copy ``excluded``), :data:`OUTCOME_GUARDED` (excluded before: the SymDerm
    lesion guard), :data:`OUTCOME_LEFT` (the test image is ``test``, its copy in a fold).
    Matches whose test image is in no test split, or whose training image is in none of its
    dataset's folds and was not removed, are no overlap and are left out."""
    rows = []
    for (test_set, training_set), m in overlaps.groupby(["test_set", "training_set"], sort=False):
        test_split = _split_of(splits, test_set)
        train_split = _split_of(splits, training_set)
        for r in m.itertuples(index=False):
            ts = test_split.get(str(r.test_image), "")
            tr = train_split.get(str(r.training_image), "")
            if test_set in plan.losing:
                if ts == "excluded" and plan.remove:
                    outcome = OUTCOME_REMOVED_TEST
                elif ts == "test" and tr.startswith("fold"):
                    outcome = OUTCOME_LEFT
                else:
                    continue
            else:
                if ts != "test":
                    continue
                if tr.startswith("fold"):
                    outcome = OUTCOME_LEFT
                elif tr == "excluded":
                    outcome = (OUTCOME_REMOVED_TRAINING if plan.remove
                               else OUTCOME_GUARDED)
                else:
                    continue
            rows.append({**r._asdict(), "test_split": ts, "training_split": tr,
                         "outcome": outcome})
    columns = [*OVERLAP_COLUMNS, "test_split", "training_split", "outcome"]
    return pd.DataFrame(rows, columns=columns)


def summarise(plan: OverlapPlan, resolved: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of ``plan`` and outcome (:data:`SUMMARY_COLUMNS`): how many (test
    image, training image) overlaps, found by id, by content (pixels or perceptual hash), by
    pixels, by perceptual hash; a pair without overlaps is one row ``none found`` with 0."""
    rows = []
    for test_set, training_set in plan.pairs():
        m = resolved[(resolved["test_set"] == test_set)
                     & (resolved["training_set"] == training_set)]
        base = {"test_set": test_set,
                "test_part": "external" if test_set in plan.externals else "test split",
                "training_set": training_set, "trains": plan.trains(training_set)}
        if m.empty:
            rows.append({**base, "outcome": "none found", "found_by_id": 0,
                         "found_by_content": 0, "by_pixels": 0, "by_phash": 0, "count": 0})
            continue
        for outcome, g in m.groupby("outcome", sort=True):
            rows.append({**base, "outcome": outcome, "found_by_id": int(g["by_id"].sum()),
                         "found_by_content": int((g["by_pixels"] | g["by_phash"]).sum()),
                         "by_pixels": int(g["by_pixels"].sum()),
                         "by_phash": int(g["by_phash"].sum()), "count": len(g)})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def check_overlaps(plan: OverlapPlan, resolved: pd.DataFrame) -> dict:
    """Per pair, how many overlaps are left in training (``"<test> x <training>": n``);
    raise :class:`OverlapError` naming the first one when the plan removes overlaps and any is
    left."""
    left = resolved[resolved["outcome"] == OUTCOME_LEFT]
    if plan.remove and len(left):
        r = left.iloc[0]
        raise OverlapError(
            f"{len(left)} test image(s) still have a copy in a training fold, e.g. "
            f"{DATASET_LABELS.get(r['test_set'], r['test_set'])} test image {r['test_image']} = "
            f"{r['training_set']} {r['training_image']} ({r['training_split']}, found by "
            f"{r['found_by']}, pHash distance {r['distance']})")
    return {f"{t} x {d}": int(((left["test_set"] == t) & (left["training_set"] == d)).sum())
            for t, d in plan.pairs()}
