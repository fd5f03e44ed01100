"""Counts of the core's reading cost, from the source alone: ``python tests/structure.py``.

Printed and checked by ``tests/test_structure.py``:

- ``long_signatures``: functions in ``src/selcn`` with more than :data:`MAX_PARAMS` named
  parameters (``self`` / ``cls`` not counted; ``*args`` / ``**kwargs`` not counted either, they
  are counted apart), each listed with its count;
- ``star_args``: functions taking ``*args`` or ``**kwargs``;
- ``protocol_comparisons``: comparisons with a protocol name (``"thesis"``, ``"leakage_free"``)
  outside ``selcn/protocol.py``, in Python (``==``, ``!=``, ``in``) and in the caption
  templates ``workflow/report/*.rst``;
- ``common_smk_lines``: lines of ``rules/common.smk``;
- ``report_heavy_imports``: modules of ``selcn/report/`` importing torch or a stage module;
- ``predict_imports_report``: whether a module of the predict side imports ``selcn.report``.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "selcn"
#: a function with more named parameters than this is a long signature
MAX_PARAMS = 8
PROTOCOL_NAMES = ("thesis", "leakage_free")
#: modules that hold networks or run them: the report may import none of them
HEAVY_PREFIXES = ("torch", "torchvision", "timm", "segmentation_models_pytorch",
                  "pytorch_grad_cam",
                  "selcn.engine", "selcn.lesion", "selcn.symmetry", "selcn.segmentation",
                  "selcn.classifier", "selcn.training", "selcn.resume", "selcn.cams",
                  "selcn.models",
                  "selcn.hpo", "selcn.export", "selcn.predict", "selcn.data.datasets")


def _modules(root: Path = SRC) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _named(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    return [n for n in names if n not in ("self", "cls")]


def _imports(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _is_protocol_name(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and node.value in PROTOCOL_NAMES:
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_protocol_name(e) for e in node.elts)
    return False


def counts(repo: Path = REPO) -> dict:
    src = repo / "src" / "selcn"
    long_sigs, star = [], []
    protocol_cmp = []
    report_heavy, predict_report = [], []
    for path in _modules(src):
        rel = path.relative_to(src.parent).as_posix()
        tree = ast.parse(path.read_text(), filename=str(path))
        for fn in _functions(tree):
            named = _named(fn)
            if len(named) > MAX_PARAMS:
                long_sigs.append(f"{rel}:{fn.name} ({len(named)})")
            if fn.args.vararg or fn.args.kwarg:
                star.append(f"{rel}:{fn.name}")
        if path.name != "protocol.py" or path.parent != src:
            for node in ast.walk(tree):
                if isinstance(node, ast.Compare) and any(
                        _is_protocol_name(x) for x in (node.left, *node.comparators)):
                    protocol_cmp.append(f"{rel}:{node.lineno}")
        imports = _imports(tree)
        if path.parent.name == "report":
            heavy = sorted(i for i in imports
                           if any(i == h or i.startswith(h + ".") for h in HEAVY_PREFIXES))
            if heavy:
                report_heavy.append(f"{rel} ({', '.join(heavy)})")
        if "predict" in path.relative_to(src).parts[0] and any(
                i == "selcn.report" or i.startswith("selcn.report.") for i in imports):
            predict_report.append(rel)
    pattern = re.compile(r"""(==|!=|\bin\b)\s*["'](thesis|leakage_free)["']|"""
                         r"""["'](thesis|leakage_free)["']\s*(==|!=|\bin\b)""")
    for rst in sorted((repo / "workflow" / "report").glob("*.rst")):
        for i, line in enumerate(rst.read_text().splitlines(), 1):
            if "{%" in line and pattern.search(line):
                protocol_cmp.append(f"{rst.relative_to(repo).as_posix()}:{i}")
    common = repo / "rules" / "common.smk"
    return {
        "long_signatures": long_sigs,
        "star_args": star,
        "protocol_comparisons": protocol_cmp,
        "common_smk_lines": len(common.read_text().splitlines()) if common.exists() else 0,
        "report_heavy_imports": report_heavy,
        "predict_imports_report": predict_report,
    }


def main(argv: list[str]) -> int:
    repo = Path(argv[1]) if len(argv) > 1 else REPO
    found = counts(repo)
    if "--json" in argv:
        print(json.dumps(found, indent=2))
        return 0
    for key, value in found.items():
        if isinstance(value, list):
            print(f"{key}: {len(value)}")
            for item in value:
                print(f"    {item}")
        else:
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
