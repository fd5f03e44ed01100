"""Config edits re-plan exactly the jobs they affect (issue 12): every rule declares the config
it uses as canonical ``params``, which Snakemake's params rerun trigger compares.

A finished run of the tiny e2e config is stood in for by ``snakemake --touch --forceall``
over empty output files: the touch executor records each job's metadata (params included)
as a real run does, in seconds instead of minutes. Then ``snakemake -n`` with an edited copy
of the config must plan:

- ``lesion.train.lr``: every lesion training job (``train_lesion_ham10000``, which also
  predicts ISIC 2019) and every job downstream of them, and no
  segmentation, symmetry or data job;
- ``report.bootstrap``: only the statistics tables;
- the same config with every mapping's keys in reverse order: nothing.
"""

import copy
from collections import Counter

import pytest
import yaml

from helpers import REPO, run_snakemake
from selcn.config import deep_merge
from selcn.plan import parse_dry_run
from test_workflow_e2e import TINY

pytestmark = pytest.mark.slow

#: rules whose jobs depend on the lesion models (directly or through other lesion jobs)
LESION_DOWNSTREAM = ("lesion_localisation", "lesion_figure_cams", "fig10_lesion_cams",
                     "table_per_class", "stats_vs_baseline", "heatmap", "fig11_13_training_curves")
#: the thesis tables (rule `table`) of the lesion models, and those of the earlier stages
LESION_TABLES = {"table8_lesion_val", "table8_lesion_test", "table9_lesion_cam_localisation",
                 "table10_isic2019", "cam_regions"}
OTHER_TABLES = {"overlaps", "table5_segmentation", "table6_symmetry_val", "table6_symmetry_test",
                "table7_symmetry_cam_localisation", "hair_removal"}
#: rules no lesion-stage setting may re-plan
UPSTREAM = ("synthetic_data", "cache_dataset", "cache_dataset_without_masks", "split_dataset",
            "check_splits", "train_segmentation", "select_segmentation", "predict_masks",
            "train_symmetry", "best_symmetry_fold", "symmetry_cams", "symmetry_localisation",
            "symmetry_figure_cams", "fig9_symmetry_cams", "segmentation_figure_masks",
            "fig3_masking_strategies", "fig5_hair_removal", "fig6_class_distribution")


def _run(work, config, *args, timeout=600):
    run = run_snakemake(work, "--configfile", str(config), *args, timeout=timeout)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return run.stdout + run.stderr


def _planned(text: str) -> Counter:
    """Jobs per rule of a dry run's output."""
    return Counter(job.rule for job in parse_dry_run(text))


def _reversed_keys(value):
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A work directory whose report targets are all 'built' with recorded metadata:
    ``(work, raw config dict, targets, jobs per rule of the whole plan)``."""
    work = tmp_path_factory.mktemp("rerun")
    raw = deep_merge(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), TINY)
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    # the report's tables and figures (export bundles are directories: not needed here)
    text = _run(work, config, "-n", "--forceall")
    jobs = parse_dry_run(text)
    outputs = [line.split(":", 1)[1] for line in text.splitlines()
               if line.startswith("    output:")]
    files = [f.strip() for line in outputs for f in line.split(",")]
    targets = sorted(f for f in files if f.startswith(("results/tables/", "results/figures/"))
                     and (f.endswith(".html") or f.endswith(".png")))
    assert any("table8_lesion_test" in t for t in targets), targets
    plan = _planned(_run(work, config, "-n", "--forceall", *targets))
    assert plan["train_lesion_ham10000"] == 8 and plan["train_symmetry"] == 2, plan
    assert plan["table"] == len(LESION_TABLES | OTHER_TABLES), plan
    for f in files:
        if f.startswith("results/") and "/predict/" not in f and "/export/" not in f:
            path = work / f
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    _run(work, config, "--touch", "--forceall", "--cores", "1", *targets)
    assert "Nothing to be done" in _run(work, config, "-n", *targets)
    assert len(jobs) > len(plan)                     # the export jobs are left out
    return work, raw, targets, plan


def _edited(work, raw, name, edit):
    cfg = copy.deepcopy(raw)
    edit(cfg)
    path = work / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_lesion_lr_replans_the_lesion_grid_only(finished):
    work, raw, targets, plan = finished
    config = _edited(work, raw, "lr.yaml", lambda c: c["lesion"]["train"].update(lr=0.01))
    text = _run(work, config, "-n", *targets)
    planned = _planned(text)
    assert planned["train_lesion_ham10000"] == plan["train_lesion_ham10000"] == 8, planned
    for rule in LESION_DOWNSTREAM:
        assert planned[rule] == plan[rule], (rule, planned)
    assert not [r for r in UPSTREAM if planned[r]], planned
    tables = {j.wildcards["table"] for j in parse_dry_run(text) if j.rule == "table"}
    assert tables == LESION_TABLES, tables
    assert "Params have changed" in text


def test_report_bootstrap_replans_only_the_statistics(finished):
    work, raw, targets, plan = finished
    config = _edited(work, raw, "boot.yaml", lambda c: c["report"].update(bootstrap=50))
    planned = _planned(_run(work, config, "-n", *targets))
    assert planned == Counter({"stats_vs_baseline": plan["stats_vs_baseline"]}), planned


def test_reordered_config_replans_nothing(finished):
    work, raw, targets, _ = finished
    config = work / "reordered.yaml"
    config.write_text(yaml.safe_dump(_reversed_keys(raw), sort_keys=False))
    assert list(yaml.safe_load(config.read_text())) == list(reversed(list(raw)))
    text = _run(work, config, "-n", *targets)
    assert "Nothing to be done" in text, text[-3000:]
    sorted_config = work / "sorted.yaml"
    sorted_config.write_text(yaml.safe_dump(raw, sort_keys=True))
    assert "Nothing to be done" in _run(work, sorted_config, "-n", *targets)
