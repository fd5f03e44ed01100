"""The path layout of the workflow's results (``docs/contracts.md``): one builder per kind of
file, and :func:`parse_result_path`, which reads the wildcards back from a built path.

Builders take wildcard values (or Snakemake patterns such as ``"{fold}"``) and return paths
relative to the working directory, under the results root (config ``results_dir``, default
``results``; :func:`use_results_dir`)::

    lesion_fold_file("ham10000", Model("seg", "lae"), Fold(2), "predictions_test.csv")
    # -> "results/lesion/ham10000/seg-lae/fold2/predictions_test.csv"
    parse_result_path(_)["model"]   # -> 8

A lesion model is a :class:`selcn.grid.Model` or its folder pattern (:data:`MODEL_PATTERN` in a
rule, :func:`model_pattern` for a rule of another :class:`selcn.grid.Shape`), a symmetry
variant a :class:`selcn.grid.SymmetryVariant` or its folder pattern (:func:`variant_pattern`);
a fold a :class:`selcn.grid.Fold`, an ``int`` or the ``"{fold}"`` pattern. A model or variant
that carries a segmenter (``segmentation.mode: axis``) or is a per-model search's copy has
those folders below its own (``lesion/ham10000/seg-lae/unet/per_model/fold0/...``); the masks
of a segmenter are ``masks/<segmenter>/<dataset>.npy``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selcn.grid import (
    CAM_SOURCES,
    MASKS,
    MULTITASK,
    MULTITASK_NAME,
    PER_MODEL,
    PLAIN,
    SEGMENTERS,
    Fold,
    Model,
    Shape,
    SymmetryVariant,
    alternation,
)

# the path constants (RESULTS, LOGS, SPLIT_CHECK, ...: :data:`_CONSTANTS`) are module attributes
# too, built by :func:`__getattr__` under the results root in use
__all__ = [
    "DEFAULT_RESULTS", "results_dir", "use_results_dir", "results_root",
    "multitask_dir", "multitask_fold_file", "multitask_file",
    "cache_files", "gt_masks_file", "split_file", "predicted_masks", "segmentation_file",
    "external_segmentation_file",
    "cams_file", "symmetry_file", "symmetry_arch_file", "symmetry_best_fold_file",
    "symmetry_localisation_file", "lesion_dir", "lesion_fold_file", "lesion_localisation_file",
    "lesion_best_fold_file", "hpo_file", "hpo_work_dir", "table_file", "figure_file",
    "export_dir", "predict_dir", "parse_result_path", "MODEL_PATTERN", "fold_dir",
    "model_pattern", "variant_pattern", "cams_pattern",
]

#: the default root of every result (config ``results_dir``)
DEFAULT_RESULTS = "results"
#: the root the builders use now (:func:`use_results_dir`, :func:`results_root`)
_root = DEFAULT_RESULTS
#: the path constants, relative to the results root; read as module attributes
#: (``selcn.paths.LOGS``), they follow the root in use (:func:`__getattr__`)
_CONSTANTS: dict[str, str] = {
    #: root of every result (relative to Snakemake's working directory)
    "RESULTS": "",
    #: one log per job, under here
    "LOGS": "logs",
    #: where the synthetic demo data is written (``data.source: synthetic``)
    "SYNTHETIC_ROOT": "data",
    #: the leakage check of every split table
    "SPLIT_CHECK": "splits/leakage_check.json",
    #: what `snakemake check_data` found: one row per configured dataset
    "DATA_CHECK": "data_check.csv",
    #: what `snakemake check_data_deep` found (every image and mask decoded)
    "DATA_CHECK_DEEP": "data_check_deep.csv",
    #: the demo's "new" images (`predict.demo_images` HAM10000 test images copied by the rule
    #: `predict_demo_images`); the only folder of images the workflow writes
    "DEMO_PREDICT_INPUT": "predict/demo_input",
    #: what Figure 9 shows, written by the symmetry stage (inputs as seen, CAMs, predictions)
    "SYMMETRY_FIGURE_DATA": "symmetry/figure9_cams.npz",
    #: what Figure 10 shows, written by the lesion stage (one image's CAM of every model)
    "LESION_FIGURE_DATA": "lesion/figure10_cams.npz",
    #: what Figure 3 shows, written by the segmentation stage (test images and their masks)
    "SEGMENTATION_FIGURE_DATA": "segmentation/figure3_masks.npz",
    #: which segmentation architecture masks the later stages
    "SEGMENTATION_SELECTED": "segmentation/selected.json",
}
#: the folder of a lesion model in a rule's path patterns (:class:`selcn.grid.Model`'s name)
MODEL_PATTERN = "{classifier_mask}-{symmetry_mask}"


def model_pattern(shape: Shape = PLAIN) -> str:
    """The folder pattern of the lesion models of a rule of ``shape``:
    :data:`MODEL_PATTERN`, then ``/{segmenter}`` and ``/per_model`` where the shape has them."""
    return MODEL_PATTERN + shape.folders()


def variant_pattern(shape: Shape = PLAIN) -> str:
    """The folder pattern of the symmetry variants of a rule of ``shape`` (``{variant}``...)."""
    return "{variant}" + shape.folders()


def cams_pattern(shape: Shape = PLAIN) -> str:
    """The CAM folder pattern of a rule of ``shape`` (``{mask}``...), for :func:`cams_file`."""
    return "{mask}" + shape.folders()


def _folder(item: Model | SymmetryVariant | str) -> str:
    """The folder of a model or variant (its ``folder``), or a pattern as it is."""
    return item.folder if isinstance(item, (Model, SymmetryVariant)) else str(item)


def __getattr__(name: str) -> str:
    """The path constants of :data:`_CONSTANTS` under the results root in use, e.g.
    ``selcn.paths.LOGS`` -> ``"results/logs"`` (``"results_ph2/logs"`` after
    ``use_results_dir("results_ph2")``). ``from selcn.paths import LOGS`` reads it once."""
    if name in _CONSTANTS:
        rel = _CONSTANTS[name]
        return f"{_root}/{rel}" if rel else _root
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def results_dir() -> str:
    """The results root every builder uses now (config ``results_dir``, default
    :data:`DEFAULT_RESULTS`)."""
    return _root


def use_results_dir(root: str | Path) -> str:
    """Make ``root`` (config ``results_dir``: a relative folder name such as ``results_ph2``)
    the root of every path built from now on; returns it. ``rules/common.smk`` calls it once,
    before any rule imports a path constant. Raises ValueError for an empty or absolute root,
    or one that leaves the working directory (``..``)."""
    global _root
    text = Path(root).as_posix().rstrip("/")
    if not text or Path(text).is_absolute() or ".." in Path(text).parts or text == ".":
        raise ValueError(f"results_dir must be a folder relative to the working directory, "
                         f"inside it, got {str(root)!r}")
    _root = text
    return _root


@contextmanager
def results_root(root: str | Path) -> Iterator[str]:
    """``with results_root("results_ph2"):`` every path built inside lies under that root;
    the previous root is back afterwards (:class:`selcn.jobs.Jobs` builds its maps so)."""
    previous = _root
    use_results_dir(root)
    try:
        yield _root
    finally:
        use_results_dir(previous)


def fold_dir(fold: Fold | int | str) -> str:
    """``fold<k>``: the folder of a fold (a :class:`Fold`, an int or the ``"{fold}"`` pattern)."""
    return fold.name if isinstance(fold, Fold) else f"fold{fold}"


# ---- data ---------------------------------------------------------------------------------
def cache_files(dataset: str) -> dict[str, str]:
    """``images`` (``(N, H, W, 3)`` uint8 ``.npy``) and ``index`` (CSV) of a dataset's cache."""
    return {"images": f"{_root}/cache/{dataset}/images.npy",
            "index": f"{_root}/cache/{dataset}/index.csv"}


def gt_masks_file(dataset: str) -> str:
    """The cached ground-truth lesion masks (``(N, H, W)`` uint8) of a dataset that has them."""
    return f"{_root}/cache/{dataset}/gt_masks.npy"


def split_file(dataset: str) -> str:
    """The split table (``image_id, label, target, group, split``) of ``dataset``."""
    return f"{_root}/splits/{dataset}.csv"


# ---- segmentation -------------------------------------------------------------------------
def predicted_masks(dataset: str, segmenter: str | None = None) -> str:
    """The selected segmentation network's masks of every cached image of ``dataset``, or
    (``segmentation.mode: axis``) ``segmenter``'s: ``masks/<segmenter>/<dataset>.npy``."""
    return f"{_root}/masks/{segmenter}/{dataset}.npy" if segmenter else \
        f"{_root}/masks/{dataset}.npy"


def segmentation_file(arch: str, name: str) -> str:
    """``model.pt``, ``history.csv`` or ``metrics_test.csv`` of segmentation ``arch``."""
    return f"{_root}/segmentation/{arch}/{name}"


def external_segmentation_file(dataset: str) -> str:
    """The selected segmentation network's masks of external test set ``dataset`` scored
    against its ground truth (one row of Table 5 (external)):
    ``results/segmentation/external_<dataset>.csv`` (:func:`selcn.external.score_external_masks`).
    """
    return f"{_root}/segmentation/external_{dataset}.csv"


# ---- symmetry -----------------------------------------------------------------------------
def cams_file(cam_source: str | SymmetryVariant, dataset: str) -> str:
    """Grad-CAM++ maps (``(N, s, s)`` float16) of the symmetry model of ``cam_source`` (a
    mask, a pattern of :func:`cams_pattern`, or the CAM variant itself: its mask, then its
    segmenter and ``per_model`` folders where it has them)."""
    folder = (cam_source.mask + cam_source.shape.folders(cam_source.segmenter or "",
                                                         cam_source.search)
              if isinstance(cam_source, SymmetryVariant) else cam_source)
    return f"{_root}/cams/{folder}/{dataset}.npy"


def symmetry_file(variant: SymmetryVariant | str, fold: Fold | int | str, name: str) -> str:
    """``model.pt``, ``history.csv``, ``predictions_{val,test}.csv`` of a variant x fold."""
    return f"{_root}/symmetry/{_folder(variant)}/{fold_dir(fold)}/{name}"


def symmetry_arch_file(arch: str, fold: Fold | int | str, name: str) -> str:
    """The same files for the symmetry architecture comparison."""
    return f"{_root}/symmetry_arch/{arch}/{fold_dir(fold)}/{name}"


def symmetry_best_fold_file(variant: SymmetryVariant | str) -> str:
    return f"{_root}/symmetry/{_folder(variant)}/best_fold.json"


def symmetry_localisation_file(variant: SymmetryVariant | str, dataset: str = "ham10000") -> str:
    """Per-image CAM localisation of a variant's best fold on the test split of ``dataset``
    (the localisation dataset, config ``roles.localisation``)."""
    return f"{_root}/symmetry/{_folder(variant)}/localisation_{dataset}.csv"


# ---- lesion -------------------------------------------------------------------------------
def lesion_dir(dataset: str, model: Model | str) -> str:
    """The directory of one lesion model on ``dataset`` (all its folds): its
    :attr:`selcn.grid.Model.folder` (segmenter and ``per_model`` folders included)."""
    return f"{_root}/lesion/{dataset}/{_folder(model)}"


def lesion_fold_file(dataset: str, model: Model | str, fold: Fold | int | str, name: str) -> str:
    """``model.pt``, ``history.csv``, ``predictions_{val,test,isic2019}.csv`` of one fold."""
    return f"{lesion_dir(dataset, model)}/{fold_dir(fold)}/{name}"


def lesion_localisation_file(dataset: str, model: Model | str) -> str:
    return f"{lesion_dir(dataset, model)}/localisation.csv"


def lesion_best_fold_file(dataset: str, model: Model | str) -> str:
    return f"{lesion_dir(dataset, model)}/best_fold.json"


# ---- model 13 (selcn.multitask) -----------------------------------------------------------
def multitask_dir(dataset: str) -> str:
    """The directory of model 13 on lesion ``dataset`` (all its folds), beside the grid's
    models: ``results/lesion/{dataset}/multitask``."""
    return f"{_root}/lesion/{dataset}/{MULTITASK_NAME}"


def multitask_fold_file(dataset: str, fold: Fold | int | str, name: str) -> str:
    """A file of one fold of model 13 (``model.pt``, ``history.csv``,
    ``predictions_{val,test,<external>}.csv``, ``predictions_symmetry_{val,test}.csv``,
    ``metrics_test.csv``)."""
    return f"{multitask_dir(dataset)}/{fold_dir(fold)}/{name}"


def multitask_file(dataset: str, name: str) -> str:
    """A file of model 13 on ``dataset`` as a whole (``best_fold.json``, ``localisation.csv``,
    ``cost.csv``)."""
    return f"{multitask_dir(dataset)}/{name}"


# ---- hyper-parameter search, report -------------------------------------------------------
def hpo_file(network: str, name: str) -> str:
    """``best.json`` or ``trials.csv`` of the search of ``network``."""
    return f"{_root}/hpo/{network}/{name}"


def hpo_work_dir(network: str) -> str:
    """The finished trials of a search (kept when a job fails, not an output)."""
    return f"{_root}/hpo/{network}/.search"


def table_file(name: str, ext: str) -> str:
    """``results/tables/<name>.<ext>`` (``csv`` or ``html``)."""
    return f"{_root}/tables/{name}.{ext}"


def figure_file(name: str, ext: str = "png") -> str:
    return f"{_root}/figures/{name}.{ext}"


# ---- parsing ------------------------------------------------------------------------------
_FOLD = r"(?:fold(?P<fold>\d+)/)?"
#: the optional folders of a model or variant: its segmenter, its per-model search's copy
_SHAPE = rf"(?:(?P<segmenter>{alternation(SEGMENTERS)})/)?(?:(?P<search>{PER_MODEL})/)?"
_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    (MULTITASK_NAME, re.compile(
        rf"lesion/(?P<dataset>[^/]+)/{MULTITASK_NAME}/{_FOLD}(?P<file>[^/]+)$")),
    ("lesion", re.compile(
        rf"lesion/(?P<dataset>[^/]+)/(?P<classifier_mask>{alternation(MASKS)})-"
        rf"(?P<symmetry_mask>{alternation(CAM_SOURCES)})/{_SHAPE}{_FOLD}(?P<file>[^/]+)$")),
    ("symmetry_arch", re.compile(
        r"symmetry_arch/(?P<arch>[^/]+)/fold(?P<fold>\d+)/(?P<file>[^/]+)$")),
    ("symmetry", re.compile(
        rf"symmetry/(?P<variant>{SymmetryVariant.pattern()})/{_SHAPE}{_FOLD}"
        r"(?P<file>[^/]+)$")),
    ("segmentation", re.compile(r"segmentation/(?P<arch>[^/]+)/(?P<file>[^/]+)$")),
)


def parse_result_path(path: str | Path) -> dict:
    """The wildcards of a result path of a model, e.g.
    ``.../lesion/ham10000/seg-lae/fold2/predictions_test.csv`` -> ``{"stage": "lesion",
    "dataset": "ham10000", "classifier_mask": "seg", "symmetry_mask": "lae", "fold": 2,
    "file": "predictions_test.csv", "split": "test", "model": 8}``.

    ``model`` is the thesis' number (lesion 1-12; symmetry the Table 6 row, None for a variant
    the thesis did not train); ``split`` is read from ``predictions_<split>.csv``. Any prefix
    before the stage directory is allowed. Raises ValueError for any other path. A model or
    variant with a segmenter folder has the key ``segmenter``, a per-model search's copy the
    key ``search`` (``per_model``); the others have neither.

    Model 13 (``.../lesion/<dataset>/multitask/[fold<k>/]<file>``, :func:`multitask_dir`) reads
    as a lesion model (``model`` 13, ``classifier_mask`` ``none``, ``symmetry_mask`` ``own``:
    :data:`selcn.grid.MULTITASK`), except its symmetry predictions
    (``predictions_symmetry_<split>.csv``), which read as a symmetry model's (``stage``
    ``symmetry``, ``variant`` ``multitask``, ``model`` 13).
    """
    text = Path(path).as_posix()
    for stage, pattern in _PATTERNS:
        m = pattern.search(text)
        if m:
            out = {"stage": stage, **{k: v for k, v in m.groupdict().items() if v is not None}}
            if "fold" in out:
                out["fold"] = int(out["fold"])
            sm = re.match(r"predictions_(\w+)\.csv$", out["file"])
            if sm:
                out["split"] = sm.group(1)
            if stage == MULTITASK_NAME:
                return _multitask_keys(out)
            if stage == "lesion":
                out["model"] = Model(out["classifier_mask"], out["symmetry_mask"]).number
            if stage == "symmetry":
                out["model"] = SymmetryVariant.parse(out["variant"]).number
            return out
    raise ValueError(f"{path}: not a result path of the workflow (docs/contracts.md)")


def _multitask_keys(out: dict) -> dict:
    """The keys of a model 13 path (:func:`parse_result_path`)."""
    sym = re.match(r"symmetry_(\w+)$", out.get("split", ""))
    if sym:
        return {**out, "stage": "symmetry", "variant": MULTITASK_NAME, "split": sym.group(1),
                "model": MULTITASK.number}
    return {**out, "stage": "lesion", "classifier_mask": MULTITASK.classifier_mask,
            "symmetry_mask": MULTITASK.cam_source, "model": MULTITASK.number}


def export_dir(dataset: str, selection: str) -> str:
    """``results/export/{dataset}/{selection}``: the bundle of ``selection`` (best | model<N>)."""
    return f"{_root}/export/{dataset}/{selection}"


def predict_dir(dataset: str, selection: str) -> str:
    """``results/predict/{dataset}/{selection}``: ``selcn predict`` of that bundle on
    ``predict.input_dir`` (predictions.csv, index.html, panels/)."""
    return f"{_root}/predict/{dataset}/{selection}"
