"""The search engine of the hyper-parameter search (thesis 5.2, Figure 7a): scikit-optimize.

:func:`run_search` maximises a trial function ``params -> score`` over the space of the config's
``hpo.space`` block (:func:`search_space`) with a Gaussian-process optimizer (skopt minimises,
so it is told ``-score``). The trial functions of the three networks are in
:mod:`selcn.hpo.objectives`.

Files (``docs/contracts.md``, hyper-parameter search), all written atomically:

- ``trials.csv`` — one row per finished trial: ``trial,<parameters…>,value,seconds``,
  rewritten after every trial; a restarted search tells the optimizer these trials first and
  runs only the remaining ``n_calls - len(trials)`` ones;
- ``best.json`` — ``{"best": {<parameters>}, "objective": name, "value": x, "n_trials": n,
  "trial": i}``, read by :func:`selcn.config.train_params`;
- the convergence plot (PNG): each trial's score and the best score so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from skopt import Optimizer
from skopt.space import Categorical, Dimension, Real

from selcn.atomic import save_figure, write_csv, write_json

__all__ = ["PARAMETERS", "SearchPlan", "SearchFiles", "search_space", "read_trials", "run_search",
           "plot_convergence"]

#: searched hyper-parameters, in the order of the search space (config ``hpo.space`` keys)
PARAMETERS: tuple[str, ...] = ("batch_size", "lr", "momentum", "weight_decay", "weighted_loss")
#: log-uniform priors (scale parameters); the others are uniform
_LOG_UNIFORM = ("lr", "weight_decay")


# ---- the search space ----------------------------------------------------------------------
def search_space(space_cfg: Mapping[str, Sequence], *,
                 exclude: Sequence[str] = ()) -> list[Dimension]:
    """The skopt search space of a validated config's ``hpo.space`` block.

    ``batch_size`` and ``weighted_loss`` are :class:`~skopt.space.Categorical` over the listed
    values; ``lr`` and ``weight_decay`` are :class:`~skopt.space.Real` ``[low, high]`` with a
    log-uniform prior; ``momentum`` (Adam β1) is a uniform ``Real``. Every dimension is named
    after its config key. ``exclude`` drops parameters a network does not use (segmentation:
    ``weighted_loss``).
    """
    unknown = sorted(set(space_cfg) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"hpo.space: unknown key(s) {unknown} (allowed: {', '.join(PARAMETERS)})")
    bad = sorted(set(exclude) - set(PARAMETERS))
    if bad:
        raise ValueError(f"search_space: cannot exclude unknown parameter(s) {bad}")
    dims: list[Dimension] = []
    for name in PARAMETERS:
        if name in exclude:
            continue
        if name not in space_cfg:
            raise ValueError(f"hpo.space: missing key '{name}'")
        values = list(space_cfg[name])
        if name in ("batch_size", "weighted_loss"):
            if not values:
                raise ValueError(f"hpo.space.{name}: needs at least one value")
            cast = int if name == "batch_size" else bool
            dims.append(Categorical([cast(v) for v in dict.fromkeys(values)], name=name))
            continue
        if len(values) != 2:
            raise ValueError(f"hpo.space.{name}: expected [low, high], got {values}")
        low, high = float(values[0]), float(values[1])
        if not low < high:
            raise ValueError(f"hpo.space.{name}: low {low} must be below high {high}")
        prior = "log-uniform" if name in _LOG_UNIFORM else "uniform"
        if prior == "log-uniform" and low <= 0:
            raise ValueError(f"hpo.space.{name}: log-uniform bounds must be > 0, got {low}")
        dims.append(Real(low, high, prior=prior, name=name))
    if not dims:
        raise ValueError("search_space: every parameter is excluded")
    return dims


def _as_space(space: Mapping | Sequence[Dimension], exclude: Sequence[str] = ()) -> list[Dimension]:
    if isinstance(space, Mapping):
        return search_space(space, exclude=exclude)
    dims = list(space)
    if not dims or not all(isinstance(d, Dimension) and d.name for d in dims):
        raise TypeError("space: expected the hpo.space config block or a list of named "
                        "skopt Dimensions")
    return dims


def _native(value: Any) -> Any:
    """numpy scalars -> Python (JSON-safe) scalars."""
    return value.item() if isinstance(value, np.generic) else value


def _point_to_params(point: Sequence, space: Sequence[Dimension]) -> dict:
    return {dim.name: _native(v) for dim, v in zip(space, point)}


# ---- the trials table ----------------------------------------------------------------------
def _category(dim: Categorical, value: Any, path: Path, trial: Any) -> Any:
    for cat in dim.categories:
        if cat == value or str(cat).lower() == str(value).strip().lower():
            return _native(cat)
    raise ValueError(f"{path}: trial {trial}: field '{dim.name}' = {value!r} is not in the "
                     f"search space {list(dim.categories)} (the space changed? delete the file "
                     "to start a new search)")


def read_trials(trials_csv: str | Path, space: Sequence[Dimension]) -> pd.DataFrame:
    """The finished trials stored in ``trials_csv`` (an empty table when it does not exist).

    Values are cast back to the types of ``space``; a value outside the space, a missing
    column or a non-finite score is an error naming the file and field.
    """
    path = Path(trials_csv)
    columns = ["trial", *(d.name for d in space), "value", "seconds"]
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    table = pd.read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(has {', '.join(map(str, table.columns))})")
    out = {c: [] for c in columns}
    for _, rec in table.iterrows():
        trial = rec["trial"]
        for dim in space:
            raw = rec[dim.name]
            if isinstance(dim, Categorical):
                value = _category(dim, raw, path, trial)
            else:
                value = float(raw)
                low, high = dim.bounds
                if not (math.isfinite(value) and low <= value <= high):
                    raise ValueError(f"{path}: trial {trial}: field '{dim.name}' = {raw!r} is "
                                     f"outside the search space [{low}, {high}] (the space "
                                     "changed? delete the file to start a new search)")
            out[dim.name].append(value)
        value = float(rec["value"])
        if not math.isfinite(value):
            raise ValueError(f"{path}: trial {trial}: field 'value' is not a number "
                             f"({rec['value']!r})")
        out["trial"].append(int(trial))
        out["value"].append(value)
        out["seconds"].append(float(rec["seconds"]))
    return pd.DataFrame(out, columns=columns)


# ---- the search ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchPlan:
    """What one search explores: its space, budget and seed.

    Attributes:
        space: the ``hpo.space`` config block, or a list of named skopt dimensions.
        n_calls: total number of trials of the search (finished ones included).
        n_initial_points: random trials before the Gaussian process proposes points.
        seed: random state of the optimizer.
        exclude: parameters left out of the space (see :func:`search_space`).
        objective_name: name of the score, stored in ``best.json``.
        title: title of the convergence plot.
    """

    space: Mapping | Sequence[Dimension]
    n_calls: int
    n_initial_points: int
    seed: int = 0
    exclude: tuple[str, ...] = ()
    objective_name: str = "accuracy"
    title: str | None = None

    @classmethod
    def of(cls, hpo: Mapping, seed: int, *, exclude: Sequence[str] = (),
           objective_name: str = "accuracy", title: str | None = None) -> SearchPlan:
        """The plan of a validated config's ``hpo`` block."""
        return cls(hpo["space"], int(hpo["n_calls"]), int(hpo["n_initial_points"]), int(seed),
                   tuple(exclude), objective_name, title)


@dataclass(frozen=True)
class SearchFiles:
    """Where a search writes: ``trials_csv`` (the running trials table; existing trials are told
    to the optimizer first and are not run again), ``best_json`` (default: ``best.json`` next to
    it) and ``convergence_png`` (default: ``convergence.png`` next to it)."""

    trials_csv: str | Path
    best_json: str | Path | None = None
    convergence_png: str | Path | None = None


def run_search(objective: Callable[[dict], float], plan: SearchPlan, files: SearchFiles,
               log: Callable[[str], None] = print) -> dict:
    """Maximise ``objective`` over the search space with a Gaussian-process optimizer.

    Args:
        objective: ``params -> score`` (higher is better); ``params`` maps each parameter name
            of the space to a Python value (``int``, ``float``, ``bool``).
        plan: the space, the budget (``n_calls``, ``n_initial_points``) and the seed.
        files: the trials table (rewritten atomically after every finished trial), the result
            and the convergence plot.

    Returns:
        The content of ``best.json``.
    """
    n_calls, n_initial_points = plan.n_calls, plan.n_initial_points
    objective_name = plan.objective_name
    if n_calls < 1 or n_initial_points < 1:
        raise ValueError(f"hpo: n_calls ({n_calls}) and n_initial_points ({n_initial_points}) "
                         "must be >= 1")
    space = _as_space(plan.space, plan.exclude)
    trials_csv = Path(files.trials_csv)
    best_json = Path(files.best_json) if files.best_json else trials_csv.with_name("best.json")
    convergence_png = (Path(files.convergence_png) if files.convergence_png
                       else trials_csv.with_name("convergence.png"))
    names = [d.name for d in space]

    optimizer = Optimizer(space, base_estimator="GP", n_initial_points=n_initial_points,
                          random_state=plan.seed)
    trials = read_trials(trials_csv, space)
    if len(trials):
        optimizer.tell(trials[names].values.tolist(), (-trials["value"]).tolist())
        log(f"[hpo] resuming: {len(trials)} finished trial(s) told to the optimizer "
            f"({trials_csv})")
    records = trials.to_dict("records")
    for trial in range(len(records), n_calls):
        point = optimizer.ask()
        params = _point_to_params(point, space)
        log(f"[hpo] trial {trial + 1}/{n_calls}: "
            + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in params.items()))
        started = time.perf_counter()
        score = float(objective(dict(params)))
        seconds = time.perf_counter() - started
        if not math.isfinite(score):
            raise ValueError(f"hpo: trial {trial + 1} returned a non-finite {objective_name} "
                             f"({score}) for {params}")
        optimizer.tell(list(point), -score)
        records.append({"trial": trial, **params, "value": score, "seconds": round(seconds, 3)})
        write_csv(pd.DataFrame(records, columns=["trial", *names, "value", "seconds"]),
                   trials_csv)
        log(f"[hpo] trial {trial + 1}/{n_calls}: {objective_name} = {score:.4f} "
            f"({seconds:.1f} s)")

    table = pd.DataFrame(records, columns=["trial", *names, "value", "seconds"])
    best_i = int(np.argmax(table["value"].to_numpy()))       # first of the ties
    best_rec = table.iloc[best_i]
    result = {
        "best": {name: _native(best_rec[name]) for name in names},
        "objective": objective_name,
        "value": float(best_rec["value"]),
        "n_trials": int(len(table)),
        "trial": int(best_rec["trial"]),
    }
    for dim in space:                       # pandas may have widened the types
        if isinstance(dim, Categorical):
            result["best"][dim.name] = _category(dim, result["best"][dim.name], trials_csv,
                                                 result["trial"])
        else:
            result["best"][dim.name] = float(result["best"][dim.name])
    plot_convergence(table, convergence_png, objective_name=objective_name,
                     n_initial_points=n_initial_points, title=plan.title)
    write_json(result, best_json)
    log(f"[hpo] best {objective_name} = {result['value']:.4f} (trial {result['trial'] + 1}): "
        f"{result['best']}")
    return result


def plot_convergence(trials: pd.DataFrame, path: str | Path, *, objective_name: str = "score",
                     n_initial_points: int | None = None, title: str | None = None) -> None:
    """Draw each trial's score and the best score so far against the trial number (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.arange(1, len(trials) + 1)
    values = trials["value"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    ax.plot(x, values, "o", color="tab:blue", alpha=0.6, label="trial")
    ax.step(x, np.maximum.accumulate(values), where="post", color="tab:red",
            label="best so far")
    if n_initial_points and n_initial_points < len(trials):
        ax.axvline(n_initial_points + 0.5, color="grey", ls="--", lw=1,
                   label="random → Gaussian process")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {objective_name.replace('_', ' ')}")
    ax.set_title(title or "Bayesian search: convergence")
    ax.set_xticks(x if len(x) <= 20 else np.linspace(1, len(x), 11).round().astype(int))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=fig.dpi)
