# SE-LCN: symmetry enhanced skin lesion classification — the workflow.
# Demo (synthetic data):   snakemake --cores 2
# Real data:               snakemake --cores 8 --configfile config/paper.yaml
# PH² on a laptop:         snakemake --cores 2 --configfile config/ph2.yaml
# Cluster:                 snakemake --profile profiles/slurm --configfile config/paper.yaml
# Report:                  snakemake --report results/report.html  (results_dir of the config)


# The demo's config is the default, read only when no --configfile is given: a real-data config
# (paper.yaml, ph2.yaml) starts from the schema's defaults, never from the demo's keys
# (data.synthetic, predict.demo_images, the small sizes). `--config key=value` applies to both.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/weights.smk"
include: "rules/data.smk"
include: "rules/segmentation.smk"
include: "rules/symmetry.smk"
include: "rules/lesion.smk"
include: "rules/multitask.smk"
include: "rules/hpo.smk"
include: "rules/report.smk"
include: "rules/export.smk"


rule all:
    default_target: True
    input:
        REPORT_TARGETS,
        EXPORT_TARGETS,
        MULTITASK_TARGETS,
