# Symmetry stage (thesis 4.1.2, 5.2 experiment 2, 5.3.2; Tables 6a/6b/7, Figure 9):
# SqueezeNet (torchvision) on SymDerm, 2 classes, weighted cross-entropy, input masked by the
# variant's strategy; 3-fold CV over {variant} (Table 6 rows) and, switchable, over {arch}
# (the architecture comparison). The best fold of each CAM variant explains every image the
# lesion stage sees (Grad-CAM++, target = predicted class) and is localised on HAM10000.
# Tables 6a/6b/6c/7 are aggregated by the report stage from these files; Figure 9: the stage
# job `symmetry_figure_cams` computes the CAMs it shows, `fig9_symmetry_cams` draws them.
# Inputs: JOBS (selcn.jobs, "---- symmetry").
from selcn.paths import (
    SYMMETRY_FIGURE_DATA,
    symmetry_arch_file,
    symmetry_best_fold_file,
    variant_pattern,
)

# One rule per path shape (selcn.grid.Shape): the Table 6 variants as the thesis trains them
# (`train_symmetry`); under `segmentation.mode: axis` a masked variant once per segmenter
# (`train_symmetry_by_segmenter`, results/symmetry/{variant}/{segmenter}/fold{k}/); under
# `hpo.scope: per_model` the CAM variants trained with their own mask's search (`..._per_model`,
# a `per_model` folder). Inputs and outputs: JOBS.
for shape in GRID.shapes(GRID.trained_variants()):

    rule:
        name:
            f"train_symmetry{shape.suffix}"
        input:
            unpack(lambda w: JOBS.symmetry_training_inputs(variant_of(w))),
            checks=JOBS.training_checks(),
        output:
            **JOBS.symmetry_training_outputs(shape),
        log:
            f"{LOGS}/symmetry/train_{{variant}}{shape.tag}_fold{{fold}}.log",
        wildcard_constraints:
            **JOBS.symmetry_constraints(GRID.trained_variants(shape)),
            fold=alternation(GRID.symmetry_folds),
        priority: PRIORITY["symmetry"]
        conda:
            SELCN_ENV
        threads: threads_of("symmetry")
        resources:
            **stage_resources("symmetry"),
            runtime=runtime_of("symmetry"),
        params:
            cfg=declared("symmetry", "seed", "protocol"),
        script:
            "../workflow/scripts/symmetry_train.py"


rule train_symmetry_arch:
    input:
        unpack(lambda w: JOBS.symmetry_arch_training_inputs(w.arch)),
        checks=JOBS.training_checks(),
    output:
        model=symmetry_arch_file("{arch}", "{fold}", "model.pt"),
        history=symmetry_arch_file("{arch}", "{fold}", "history.csv"),
        predictions_val=symmetry_arch_file("{arch}", "{fold}", "predictions_val.csv"),
        predictions_test=symmetry_arch_file("{arch}", "{fold}", "predictions_test.csv"),
    log:
        f"{LOGS}/symmetry/train_arch_{{arch}}_fold{{fold}}.log",
    wildcard_constraints:
        arch=alternation(GRID.symmetry_arch_trained) or "no-architecture-comparison",
        fold=alternation(GRID.symmetry_folds),
    conda:
        SELCN_ENV
    threads: threads_of("symmetry")
    resources:
        **stage_resources("symmetry"),
        runtime=runtime_of("symmetry"),
    params:
        cfg=declared("symmetry", "seed", "protocol"),
    script:
        "../workflow/scripts/symmetry_train.py"


for shape in GRID.shapes(GRID.cam_exports()):

    rule:
        name:
            f"best_symmetry_fold{shape.suffix}"
        input:
            predictions=lambda w: JOBS.symmetry_selection_files(variant_of(w)),
        output:
            best=symmetry_best_fold_file(variant_pattern(shape)),
        log:
            f"{LOGS}/symmetry/best_fold_{{variant}}{shape.tag}.log",
        wildcard_constraints:
            **JOBS.symmetry_constraints(GRID.trained_variants(shape)),
        priority: PRIORITY["symmetry"]
        localrule: True
        conda:
            SELCN_ENV
        params:
            folds=list(GRID.symmetry_folds),
            protocol=config["protocol"],
        script:
            "../workflow/scripts/symmetry_best_fold.py"

    rule:
        name:
            f"symmetry_cams{shape.suffix}"
        input:
            unpack(
                lambda w: JOBS.symmetry_cams_inputs(
                    GRID.cam_variant(w.mask, w.get("segmenter"), w.get("search", SHARED))
                )
            ),
        output:
            **JOBS.symmetry_cams_outputs(shape=shape),
        log:
            f"{LOGS}/symmetry/cams_{{mask}}{shape.tag}.log",
        wildcard_constraints:
            **JOBS.cams_constraints(GRID.cam_exports(shape)),
        priority: PRIORITY["symmetry"]
        conda:
            SELCN_ENV
        threads: threads_of("cams")
        resources:
            **stage_resources("cams"),
            runtime=runtime_of("cams"),
        params:
            datasets=list(GRID.cam_datasets),
            cam_size=config["symmetry"]["cam_size"],
            batch_size=config["cams"]["batch_size"],
            num_workers=config["symmetry"]["train"]["num_workers"],
            cfg=declared("symmetry", "cams"),
        script:
            "../workflow/scripts/symmetry_cams.py"


# Table 7 (and the CAM regions): the reported variants only (the reference segmenter's)
for shape in GRID.shapes(GRID.reported_variants()):

    rule:
        name:
            f"symmetry_localisation{shape.suffix}"
        input:
            unpack(lambda w: JOBS.symmetry_localisation_inputs(variant_of(w))),
        output:
            localisation=JOBS.symmetry_localisation_output(shape=shape),
        log:
            f"{LOGS}/symmetry/localisation_{{variant}}{shape.tag}.log",
        wildcard_constraints:
            **JOBS.symmetry_constraints(GRID.reported_variants(shape)),
        conda:
            SELCN_ENV
        threads: threads_of("cams")
        resources:
            **stage_resources("cams"),
            runtime=runtime_of("cams"),
        params:
            cams=ordered(config["cams"]),
            num_workers=config["symmetry"]["train"]["num_workers"],
            protocol=config["protocol"],
        script:
            "../workflow/scripts/symmetry_localisation.py"


rule symmetry_figure_cams:
    input:
        **JOBS.symmetry_figure_inputs(),
    output:
        data=SYMMETRY_FIGURE_DATA,
    log:
        f"{LOGS}/symmetry/figure_cams.log",
    conda:
        SELCN_ENV
    threads: threads_of("cams")
    resources:
        **stage_resources("cams"),
        runtime=runtime_of("cams"),
    params:
        variants=JOBS.symmetry_figure_variants(),
        n_per_class=2,
    script:
        "../workflow/scripts/symmetry_figure_cams.py"


rule fig9_symmetry_cams:
    input:
        data=SYMMETRY_FIGURE_DATA,
    output:
        figure=report(
            figure_file("fig9_symmetry_cams"),
            caption="../workflow/report/fig9_symmetry_cams.rst",
            category=report_category("Symmetry"),
            subcategory=FIGURES_SUBCATEGORY,
            labels={"figure": "Figure 9", "content": "Grad-CAM++ per masking strategy"},
        ),
    log:
        f"{LOGS}/symmetry/fig9_symmetry_cams.log",
    localrule: True
    conda:
        SELCN_ENV
    script:
        "../workflow/scripts/symmetry_fig9.py"
