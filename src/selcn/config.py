"""Configuration: load, validate against ``config/schema.yaml``, fill defaults, and the grid.

The grid of wildcard values (classifier masks, symmetry masks, folds, architectures,
datasets) is defined here once; ``rules/common.smk`` and the report read it from
:func:`grid`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"

#: Order of the thesis' tables: model number = 1 + 4 * classifier index + symmetry index.
CLASSIFIER_MASKS: tuple[str, ...] = ("none", "seg", "lae")
SYMMETRY_MASKS: tuple[str, ...] = ("off", "none", "seg", "lae")
MASK_LABELS = {"off": "No CAM transfer", "none": "Without masks", "seg": "Segmentation masks",
               "lae": "LAE masks"}
NETWORKS: tuple[str, ...] = ("segmentation", "symmetry", "lesion")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


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


def _path_of(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def validate_config(config: Mapping, schema_path: Path | None = None,
                    source: str = "config") -> dict:
    """Validate ``config`` and return a deep copy with every default filled in.

    Raises :class:`ConfigError` with one message naming the offending key, e.g.
    ``config.yaml: unknown key 'segmentation.encodr' (allowed: architectures, encoder, ...)``.
    """
    schema = _load_schema(schema_path)
    cfg = _fill_defaults(copy.deepcopy(dict(config)), schema, schema)
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
    return cfg


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


@dataclass(frozen=True)
class Grid:
    """The wildcard values of the workflow, read from a validated config."""

    seg_archs: tuple[str, ...]
    symmetry_masks: tuple[str, ...]          # masks of the symmetry network: none|seg|lae
    symmetry_folds: tuple[int, ...]
    symmetry_variants: tuple[str, ...]       # Table 6 rows: scratch-none, pretrained-none, ...
    symmetry_archs: tuple[str, ...]          # architecture comparison
    classifier_masks: tuple[str, ...]
    cam_masks: tuple[str, ...]               # lesion-stage symmetry_mask: off|none|seg|lae
    lesion_folds: tuple[int, ...]
    lesion_datasets: tuple[str, ...]

    def models(self) -> list[dict]:
        """The lesion models in the thesis' order: ``number``, ``classifier_mask``, ``symmetry_mask``.

        Numbers follow the full 3 x 4 grid (1-12) even when the config selects a subset.
        """
        out = []
        for cm in self.classifier_masks:
            for sm in self.cam_masks:
                out.append({"number": model_number(cm, sm), "classifier_mask": cm,
                            "symmetry_mask": sm})
        return sorted(out, key=lambda m: m["number"])


def model_number(classifier_mask: str, symmetry_mask: str) -> int:
    """Thesis model number (1-12) of a grid cell."""
    return 1 + 4 * CLASSIFIER_MASKS.index(classifier_mask) + SYMMETRY_MASKS.index(symmetry_mask)


def symmetry_variant(mask: str, pretrained: bool) -> str:
    """Name of a Table 6 row, e.g. ``pretrained-seg`` or ``scratch-none``."""
    return f"{'pretrained' if pretrained else 'scratch'}-{mask}"


def grid(cfg: Mapping) -> Grid:
    """The grid of wildcard values of a validated config."""
    sym = cfg["symmetry"]
    les = cfg["lesion"]
    variants = [symmetry_variant(m, sym["pretrained"]) for m in sym["masks"]]
    if sym["scratch_baseline"] and "none" in sym["masks"]:
        variants.insert(0, symmetry_variant("none", False))
    variants = list(dict.fromkeys(variants))
    cam_masks = tuple(m for m in SYMMETRY_MASKS if m in les["symmetry_masks"])
    missing = [m for m in cam_masks if m != "off" and m not in sym["masks"]]
    if missing:
        raise ConfigError(f"lesion.symmetry_masks {missing} need the same masks in symmetry.masks")
    return Grid(
        seg_archs=tuple(cfg["segmentation"]["architectures"]),
        symmetry_masks=tuple(m for m in CLASSIFIER_MASKS if m in sym["masks"]),
        symmetry_folds=tuple(range(sym["folds"])),
        symmetry_variants=tuple(variants),
        symmetry_archs=tuple(sym["compare_architectures"]),
        classifier_masks=tuple(m for m in CLASSIFIER_MASKS if m in les["classifier_masks"]),
        cam_masks=cam_masks,
        lesion_folds=tuple(range(les["folds"])),
        lesion_datasets=tuple(les["datasets"]),
    )


TRAIN_KEYS = ("batch_size", "lr", "momentum", "weight_decay", "weighted_loss")


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
