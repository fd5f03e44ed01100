# Config bootstrap, wildcard constraints, resources and the stages' input functions. The
# config is validated here (unknown keys are an error that names the key) and filled with its
# defaults; the vocabulary and the grid of wildcard values come from selcn.grid, every result
# path from selcn.paths, and `declared()` is the canonical form of the config a rule uses
# (its `params: cfg=`, which Snakemake's params rerun trigger compares).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from selcn.config import ConfigError, config_params, ordered, validate_config
from selcn.hpo.names import parse_search_name, search_name, search_names
from selcn.grid import (
    CAM_DATASETS,
    CAM_OFF,
    CAM_SOURCES,
    CLASSIFIER_MASKS,
    DATASETS,
    NETWORKS,
    SPLITS,
    SYMMETRY_INPUT_MASKS,
    SymmetryVariant,
    alternation,
    grid,
    selection_split,
    symmetry_variant,
)
from selcn.paths import (
    LOGS,
    RESULTS,
    SEGMENTATION_SELECTED,
    SPLIT_CHECK,
    DATA_CHECK,
    SYNTHETIC_ROOT,
    cache_files,
    cams_file,
    figure_file,
    gt_masks_file,
    hpo_file,
    hpo_work_dir,
    lesion_best_fold_file,
    lesion_dir,
    lesion_fold_file,
    lesion_localisation_file,
    export_dir,
    predict_dir,
    predicted_masks,
    segmentation_file,
    split_file,
    symmetry_arch_file,
    symmetry_best_fold_file,
    symmetry_file,
    symmetry_localisation_file,
    table_file,
)

try:
    CFG = validate_config(config, source="config")
    GRID = grid(CFG)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(CFG)
#: the prediction split every choice of this protocol reads (best folds; selcn.grid)
SELECTION_SPLIT = selection_split(CFG["protocol"])

#: conda environment of all rules (`conda: SELCN_ENV`, used with --sdm conda), relative to rules/
SELCN_ENV = "../envs/selcn.yaml"


wildcard_constraints:
    dataset=alternation(DATASETS),
    lesion_dataset=alternation(GRID.lesion_datasets),
    arch="[A-Za-z0-9_]+",
    variant=SymmetryVariant.pattern(),
    classifier_mask=alternation(CLASSIFIER_MASKS),
    symmetry_mask=alternation(CAM_SOURCES),
    mask=alternation(SYMMETRY_INPUT_MASKS),
    fold="[0-9]+",
    split=alternation(SPLITS),
    network=alternation(NETWORKS),


def declared(*keys):
    """`params: cfg=declared("lesion", "seed")`: the config keys a rule's result depends on, in
    canonical form (sorted keys, resources left out), so that Snakemake's params rerun trigger
    re-plans the rule when one of them changes and never when a config file is reordered."""
    return config_params(CFG, *keys)


def stage_resources(stage):
    """Keyword arguments for `resources:` of a rule of `stage` (runtime grows with attempt)."""
    r = CFG[stage]["resources"]
    out = dict(mem_mb=r["mem_mb"], cpus_per_task=r["cpus"], gpu=r["gpu"])
    if r["gpu_model"]:
        out["gpu_model"] = r["gpu_model"]
    return out


def runtime_of(stage):
    """`runtime` (minutes) of `stage` as a callable of the attempt: retried jobs get more time."""
    base = CFG[stage]["resources"]["runtime"]
    return lambda wildcards, attempt: base * attempt


def threads_of(stage):
    return CFG[stage]["resources"]["cpus"]


#: `priority:` of the rules (Snakemake starts the highest ready job first; a rule's priority is
#: not passed on to the jobs it waits for): the chain every later job waits on first (caches and
#: splits -> segmentation -> masks -> symmetry -> CAMs), then the lesion grid (the longer
#: HAM10000 trainings before ISIC 2016's); the side experiments nothing waits on (the
#: architecture comparison) and the report keep the default 0 and fill the gaps
PRIORITY = {"data": 50, "segmentation": 40, "symmetry": 30, "lesion_external": 20, "lesion": 10}


def hpo_best(network, dataset=None):
    """Input function: the search result of `network` (the lesion one of `dataset`: one
    search per lesion dataset) when hpo is enabled, else nothing."""
    if CFG["hpo"]["enabled"] and network in CFG["hpo"]["networks"]:
        return hpo_file(search_name(network, dataset), "best.json")
    return []


def hpo_searches():
    """The searches of the config (`{network}` of hpo_search): segmentation, symmetry,
    lesion-<dataset> per lesion dataset."""
    return search_names(CFG["hpo"]["networks"], GRID.lesion_datasets)


def hpo_symmetry_mask():
    """The symmetry search trains the baseline: no mask when the grid has it."""
    masks = GRID.symmetry_input_masks
    return "none" if "none" in masks else masks[0]


def hpo_search_data(wildcards):
    """Named inputs of the search of `wildcards.network`: its cache, split table and masks.

    segmentation: HAM10000 with ground-truth masks; symmetry: SymDerm (baseline mask);
    lesion-<dataset>: that lesion dataset, baseline classifier 'none-off' (no mask, no CAM).
    """
    network, dataset = parse_search_name(wildcards.network)
    if network == "segmentation":
        return segmentation_training_data()
    dataset = "symderm" if network == "symmetry" else dataset
    inputs = {**cache_files(dataset), "splits": split_file(dataset)}
    if network == "symmetry" and hpo_symmetry_mask() != "none":
        inputs["masks"] = predicted_masks(dataset)
    return inputs


# ---- weights (rules/weights.smk) ------------------------------------------------------
from selcn.weights import required_weights, weight_file

try:
    WEIGHT_SPECS = {spec.name: spec for spec in required_weights(CFG)}
except ValueError as err:
    raise WorkflowError(str(err)) from None
WEIGHTS_DIR = CFG["weights"]["cache_dir"]


def weights_path(name):
    """The cache file of `name`: the one present (.pth or .safetensors), else the .pth to fetch."""
    return str(weight_file(WEIGHTS_DIR, name) or f"{WEIGHTS_DIR}/{name}.pth")


def pretrained_weights(network, arch=None):
    """Input of the training rules of `network` (and `arch`, for the symmetry comparison) --- the
    cache files it loads, so that a missing one is fetched first; [] without pretraining."""
    return [
        weights_path(name)
        for name, spec in WEIGHT_SPECS.items()
        if spec.network == network and (arch is None or spec.model == arch)
    ]


# ---- data --------------------------------------------------------------------------
_DATA_WARNED = set()


def data_paths(dataset):
    """The published files of `dataset`: config `data.<dataset>`, or the synthetic layout."""
    from selcn.data.synthetic import dataset_paths

    if CFG["data"]["source"] == "synthetic":
        return dataset_paths(SYNTHETIC_ROOT)[dataset]
    return CFG["data"][dataset]


def _data_files(dataset):
    """Named input files of `dataset` (CSV files and image / mask directories)."""
    out = {}
    for key, value in data_paths(dataset).items():
        if isinstance(value, list):
            out.update({f"{key}{i}": v for i, v in enumerate(value)})
        else:
            out[key] = value
    if CFG["data"]["source"] == "synthetic":  # the generator's CSVs stand for its directories
        return {k: v for k, v in out.items() if v.endswith(".csv")}
    missing = [v for v in out.values() if not Path(v).exists()]
    if missing and dataset not in _DATA_WARNED:  # plan anyway (snakemake -n before the
        _DATA_WARNED.add(dataset)  # download); the cache job names the file
        print(
            f"WARNING: data.{dataset}: {len(missing)} path(s) not found, e.g. {missing[0]}",
            file=sys.stderr,
        )
    return {k: v for k, v in out.items() if Path(v).exists()}


def data_inputs(wildcards):
    """Inputs of caching `wildcards.dataset`; symderm and isic2019 also read HAM10000's CSV
    (lesion ids / the image ids the external set must not contain)."""
    out = _data_files(wildcards.dataset)
    if wildcards.dataset in ("symderm", "isic2019"):
        ham = _data_files("ham10000").get("metadata")
        if ham:
            out["ham_metadata"] = ham
    return out


def split_inputs(wildcards):
    """Inputs of the split table of `wildcards.dataset`."""
    out = {"index": cache_files(wildcards.dataset)["index"]}
    if wildcards.dataset in ("symderm", "isic2019"):
        out["ham_splits"] = split_file("ham10000")
    return out


def folds_of(dataset):
    """Cross-validation folds of `dataset`: symmetry folds for SymDerm, lesion folds else."""
    return CFG["symmetry"]["folds"] if dataset == "symderm" else CFG["lesion"]["folds"]


# ---- segmentation -------------------------------------------------------------------
#: the segmentation network trains on this dataset's cache (it has ground-truth masks)
SEGMENTATION_DATASET = "ham10000"


def segmentation_training_data():
    """Named inputs of segmentation training: the cache, its masks and the split table."""
    d = SEGMENTATION_DATASET
    return {
        **cache_files(d),
        "gt_masks": gt_masks_file(d),
        "splits": split_file(d),
    }


# ---- symmetry -----------------------------------------------------------------------
def cam_variant(cam_source):
    """The symmetry model (Table 6 row) whose CAMs feed lesion models of `cam_source`."""
    return symmetry_variant(cam_source, CFG["symmetry"]["pretrained"])


#: the symmetry network trains on SymDerm; its CAMs are localised on this dataset's test split
SYMMETRY_DATASET = "symderm"
SYMMETRY_LOCALISATION_DATASET = "ham10000"


def symmetry_data(dataset, mask):
    """Named inputs of a symmetry job on `dataset`: cache, split table, masks for seg / lae."""
    inputs = {**cache_files(dataset), "splits": split_file(dataset)}
    if mask != "none":
        inputs["masks"] = predicted_masks(dataset)
    return inputs


def symmetry_training_inputs(wildcards):
    """Input function of `train_symmetry` (variant) and `train_symmetry_arch` (arch, no mask)."""
    if hasattr(wildcards, "variant"):
        variant = SymmetryVariant.parse(wildcards.variant)
        mask, pretrained = variant.mask, variant.pretrained
        arch = CFG["symmetry"]["architecture"]
    else:
        mask, pretrained, arch = "none", CFG["symmetry"]["pretrained"], wildcards.arch
    inputs = symmetry_data(SYMMETRY_DATASET, mask)
    hpo = hpo_best("symmetry")
    if hpo:
        inputs["hpo"] = hpo
    if pretrained:
        inputs["weights"] = pretrained_weights("symmetry", arch)
    return inputs


def symmetry_best_inputs(variant):
    """`best_fold.json` and every fold's `model.pt` of `variant` (the job loads the best)."""
    return {
        "best": symmetry_best_fold_file(variant),
        "models": [symmetry_file(variant, k, "model.pt") for k in GRID.symmetry_folds],
    }


def symmetry_cams_inputs(wildcards):
    """Input function of `symmetry_cams`: the CAM model of `mask` and the cache of every CAM
    dataset (`images_<d>`, `index_<d>`, and `masks_<d>` for a masked variant)."""
    inputs = dict(symmetry_best_inputs(cam_variant(wildcards.mask)))
    for d in GRID.cam_datasets:
        files = cache_files(d)
        inputs[f"images_{d}"], inputs[f"index_{d}"] = files["images"], files["index"]
        if wildcards.mask != "none":
            inputs[f"masks_{d}"] = predicted_masks(d)
    return inputs


def symmetry_localisation_inputs(wildcards):
    """Input function of `symmetry_localisation`: the variant's best model and the HAM10000
    cache with its ground-truth masks and split table."""
    d = SYMMETRY_LOCALISATION_DATASET
    return {
        **symmetry_data(d, SymmetryVariant.parse(wildcards.variant).mask),
        "gt_masks": gt_masks_file(d),
        **symmetry_best_inputs(wildcards.variant),
    }


def symmetry_figure9_inputs():
    """Inputs of `fig9_symmetry_cams`: SymDerm's cache, split table and masks, and the best
    model of every masking strategy's CAM variant."""
    needs_masks = any(m != "none" for m in GRID.symmetry_input_masks)
    inputs = symmetry_data(SYMMETRY_DATASET, "seg" if needs_masks else "none")
    for m in GRID.symmetry_input_masks:
        best = symmetry_best_inputs(cam_variant(m))
        inputs[f"best_{m}"] = best["best"]
        inputs[f"models_{m}"] = best["models"]
    return inputs


# ---- lesion -------------------------------------------------------------------------
def lesion_prediction_files(dataset, split):
    """Every model x fold prediction file of `dataset` for `split` (val|test|isic2019)."""
    return [
        lesion_fold_file(
            dataset, m["classifier_mask"], m["symmetry_mask"], k, f"predictions_{split}.csv"
        )
        for m in GRID.models()
        for k in GRID.lesion_folds
    ]


#: lesion CAMs are localised on this dataset's test split (the one with ground-truth masks);
#: ISIC 2016 models too, as the thesis' Table 15 does
LESION_LOCALISATION_DATASET = "ham10000"
#: ISIC 2019 (HAM10000 ids removed) is the external test set of the HAM10000 models
LESION_EXTERNAL = GRID.external_of


def lesion_inputs(dataset, classifier_mask, symmetry_mask):
    """Named inputs a lesion model needs on `dataset`: cache, splits, masks, symmetry CAMs."""
    inputs = {**cache_files(dataset), "splits": split_file(dataset)}
    if classifier_mask != "none":
        inputs["masks"] = predicted_masks(dataset)
    if symmetry_mask != CAM_OFF:
        inputs["cams"] = cams_file(symmetry_mask, dataset)
    return inputs


def lesion_fold_outputs():
    """The named outputs of one lesion fold's training job (model, history, val/test
    predictions), shared by `train_lesion` and `train_lesion_external`."""
    return {
        name: lesion_fold_file(
            "{lesion_dataset}", "{classifier_mask}", "{symmetry_mask}", "{fold}", file
        )
        for name, file in (
            ("model", "model.pt"),
            ("history", "history.csv"),
            ("predictions_val", "predictions_val.csv"),
            ("predictions_test", "predictions_test.csv"),
        )
    }


def lesion_training_inputs(wildcards):
    """Input function of `train_lesion`."""
    inputs = lesion_inputs(
        wildcards.lesion_dataset, wildcards.classifier_mask, wildcards.symmetry_mask
    )
    hpo = hpo_best("lesion", wildcards.lesion_dataset)
    if hpo:
        inputs["hpo"] = hpo
    return inputs


def lesion_external_inputs(wildcards):
    """The external test set's inputs of a lesion model (`train_lesion_external`), as
    `ext_images`, `ext_index`, `ext_splits`, `ext_masks`, `ext_cams`."""
    ext = LESION_EXTERNAL[wildcards.lesion_dataset]
    inputs = lesion_inputs(ext, wildcards.classifier_mask, wildcards.symmetry_mask)
    return {f"ext_{k}": v for k, v in inputs.items()}


def lesion_localisation_inputs(wildcards):
    """Input function of `lesion_localisation` (one grid cell, every lesion dataset): the
    reference dataset's cache with ground-truth masks (+ the masks / CAMs the cell needs), and
    per lesion dataset `d` every fold's model (`models_<d>`) and selection predictions
    (`predictions_<d>`)."""
    cm, sm = wildcards.classifier_mask, wildcards.symmetry_mask
    ref = LESION_LOCALISATION_DATASET
    inputs = {**lesion_inputs(ref, cm, sm), "gt_masks": gt_masks_file(ref)}
    for d in GRID.lesion_datasets:
        inputs[f"models_{d}"] = [
            lesion_fold_file(d, cm, sm, k, "model.pt") for k in GRID.lesion_folds
        ]
        inputs[f"predictions_{d}"] = [
            lesion_fold_file(d, cm, sm, k, f"predictions_{SELECTION_SPLIT}.csv")
            for k in GRID.lesion_folds
        ]
    return inputs


def lesion_localisation_outputs():
    """The named outputs of `lesion_localisation`: per lesion dataset `d` its
    `localisation_<d>` (localisation.csv) and `best_<d>` (best_fold.json)."""
    out = {}
    for d in GRID.lesion_datasets:
        out[f"localisation_{d}"] = lesion_localisation_file(
            d, "{classifier_mask}", "{symmetry_mask}"
        )
        out[f"best_{d}"] = lesion_best_fold_file(d, "{classifier_mask}", "{symmetry_mask}")
    return out


def lesion_figure10_inputs(wildcards=None):
    """Input function of `fig10_lesion_cams`: every HAM10000 model (all folds + best_fold.json),
    the HAM10000 cache, its predicted masks and every symmetry CAM file the grid uses."""
    ref = LESION_LOCALISATION_DATASET
    inputs = {**cache_files(ref), "splits": split_file(ref), "gt_masks": gt_masks_file(ref)}
    if any(cm != "none" for cm in GRID.classifier_masks):
        inputs["masks"] = predicted_masks(ref)
    for sm in GRID.cam_sources:
        if sm != CAM_OFF:
            inputs[f"cams_{sm}"] = cams_file(sm, ref)
    inputs["best"] = [
        lesion_best_fold_file(ref, m["classifier_mask"], m["symmetry_mask"]) for m in GRID.models()
    ]
    inputs["models"] = [
        lesion_fold_file(ref, m["classifier_mask"], m["symmetry_mask"], k, "model.pt")
        for m in GRID.models()
        for k in GRID.lesion_folds
    ]
    return inputs


# ---- export (rules/export.smk) ----------------------------------------------------------
#: the config sections a trained model depends on (its manifest's config_hash; resources left out)
MODEL_CONFIG_KEYS = (
    "protocol",
    "seed",
    "data",
    "weights",
    "segmentation",
    "symmetry",
    "lesion",
    "hpo",
)


def export_selection():
    """Bundle folder name of `export.model`: `best` or `model<N>`."""
    m = CFG["export"]["model"]
    return "best" if m == "best" else f"model{int(m)}"


def export_dataset():
    """The lesion dataset whose model is exported (`export.dataset`, default the first)."""
    d = CFG["export"]["dataset"] or GRID.lesion_datasets[0]
    if d not in GRID.lesion_datasets:
        raise WorkflowError(
            f"export.dataset: {d!r} is not in lesion.datasets "
            f"({', '.join(GRID.lesion_datasets)})"
        )
    return d


def export_models(selection):
    """The grid models an export of `selection` reads: all of them for `best`, else one."""
    if selection == "best":
        return GRID.models()
    number = int(selection.removeprefix("model"))
    hits = [m for m in GRID.models() if m["number"] == number]
    if not hits:
        raise WorkflowError(
            f"export.model: model {number} is not in this config's grid "
            f"(models {', '.join(str(m['number']) for m in GRID.models())})"
        )
    return hits


def export_inputs(wildcards):
    """Input function of `export_model`: segmentation selection and models, per candidate lesion
    model its fold models and validation predictions, the symmetry variants' best folds."""
    d, models = wildcards.lesion_dataset, export_models(wildcards.selection)
    inputs = {
        "selected": SEGMENTATION_SELECTED,
        "segmentation": [segmentation_file(a, "model.pt") for a in GRID.seg_archs],
    }
    for m in models:
        cm, sm, key = m["classifier_mask"], m["symmetry_mask"], f"model{m['number']}"
        inputs[f"{key}_folds"] = [
            lesion_fold_file(d, cm, sm, k, "model.pt") for k in GRID.lesion_folds
        ]
        inputs[f"{key}_val"] = [
            lesion_fold_file(d, cm, sm, k, "predictions_val.csv") for k in GRID.lesion_folds
        ]
    for sm in sorted({m["symmetry_mask"] for m in models} - {CAM_OFF}):
        best = symmetry_best_inputs(cam_variant(sm))
        inputs[f"symmetry_{sm}_best"] = best["best"]
        inputs[f"symmetry_{sm}_models"] = best["models"]
    return inputs


def demo_predict():
    """The demo's prediction: `predict.demo_images` copied from the synthetic HAM10000 test
    split into `predict.input_dir` (synthetic data only)."""
    p = CFG["predict"]
    return bool(p["input_dir"] and p["demo_images"] and CFG["data"]["source"] == "synthetic")


def predict_enabled():
    """`predict_images` exists: a folder is named and it is the user's own (demo_images 0) or
    the demo's; a demo folder inherited by a real-data config (paper.yaml) plans nothing."""
    p = CFG["predict"]
    return bool(p["input_dir"]) and (not p["demo_images"] or demo_predict())


def export_targets():
    """The targets of this stage (inputs of the all rule): the bundle of `export.model` and, when
    `predict.input_dir` is set, its predictions on that folder."""
    if not CFG["export"]["enabled"]:
        return []
    d, sel = export_dataset(), export_selection()
    out = [export_dir(d, sel)]
    if predict_enabled():
        out += [f"{predict_dir(d, sel)}/predictions.csv", f"{predict_dir(d, sel)}/index.html"]
    return out


# ---- targets ------------------------------------------------------------------------
# Input functions of the report's aggregation rules (rules/report.smk): per-model files only.
def symmetry_prediction_files(split):
    """Every Table 6 variant x fold symmetry prediction file for `split` (val|test)."""
    return [
        symmetry_file(v, k, f"predictions_{split}.csv")
        for v in GRID.symmetry_variants
        for k in GRID.symmetry_folds
    ]


def symmetry_arch_prediction_files(split):
    """Every architecture x fold prediction file of the symmetry architecture comparison; the
    stage's own architecture reads its Table 6 variant `<init>-none` (the same training)."""
    variant_of = dict(GRID.symmetry_arch_variants)
    return [
        (
            symmetry_file(variant_of[a], k, f"predictions_{split}.csv")
            if a in variant_of
            else symmetry_arch_file(a, k, f"predictions_{split}.csv")
        )
        for a in GRID.symmetry_archs
        for k in GRID.symmetry_folds
    ]


def symmetry_localisation_files():
    """Table 7: the HAM10000 CAM localisation of each symmetry model that feeds the lesion stage."""
    return [symmetry_localisation_file(cam_variant(m)) for m in GRID.symmetry_input_masks]


def lesion_localisation_files(dataset):
    """Tables 9 / 15: the per-image CAM localisation of every lesion model (best fold)."""
    return [
        lesion_localisation_file(dataset, m["classifier_mask"], m["symmetry_mask"])
        for m in GRID.models()
    ]


def lesion_model_files(dataset, number, name):
    """`name` (e.g. `predictions_test.csv`) of every fold of lesion model `number` (1-12)."""
    hits = [m for m in GRID.models() if m["number"] == int(number)]
    if not hits:
        raise WorkflowError(f"lesion model {number} is not in this config's grid")
    m = hits[0]
    return [
        lesion_fold_file(dataset, m["classifier_mask"], m["symmetry_mask"], k, name)
        for k in GRID.lesion_folds
    ]


def lesion_history_files(dataset, fold=0):
    """Figures 11-13: `history.csv` of fold `fold` of every lesion model."""
    return [
        lesion_fold_file(dataset, m["classifier_mask"], m["symmetry_mask"], fold, "history.csv")
        for m in GRID.models()
    ]


def all_targets():
    """Everything `rule all` builds, i.e. every table and figure of the report (TABLES, FIGURES
    the report registry of rules/report.smk)."""
    return [table_file(name, "html") for name in TABLES] + [figure_file(name) for name in FIGURES]
