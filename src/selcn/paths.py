"""The path layout of the workflow's results (``docs/contracts.md``): one builder per kind of
file, and :func:`parse_result_path`, which reads the wildcards back from a built path.

Builders take wildcard values (or Snakemake patterns such as ``"{fold}"``) and return paths
relative to the working directory, under :data:`RESULTS`::

    lesion_fold_file("ham10000", Model("seg", "lae"), Fold(2), "predictions_test.csv")
    # -> "results/lesion/ham10000/seg-lae/fold2/predictions_test.csv"
    parse_result_path(_)["model"]   # -> 8

A lesion model is a :class:`selcn.grid.Model` or its folder pattern (:data:`MODEL_PATTERN` in a
rule); a fold a :class:`selcn.grid.Fold`, an ``int`` or the ``"{fold}"`` pattern.
"""

from __future__ import annotations

import re
from pathlib import Path

from selcn.grid import CAM_SOURCES, MASKS, Fold, Model, SymmetryVariant, alternation

__all__ = [
    "RESULTS", "LOGS", "SYNTHETIC_ROOT", "SPLIT_CHECK", "DATA_CHECK", "DATA_CHECK_DEEP",
    "DEMO_PREDICT_INPUT", "SEGMENTATION_SELECTED",
    "cache_files", "gt_masks_file", "split_file", "predicted_masks", "segmentation_file",
    "cams_file", "symmetry_file", "symmetry_arch_file", "symmetry_best_fold_file",
    "symmetry_localisation_file", "lesion_dir", "lesion_fold_file", "lesion_localisation_file",
    "lesion_best_fold_file", "hpo_file", "hpo_work_dir", "table_file", "figure_file",
    "export_dir", "predict_dir", "parse_result_path", "MODEL_PATTERN", "fold_dir",
    "SYMMETRY_FIGURE_DATA", "LESION_FIGURE_DATA", "SEGMENTATION_FIGURE_DATA",
]

#: root of every result (relative to Snakemake's working directory)
RESULTS = "results"
#: one log per job, under here
LOGS = f"{RESULTS}/logs"
#: where the synthetic demo data is written (``data.source: synthetic``)
SYNTHETIC_ROOT = f"{RESULTS}/data"
#: the leakage check of every split table
SPLIT_CHECK = f"{RESULTS}/splits/leakage_check.json"
#: what `snakemake check_data` found: one row per configured dataset
DATA_CHECK = f"{RESULTS}/data_check.csv"
#: what `snakemake check_data_deep` found (every image and mask decoded)
DATA_CHECK_DEEP = f"{RESULTS}/data_check_deep.csv"
#: the demo's "new" images (`predict.demo_images` HAM10000 test images copied by the rule
#: `predict_demo_images`); the only folder of images the workflow writes
DEMO_PREDICT_INPUT = f"{RESULTS}/predict/demo_input"
#: the folder of a lesion model in a rule's path patterns (:class:`selcn.grid.Model`'s name)
MODEL_PATTERN = "{classifier_mask}-{symmetry_mask}"
#: what Figure 9 shows, written by the symmetry stage (inputs as seen, CAMs, predictions)
SYMMETRY_FIGURE_DATA = f"{RESULTS}/symmetry/figure9_cams.npz"
#: what Figure 10 shows, written by the lesion stage (one image's CAM of every model)
LESION_FIGURE_DATA = f"{RESULTS}/lesion/figure10_cams.npz"
#: what Figure 3 shows, written by the segmentation stage (test images and their masks)
SEGMENTATION_FIGURE_DATA = f"{RESULTS}/segmentation/figure3_masks.npz"
#: which segmentation architecture masks the later stages
SEGMENTATION_SELECTED = f"{RESULTS}/segmentation/selected.json"


def fold_dir(fold: Fold | int | str) -> str:
    """``fold<k>``: the folder of a fold (a :class:`Fold`, an int or the ``"{fold}"`` pattern)."""
    return fold.name if isinstance(fold, Fold) else f"fold{fold}"


# ---- data ---------------------------------------------------------------------------------
def cache_files(dataset: str) -> dict[str, str]:
    """``images`` (``(N, H, W, 3)`` uint8 ``.npy``) and ``index`` (CSV) of a dataset's cache."""
    return {"images": f"{RESULTS}/cache/{dataset}/images.npy",
            "index": f"{RESULTS}/cache/{dataset}/index.csv"}


def gt_masks_file(dataset: str) -> str:
    """The cached ground-truth lesion masks (``(N, H, W)`` uint8) of a dataset that has them."""
    return f"{RESULTS}/cache/{dataset}/gt_masks.npy"


def split_file(dataset: str) -> str:
    """The split table (``image_id, label, target, group, split``) of ``dataset``."""
    return f"{RESULTS}/splits/{dataset}.csv"


# ---- segmentation -------------------------------------------------------------------------
def predicted_masks(dataset: str) -> str:
    """The selected segmentation network's masks of every cached image of ``dataset``."""
    return f"{RESULTS}/masks/{dataset}.npy"


def segmentation_file(arch: str, name: str) -> str:
    """``model.pt``, ``history.csv`` or ``metrics_test.csv`` of segmentation ``arch``."""
    return f"{RESULTS}/segmentation/{arch}/{name}"


# ---- symmetry -----------------------------------------------------------------------------
def cams_file(cam_source: str, dataset: str) -> str:
    """Grad-CAM++ maps (``(N, s, s)`` float16) of the symmetry model of ``cam_source``."""
    return f"{RESULTS}/cams/{cam_source}/{dataset}.npy"


def symmetry_file(variant: SymmetryVariant | str, fold: Fold | int | str, name: str) -> str:
    """``model.pt``, ``history.csv``, ``predictions_{val,test}.csv`` of a variant x fold."""
    return f"{RESULTS}/symmetry/{variant}/{fold_dir(fold)}/{name}"


def symmetry_arch_file(arch: str, fold: Fold | int | str, name: str) -> str:
    """The same files for the symmetry architecture comparison."""
    return f"{RESULTS}/symmetry_arch/{arch}/{fold_dir(fold)}/{name}"


def symmetry_best_fold_file(variant: SymmetryVariant | str) -> str:
    return f"{RESULTS}/symmetry/{variant}/best_fold.json"


def symmetry_localisation_file(variant: SymmetryVariant | str) -> str:
    """Per-image CAM localisation of a variant's best fold on the HAM10000 test split."""
    return f"{RESULTS}/symmetry/{variant}/localisation_ham10000.csv"


# ---- lesion -------------------------------------------------------------------------------
def lesion_dir(dataset: str, model: Model | str) -> str:
    """The directory of one lesion model on ``dataset`` (all its folds)."""
    return f"{RESULTS}/lesion/{dataset}/{model}"


def lesion_fold_file(dataset: str, model: Model | str, fold: Fold | int | str, name: str) -> str:
    """``model.pt``, ``history.csv``, ``predictions_{val,test,isic2019}.csv`` of one fold."""
    return f"{lesion_dir(dataset, model)}/{fold_dir(fold)}/{name}"


def lesion_localisation_file(dataset: str, model: Model | str) -> str:
    return f"{lesion_dir(dataset, model)}/localisation.csv"


def lesion_best_fold_file(dataset: str, model: Model | str) -> str:
    return f"{lesion_dir(dataset, model)}/best_fold.json"


# ---- hyper-parameter search, report -------------------------------------------------------
def hpo_file(network: str, name: str) -> str:
    """``best.json`` or ``trials.csv`` of the search of ``network``."""
    return f"{RESULTS}/hpo/{network}/{name}"


def hpo_work_dir(network: str) -> str:
    """The finished trials of a search (kept when a job fails, not an output)."""
    return f"{RESULTS}/hpo/{network}/.search"


def table_file(name: str, ext: str) -> str:
    """``results/tables/<name>.<ext>`` (``csv`` or ``html``)."""
    return f"{RESULTS}/tables/{name}.{ext}"


def figure_file(name: str, ext: str = "png") -> str:
    return f"{RESULTS}/figures/{name}.{ext}"


# ---- parsing ------------------------------------------------------------------------------
_FOLD = r"(?:fold(?P<fold>\d+)/)?"
_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("lesion", re.compile(
        rf"lesion/(?P<dataset>[^/]+)/(?P<classifier_mask>{alternation(MASKS)})-"
        rf"(?P<symmetry_mask>{alternation(CAM_SOURCES)})/{_FOLD}(?P<file>[^/]+)$")),
    ("symmetry_arch", re.compile(
        r"symmetry_arch/(?P<arch>[^/]+)/fold(?P<fold>\d+)/(?P<file>[^/]+)$")),
    ("symmetry", re.compile(
        rf"symmetry/(?P<variant>{SymmetryVariant.pattern()})/{_FOLD}(?P<file>[^/]+)$")),
    ("segmentation", re.compile(r"segmentation/(?P<arch>[^/]+)/(?P<file>[^/]+)$")),
)


def parse_result_path(path: str | Path) -> dict:
    """The wildcards of a result path of a model, e.g.
    ``.../lesion/ham10000/seg-lae/fold2/predictions_test.csv`` -> ``{"stage": "lesion",
    "dataset": "ham10000", "classifier_mask": "seg", "symmetry_mask": "lae", "fold": 2,
    "file": "predictions_test.csv", "split": "test", "model": 8}``.

    ``model`` is the thesis' number (lesion 1-12; symmetry the Table 6 row, None for a variant
    the thesis did not train); ``split`` is read from ``predictions_<split>.csv``. Any prefix
    before the stage directory is allowed. Raises ValueError for any other path.
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
            if stage == "lesion":
                out["model"] = Model(out["classifier_mask"], out["symmetry_mask"]).number
            if stage == "symmetry":
                out["model"] = SymmetryVariant.parse(out["variant"]).number
            return out
    raise ValueError(f"{path}: not a result path of the workflow (docs/contracts.md)")


def export_dir(dataset: str, selection: str) -> str:
    """``results/export/{dataset}/{selection}``: the bundle of ``selection`` (best | model<N>)."""
    return f"{RESULTS}/export/{dataset}/{selection}"


def predict_dir(dataset: str, selection: str) -> str:
    """``results/predict/{dataset}/{selection}``: ``selcn predict`` of that bundle on
    ``predict.input_dir`` (predictions.csv, index.html, panels/)."""
    return f"{RESULTS}/predict/{dataset}/{selection}"
