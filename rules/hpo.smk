# Hyper-parameter search (thesis 5.2, Figure 7a): one Bayesian search (scikit-optimize) per
# network on a 75 / 25 split of that network's training folds (never the test split); under
# `hpo.scope: per_model` also one per lesion grid cell and per symmetry input mask, each on its
# cell's own inputs (`{network}` = lesion-<dataset>-<model>[-<segmenter>],
# symmetry-<mask>[-<segmenter>]; selcn.hpo.names), read by that model's per-model copy.
# Requested only when `hpo.enabled`: the training rules then take
# `results/hpo/{network}/best.json` as input (JOBS.hpo_best(), selcn.jobs); otherwise they use
# the fixed `<network>.train` values. The finished trials are kept in
# results/hpo/{network}/.search/ (not an output, so Snakemake does not delete them when a job
# fails): a rerun resumes from them without repeating a finished trial.
from selcn.hpo.names import parse_search_name
from selcn.paths import hpo_file, hpo_work_dir


rule hpo_search:
    input:
        unpack(lambda w: JOBS.hpo_search_inputs(w.network)),
        checks=JOBS.training_checks(),
    output:
        best=hpo_file("{network}", "best.json"),
        trials=hpo_file("{network}", "trials.csv"),
        convergence=report(
            figure_file("fig7a_hpo_convergence_{network}"),
            caption="../workflow/report/fig7a_hpo_convergence.rst",
            category=report_category("Hyper-parameter search"),
            subcategory=FIGURES_SUBCATEGORY,
            labels={"figure": "Figure 7a", "network": "{network}"},
        ),
    log:
        f"{LOGS}/hpo/{{network}}.log",
    wildcard_constraints:
        network=alternation(JOBS.hpo_searches()),
    conda:
        SELCN_ENV
    threads: threads_of("hpo")
    resources:
        **stage_resources("hpo"),
        runtime=runtime_of("hpo"),
    params:
        work_dir=lambda w: hpo_work_dir(w.network),
        symmetry_mask=JOBS.hpo_symmetry_mask(),
        cfg=lambda w: declared(
            "hpo",
            "seed",
            "protocol",
            "data.balance",
            "data.balance_isic2016",
            parse_search_name(w.network)[0],
        ),
    script:
        "../workflow/scripts/hpo_search.py"
