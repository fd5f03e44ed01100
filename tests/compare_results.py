"""Compare two ``results/`` folders of the same config, file by file (a refactor must not change
a result): ``python tests/compare_results.py OLD/results NEW/results``.

- CSV: equal as tables (same columns, same values; floats to 1e-12), but for the ``seconds``
  column of ``history.csv`` / ``trials.csv`` (wall time) and the ``seconds`` /
  ``images_per_second`` a log may print;
- ``.npy`` / ``.npz``: equal arrays;
- ``model.pt`` (and the bundle's ``*.pt``): every tensor ``torch.equal``, every other field
  equal;
- JSON: equal, but for wall-time fields (``seconds``, ``created``) and paths;
- other files (PNG, HTML, images): byte-equal, reported apart (a figure's bytes may change with
  a caption or a drawing library, not a number).

Logs, ``.snakemake`` and hidden files are skipped; files present on one side only are listed.
Exit code 1 when a table, array, model or JSON differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: columns that hold wall time, not results
TIME_COLUMNS = {"seconds", "images_per_second"}
#: JSON fields that hold wall time or provenance, not results
TIME_FIELDS = {"seconds", "created", "images_per_second", "sources", "versions"}


def _files(root: Path) -> set[str]:
    out = set()
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts) \
                and rel.parts[0] not in ("logs",):
            out.add(rel.as_posix())
    return out


def _same_csv(a: Path, b: Path) -> str | None:
    x, y = pd.read_csv(a), pd.read_csv(b)
    drop = [c for c in TIME_COLUMNS if c in x.columns]
    x, y = x.drop(columns=drop, errors="ignore"), y.drop(columns=drop, errors="ignore")
    if list(x.columns) != list(y.columns) or x.shape != y.shape:
        return f"columns/shape {list(x.columns)} {x.shape} vs {list(y.columns)} {y.shape}"
    for c in x.columns:
        if pd.api.types.is_float_dtype(x[c]) and pd.api.types.is_float_dtype(y[c]):
            if not np.allclose(x[c], y[c], rtol=0, atol=1e-12, equal_nan=True):
                return f"column {c}: max diff {np.nanmax(np.abs(x[c] - y[c]))}"
        elif not x[c].equals(y[c]):
            return f"column {c} differs"
    return None


def _same_array(a: Path, b: Path) -> str | None:
    if a.suffix == ".npz":
        with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
            if sorted(x.files) != sorted(y.files):
                return f"keys {sorted(x.files)} vs {sorted(y.files)}"
            bad = [k for k in x.files if not np.array_equal(x[k], y[k])]
            return f"arrays {bad}" if bad else None
    x, y = np.load(a), np.load(b)
    return None if x.shape == y.shape and np.array_equal(x, y) else "array differs"


def _same_model(a: Path, b: Path) -> str | None:
    import torch

    x = torch.load(a, map_location="cpu", weights_only=True)
    y = torch.load(b, map_location="cpu", weights_only=True)
    if set(x) != set(y):
        return f"fields {sorted(set(x) ^ set(y))}"
    for key in x:
        if key == "state_dict":
            sx, sy = x[key], y[key]
            if list(sx) != list(sy):
                return "state_dict keys"
            bad = [k for k in sx if not torch.equal(sx[k], sy[k])]
            if bad:
                return f"{len(bad)} tensor(s), e.g. {bad[0]}"
        elif x[key] != y[key]:
            return f"field {key}: {x[key]!r} vs {y[key]!r}"
    return None


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in TIME_FIELDS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _same_json(a: Path, b: Path) -> str | None:
    x, y = _strip(json.loads(a.read_text())), _strip(json.loads(b.read_text()))
    return None if x == y else "content differs"


def compare(old: Path, new: Path) -> dict:
    """``{"compared": {kind: n}, "differ": [...], "bytes_differ": [...], "only_old": [...],
    "only_new": [...]}``."""
    a, b = _files(old), _files(new)
    out = {"compared": {}, "differ": [], "bytes_differ": [], "only_old": sorted(a - b),
           "only_new": sorted(b - a)}
    for rel in sorted(a & b):
        x, y = old / rel, new / rel
        suffix = x.suffix
        if suffix == ".csv":
            kind, why = "csv", _same_csv(x, y)
        elif suffix in (".npy", ".npz"):
            kind, why = "array", _same_array(x, y)
        elif suffix == ".pt":
            kind, why = "model", _same_model(x, y)
        elif suffix == ".json":
            kind, why = "json", _same_json(x, y)
        else:
            kind = "other"
            if x.read_bytes() != y.read_bytes():
                out["bytes_differ"].append(rel)
            why = None
        out["compared"][kind] = out["compared"].get(kind, 0) + 1
        if why:
            out["differ"].append(f"{rel}: {why}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    found = compare(Path(argv[1]), Path(argv[2]))
    print(f"compared: {found['compared']}")
    for key in ("differ", "bytes_differ", "only_old", "only_new"):
        print(f"{key}: {len(found[key])}")
        for item in found[key]:
            print(f"    {item}")
    return 1 if found["differ"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
