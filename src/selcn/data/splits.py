"""Leakage-free splits, their check, and class balancing of a training part.

Every function takes the protocol's policy (:class:`selcn.protocol.Protocol`, from
:func:`selcn.protocol.policy`) and reads its fields. ``LEAKAGE_FREE`` (default): the test split
and the folds are grouped by ``group`` (the lesion_id where known; ``grouped``), stratified by
``target`` (:class:`sklearn.model_selection.StratifiedGroupKFold`); SymDerm images of HAM10000
lesions in the HAM10000 test split are ``excluded`` from symmetry training
(``exclude_symderm_test_lesions``); the ISIC 2019 external set holds no HAM10000 image
(``exclude_ham_from_isic2019``). ``THESIS`` reproduces the thesis: an image-level stratified
split (lesions cross the test boundary) and nothing excluded.

Images shared by a test set and a training set (:mod:`selcn.data.overlap`): the split job of a
dataset reads ``results/splits/overlaps.csv`` and, where the policy's ``remove_overlaps`` says
so, :func:`exclude_overlaps` marks the training copies ``excluded`` (an external set loses its
copy instead); :func:`fixed_test_ids` names the test images known before any split.

Split tables (``results/splits/{dataset}.csv``): ``image_id,label,target,group,split`` with
``split`` in ``test, fold0 ... fold{K-1}, excluded``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from selcn.grid import Fold
from selcn.protocol import LEAKAGE_FREE, Protocol

__all__ = ["SPLIT_COLUMNS", "TRANSFORMS", "LeakageError", "split_table",
           "split_symderm", "split_isic2019", "split_isic2016", "make_splits",
           "leakage_report", "check_no_leakage", "balance", "apply_transform",
           "ph2_test_ids", "exclude_ph2_test_images", "check_ph2_pairs"]

SPLIT_COLUMNS = ("image_id", "label", "target", "group", "split")

#: transform codes of :func:`balance` / :func:`apply_transform`
TRANSFORMS = {0: "identity", 1: "hflip", 2: "vflip", 3: "rot90"}
#: how :func:`balance` tops up a class below its target (config ``data.balance.sampling``):
#: ``keep_originals`` (the project) keeps every original and adds transformed copies;
#: ``all_versions`` (the thesis' ``utils/balance_ham.py``) draws the target from every
#: version of every image (the original and its transformed copies), so originals may be lost
BALANCE_SAMPLINGS: tuple[str, ...] = ("keep_originals", "all_versions")


class LeakageError(ValueError):
    """A lesion (group) lies on both sides of a split boundary."""


def _base(index: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("image_id", "label", "target", "group") if c not in index.columns]
    if missing:
        raise ValueError(f"index table lacks column(s) {missing}")
    out = index[["image_id", "label", "target", "group"]].copy().reset_index(drop=True)
    out["image_id"] = out["image_id"].astype(str)
    out["group"] = out["group"].astype(str)
    out["target"] = out["target"].astype(np.int64)
    return out


def _n_splits_for(test_fraction: float) -> int:
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    return max(2, int(round(1 / test_fraction)))


def _assign_folds(table: pd.DataFrame, n_folds: int, seed: int, grouped: bool) -> np.ndarray:
    """Fold number of every row of ``table`` (stratified; grouped or image-level)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    fold = np.full(len(table), -1, np.int64)
    y = table["target"].to_numpy()
    if grouped:
        cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        parts = cv.split(np.zeros(len(table)), y, table["group"].to_numpy())
    else:
        cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        parts = cv.split(np.zeros(len(table)), y)
    for k, (_, val) in enumerate(parts):
        fold[val] = k
    return fold


def split_table(index: pd.DataFrame, *, test_fraction: float = 0.2, n_folds: int = 4,
                seed: int = 42, protocol: Protocol = LEAKAGE_FREE,
                log: Callable[[str], None] = print) -> pd.DataFrame:
    """A stratified test split (about ``test_fraction`` of the rows) and ``n_folds``
    stratified folds of the rest. ``protocol.grouped``: both grouped by ``group`` (the test
    split is one of ``round(1 / test_fraction)`` grouped folds); else image level."""
    from sklearn.model_selection import train_test_split

    out = _base(index)
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    if protocol.grouped:
        first = _assign_folds(out, _n_splits_for(test_fraction), seed, grouped=True)
        is_test = first == 0
    else:
        idx = np.arange(len(out))
        _, test_idx = train_test_split(idx, test_size=test_fraction, random_state=seed,
                                       stratify=out["target"].to_numpy())
        is_test = np.isin(idx, test_idx)
    split = np.array(["test"] * len(out), dtype=object)
    rest = out[~is_test]
    folds = _assign_folds(rest, n_folds, seed, grouped=protocol.grouped)
    split[~is_test] = [f"fold{k}" for k in folds]
    out["split"] = split
    if not protocol.grouped:
        rep = leakage_report(out)
        log(f"protocol {protocol.name}: image-level split, {rep['test_rows_sharing_group']} of "
            f"{rep['test_rows']} test images share a lesion with training images")
    return out


def split_symderm(index: pd.DataFrame, ham_splits: pd.DataFrame | None, *,
                  test_fraction: float = 0.2, n_folds: int = 3, seed: int = 42,
                  protocol: Protocol = LEAKAGE_FREE,
                  log: Callable[[str], None] = print) -> pd.DataFrame:
    """SymDerm: rows from HAM10000 (``ham_image_id``) take their HAM lesion as ``group``;
    ``protocol.exclude_symderm_test_lesions``: those of lesions in the HAM10000 test split are
    ``excluded``; the rest is split like :func:`split_table` (``n_folds`` folds + test)."""
    out = _base(index)
    ham_ids = index["ham_image_id"].fillna("").astype(str).to_numpy() \
        if "ham_image_id" in index.columns else np.array([""] * len(out))
    excluded = np.zeros(len(out), bool)
    if ham_splits is not None:
        group_of = dict(zip(ham_splits["image_id"].astype(str), ham_splits["group"].astype(str)))
        known = np.array([group_of.get(i, "") for i in ham_ids], dtype=object)
        unknown = (ham_ids != "") & (known == "")
        if unknown.any():
            log(f"symderm: {int(unknown.sum())} images marked HAM10000 are not in the HAM10000 "
                f"split table (e.g. {ham_ids[unknown][0]}); grouped by image id")
        out["group"] = np.where(known != "", known, out["group"].to_numpy())
        if protocol.exclude_symderm_test_lesions:
            test_groups = set(ham_splits.loc[ham_splits["split"] == "test", "group"].astype(str))
            excluded = (known != "") & np.isin(known, list(test_groups))
    kept = out[~excluded]
    split = split_table(kept, test_fraction=test_fraction, n_folds=n_folds, seed=seed,
                        protocol=protocol, log=log)
    out["split"] = "excluded"
    out.loc[~excluded, "split"] = split["split"].to_numpy()
    log(f"symderm: {int(excluded.sum())} images of HAM10000 test lesions excluded")
    return out


def split_isic2019(index: pd.DataFrame, ham_ids: Iterable[str] = (), *,
                   protocol: Protocol = LEAKAGE_FREE,
                   log: Callable[[str], None] = print) -> pd.DataFrame:
    """ISIC 2019, the external test set: every row ``test``;
    ``protocol.exclude_ham_from_isic2019``: rows whose image id is a HAM10000 image are
    ``excluded``."""
    out = _base(index)
    ham = set(map(str, ham_ids))
    drop = out["image_id"].isin(ham) if protocol.exclude_ham_from_isic2019 else \
        pd.Series(False, index=out.index)
    out["split"] = np.where(drop, "excluded", "test")
    log(f"isic2019: {int((~drop).sum())} test images, {int(drop.sum())} HAM10000 images excluded")
    return out


def split_isic2016(index: pd.DataFrame, *, n_folds: int = 4, seed: int = 42,
                   protocol: Protocol = LEAKAGE_FREE, test_fraction: float = 0.2,
                   log: Callable[[str], None] = print) -> pd.DataFrame:
    """ISIC 2016 (part 3: 900 official training and 379 official test images).

    ``protocol.isic2016_official_test``: the official test set is ``test``; the official
    training set is split into ``n_folds`` stratified folds (grouped by ``group``). Else (the
    thesis, section 5, Appendix C): only the official training set is used — a stratified
    ``test_fraction`` (20 %) of it is ``test`` (image level unless ``protocol.grouped``), the
    rest is cut into ``n_folds`` stratified folds, and the official test images are
    ``excluded``. The official part is read from ``official_split``
    or, in a cache index, ``source`` (``ISIC2016_train`` / ``ISIC2016_test``)."""
    out = _base(index)
    if "official_split" in index.columns:
        official = index["official_split"].astype(str).to_numpy()
    elif "source" in index.columns:
        official = index["source"].astype(str).str.rsplit("_", n=1).str[-1].to_numpy()
    else:
        raise ValueError("isic2016 index needs 'official_split' or 'source'")
    is_test = official == "test"
    if not protocol.isic2016_official_test:
        if not (~is_test).any():
            raise ValueError("isic2016: the official training part is needed")
        train = out[~is_test]
        part = split_table(train.reset_index(drop=True), test_fraction=test_fraction,
                           n_folds=n_folds, seed=seed, protocol=protocol, log=lambda *a: None)
        out["split"] = "excluded"
        out.loc[~is_test, "split"] = part["split"].to_numpy()
        log(f"isic2016 ({protocol.name}): {int((part['split'] == 'test').sum())} of {len(train)} "
            f"official training images are the test split; {int(is_test.sum())} official test "
            "images excluded")
        return out
    if is_test.all() or not is_test.any():
        raise ValueError("isic2016: both the official train and test parts are needed")
    out["split"] = "test"
    folds = _assign_folds(out[~is_test], n_folds, seed, grouped=True)
    out.loc[~is_test, "split"] = [f"fold{k}" for k in folds]
    return out


def make_splits(dataset: str, index: pd.DataFrame, *, n_folds: int, test_fraction: float = 0.2,
                seed: int = 42, protocol: Protocol = LEAKAGE_FREE,
                ham_splits: pd.DataFrame | None = None,
                log: Callable[[str], None] = print) -> pd.DataFrame:
    """The split table of ``dataset`` from its cache index (see the module docstring).

    HAM10000 is split by :func:`split_table` (groups = lesion_id); ``ham_splits`` (HAM10000's
    split table) is read by SymDerm (its HAM10000 lesions) and ISIC 2019 (its image ids).
    """
    if dataset == "ham10000":
        out = split_table(index, test_fraction=test_fraction, n_folds=n_folds, seed=seed,
                          protocol=protocol, log=log)
    elif dataset == "symderm":
        out = split_symderm(index, ham_splits, test_fraction=test_fraction, n_folds=n_folds,
                            seed=seed, protocol=protocol, log=log)
    elif dataset == "isic2019":
        ham_ids = ham_splits["image_id"] if ham_splits is not None else ()
        out = split_isic2019(index, ham_ids, protocol=protocol, log=log)
    elif dataset == "isic2016":
        out = split_isic2016(index, n_folds=n_folds, seed=seed, protocol=protocol,
                             test_fraction=test_fraction, log=log)
    elif dataset in ("ph2", "ph2_symmetry"):       # one image per lesion: grouped by image id
        out = split_table(index, test_fraction=test_fraction, n_folds=n_folds, seed=seed,
                          protocol=protocol, log=log)
    elif dataset == "ph2_ham":                      # an external test set: every image is test
        out = split_isic2019(index, (), protocol=protocol, log=lambda *a: None)
    else:
        raise ValueError(f"unknown dataset {dataset!r}")
    counts = out.groupby(["split", "label"]).size().unstack(fill_value=0)
    log(f"{dataset} splits ({protocol.name}):\n{counts.to_string()}")
    return out[list(SPLIT_COLUMNS)]


# ---------------------------------------------------------------------------- PH² in SymDerm
# SymDerm v2.0 holds all 200 PH² images (``Dataset == PH2``, ``File`` = ``IMDxxx.bmp``, so its
# image id is PH²'s ``IMDxxx``). Where PH² is a test set (a lesion dataset's test split, or the
# external test set ``ph2_ham``), those images must not train the symmetry network. The pair is
# matched by image id (a general id + content-hash guard may replace this rule).
def ph2_test_ids(ph2_splits: Iterable[pd.DataFrame]) -> set[str]:
    """The image ids of the ``test`` rows of PH²'s split tables (``ph2``, ``ph2_ham``)."""
    return {str(i) for t in ph2_splits for i in t.loc[t["split"] == "test", "image_id"]}


def exclude_ph2_test_images(symderm: pd.DataFrame, ph2_splits: Iterable[pd.DataFrame], *,
                            log: Callable[[str], None] = print) -> pd.DataFrame:
    """SymDerm's split table with every row whose image is a PH² test image (SymDerm file
    ``IMDxxx`` <-> PH² image ``IMDxxx``) marked ``excluded``; a copy."""
    out = symderm.copy()
    hit = out["image_id"].astype(str).isin(ph2_test_ids(ph2_splits)) & (out["split"] != "excluded")
    out.loc[hit, "split"] = "excluded"
    log(f"symderm: {int(hit.sum())} PH2 images that are PH2 test images excluded")
    return out


def check_ph2_pairs(symderm: pd.DataFrame, ph2_splits: Iterable[pd.DataFrame],
                    name: str = "symderm") -> int:
    """Raise :class:`LeakageError` when a SymDerm row of a fold (symmetry training or
    validation) or of SymDerm's test split is a PH² test image; returns how many SymDerm rows
    are PH² test images (all ``excluded``)."""
    test = ph2_test_ids(ph2_splits)
    pairs = symderm[symderm["image_id"].astype(str).isin(test)]
    used = pairs[pairs["split"] != "excluded"]
    if len(used):
        raise LeakageError(f"{name}: {len(used)} row(s) are PH2 test images but not excluded, "
                           f"e.g. {used['image_id'].iloc[0]} (split {used['split'].iloc[0]})")
    return int(len(pairs))


# ---------------------------------------------------------------------------- overlaps
def fixed_test_ids(dataset: str, index: pd.DataFrame, protocol: Protocol = LEAKAGE_FREE,
                   external: bool = False) -> list[str] | None:
    """The image ids of ``dataset`` that are test images before any split is drawn: every row
    of an ``external`` test set (ISIC 2019), the official test part of ISIC 2016 where
    ``protocol.isic2016_official_test``; None where the split job decides (a drawn test split).
    """
    ids = index["image_id"].astype(str)
    if external:
        return ids.tolist()
    if dataset == "isic2016" and protocol.isic2016_official_test:
        if "official_split" in index.columns:
            official = index["official_split"].astype(str)
        elif "source" in index.columns:
            official = index["source"].astype(str).str.rsplit("_", n=1).str[-1]
        else:
            raise ValueError("isic2016 index needs 'official_split' or 'source'")
        return ids[official.to_numpy() == "test"].tolist()
    return None


def exclude_overlaps(dataset: str, table: pd.DataFrame, overlaps: pd.DataFrame, *,
                     losing: bool, test_splits: Mapping[str, pd.DataFrame] | None = None,
                     log: Callable[[str], None] = print) -> pd.DataFrame:
    """``table`` (a split table of ``dataset``) with the overlaps of
    ``results/splits/overlaps.csv`` (:func:`selcn.data.overlap.read_overlaps`) whose planned
    action removes something here marked ``excluded``:

    * ``losing`` (an external set such as ISIC 2019): every ``test`` row that matches an image
      of a training set (any image of it: as ISIC 2019 loses every HAM10000 image);
    * else (a training set): every ``fold<k>`` row matching a test image — a ``test_fixed``
      image, a ``test`` row of ``table`` itself (the same dataset), or a ``test`` row of
      ``test_splits[<test set>]`` — and every other ``fold<k>`` row of its lesion (``group``: a
      copy's lesion is the test image's); for a test set whose split table is not given
      (:meth:`selcn.data.overlap.OverlapPlan.test_splits_needed`: it is drawn after this one),
      every match counts (a copy of any of its images leaves the folds).

    Only rows whose ``action`` is the one that applies here count (none under a protocol that
    only reports). Returns a new table; the test split is never touched by a training set.
    """
    from selcn.data.overlap import EXCLUDE_TEST, EXCLUDE_TRAINING, test_images_of

    out = table.copy()
    split = out["split"].astype(str)
    if losing:
        rows = overlaps[(overlaps["test_set"] == dataset) & (overlaps["action"] == EXCLUDE_TEST)]
        drop = out["image_id"].astype(str).isin(set(rows["test_image"].astype(str))) & (
            split == "test")
        out.loc[drop, "split"] = "excluded"
        log(f"{dataset}: {int(drop.sum())} test image(s) found in a training set excluded "
            f"({len(rows)} match(es))")
        return out
    rows = overlaps[(overlaps["training_set"] == dataset)
                    & (overlaps["action"] == EXCLUDE_TRAINING)]
    known = {dataset: out, **dict(test_splits or {})}
    bad: set[str] = set()
    for test_set, m in rows.groupby("test_set", sort=True):
        if test_set not in known and not m["test_fixed"].all():
            log(f"{dataset}: the {test_set} split is drawn later: every copy of one of its "
                f"images leaves the folds ({len(m)} match(es))")
            hit = m
        else:
            hit = m[m["test_image"].astype(str).isin(test_images_of(test_set, m, known))]
        bad |= set(hit["training_image"].astype(str))
    in_folds = split.map(Fold.is_name).astype(bool)
    copies = out["image_id"].astype(str).isin(bad) & in_folds
    drop = copies
    if "group" in out.columns:
        # a copy's lesion is the test image's lesion: its other images (views of it) leave too
        group = out["group"].fillna("").astype(str)
        lesions = set(group[copies]) - {""}
        drop = copies | (group.isin(lesions) & in_folds)
    out.loc[drop, "split"] = "excluded"
    log(f"{dataset}: {int(copies.sum())} training image(s) that are copies of test images "
        f"excluded, with {int(drop.sum() - copies.sum())} further image(s) of their lesions")
    return out


# ---------------------------------------------------------------------------- leakage
def leakage_report(splits: pd.DataFrame) -> dict:
    """How many groups lie on more than one side: ``groups_crossing_test`` (test and a
    fold), ``groups_crossing_folds`` (two folds), ``test_rows`` and
    ``test_rows_sharing_group`` (test images whose group is also in a fold). Rows
    ``excluded`` do not count."""
    t = splits[splits["split"] != "excluded"]
    sides = t.groupby("group")["split"].agg(lambda s: frozenset(s))
    in_test = sides.map(lambda s: "test" in s)
    n_folds = sides.map(lambda s: sum(1 for x in s if x.startswith("fold")))
    crossing = sides.index[in_test & (n_folds > 0)]
    test = t[t["split"] == "test"]
    return {
        "groups_crossing_test": int(len(crossing)),
        "groups_crossing_folds": int((n_folds > 1).sum()),
        "test_rows": int(len(test)),
        "test_rows_sharing_group": int(test["group"].isin(set(crossing)).sum()),
        "examples": [str(g) for g in list(crossing[:3])],
    }


def check_no_leakage(splits: pd.DataFrame, *, ham_splits: pd.DataFrame | None = None,
                     external: bool = False, name: str = "splits") -> dict:
    """Raise :class:`LeakageError` if a group lies on both sides of the test boundary or in
    two folds, or — given HAM10000's split table — a row in a fold belongs to a HAM10000
    test lesion, or (``external``: an external test set such as ISIC 2019) a ``test`` row
    is a HAM10000 image. Returns :func:`leakage_report`."""
    rep = leakage_report(splits)
    if rep["groups_crossing_test"]:
        raise LeakageError(f"{name}: {rep['groups_crossing_test']} group(s) on both sides of the "
                           f"test boundary, e.g. {rep['examples']}")
    if rep["groups_crossing_folds"]:
        raise LeakageError(f"{name}: {rep['groups_crossing_folds']} group(s) in more than one fold")
    if ham_splits is not None:
        ham_test = set(ham_splits.loc[ham_splits["split"] == "test", "group"].astype(str))
        in_fold = splits["split"].astype(str).str.startswith("fold")
        bad = splits[in_fold & splits["group"].astype(str).isin(ham_test)]
        if len(bad):
            raise LeakageError(f"{name}: {len(bad)} training row(s) belong to HAM10000 test "
                               f"lesions, e.g. {bad['image_id'].iloc[0]} "
                               f"(group {bad['group'].iloc[0]})")
        ham_ids = set(ham_splits["image_id"].astype(str))
        bad = splits[(splits["split"] == "test") & splits["image_id"].astype(str).isin(ham_ids)]
        if external and len(bad):
            raise LeakageError(f"{name}: {len(bad)} test row(s) are HAM10000 images, "
                               f"e.g. {bad['image_id'].iloc[0]}")
    return rep


# ---------------------------------------------------------------------------- balancing
def balance_settings(balance: Mapping | None, protocol: Protocol = LEAKAGE_FREE) -> dict | None:
    """The balancing of a training part with ``sampling`` resolved: ``balance`` (config
    ``data.balance``, as :func:`selcn.config.balance_of` returns it) with ``sampling`` null or
    missing replaced by the protocol's default (:meth:`selcn.protocol.Protocol.setting`
    ``balance_sampling``); None (not balanced) passes through. ValueError for an unknown
    sampling."""
    if balance is None:
        return None
    out = dict(balance)
    out["sampling"] = protocol.setting("balance_sampling", out.get("sampling"))
    if out["sampling"] not in BALANCE_SAMPLINGS:
        raise ValueError(f"data.balance.sampling must be one of {BALANCE_SAMPLINGS}, "
                         f"got {out['sampling']!r}")
    return out


def balance(train_table: pd.DataFrame, target_per_class: int, max_copies: int = 3,
            seed: int = 0, sampling: str = "keep_originals") -> pd.DataFrame:
    """The balanced epoch of a training part (columns ``row``, ``target``): classes above
    ``target_per_class`` are down-sampled without replacement; a class below it is topped up
    with h-flip / v-flip / rot90 copies, each image at most ``max_copies`` copies with distinct
    transforms:

    * ``sampling="keep_originals"`` (the project): every original is kept, then copies are
      added until the target or the cap;
    * ``sampling="all_versions"`` (the thesis' code): every image's original and its
      ``max_copies`` copies form the class's versions; when they are more than the target,
      ``target_per_class`` of them are drawn without replacement (so some originals are lost:
      HAM10000's bkl keeps about a quarter of its versions' originals at 2,000).

    Returns ``row,transform`` (int64), per class in target order (``keep_originals``:
    originals first, then copies; ``all_versions``: the drawn versions by position).
    """
    if max_copies < 0 or max_copies > 3:
        raise ValueError("max_copies must be in 0..3 (three distinct transforms), "
                         f"got {max_copies}")
    if target_per_class < 1:
        raise ValueError(f"target_per_class must be >= 1, got {target_per_class}")
    if sampling not in BALANCE_SAMPLINGS:
        raise ValueError(f"sampling must be one of {BALANCE_SAMPLINGS}, got {sampling!r}")
    rng = np.random.default_rng(seed)
    rows_out, tf_out = [], []
    for target in sorted(train_table["target"].unique()):
        rows = train_table.loc[train_table["target"] == target, "row"].to_numpy(np.int64)
        n = len(rows)
        if n >= target_per_class:
            rows_out.append(np.sort(rng.choice(rows, target_per_class, replace=False)))
            tf_out.append(np.zeros(target_per_class, np.int64))
            continue
        perms = np.argsort(rng.random((n, 3)), axis=1) + 1          # distinct transforms per image
        if sampling == "all_versions":
            v_rows = np.tile(rows, 1 + max_copies)
            v_tf = np.concatenate([np.zeros(n, np.int64)]
                                  + [perms[:, c] for c in range(max_copies)])
            if len(v_rows) > target_per_class:
                pick = np.sort(rng.choice(len(v_rows), target_per_class, replace=False))
                v_rows, v_tf = v_rows[pick], v_tf[pick]
            rows_out.append(v_rows)
            tf_out.append(v_tf)
            continue
        rows_out.append(rows)
        tf_out.append(np.zeros(n, np.int64))
        need = min(target_per_class - n, n * max_copies)
        order = rng.permutation(n)
        c = 0
        while need > 0:
            take = order[:min(need, n)]
            rows_out.append(rows[take])
            tf_out.append(perms[take, c])
            need -= len(take)
            c += 1
    return pd.DataFrame({"row": np.concatenate(rows_out), "transform": np.concatenate(tf_out)})


def apply_transform(array: np.ndarray, code: int) -> np.ndarray:
    """Apply transform ``code`` (0 identity, 1 h-flip, 2 v-flip, 3 rot90 counter-clockwise)
    to an ``(H, W)`` or ``(H, W, C)`` array — the one implementation used for images,
    masks and CAMs alike. Returns a contiguous array."""
    code = int(code)
    if code == 0:
        return array
    if code == 1:
        out = array[:, ::-1]
    elif code == 2:
        out = array[::-1]
    elif code == 3:
        out = np.rot90(array, k=1, axes=(0, 1))
    else:
        raise ValueError(f"unknown transform code {code} (one of {TRANSFORMS})")
    return np.ascontiguousarray(out)
