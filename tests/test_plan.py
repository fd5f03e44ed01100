"""Compute planning from `snakemake -n`: jobs per rule, GPU-hours of the declared runtimes."""


import pytest

from selcn.plan import dry_run, format_plan, parse_dry_run, plan_table

# the format of Snakemake 9's dry run (abridged from a real one)
DRY_RUN = """\
Building DAG of jobs...
Job stats:
job               count
--------------  -------
train_lesion          3
all                   1
total                 4

[Thu Nov 26 07:43:46 2026]
rule train_lesion:
    input: results/cache/ham10000/images.npy
    output: results/lesion/ham10000/none-off/fold0/model.pt
    log: results/logs/lesion/train_ham10000_none-off_fold0.log
    jobid: 3
    reason: Missing output files: results/lesion/ham10000/none-off/fold0/model.pt
    wildcards: lesion_dataset=ham10000, classifier_mask=none, symmetry_mask=off, fold=0
    threads: 8
    resources: tmpdir=<TBD>, mem_mb=32000, mem=32 GB, mem_mib=30518, \
cpus_per_task=8, gpu=1, runtime=960
[Thu Nov 26 07:43:46 2026]
rule train_lesion:
    output: results/lesion/ham10000/none-off/fold1/model.pt
    jobid: 4
    wildcards: lesion_dataset=ham10000, classifier_mask=none, symmetry_mask=off, fold=1
    threads: 8
    resources: tmpdir=<TBD>, mem_mb=32000, cpus_per_task=8, gpu=1, runtime=960
Shell command: None
[Thu Nov 26 07:43:46 2026]
rule train_lesion:
    output: results/lesion/isic2016/none-off/fold0/model.pt
    jobid: 5
    wildcards: lesion_dataset=isic2016, classifier_mask=none, symmetry_mask=off, fold=0
    resources: tmpdir=<TBD>, mem_mb=32000, cpus_per_task=8, gres=gpu:a100:2, runtime=480
[Thu Nov 26 07:43:46 2026]
rule cache_images:
    output: results/cache/ham10000/images.npy
    jobid: 6
    wildcards: dataset=ham10000
    resources: tmpdir=<TBD>, mem_mb=32000, cpus_per_task=16, gpu=0, runtime=120
[Thu Nov 26 07:43:46 2026]
localrule table8_lesion:
    input: results/lesion/ham10000/none-off/fold0/model.pt
    jobid: 1
    resources: tmpdir=/tmp
[Thu Nov 26 07:43:46 2026]
localrule all:
    input: results/tables/table8_lesion.html
    jobid: 0
This was a dry-run (flag -n). The order of jobs does not reflect the order of execution.
"""


def test_parse_dry_run_reads_rules_wildcards_and_resources():
    jobs = parse_dry_run(DRY_RUN)
    assert [j.rule for j in jobs] == ["train_lesion"] * 3 + ["cache_images", "table8_lesion",
                                                              "all"]
    first = jobs[0]
    assert first.wildcards == {"lesion_dataset": "ham10000", "classifier_mask": "none",
                               "symmetry_mask": "off", "fold": "0"}
    assert (first.gpus, first.cpus, first.runtime_min, first.local) == (1, 8, 960.0, False)
    assert first.resources["mem"] == "32 GB" and first.resources["tmpdir"] == "<TBD>"
    assert jobs[2].gpus == 2                       # from gres=gpu:<type>:2
    assert jobs[4].local and jobs[4].gpus == 0 and jobs[4].runtime_min is None


def test_plan_table_sums_gpu_hours_per_rule_and_dataset():
    table = plan_table(parse_dry_run(DRY_RUN))
    rows = {(r.rule, r.group): r for r in table.itertuples()}
    ham = rows[("train_lesion", "lesion_dataset=ham10000")]
    assert (ham.jobs, ham.gpus, ham.runtime_h, ham.gpu_hours, ham.cpu_hours) == (2, 1, 32, 32, 256)
    assert rows[("train_lesion", "lesion_dataset=isic2016")].gpu_hours == 16.0   # 2 GPUs x 8 h
    cache = rows[("cache_images", "dataset=ham10000")]
    assert (cache.gpu_hours, cache.cpu_hours) == (0, 32)
    assert rows[("table8_lesion", "")].local
    assert table["gpu_hours"].sum() == 48.0
    assert list(table["rule"])[:2] == ["train_lesion", "train_lesion"]  # most GPU-hours first
    by_rule = plan_table(parse_dry_run(DRY_RUN), group_by=())
    assert by_rule.set_index("rule").loc["train_lesion", "jobs"] == 3
    text = format_plan(table)
    assert "table8_lesion (local)" in text
    assert text.splitlines()[-1].split()[:2] == ["total", "6"]
    assert "48.0" in text.splitlines()[-1]


def test_empty_plan():
    assert plan_table(parse_dry_run("Nothing to be done (all requested files are present).")).empty


@pytest.mark.slow
def test_dry_run_of_a_workflow(tmp_path):
    (tmp_path / "Snakefile").write_text(
        'rule all:\n    input: expand("o/{i}.txt", i=range(3))\n'
        'rule gpu:\n    output: "o/{i}.txt"\n'
        '    resources: gpu=1, runtime=lambda wc, attempt: 30 * attempt\n'
        '    shell: "touch {output}"\n')
    run = dry_run([], workdir=tmp_path)
    assert 0 < run.cpu_seconds and 0 < run.seconds
    table = plan_table(parse_dry_run(run.text)).set_index("rule")
    assert table.loc["gpu", "jobs"] == 3 and table.loc["gpu", "gpu_hours"] == 1.5
    with pytest.raises(RuntimeError, match="--configfile"):
        dry_run(["--configfile", str(tmp_path / "absent.yaml")], workdir=tmp_path)


@pytest.mark.slow
def test_paper_plan_without_the_data(repo, tmp_path):
    """`snakemake -n` of config/paper.yaml plans the whole grid where no data set is present:
    48 lesion trainings per dataset (12 models x 4 folds), in well under 5 s of CPU time."""
    run = dry_run(["--snakefile", str(repo / "Snakefile"), "--directory", str(tmp_path),
                   "--configfile", str(repo / "config" / "paper.yaml"), "--forceall"],
                  workdir=tmp_path)
    table = plan_table(parse_dry_run(run.text)).set_index(["rule", "group"])
    # one training rule per lesion dataset (HAM10000's also predicts ISIC 2019 in the same job)
    for rule, dataset in (("train_lesion_ham10000", "ham10000"),
                          ("train_lesion_isic2016", "isic2016")):
        row = table.loc[(rule, f"lesion_dataset={dataset}")]
        assert (row.jobs, row.gpus, row.gpu_hours) == (48, 1, 48 * 16.0)  # 960 min each
    assert "predict_lesion_external" not in table.index.get_level_values("rule")
    assert table.loc["train_segmentation", "jobs"].sum() == 2
    gpu_rules = set(table[table["gpus"] > 0].index.get_level_values("rule"))
    assert {"train_lesion_ham10000", "train_lesion_isic2016", "train_segmentation"} <= gpu_rules
    assert run.cpu_seconds < 5, f"dry run took {run.cpu_seconds:.1f} s of CPU"
