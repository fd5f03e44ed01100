"""What the package needs at run time: grad-cam (pytorch-grad-cam) is a test dependency only —
the workflow computes Grad-CAM++ itself (selcn.cams); tests and benchmarks compare with it."""

import ast
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _names(requirements):
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_grad_cam_is_a_test_dependency_only(repo):
    with open(repo / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    assert "grad-cam" not in _names(project["dependencies"])
    assert "grad-cam" in _names(project["optional-dependencies"]["test"])
    runtime = [*(repo / "src").rglob("*.py"), *(repo / "workflow" / "scripts").glob("*.py")]
    users = [str(p.relative_to(repo)) for p in runtime
             if any(m.split(".")[0] == "pytorch_grad_cam" for m in _imports(p))]
    assert users == []
