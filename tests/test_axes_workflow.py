"""The grid's two new axes under Snakemake (issue 25): what `snakemake -n` plans for the default
(the thesis' grid, unchanged), for `hpo.scope: per_model` and for the segmenter as an axis with
S = 2 and S = 3 segmenters, and a tiny run of both axes through to the report."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import SHORT_TRAIN, TINY_SYNTHETIC, run_snakemake
from selcn.plan import parse_dry_run

#: the rules the two axes touch (their shape rules: selcn.grid.Shape.suffix)
TOUCHED = ("train_lesion_ham10000", "train_lesion_isic2016", "train_symmetry",
           "best_symmetry_fold", "symmetry_cams", "symmetry_localisation", "lesion_localisation",
           "predict_masks", "train_segmentation", "select_segmentation", "hpo_search")
SHAPES = ("_by_segmenter", "_per_model", "_by_segmenter_per_model")


def plan(repo, tmp_path, config: str, override: dict | None = None) -> tuple[Counter, list]:
    """Jobs per rule of `snakemake -n --forceall` of config/<config> (plus ``override``), and
    the planned jobs."""
    args = ["--configfile", str(repo / "config" / config)]
    if override:
        (tmp_path / "override.yaml").write_text(yaml.safe_dump(override))
        args.append(str(tmp_path / "override.yaml"))
    run = run_snakemake(tmp_path, *args, "-n", "--forceall", timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    jobs = parse_dry_run(run.stdout + run.stderr)
    return Counter(j.rule for j in jobs), jobs


def shape_rules(counts: Counter) -> dict:
    return {r: n for r, n in counts.items() if r.endswith(SHAPES)}


@pytest.mark.parametrize("config, folds, symmetry_jobs, datasets", [
    ("paper.yaml", 4, 4 * 3, 4), ("config.yaml", 2, 3 * 2, 4)])
def test_the_default_plans_the_thesis_grid(repo, tmp_path, config, folds, symmetry_jobs,
                                           datasets):
    """Shared search, one selected segmenter: the thesis' grid, as before the axes existed
    (12 models x K folds per lesion dataset, the Table 6 variants x folds: 4 x 3 in the paper,
    the demo's 3 from scratch x 2; masks per dataset)."""
    counts, jobs = plan(repo, tmp_path, config)
    assert shape_rules(counts) == {}
    assert counts["train_lesion_ham10000"] == counts["train_lesion_isic2016"] == 12 * folds
    assert counts["train_symmetry"] == symmetry_jobs and counts["best_symmetry_fold"] == 3
    assert counts["symmetry_cams"] == counts["symmetry_localisation"] == 3
    assert counts["lesion_localisation"] == 12 and counts["predict_masks"] == datasets
    assert counts["train_segmentation"] == 2 and counts["select_segmentation"] == 1
    assert counts["hpo_search"] == 0 and counts["search_comparison"] == 0
    assert counts["segmenter_figure"] == 0
    assert not [j for j in jobs if {"segmenter", "search"} & set(j.wildcards)]


def test_per_model_plans_a_search_per_model(repo, tmp_path):
    """12 lesion searches per lesion dataset (model 1's is the shared one), 3 symmetry searches
    (one per input mask; none's is the shared one), every model but 1 trained both ways."""
    counts, jobs = plan(repo, tmp_path, "paper.yaml", {"hpo": {"enabled": True,
                                                               "scope": "per_model"}})
    searches = [j.wildcards["network"] for j in jobs if j.rule == "hpo_search"]
    for d in ("ham10000", "isic2016"):
        assert len([s for s in searches if s.startswith(f"lesion-{d}")]) == 12
        assert counts[f"train_lesion_{d}"] == 48 and counts[f"train_lesion_{d}_per_model"] == 44
    assert sorted(s for s in searches if s.startswith("symmetry")) == [
        "symmetry", "symmetry-lae", "symmetry-seg"]
    assert "segmentation" in searches and len(searches) == 1 + 3 + 24
    assert counts["train_symmetry"] == 12 and counts["train_symmetry_per_model"] == 6
    assert counts["symmetry_cams_per_model"] == 2 and counts["search_comparison"] == 2
    assert set(shape_rules(counts)) == {"train_lesion_ham10000_per_model",
                                        "train_lesion_isic2016_per_model",
                                        "train_symmetry_per_model",
                                        "best_symmetry_fold_per_model",
                                        "symmetry_cams_per_model"}


@pytest.mark.parametrize("segmenters", [["unet", "deeplabv3plus"],
                                        ["unet", "deeplabv3plus", "unetplusplus"]])
def test_the_segmenter_axis_plans_every_segmenters_models(repo, tmp_path, segmenters):
    """K x (2 + 10 S) lesion trainings per dataset, 1 + 2 S mask variants per initialisation
    (each over its folds), S masks per dataset; the thesis' tables on the first segmenter."""
    s = len(segmenters)
    counts, jobs = plan(repo, tmp_path, "paper.yaml",
                        {"segmentation": {"mode": "axis", "architectures": segmenters}})
    for d in ("ham10000", "isic2016"):
        assert counts[f"train_lesion_{d}"] + counts[f"train_lesion_{d}_by_segmenter"] == \
            4 * (2 + 10 * s)
        assert counts[f"train_lesion_{d}"] == 4 * 2
    pretrained = {(j.wildcards["variant"], j.wildcards.get("segmenter"))
                  for j in jobs if j.rule.startswith("train_symmetry")
                  and j.rule != "train_symmetry_arch"
                  and j.wildcards["variant"].startswith("pretrained")}
    assert len(pretrained) == 1 + 2 * s
    assert counts["train_symmetry"] + counts["train_symmetry_by_segmenter"] == \
        3 * (1 + 1 + 2 * s)                                  # + the scratch baseline
    assert counts["predict_masks"] == 4 * s and counts["train_segmentation"] == s
    assert {j.wildcards["segmenter"] for j in jobs if j.rule == "predict_masks"} == \
        set(segmenters)
    assert counts["lesion_localisation"] + counts["lesion_localisation_by_segmenter"] == 12
    assert counts["segmenter_figure"] == 2
    assert "hpo_search" not in counts


@pytest.mark.slow
def test_a_tiny_run_of_both_axes_reaches_the_report(repo, tmp_path):
    """Two segmenters as an axis (U-Net, FPN) and a search per model, on a tiny synthetic
    config (32 px, 1 epoch of 2 batches, 2 folds, one search trial): every segmenter's masks,
    the per-model copies and searches, the segmenter table and figure and the search
    comparison are written."""
    tiny = {
        "data": {"image_size": 32, "balance": {"target_per_class": 12, "max_copies": 3},
                 "synthetic": TINY_SYNTHETIC},
        "roles": {"external": {"ham10000": None}},
        "segmentation": {"architectures": ["unet", "fpn"], "mode": "axis", "input_size": 32,
                         "train": SHORT_TRAIN},
        "symmetry": {"masks": ["none", "seg"], "folds": 2, "compare_architectures": [],
                     "scratch_baseline": False, "input_size": 32, "cam_size": 8,
                     "train": SHORT_TRAIN},
        "lesion": {"classifier_masks": ["none", "seg"], "symmetry_masks": ["off", "seg"],
                   "datasets": ["ham10000"], "folds": 2, "input_size": 32, "train": SHORT_TRAIN},
        "hpo": {"enabled": True, "scope": "per_model", "networks": ["symmetry", "lesion"],
                "n_calls": 1, "n_initial_points": 1, "max_epochs": 1,
                "space": {"batch_size": [8]}},
        "report": {"bootstrap": 20},
        "export": {"enabled": False},
        "predict": {"input_dir": None, "demo_images": 0},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    configs = ("--configfile", str(repo / "config" / "config.yaml"), str(tmp_path / "tiny.yaml"))
    run = run_snakemake(tmp_path, *configs, "--cores", "2", timeout=1800)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    res = tmp_path / "results"
    for seg in ("unet", "fpn"):
        masks = np.load(res / "masks" / seg / "ham10000.npy")
        assert masks.shape[1:] == (32, 32) and set(np.unique(masks)) <= {0, 1}
        for fold in (0, 1):
            assert (res / "lesion/ham10000/seg-seg" / seg / "per_model" / f"fold{fold}" /
                    "predictions_test.csv").is_file()
        assert (res / "hpo" / f"symmetry-seg-{seg}" / "best.json").is_file()
        assert (res / "hpo" / f"lesion-ham10000-none-seg-{seg}" / "best.json").is_file()
    assert not (res / "masks" / "ham10000.npy").exists()
    effect = pd.read_csv(res / "tables" / "segmenter_effect_ham10000.csv")
    assert sorted(zip(effect["model"], effect["segmenter"])) == [
        (m, s) for m in (3, 5, 7) for s in ("fpn", "unet")]
    assert (res / "figures" / "segmenter_effect_ham10000.png").stat().st_size > 5000
    table5 = pd.read_csv(res / "tables" / "table5_segmentation.csv")
    assert set(table5["arch"]) == {"unet", "fpn"}
    comparison = pd.read_csv(res / "tables" / "search_comparison_ham10000.csv")
    assert len(comparison) == 1 + 2 * 3 * 2          # model 1; 3, 5, 7 x 2 segmenters x 2 scopes
    own = comparison[comparison["search"] == "per_model"]
    assert own["accuracy_diff"].notna().all() and own["mcnemar_p"].between(0, 1).all()
    assert (res / "tables" / "search_comparison_ham10000.html").stat().st_size > 1000
    table8 = pd.read_csv(res / "tables" / "table8_lesion_test.csv")
    assert sorted(table8[table8["estimate"] == "folds"]["model"]) == [1, 3, 5, 7]


def test_make_plan_estimates_every_shape_and_counts_what_per_model_adds(repo):
    """`make plan` (selcn.plan): a rule of another path shape is estimated as its thesis rule,
    a segmenter's mask prediction with that segmenter's rate, and the totals say what the
    per-model search adds (its searches and the per-model copies)."""
    from selcn.config import load_config
    from selcn.plan import (
        Estimator,
        PlannedJob,
        base_rule,
        format_totals,
        plan_table,
        plan_totals,
    )

    cfg = load_config(repo / "config" / "paper.yaml")
    cfg["plan"]["throughput"] = [
        {"network": "efficientnet_b4", "input_size": 380, "images_per_s": 100,
         "source": "assumed"},
        {"network": "unet-resnet34", "input_size": 384, "images_per_s": 50, "source": "assumed"},
        {"network": "fpn-resnet18", "input_size": 384, "images_per_s": 80, "source": "assumed"}]
    cfg["segmentation"]["encoders"] = {"fpn": "resnet18"}
    est = Estimator.of(cfg)

    def job(rule, **wildcards):
        return PlannedJob(rule, wildcards=wildcards, resources={"gpu": 1, "runtime": 60})

    assert base_rule("train_lesion_ham10000_by_segmenter_per_model") == "train_lesion_ham10000"
    plain = est.hours(job("train_lesion_ham10000", lesion_dataset="ham10000"))
    for suffix in ("_by_segmenter", "_per_model", "_by_segmenter_per_model"):
        assert est.hours(job(f"train_lesion_ham10000{suffix}", lesion_dataset="ham10000")) == \
            plain
    assert est.hours(job("predict_masks", dataset="isic2019", segmenter="fpn")) == \
        pytest.approx(25331 / (80 * 3) / 3600 + 60 / 3600)
    jobs = [job("train_lesion_ham10000", lesion_dataset="ham10000"),
            job("train_lesion_ham10000_per_model", lesion_dataset="ham10000"),
            job("hpo_search", network="lesion-ham10000"),
            job("hpo_search", network="lesion-ham10000-seg-lae")]
    totals = plan_totals(plan_table(jobs, estimate=est.hours))
    assert totals.per_model[:2] == (2, 2.0)                    # 2 jobs x 1 GPU x 60 min
    assert totals.per_model[2] == pytest.approx(
        plain + est.hours(job("hpo_search", network="lesion-ham10000-seg-lae")))
    assert "the per-model search adds (hpo.scope: per_model; 2 jobs" in \
        format_totals(totals, est)
    assert plan_totals(plan_table(jobs[:1], estimate=est.hours)).per_model is None
