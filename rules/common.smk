# Config bootstrap, wildcard constraints, resources and the file maps of the rules. The config is
# validated here (unknown keys are an error that names the key) and filled with its defaults;
# the vocabulary and the grid of wildcard values come from selcn.grid, the input / output files
# of every job from selcn.jobs (JOBS, built once: torch-free, tested without Snakemake), every
# path from selcn.paths, under the config's results_dir (set here, before any path is built); `declared()` is the canonical form of the config a rule uses (its
# `params: cfg=`, which Snakemake's params rerun trigger compares).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from selcn.cluster import check_profile_resources
from selcn.config import ConfigError, config_params, ordered, validate_config
from selcn.grid import (
    CAM_SOURCES,
    DATASETS,
    MASKS,
    NETWORKS,
    PER_MODEL,
    SEGMENTERS,
    SHARED,
    SPLITS,
    Model,
    SymmetryVariant,
    alternation,
)
from selcn.jobs import ExportSelection, Jobs
from selcn.paths import use_results_dir
from selcn.protocol import policy
from selcn.report.registry import FIGURES_SUBCATEGORY, datasets_resolved, report_category

try:
    CFG = validate_config(config, source="config")
    use_results_dir(CFG["results_dir"])
    JOBS = Jobs.of(CFG)
    #: the targets of the export stage (`rule all`); checks export.dataset / export.model
    EXPORT_TARGETS = JOBS.export_targets()
    # the SLURM profile's account / partition placeholders ($SELCN_SLURM_...) must be set;
    # checked here, while the Snakefile is read, so that `snakemake -n` refuses too
    check_profile_resources(
        {
            name: getattr(res, "raw", res)
            for name, res in (workflow.resource_settings.default_resources or {}).items()
        }
    )
except (ConfigError, ValueError) as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(CFG)
# the protocol's policy for the caption templates; not part of CFG, so no `declared()` params
config["protocol_policy"] = policy(CFG["protocol"]).as_dict()
# the report's first page: the datasets read and their images per class (once cached), and
# SymDerm's rows left out by source (data.symderm.missing: skip)
config["data_summary"] = JOBS.data_summary()
config["data_left_out"] = JOBS.data_left_out()
# the datasets of the roles for the caption templates (Tables 5-9 name the role's dataset)
config["datasets_resolved"] = datasets_resolved(CFG)
GRID = JOBS.grid

# the path constants follow results_dir: imported once it is set
from selcn.paths import LOGS, MODEL_PATTERN, RESULTS, figure_file

#: conda environment of all rules (`conda: SELCN_ENV`, used with --sdm conda), relative to rules/
SELCN_ENV = "../envs/selcn.yaml"


wildcard_constraints:
    dataset=alternation(DATASETS),
    lesion_dataset=alternation(GRID.lesion_datasets),
    arch="[A-Za-z0-9_]+",
    variant=SymmetryVariant.pattern(),
    classifier_mask=alternation(MASKS),
    symmetry_mask=alternation(CAM_SOURCES),
    mask=alternation(MASKS),
    fold="[0-9]+",
    split=alternation(SPLITS),
    network=alternation(NETWORKS),
    segmenter=alternation(SEGMENTERS),
    search=PER_MODEL,


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
#: trainings that also predict an external test set, HAM10000's, before ISIC 2016's); the side
#: experiments nothing waits on (the architecture comparison) and the report keep the default 0
#: and fill the gaps
PRIORITY = {"data": 50, "segmentation": 40, "symmetry": 30, "lesion_external": 20, "lesion": 10}


# ---- wildcards -> values of the vocabulary (the edge: JOBS takes parsed values) ------------
def model_of(wildcards):
    """The lesion model of a job's `{classifier_mask}-{symmetry_mask}` wildcards (and its
    `{segmenter}` / `{search}` folders, in the rules of those shapes)."""
    return Model(
        wildcards.classifier_mask,
        wildcards.symmetry_mask,
        wildcards.get("segmenter"),
        wildcards.get("search", SHARED),
    )


def variant_of(wildcards):
    """The symmetry variant of a job's `{variant}` wildcard (with its `{segmenter}` /
    `{search}` folders, in the rules of those shapes)."""
    v = SymmetryVariant.parse(wildcards.variant)
    return SymmetryVariant(
        v.pretrained, v.mask, wildcards.get("segmenter"), wildcards.get("search", SHARED)
    )


def selection_of(wildcards):
    """The export selection of a job's `{selection}` wildcard (best | model<N>)."""
    return ExportSelection.parse(wildcards.selection)
