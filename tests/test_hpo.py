"""Hyper-parameter search: space from config, ask/tell loop, resume, the search split."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from skopt.space import Categorical, Real

from helpers import cache_paths, make_cache, tiny_config
from selcn.config import balance_of, train_params, validate_config
from selcn.data.inputs import StageInputs
from selcn.hpo import (
    PARAMETERS,
    Search,
    SearchFiles,
    SearchPlan,
    objective_metric,
    read_trials,
    run_search,
    search_rows,
    search_space,
    split_for_search,
)

SPACE = {"batch_size": [4, 8], "lr": [1e-4, 1e-1], "momentum": [0.5, 0.95],
         "weight_decay": [1e-6, 1e-2], "weighted_loss": [True, False]}


def search(objective, space, *, n_calls, n_initial_points, seed, trials_csv,
           objective_name="accuracy", exclude=(), log=print):
    """:func:`run_search` with the plan and files spelled out."""
    plan = SearchPlan(space, n_calls, n_initial_points, seed, tuple(exclude), objective_name)
    return run_search(objective, plan, SearchFiles(trials_csv), log=log)


def search_net(network, cfg, inputs, *, best_json, trials_csv, convergence_png, work_dir,
               symmetry_mask="none", dataset=None, log=print):
    """:func:`search_network` of the named search, its inputs as a rule hands them over."""
    from selcn.hpo import search_network

    return search_network(Search(network, dataset, symmetry_mask), cfg,
                          StageInputs.named(inputs),
                          SearchFiles(trials_csv, best_json, convergence_png), work_dir, log)


def toy_objective(params):
    """Peaks at lr = 1e-2, weighted loss on, batch 8; in [0, 1] like an accuracy."""
    score = math.exp(-(math.log10(params["lr"]) + 2) ** 2)
    return 0.7 * score + 0.2 * params["weighted_loss"] + 0.1 * (params["batch_size"] == 8)


# ---- space ---------------------------------------------------------------------------------
def test_search_space_from_config_defaults_and_overrides():
    cfg = validate_config({"hpo": {"space": {"batch_size": [16, 64], "lr": [1e-4, 1e-3]}}})
    space = search_space(cfg["hpo"]["space"])
    assert [d.name for d in space] == list(PARAMETERS)
    by = {d.name: d for d in space}
    assert isinstance(by["batch_size"], Categorical) and by["batch_size"].categories == (16, 64)
    assert isinstance(by["lr"], Real) and by["lr"].bounds == (1e-4, 1e-3)
    assert by["lr"].prior == "log-uniform" and by["weight_decay"].prior == "log-uniform"
    assert by["momentum"].prior == "uniform" and by["momentum"].bounds == (0.8, 0.99)  # default
    assert by["weight_decay"].bounds == (1e-6, 1e-2)
    assert isinstance(by["weighted_loss"], Categorical)
    assert set(by["weighted_loss"].categories) == {True, False}
    seg = search_space(cfg["hpo"]["space"], exclude=["weighted_loss"])
    assert [d.name for d in seg] == list(PARAMETERS[:-1])


@pytest.mark.parametrize("bad, msg", [
    ({"lr": [1e-2, 1e-4]}, "hpo.space.lr"),
    ({"momentum": [0.9]}, "hpo.space.momentum"),
    ({"epochs": [1, 2]}, "unknown key"),
])
def test_search_space_rejects_bad_bounds(bad, msg):
    with pytest.raises(ValueError, match=msg):
        search_space({**SPACE, **bad})


def test_objective_metric_per_network():
    assert objective_metric("segmentation", "accuracy") == "dice"
    assert objective_metric("symmetry", "balanced_accuracy") == "balanced_accuracy"
    assert objective_metric("lesion", "accuracy") == "accuracy"
    with pytest.raises(ValueError, match="unknown network"):
        objective_metric("cams", "accuracy")


# ---- search --------------------------------------------------------------------------------
def test_tiny_search_writes_best_json_trials_and_plot(tmp_path):
    seen = []
    result = search(lambda p: seen.append(p) or toy_objective(p), SPACE, n_calls=5,
                        n_initial_points=3, seed=0, trials_csv=tmp_path / "trials.csv",
                        objective_name="accuracy", log=lambda _: None)
    assert len(seen) == 5
    for p in seen:                                   # plain Python values inside the bounds
        assert type(p["batch_size"]) is int and type(p["weighted_loss"]) is bool
        assert 1e-4 <= p["lr"] <= 1e-1 and 0.5 <= p["momentum"] <= 0.95
    best = json.loads((tmp_path / "best.json").read_text())
    assert best == result
    assert best["objective"] == "accuracy" and best["n_trials"] == 5
    assert set(best["best"]) == set(PARAMETERS)
    assert best["value"] == pytest.approx(max(toy_objective(p) for p in seen))
    assert best["value"] == pytest.approx(toy_objective(best["best"]))
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert list(trials["trial"]) == [0, 1, 2, 3, 4]
    assert (tmp_path / "convergence.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".*tmp*"))         # nothing half-written left behind
    # the training rules read it back through the config helper
    cfg = validate_config({})
    params = train_params(cfg, "lesion", tmp_path / "best.json")
    assert params["lr"] == best["best"]["lr"]
    assert params["weighted_loss"] is best["best"]["weighted_loss"]


def test_search_improves_on_random_points(tmp_path):
    result = search(toy_objective, SPACE, n_calls=6, n_initial_points=3, seed=1,
                        trials_csv=tmp_path / "trials.csv", log=lambda _: None)
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert result["value"] > trials["value"].iloc[:3].max() + 0.1   # the GP found better points
    assert result["value"] > 0.8                     # the optimum is 1.0


class Killed(RuntimeError):
    pass


def test_resume_does_not_repeat_finished_trials(tmp_path):
    csv = tmp_path / "trials.csv"
    first = []

    def dies_after_3(params):
        if len(first) == 3:
            raise Killed("pre-empted")
        first.append(params)
        return toy_objective(params)

    with pytest.raises(Killed):
        search(dies_after_3, SPACE, n_calls=6, n_initial_points=2, seed=3, trials_csv=csv,
                   log=lambda _: None)
    assert len(pd.read_csv(csv)) == 3 and not (tmp_path / "best.json").exists()

    second = []
    result = search(lambda p: second.append(p) or toy_objective(p), SPACE, n_calls=6,
                        n_initial_points=2, seed=3, trials_csv=csv, log=lambda _: None)
    assert len(second) == 3                           # only the remaining trials ran
    assert not [p for p in second if p in first]      # no finished trial repeated
    trials = pd.read_csv(csv)
    assert len(trials) == result["n_trials"] == 6
    assert list(trials["trial"]) == list(range(6))
    assert trials.iloc[:3]["lr"].tolist() == pytest.approx([p["lr"] for p in first])
    assert result["value"] == pytest.approx(trials["value"].max())

    # a finished search reruns nothing and gives the same result
    third = []
    again = search(lambda p: third.append(p) or 0.0, SPACE, n_calls=6, n_initial_points=2,
                       seed=3, trials_csv=csv, log=lambda _: None)
    assert third == [] and again == result


def test_resume_rejects_trials_outside_the_space(tmp_path):
    csv = tmp_path / "trials.csv"
    search(toy_objective, SPACE, n_calls=2, n_initial_points=2, seed=0, trials_csv=csv,
               log=lambda _: None)
    with pytest.raises(ValueError, match=r"trials.csv: trial \d: field 'batch_size'"):
        read_trials(csv, search_space({**SPACE, "batch_size": [64]}))
    table = pd.read_csv(csv).drop(columns="momentum")
    table.to_csv(csv, index=False)
    with pytest.raises(ValueError, match="trials.csv: missing column"):
        search(toy_objective, SPACE, n_calls=3, n_initial_points=2, seed=0, trials_csv=csv,
                   log=lambda _: None)


def test_non_finite_score_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="non-finite"):
        search(lambda p: float("nan"), SPACE, n_calls=2, n_initial_points=1, seed=0,
                   trials_csv=tmp_path / "trials.csv", log=lambda _: None)


# ---- the search split ----------------------------------------------------------------------
def lesion_table(n_lesions=80, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for lesion in range(n_lesions):
        target = int(rng.integers(0, 3)) if lesion % 5 else 3      # class 3 rarer
        for _ in range(int(rng.integers(1, 4))):
            rows.append({"image_id": f"ISIC_{len(rows):07d}", "target": target,
                         "group": f"HAM_{lesion:07d}"})
    return pd.DataFrame(rows)


def test_split_for_search_is_grouped_stratified_and_75_25():
    table = lesion_table()
    train, val = split_for_search(table, 0.25, seed=0)
    assert len(train) + len(val) == len(table)
    assert set(train.index).isdisjoint(val.index)
    assert set(train["group"]).isdisjoint(val["group"])
    assert 0.18 < len(val) / len(table) < 0.32
    share = table["target"].value_counts(normalize=True)
    assert (val["target"].value_counts(normalize=True) - share).abs().max() < 0.12
    again = split_for_search(table, 0.25, seed=0)[1]
    assert again.index.equals(val.index)              # reproducible
    _, other = split_for_search(table, 0.25, seed=1)
    assert not other.index.equals(val.index)
    _, ungrouped = split_for_search(table, 0.25, seed=0, group_col=None, label_col=None)
    assert 0.2 < len(ungrouped) / len(table) < 0.3
    with pytest.raises(ValueError, match="missing column 'lesion_id'"):
        split_for_search(table, 0.25, group_col="lesion_id")


def test_search_rows_never_touch_test_or_excluded(tmp_path):
    table = lesion_table()
    table["split"] = [("test" if g % 5 == 0 else "excluded" if g % 7 == 0 else f"fold{g % 3}")
                      for g in table["group"].str[4:].astype(int)]
    index = table[["image_id"]].assign(row=np.arange(len(table))[::-1])   # other order
    index.to_csv(tmp_path / "index.csv", index=False)
    table.to_csv(tmp_path / "splits.csv", index=False)
    parts = search_rows(tmp_path / "index.csv", tmp_path / "splits.csv", seed=0)
    row_split = dict(zip(index["row"], table["split"]))
    used = np.concatenate([parts["train"], parts["val"]])
    assert len(used) == len(set(used)) == table["split"].str.startswith("fold").sum()
    assert all(row_split[r].startswith("fold") for r in used)
    with pytest.raises(ValueError, match="splits.csv: missing column"):
        table.drop(columns="split").to_csv(tmp_path / "splits.csv", index=False)
        search_rows(tmp_path / "index.csv", tmp_path / "splits.csv")


# ---- real tiny searches (the training core on a few random images) -------------------------
SIDE = 32


@pytest.mark.slow
def test_segmentation_search_trains_real_models(tmp_path):
    inputs = cache_paths(make_cache(tmp_path / "cache", "binary"))
    cfg = tiny_config("hpo")
    out = tmp_path / "hpo" / "segmentation"
    best = search_net("segmentation", cfg, inputs, best_json=out / "best.json",
                          trials_csv=out / "trials.csv", convergence_png=tmp_path / "fig.png",
                          work_dir=out / ".search", log=lambda _: None)
    assert json.loads((out / "best.json").read_text()) == best
    assert best["objective"] == "dice" and best["n_trials"] == 2
    assert set(best["best"]) == set(PARAMETERS) - {"weighted_loss"}
    assert 0.0 <= best["value"] <= 1.0
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and trials["value"].between(0, 1).all()
    assert trials["value"].nunique() == 2             # different settings, different models
    assert (tmp_path / "fig.png").is_file()
    assert not (out / ".search" / "trial").exists()   # trial outputs cleaned up
    params = train_params(cfg, "segmentation", out / "best.json")
    assert params["batch_size"] == best["best"]["batch_size"] and params["max_epochs"] == 5


def test_search_names_one_lesion_search_per_dataset():
    from selcn.hpo import parse_search_name, search_name

    assert search_name("lesion", "isic2016") == "lesion-isic2016"
    assert search_name("symmetry") == "symmetry" and search_name("segmentation") == "segmentation"
    for name in ("lesion-ham10000", "lesion-isic2016", "symmetry", "segmentation"):
        assert search_name(*parse_search_name(name)) == name
    with pytest.raises(ValueError, match="needs its dataset"):
        search_name("lesion")
    with pytest.raises(ValueError, match="one fixed dataset"):
        search_name("symmetry", "symderm")
    for bad in ("lesion", "symmetry-x", "other"):
        with pytest.raises(ValueError):
            parse_search_name(bad)
    from selcn.hpo import search_names

    assert search_names(["segmentation", "lesion"], ["ham10000", "isic2016"]) == [
        "segmentation", "lesion-ham10000", "lesion-isic2016"]
    assert search_names(["lesion"], ["ham10000"]) == ["lesion-ham10000"]


def test_lesion_search_trains_the_baseline_classifier(tmp_path):
    from selcn.hpo import network_objective

    inputs = cache_paths(make_cache(tmp_path / "cache", "binary", n=36))
    del inputs["gt_masks"]                              # the baseline needs no mask, no CAM
    cfg = tiny_config("hpo", objective="balanced_accuracy")
    objective, metric, exclude = network_objective(Search("lesion", "isic2016"), cfg,
                                                   StageInputs.named(inputs), tmp_path / "w")
    assert metric == "balanced_accuracy" and exclude == ()
    out = tmp_path / "hpo" / "lesion-isic2016"
    with pytest.raises(ValueError, match="needs its dataset"):
        search_net("lesion", cfg, inputs, best_json=out / "best.json",
                   trials_csv=out / "trials.csv", convergence_png=tmp_path / "fig.png",
                   work_dir=out / ".search", log=lambda _: None)
    with pytest.raises(ValueError, match="ham10000"):       # the cache's classes are ISIC 2016's
        search_net("lesion", cfg, inputs, best_json=out / "best.json",
                   trials_csv=out / "trials.csv", convergence_png=tmp_path / "fig.png",
                   work_dir=out / ".search", dataset="ham10000", log=lambda _: None)
    best = search_net("lesion", cfg, inputs, best_json=out / "best.json",
                          trials_csv=out / "trials.csv", convergence_png=tmp_path / "fig.png",
                          work_dir=out / ".search", dataset="isic2016", log=lambda _: None)
    assert best["objective"] == "balanced_accuracy" and best["n_trials"] == 2
    assert json.loads((out / "best.json").read_text()) == best
    assert (best["network"], best["dataset"]) == ("lesion", "isic2016")
    assert train_params(cfg, "lesion", out / "best.json")["lr"] == best["best"]["lr"]
    assert set(best["best"]) == set(PARAMETERS)
    trials = pd.read_csv(out / "trials.csv")
    assert trials["value"].between(0, 1).all() and best["value"] == trials["value"].max()
    # the trial's score is the history's value at the epoch the training core kept
    score = objective({"batch_size": 4, "lr": 1e-3, "momentum": 0.9, "weight_decay": 1e-4,
                       "weighted_loss": True})
    assert 0.0 <= score <= 1.0


def test_lesion_search_split_uses_training_folds_only(tmp_path):
    from selcn.hpo.objectives import _search_tables

    inputs = cache_paths(make_cache(tmp_path / "cache", "binary", n=36))
    cfg = tiny_config("hpo")
    data = StageInputs.named(inputs).open()
    splits = data.splits
    tables = _search_tables(cfg, data, balance_of(cfg, "ham10000"))
    test = set(splits.loc[splits["split"] == "test", "row"])
    train, val = set(tables["train"]["row"]), set(tables["val"]["row"])
    assert not (train | val) & test and not train & val
    assert train | val == set(splits.loc[splits["split"] != "test", "row"])
    group = dict(zip(splits["row"], splits["group"]))
    assert not {group[r] for r in train} & {group[r] for r in val}
    assert (tables["val"]["transform"] == 0).all()       # validation is not augmented
    assert tables["train"]["target"].value_counts().min() >= 8   # balanced (up to the copy cap)


def test_symmetry_search_with_a_mask_skips_excluded_rows(tmp_path):
    from selcn.hpo.objectives import _search_tables

    inputs = cache_paths(make_cache(tmp_path / "cache", "binary", n=32))
    index = pd.read_csv(inputs["index"])                # SymDerm's two classes
    index["label"] = index["label"].map({"benign": "asymmetric", "malignant": "symmetric"})
    index.to_csv(inputs["index"], index=False)
    splits = pd.read_csv(inputs["splits"])
    splits.loc[[2, 3], "split"] = "excluded"          # e.g. SymDerm images of HAM test lesions
    splits.to_csv(inputs["splits"], index=False)
    inputs["masks"] = inputs.pop("gt_masks")          # stands in for the predicted masks
    cfg = tiny_config("hpo")
    cfg["symmetry"].update(input_size=64, pretrained=False)
    tables = _search_tables(cfg, StageInputs.named(inputs).open())
    used = np.concatenate([tables["train"]["row"], tables["val"]["row"]])
    assert sorted(used) == sorted(splits.index[splits["split"].str.startswith("fold")])
    assert (tables["train"]["transform"] == 0).all()  # symmetry: weighted loss, no balancing

    out = tmp_path / "hpo" / "symmetry"
    best = search_net("symmetry", cfg, inputs, best_json=out / "best.json",
                          trials_csv=out / "trials.csv", convergence_png=tmp_path / "fig.png",
                          work_dir=out / ".search", symmetry_mask="lae", log=lambda _: None)
    assert best["objective"] == "accuracy" and best["n_trials"] == 2
    assert 0.0 <= best["value"] <= 1.0
    with pytest.raises(ValueError, match="needs the predicted lesion masks"):
        search_net("symmetry", cfg, {k: v for k, v in inputs.items() if k != "masks"},
                   best_json=out / "b.json", trials_csv=out / "t.csv",
                   convergence_png=tmp_path / "f.png", work_dir=out / ".s",
                   symmetry_mask="seg", log=lambda _: None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("network", ["segmentation", "symmetry", "lesion"])
def test_search_on_cuda_resumes(tmp_path, network):
    """Each network's search on the GPU (AMP, channels_last), killed after one trial, resumed."""
    import time

    from selcn.hpo import network_objective

    inputs = cache_paths(make_cache(tmp_path / "cache", "binary", n=64))
    if network == "symmetry":
        inputs.pop("gt_masks")
        index = pd.read_csv(inputs["index"])            # SymDerm's two classes
        index["label"] = index["label"].map({"benign": "asymmetric", "malignant": "symmetric"})
        index.to_csv(inputs["index"], index=False)
    cfg = tiny_config("hpo", n_calls=3, n_initial_points=2, max_epochs=2)
    cfg["device"] = "cuda"
    cfg["symmetry"].update(input_size=64, pretrained=False)
    out = tmp_path / "hpo"
    dataset = "isic2016" if network == "lesion" else None
    objective, _, _ = network_objective(Search(network, dataset), cfg, StageInputs.named(inputs),
                                        out / ".search")
    calls = []

    def dies_after_1(params):
        if calls:
            raise Killed("pre-empted")
        calls.append(params)
        return objective(params)

    with pytest.raises(Killed):
        search(dies_after_1, cfg["hpo"]["space"], n_calls=3, n_initial_points=2, seed=0,
                   trials_csv=out / ".search" / "trials.csv", log=lambda _: None,
                   exclude=("weighted_loss",) if network == "segmentation" else ())
    started = time.perf_counter()
    best = search_net(network, cfg, inputs, best_json=out / "best.json",
                          trials_csv=out / "trials.csv", convergence_png=out / "fig.png",
                          work_dir=out / ".search", dataset=dataset, log=print)
    print(f"[cuda] {network}: 2 remaining trials in {time.perf_counter() - started:.1f} s, "
          f"best {best['objective']} {best['value']:.3f}")
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == best["n_trials"] == 3
    assert trials["lr"].iloc[0] == pytest.approx(calls[0]["lr"])
    assert trials["value"].between(0, 1).all()


# ---- the per-model search (hpo.scope: per_model, issue 25) -----------------------------------
def test_per_model_search_names_round_trip():
    from selcn.hpo import parse_search, parse_search_name, search_name

    for name in ("lesion-ham10000-seg-lae", "lesion-ham10000-seg-lae-unet", "symmetry-seg",
                 "symmetry-lae-fpn", "lesion-isic2016-none-none", "lesion-ph2-lae-off-segformer"):
        parts = parse_search(name)
        assert search_name(*parts) == name
        assert parse_search_name(name) == (parts.network, parts.dataset)
    assert parse_search("lesion-ham10000-seg-lae-unet") == ("lesion", "ham10000", "seg-lae",
                                                            "unet")
    assert parse_search("symmetry") == ("symmetry", None, None, None)
    for bad in ("lesion-ham10000-seg", "lesion-ham10000-none-none-unet", "symmetry-none-unet",
                "symmetry-off", "segmentation-seg", "lesion-ham10000-seg-lae-dpt",
                "symmetry-seg-unet-x"):
        with pytest.raises(ValueError, match="unknown search name"):
            parse_search(bad)
    assert Search.parse("symmetry-seg-unet").symmetry_mask == "seg"
    assert Search.parse("symmetry", "seg").name == "symmetry"          # the shared search
    assert Search.parse("lesion-ham10000").lesion_model.number == 1
    with pytest.raises(ValueError, match="its mask is 'seg'"):
        Search("symmetry", symmetry_mask="lae", cell="seg")


def test_a_per_model_lesion_search_trains_its_own_cell(tmp_path):
    """``lesion-<dataset>-<model>`` trains that cell's model on its own inputs: the E-Layer of
    model 7 (seg-seg) needs its masks and its CAMs, which the shared search never reads."""
    from selcn.grid import Model
    from selcn.hpo import network_objective, search_network

    inputs = cache_paths(make_cache(tmp_path / "cache", "lesion", n=36))
    inputs.update(masks=str(tmp_path / "cache" / "masks.npy"),
                  cams=str(tmp_path / "cache" / "cams.npy"))
    cfg = tiny_config("hpo")
    search = Search.parse("lesion-ham10000-seg-seg")
    assert (search.cell, search.lesion_model) == ("seg-seg", Model("seg", "seg"))
    no_cams = {k: v for k, v in inputs.items() if k != "cams"}
    with pytest.raises(ValueError, match="symmetry CAMs must be given"):
        network_objective(search, cfg, StageInputs.named(no_cams), tmp_path / "w")
    # the shared search of the same dataset reads neither
    network_objective(Search("lesion", "ham10000"), cfg, StageInputs.named(no_cams),
                      tmp_path / "w0")
    out = tmp_path / "hpo" / search.name
    best = search_network(search, cfg, StageInputs.named(inputs),
                          SearchFiles(out / "trials.csv", out / "best.json", out / "fig.png"),
                          out / ".search", log=lambda _: None)
    assert (best["network"], best["dataset"], best["cell"], best["segmenter"]) == (
        "lesion", "ham10000", "seg-seg", None)
    assert json.loads((out / "best.json").read_text())["cell"] == "seg-seg"
