# Data stage (thesis 5.1-5.2, Figures 5-6): the synthetic demo set (data.source: synthetic),
# one cache per dataset (decoded, hair-removed, resized once), leakage-free split tables,
# their check, and the two figures of the stage. Inputs: JOBS (selcn.jobs, "---- data").
from selcn.data.overlap import overlap_summary_file, overlaps_file
from selcn.data.preprocess import hair_method, hair_param
from selcn.data.synthetic import dataset_paths
from selcn.grid import DATASETS_WITH_GT_MASKS
from selcn.paths import (
    DATA_CHECK,
    DATA_CHECK_DEEP,
    SPLIT_CHECK,
    SYNTHETIC_ROOT,
    cache_files,
    gt_masks_file,
    split_file,
)

SYNTHETIC = dataset_paths(SYNTHETIC_ROOT)


# PH²'s spreadsheet is an output only when the demo asks for PH² (data.synthetic.n_ph2 > 0)
rule synthetic_data:
    output:
        **({"ph2": SYNTHETIC["ph2"]["xlsx"]} if config["data"]["synthetic"]["n_ph2"] else {}),
        ham10000=SYNTHETIC["ham10000"]["metadata"],
        symderm=SYNTHETIC["symderm"]["csv"],
        isic2019_ground_truth=SYNTHETIC["isic2019"]["ground_truth"],
        isic2019_metadata=SYNTHETIC["isic2019"]["metadata"],
        isic2016_train=SYNTHETIC["isic2016"]["train_ground_truth"],
        isic2016_test=SYNTHETIC["isic2016"]["test_ground_truth"],
    log:
        f"{LOGS}/data/synthetic_data.log",
    conda:
        SELCN_ENV
    threads: 1
    resources:
        **stage_resources("data"),
        runtime=runtime_of("data"),
    params:
        root=lambda w, output: str(Path(output.ham10000).parents[1]),
        seed=config["seed"],
        # n_ph2 only when set: a demo without PH² keeps its recorded params
        synthetic=ordered(
            {k: v for k, v in config["data"]["synthetic"].items() if k != "n_ph2" or v}
        ),
    script:
        "../workflow/scripts/data_synthetic.py"


rule cache_dataset:
    input:
        unpack(lambda w: JOBS.cache_inputs(w.dataset)),
    output:
        images=cache_files("{dataset}")["images"],
        index=cache_files("{dataset}")["index"],
        gt_masks=gt_masks_file("{dataset}"),
    log:
        f"{LOGS}/data/cache_{{dataset}}.log",
    wildcard_constraints:
        dataset=alternation(DATASETS_WITH_GT_MASKS),
    priority: PRIORITY["data"]
    conda:
        SELCN_ENV
    threads: threads_of("data")
    resources:
        **stage_resources("data"),
        runtime=runtime_of("data"),
    params:
        paths=lambda w: ordered(JOBS.data_paths(w.dataset)),
        size=config["data"]["image_size"],
        # the resolved filter (true / false for thesis / off: caches built before stay valid)
        hair_removal=hair_param(config["data"]["hair_removal"], config["protocol"]),
        protocol=config["protocol"],
    script:
        "../workflow/scripts/data_cache.py"


use rule cache_dataset as cache_dataset_without_masks with:
    output:
        images=cache_files("{dataset}")["images"],
        index=cache_files("{dataset}")["index"],
    log:
        f"{LOGS}/data/cache_{{dataset}}.log",
    wildcard_constraints:
        dataset=alternation(d for d in DATASETS if d not in DATASETS_WITH_GT_MASKS),
    # not inherited through `use rule` (its ISIC 2016 cache ran last, holding back the CAMs)
    priority: PRIORITY["data"]


# the overlap guard (selcn.data.overlap): every (test image, training image) of the config's
# pairs found by id, pixels or perceptual hash in the caches, before the split tables
rule find_overlaps:
    input:
        **JOBS.overlap_inputs(),
    output:
        overlaps=overlaps_file(),
    log:
        f"{LOGS}/data/find_overlaps.log",
    priority: PRIORITY["data"]
    conda:
        SELCN_ENV
    threads: 1
    resources:
        **stage_resources("data"),
        runtime=runtime_of("data"),
    params:
        plan=JOBS.overlap_plan().as_params(),
        protocol=config["protocol"],
    script:
        "../workflow/scripts/find_overlaps.py"


rule split_dataset:
    input:
        unpack(lambda w: JOBS.split_inputs(w.dataset)),
        unpack(lambda w: JOBS.split_overlap_inputs(w.dataset)),
    output:
        splits=split_file("{dataset}"),
    log:
        f"{LOGS}/data/split_{{dataset}}.log",
    priority: PRIORITY["data"]
    localrule: True
    conda:
        SELCN_ENV
    params:
        folds=lambda w: JOBS.folds_of(w.dataset),
        test_fraction=config["data"]["test_fraction"],
        seed=config["seed"],
        protocol=config["protocol"],
        overlap_plan=JOBS.overlap_plan().as_params(),
    script:
        "../workflow/scripts/data_splits.py"


rule check_data:
    input:
        # the generator's files first in the demo (one job writes them all)
        synthetic=lambda w: (
            SYNTHETIC["ham10000"]["metadata"] if config["data"]["source"] == "synthetic" else []
        ),
    output:
        table=DATA_CHECK,
    log:
        f"{LOGS}/data/check_data.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        # one block per data.<key> (PH²'s three datasets read data.ph2; SymDerm's with
        # data.symderm.missing: skip, whose missing rows are then counted, not a problem)
        paths=ordered(JOBS.data_check_blocks()),
    script:
        "../workflow/scripts/data_check.py"


# the same check decoding every image and mask with the cache's loader (truncated files, mask
# values, all-empty masks): `snakemake --cores 1 check_data_deep`; a job with the data stage's
# resources (on a cluster not run on the login node: minutes of CPU for HAM10000)
use rule check_data as check_data_deep with:
    output:
        table=DATA_CHECK_DEEP,
    log:
        f"{LOGS}/data/check_data_deep.log",
    localrule: False
    threads: threads_of("data")
    resources:
        **stage_resources("data"),
        runtime=runtime_of("data"),
    params:
        paths=ordered(JOBS.data_check_blocks()),
        deep=True,


rule check_splits:
    input:
        **JOBS.check_splits_inputs(),
        overlaps=overlaps_file(),
    output:
        report=SPLIT_CHECK,
        overlaps=overlap_summary_file(),
    log:
        f"{LOGS}/data/check_splits.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        datasets=list(GRID.datasets),
        protocol=config["protocol"],
        overlap_plan=JOBS.overlap_plan().as_params(),
    script:
        "../workflow/scripts/data_check_splits.py"


rule fig5_hair_removal:
    input:
        unpack(lambda w: JOBS.hair_removal_figure_inputs()),
    output:
        figure=report(
            figure_file("fig5_hair_removal"),
            caption="../workflow/report/fig5_hair_removal.rst",
            category=report_category("Data"),
            subcategory=FIGURES_SUBCATEGORY,
            labels={"figure": "Figure 5", "content": "hair removal"},
        ),
        # per image: the share of the image and of the lesion each hair filter marks
        table=figure_file("fig5_hair_removal", "csv"),
    log:
        f"{LOGS}/data/fig5_hair_removal.log",
    localrule: True
    conda:
        SELCN_ENV
    threads: threads_of("data")
    params:
        paths=ordered(JOBS.data_paths(JOBS.figure_dataset())),
        dataset=JOBS.figure_dataset(),
        n=3,
        seed=config["seed"],
        hair_removal=hair_method(config["data"]["hair_removal"], config["protocol"]),
    script:
        "../workflow/scripts/data_fig5.py"


rule fig6_class_distribution:
    input:
        index=cache_files(JOBS.figure_dataset())["index"],
        splits=split_file(JOBS.figure_dataset()),
        check=SPLIT_CHECK,
    output:
        figure=report(
            figure_file("fig6_class_distribution"),
            caption="../workflow/report/fig6_class_distribution.rst",
            category=report_category("Data"),
            subcategory=FIGURES_SUBCATEGORY,
            labels={"figure": "Figure 6", "content": "class distribution"},
        ),
        counts=figure_file("fig6_class_distribution", "csv"),
    log:
        f"{LOGS}/data/fig6_class_distribution.log",
    localrule: True
    conda:
        SELCN_ENV
    params:
        dataset=JOBS.figure_dataset(),
        target_per_class=config["data"]["balance"]["target_per_class"],
        max_copies=config["data"]["balance"]["max_copies"],
        seed=config["seed"],
    script:
        "../workflow/scripts/data_fig6.py"
