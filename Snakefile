# SE-LCN: symmetry enhanced skin lesion classification — the workflow.
# Demo (synthetic data):   snakemake --cores 2
# Real data:               snakemake --cores 8 --configfile config/paper.yaml
# Cluster:                 snakemake --profile profiles/slurm --configfile config/paper.yaml
# Report:                  snakemake --report results/report.html


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/weights.smk"
include: "rules/data.smk"
include: "rules/segmentation.smk"
include: "rules/symmetry.smk"
include: "rules/lesion.smk"
include: "rules/hpo.smk"
include: "rules/report.smk"
include: "rules/export.smk"


rule all:
    default_target: True
    input:
        REPORT_TARGETS,
        EXPORT_TARGETS,
