# Export and prediction (use a trained model on new images): `export_model` gathers one grid
# model (the selected segmentation network, the symmetry network whose CAMs it was trained
# with, its K lesion folds, the preprocessing and a manifest) into a self-contained bundle;
# `predict_images` runs `selcn predict` on the folder `predict.input_dir`. The bundle's model is
# `export.model`: a number 1-12, or `best` = the best mean validation macro-F1 over folds
# (predictions_val.csv; the test split is never read). The demo copies a few HAM10000 test
# images into `predict.input_dir` (`predict.demo_images`) and predicts them.
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


def export_dir(dataset, selection):
    return f"{RESULTS}/export/{dataset}/{selection}"


def predict_dir(dataset, selection):
    return f"{RESULTS}/predict/{dataset}/{selection}"


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
    for sm in sorted({m["symmetry_mask"] for m in models} - {"off"}):
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
    """What `rule all` builds of this stage: the bundle of `export.model` and, when
    `predict.input_dir` is set, its predictions on that folder."""
    if not CFG["export"]["enabled"]:
        return []
    d, sel = export_dataset(), export_selection()
    out = [export_dir(d, sel)]
    if predict_enabled():
        out += [f"{predict_dir(d, sel)}/predictions.csv", f"{predict_dir(d, sel)}/index.html"]
    return out


rule export_model:
    input:
        unpack(export_inputs),
    output:
        bundle=directory(export_dir("{lesion_dataset}", "{selection}")),
    log:
        f"{LOGS}/export/export_model_{{lesion_dataset}}_{{selection}}.log",
    wildcard_constraints:
        selection="best|model([1-9]|1[0-2])",
    conda:
        SELCN_ENV
    threads: 1
    resources:
        **stage_resources("data"),
        runtime=runtime_of("data"),
    params:
        models=lambda w: export_models(w.selection),
        folds=list(GRID.lesion_folds),
        image_size=config["data"]["image_size"],
        hair_removal=config["data"]["hair_removal"],
        cam_size=config["symmetry"]["cam_size"],
        cfg=declared(*MODEL_CONFIG_KEYS),
    script:
        "../workflow/scripts/export_model.py"


if demo_predict():

    rule predict_demo_images:
        input:
            splits=split_file("ham10000"),
            metadata=data_paths("ham10000")["metadata"],
        output:
            images=directory(CFG["predict"]["input_dir"]),
        log:
            f"{LOGS}/export/predict_demo_images.log",
        conda:
            SELCN_ENV
        threads: 1
        resources:
            **stage_resources("data"),
            runtime=runtime_of("data"),
        params:
            image_dirs=data_paths("ham10000")["image_dirs"],
            n=CFG["predict"]["demo_images"],
        script:
            "../workflow/scripts/predict_demo_images.py"


if predict_enabled():

    rule predict_images:
        input:
            bundle=export_dir("{lesion_dataset}", "{selection}"),
            images=CFG["predict"]["input_dir"],
        output:
            predictions=f"{predict_dir('{lesion_dataset}', '{selection}')}/predictions.csv",
            gallery=f"{predict_dir('{lesion_dataset}', '{selection}')}/index.html",
            panels=directory(f"{predict_dir('{lesion_dataset}', '{selection}')}/panels"),
        log:
            f"{LOGS}/export/predict_images_{{lesion_dataset}}_{{selection}}.log",
        wildcard_constraints:
            selection="best|model([1-9]|1[0-2])",
        conda:
            SELCN_ENV
        threads: threads_of("cams")
        resources:
            **stage_resources("cams"),
            runtime=runtime_of("cams"),
        params:
            batch_size=config["predict"]["batch_size"],
            strict=config["predict"]["strict"],
            device=config["device"],
        script:
            "../workflow/scripts/predict_images.py"
