"""Compute planning from `snakemake -n`: jobs per rule, GPU-hours of the declared runtimes (the
sum of time limits) and the estimate from throughput (config `plan`)."""

import math
import subprocess
import sys

import pytest
import yaml

from helpers import REPO
from selcn.config import deep_merge, validate_config
from selcn.plan import (
    Estimator,
    PlannedJob,
    dry_run,
    format_plan,
    format_totals,
    parse_dry_run,
    plan_table,
    plan_totals,
)

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


# ---- the two figures: sum of time limits, estimate from throughput ---------------------------
def test_plan_table_with_an_estimate_labels_both_figures():
    def estimate(job):                          # ISIC 2016 jobs: no estimate
        return None if job.wildcards.get("lesion_dataset") == "isic2016" else 2.5

    table = plan_table(parse_dry_run(DRY_RUN), estimate=estimate)
    rows = {(r.rule, r.group): r for r in table.itertuples()}
    assert rows[("train_lesion", "lesion_dataset=ham10000")].est_gpu_hours == 5.0   # 2 x 2.5
    assert math.isnan(rows[("train_lesion", "lesion_dataset=isic2016")].est_gpu_hours)
    assert rows[("cache_images", "dataset=ham10000")].est_gpu_hours == 0.0          # no GPU
    assert table["gpu_hours"].sum() == 48.0                 # the limits are unchanged
    text = format_plan(table)
    header = text.splitlines()[0].split()
    assert {"limit_h", "gpu_h_limits", "cpu_h_limits", "gpu_h_estimate"} <= set(header)
    assert "n/a" in text
    totals = plan_totals(table)
    assert (totals.limits, totals.estimate) == (48.0, 5.0)     # jobs without a GPU: 0
    assert list(totals.unestimated["rule"]) == ["train_lesion"]
    assert totals.unestimated["gpu_hours"].tolist() == [16.0]


def _paper(plan: dict) -> dict:
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    return validate_config(deep_merge(deep_merge(base, paper), {"plan": plan}))


PLAN = {"gpu": "test GPU", "inference_speedup": 2, "job_overhead_s": 0,
        "images": {"ham10000": 10000, "symderm": 3000, "isic2019": 20000, "isic2016": 1000},
        "throughput": [
            {"network": "efficientnet_b4", "input_size": 380, "images_per_s": 100,
             "source": "measured"},
            {"network": "unet-resnet34", "input_size": 384, "images_per_s": 50,
             "source": "assumed"},
            {"network": "deeplabv3plus-resnet34", "input_size": 192, "images_per_s": 100,
             "source": "assumed"}]}


def _job(rule: str, gpus: int = 1, **wildcards) -> PlannedJob:
    return PlannedJob(rule, wildcards=wildcards, resources={"gpu": gpus, "runtime": 960})


def test_estimate_from_images_epochs_and_throughput():
    """config/paper.yaml (test fraction 0.2, 4 lesion folds, 100 epochs, 2,000 images per
    class) with a throughput table: the hours of each kind of job, by hand."""
    est = Estimator.of(_paper(PLAN))
    assert est.rate("efficientnet_b4", 380) == 100 and est.rate("efficientnet_b4", 190) == 400
    assert est.rate("deeplabv3plus-resnet34", 384) == 25 and est.rate("squeezenet1_0", 256) is None
    hours = lambda rule, **w: est.hours(_job(rule, **w))          # noqa: E731
    # HAM10000: 6,000 training images balanced to 7 x 2,000 x 100 epochs at 100 img/s;
    # validation (2,000 x 100), test (2,000) and ISIC 2019 (20,000) at 200 img/s
    assert hours("train_lesion_ham10000", lesion_dataset="ham10000") == pytest.approx(
        (14000 * 100 / 100 + (2000 * 100 + 2000 + 20000) / 200) / 3600)
    # ISIC 2016: 600 training images, balanced to at most 600 x (1 + 3 copies) = 2,400
    assert hours("train_lesion_isic2016", lesion_dataset="isic2016") == pytest.approx(
        (2400 * 100 / 100 + (200 * 100 + 200) / 200) / 3600)
    assert est.hours(_job("train_lesion_isic2016", gpus=2, lesion_dataset="isic2016")) == \
        pytest.approx(2 * (2400 + 101) / 3600)
    assert hours("train_segmentation", arch="unet") == pytest.approx(
        (6000 * 100 / 50 + (2000 * 100 + 2000) / 100) / 3600)
    # mask prediction: forward only, with the slower architecture (DeepLabV3+, 25 img/s at 384)
    assert hours("predict_masks", dataset="isic2019") == pytest.approx(20000 / 50 / 3600)
    # the lesion search: 30 trials x 10 epochs on 75 % of the 8,000 (balanced to 14,000)
    assert hours("hpo_search", network="lesion-ham10000") == pytest.approx(
        (14000 * 300 / 100 + 2000 * 300 / 200) / 3600)
    assert hours("hpo_search", network="symmetry") is None          # no SqueezeNet rate
    assert hours("predict_images") is None                           # images unknown
    assert est.hours(_job("cache_dataset", gpus=0, dataset="ham10000")) == 0.0
    with_overhead = Estimator.of(_paper({**PLAN, "job_overhead_s": 360}))
    assert with_overhead.hours(_job("lesion_figure_cams")) == pytest.approx(0.1)


def test_totals_say_which_figure_is_which():
    est = Estimator.of(_paper(PLAN))
    jobs = [_job("train_lesion_ham10000", lesion_dataset="ham10000"),
            _job("hpo_search", network="symmetry")]
    text = format_totals(plan_totals(plan_table(jobs, estimate=est.hours)), est)
    limits, estimate, left_out = text.splitlines()
    assert limits.startswith("GPU-hours, sum of the jobs' time limits") and \
        "not an estimate" in limits and limits.endswith(": 32.0")
    assert estimate.startswith("GPU-hours, estimate from throughput (measured and assumed "
                               "images/s on test GPU; images x max_epochs")
    assert estimate.endswith(f": {est.hours(jobs[0]):,.1f}")
    assert "not in the estimate: hpo_search (1 jobs, 16.0 GPU-h of limits" in left_out
    empty = Estimator.of(_paper({"throughput": []}))
    assert "estimate from throughput: none" in format_totals(
        plan_totals(plan_table(jobs, estimate=empty.hours)), empty)


@pytest.mark.slow
def test_make_plan_prints_both_figures_for_the_paper(repo):
    """`make plan`: the sum of time limits and the estimate, each labelled; mask prediction
    asks for the inference jobs' resources (cams.resources: 3 h), not the training's 12 h."""
    proc = subprocess.run([sys.executable, "workflow/scripts/plan_compute.py", "--configfile",
                           "config/paper.yaml", "--forceall"], cwd=repo, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    rows = {tuple(line.split()[:2]): line.split() for line in lines
            if line.split()[:1] == ["predict_masks"]}
    assert len(rows) == 4 and all(r[4:6] == ["3.0", "3.0"] for r in rows.values()), rows
    total = next(line for line in lines if line.split()[:1] == ["total"]).split()
    limits_line = next(line for line in lines if "sum of the jobs' time limits" in line)
    estimate_line = next(line for line in lines if "estimate from throughput" in line)
    limits = float(limits_line.rsplit(": ", 1)[1].replace(",", ""))
    estimate = float(estimate_line.rsplit(": ", 1)[1].replace(",", ""))
    # `snakemake -n`'s jobs + check_data: 190 before the overlap guard, the reliability
    # diagrams, the differences page, model 13 and the CAM-region / hair / overlap tables
    assert total[1] == "210" and float(total[3]) == limits
    counts = {}
    for line in lines:
        words = line.split()
        if words and words[0] in ("train_multitask_ham10000", "reliability", "find_overlaps",
                                  "differences", "table"):
            counts[words[0]] = counts.get(words[0], 0) + int(words[-6])
    assert counts == {"train_multitask_ham10000": 4, "reliability": 2, "find_overlaps": 1,
                      "differences": 1, "table": 16}, counts
    assert "not an estimate" in limits_line and "assumed images/s" in estimate_line
    assert 0 < estimate < limits / 5, (estimate, limits)


def test_the_estimate_follows_the_roles_and_counts_predict_external():
    """The stages' datasets are the config's roles (config/ph2.yaml's segmentation networks
    train on PH²'s 200 images, not HAM10000's 10,015), and a further external set's
    `predict_external` job is one fold's lesion model on the set's images, forward only."""
    raw = yaml.safe_load((REPO / "config" / "ph2.yaml").read_text())
    raw["plan"] = {**PLAN, "throughput": [{"network": "deeplabv3plus-resnet18", "input_size": 96,
                                           "images_per_s": 100, "source": "assumed"}]}
    ph2 = Estimator.of(validate_config(raw))
    # 200 images, 20 % test, 2 folds: 80 training / 80 validation / 40 test images, 12 epochs
    assert ph2.hours(_job("train_segmentation", arch="deeplabv3plus")) == pytest.approx(
        (80 * 12 / 100 + (80 * 12 + 40) / 200) / 3600)
    assert ph2.hours(_job("predict_masks", dataset="ph2")) == pytest.approx(200 / 200 / 3600)
    paper = Estimator.of(_paper({**PLAN, "images": {**PLAN["images"], "ph2_ham": 200}}))
    assert paper.hours(_job("predict_external", lesion_dataset="ham10000", fold="0",
                            external="ph2_ham")) == pytest.approx(200 / 200 / 3600)
