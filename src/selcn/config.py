"""Configuration: load, validate against ``config/schema.yaml``, fill defaults; the training
hyper-parameters of a network; :func:`canonical`, the form in which rules declare the config
they use (``params:``). The vocabulary and the grid of wildcard values are in
:mod:`selcn.grid`.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from selcn import paths
from selcn.errors import ConfigError  # re-exported: callers import it from here
from selcn.grid import DATASETS, NETWORKS, data_key

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"
#: the config blocks ``data.<key>`` of the datasets (PH²'s three datasets read ``data.ph2``)
DATASET_KEYS: tuple[str, ...] = tuple(dict.fromkeys(data_key(d) for d in DATASETS))

def _load_schema(path: Path | None = None) -> dict:
    with open(path or SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def _fill_defaults(instance: Any, schema: Mapping, root: Mapping) -> Any:
    """Recursively insert ``default`` values of ``schema`` into ``instance`` (in place)."""
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        target = root["$defs"][ref.split("/")[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _fill_defaults(instance, merged, root)
    if isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                instance[key] = _fill_defaults(instance[key], sub, root)
    return instance


_SCALAR_TYPES = {"boolean": bool, "integer": int, "number": (int, float), "null": type(None)}


def _types(schema: Mapping) -> set[str]:
    t = schema.get("type", ())
    return {t} if isinstance(t, str) else set(t)


def _coerce_text(instance: Any, schema: Mapping, root: Mapping) -> Any:
    """Read text where the schema wants a boolean / number as a YAML scalar (in place).

    Snakemake's ``--config key='{a: true}'`` hands nested values over as text (``'true'``,
    ``'2'``); a value the schema also allows as a string is left alone.
    """
    if "$ref" in schema:
        target = root["$defs"][schema["$ref"].split("/")[-1]]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    if isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in instance:
                instance[key] = _coerce_text(instance[key], sub, root)
        return instance
    if isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        return [_coerce_text(v, schema["items"], root) for v in instance]
    wanted = _types(schema) & set(_SCALAR_TYPES)
    if isinstance(instance, str) and wanted and "string" not in _types(schema):
        try:
            value = yaml.safe_load(instance)
        except yaml.YAMLError:
            return instance
        if isinstance(value, tuple(_SCALAR_TYPES[t] for t in wanted)) and not (
                isinstance(value, bool) and "boolean" not in wanted):
            return value
    return instance


def _path_of(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def validate_config(config: Mapping, schema_path: Path | None = None,
                    source: str = "config") -> dict:
    """Validate ``config`` and return a deep copy with every default filled in.

    Raises :class:`ConfigError` with one message naming the offending key, e.g.
    ``config.yaml: unknown key 'segmentation.encodr' (allowed: architectures, encoder, ...)``.
    """
    schema = _load_schema(schema_path)
    cfg = _coerce_text(_fill_defaults(copy.deepcopy(dict(config)), schema, schema), schema,
                       schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), e.message))
    if errors:
        err = errors[0]
        where = _path_of(err)
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed))
            prefix = "" if where == "<top level>" else where + "."
            keys = ", ".join(f"'{prefix}{k}'" for k in extra)
            raise ConfigError(f"{source}: unknown key {keys} (allowed here: {', '.join(allowed)})")
        why = err.schema.get("description") if isinstance(err.schema, Mapping) else None
        raise ConfigError(f"{source}: invalid value at '{where}': {err.message}"
                          + (f" ({why})" if why else ""))
    for name in ("lr", "momentum", "weight_decay"):  # what JSON Schema cannot say: low < high
        low, high = cfg["hpo"]["space"][name]
        if not low < high:
            raise ConfigError(f"{source}: invalid value at 'hpo.space.{name}': [{low}, {high}] "
                              "must be [low, high] with low < high")
    check_paths(cfg, source)
    return cfg


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether ``path`` is ``root`` or lies below it, both taken from the working directory
    after removing ``.`` and ``..`` (links are not followed: a results folder linked to a
    scratch disk is still the results folder)."""
    a, r = os.path.abspath(path), os.path.abspath(root)
    return os.path.commonpath([a, r]) == r


def check_paths(cfg: Mapping, source: str = "config") -> None:
    """Keep the user's folders and the workflow's apart: every result is written under
    ``results_dir`` (default ``results/``, the workflow's own folder, where Snakemake
    replaces outputs), so a folder the config names to be *read* must lie outside it —
    ``predict.input_dir`` (except ``<results_dir>/predict/demo_input``, the demo's images) and,
    with ``data.source: files``, every ``data.<dataset>`` path. Raises :class:`ConfigError`
    naming the key. (``weights.cache_dir`` is the one folder outside ``results/`` the workflow
    writes to: ``snakemake fetch_weights`` adds missing weight files there.)"""
    try:
        with paths.results_root(cfg.get("results_dir", paths.DEFAULT_RESULTS)):
            RESULTS, DEMO_PREDICT_INPUT = paths.RESULTS, paths.DEMO_PREDICT_INPUT
    except ValueError as err:
        raise ConfigError(f"{source}: invalid value at 'results_dir': {err}") from None
    input_dir = cfg["predict"]["input_dir"]
    if input_dir and inside(input_dir, RESULTS) and \
            os.path.abspath(input_dir) != os.path.abspath(DEMO_PREDICT_INPUT):
        raise ConfigError(
            f"{source}: invalid value at 'predict.input_dir': {input_dir!r} lies inside "
            f"{RESULTS}/, the workflow's own folder (its rules write and replace folders there); "
            f"name a folder outside {RESULTS}/ (it is only read) or {DEMO_PREDICT_INPUT} (the "
            "demo's images)")
    if cfg["data"]["source"] != "files":
        return
    for dataset in DATASET_KEYS:
        for key, value in (cfg["data"].get(dataset) or {}).items():
            for path in value if isinstance(value, list) else [value]:
                if path and inside(path, RESULTS):
                    raise ConfigError(
                        f"{source}: invalid value at 'data.{dataset}.{key}': {path!r} lies "
                        f"inside {RESULTS}/, the workflow's own folder (its rules write and "
                        f"replace files there); keep the data outside {RESULTS}/")


def load_config(path: str | Path, overrides: Mapping | None = None) -> dict:
    """Read a YAML config file, merge ``overrides`` (nested dicts) and validate it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    with open(path) as fh:
        raw = yaml.safe_load(fh) or {}
    if overrides:
        raw = deep_merge(raw, overrides)
    return validate_config(raw, source=str(path))


def deep_merge(base: Mapping, update: Mapping) -> dict:
    """Return ``base`` updated by ``update``, merging nested mappings."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


TRAIN_KEYS = ("batch_size", "lr", "momentum", "weight_decay", "weighted_loss")


def balance_of(cfg: Mapping, dataset: str) -> dict | None:
    """The class balancing of ``dataset``'s lesion training parts: ``{"target_per_class",
    "max_copies"}`` (``data.balance``; for ISIC 2016 updated by ``data.balance_isic2016``), or
    ``None`` when ISIC 2016 is not balanced (``data.balance_isic2016: null``)."""
    base = dict(cfg["data"]["balance"])
    if dataset != "isic2016":
        return base
    override = cfg["data"].get("balance_isic2016", {})
    return None if override is None else {**base, **override}


def train_params(cfg: Mapping, network: str, hpo_best: str | Path | None = None) -> dict:
    """Training hyper-parameters of ``network``: the config's ``<network>.train`` block,
    with the searched values of ``results/hpo/<network>/best.json`` on top when given."""
    if network not in NETWORKS:
        raise ConfigError(f"unknown network {network!r} (one of {', '.join(NETWORKS)})")
    params = dict(cfg[network]["train"])
    if hpo_best:
        with open(hpo_best) as fh:
            best = json.load(fh)
        chosen = best.get("best", best)
        for key in TRAIN_KEYS:
            if key in chosen:
                params[key] = chosen[key]
    return params


#: sub-keys of a stage section that only schedule a job (they never change its result)
SCHEDULING_KEYS: tuple[str, ...] = ("resources",)


def canonical(value: Any) -> str:
    """``value`` as the text Snakemake's ``params`` rerun trigger compares: JSON with sorted
    keys and no spaces, so that reordering or reformatting a config file changes nothing,
    e.g. ``{"b": 1, "a": [1, 2]}`` -> ``'{"a":[1,2],"b":1}'``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def ordered(value: Any) -> Any:
    """``value`` with the keys of every mapping in it sorted (JSON types: lists stay lists),
    for a ``params:`` value a script reads as a dict: its ``repr``, which Snakemake compares,
    no longer depends on the order of a config file's keys."""
    return json.loads(canonical(value))


def config_params(cfg: Mapping, *keys: str) -> str:
    """:func:`canonical` of the dotted ``keys`` of the resolved ``cfg`` — the config a rule's
    result depends on, declared as ``params: cfg=config_params(config, "lesion", "seed")``.

    The :data:`SCHEDULING_KEYS` of a section are left out (resources never change a result).
    Raises KeyError naming a key that is not in ``cfg``.
    """
    out = {}
    for key in keys:
        value: Any = cfg
        for part in key.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise KeyError(f"config_params: no key {key!r} in the config")
            value = value[part]
        if isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k not in SCHEDULING_KEYS}
        out[key] = value
    return canonical(out)
