"""The conda environments agree with the package's pinned dependencies."""

import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name


def _pins(lines):
    """{canonical name: '==version'} of requirement strings (every one must be an exact pin)."""
    out = {}
    for line in lines:
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{line!r} is not pinned"
        out[canonicalize_name(req.name)] = str(req.specifier)
    return out


@pytest.fixture(scope="module")
def project(repo):
    with open(repo / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def _env(repo, name):
    with open(repo / "envs" / name) as fh:
        env = yaml.safe_load(fh)
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    return env, conda, pip


def _python(conda):
    return next(d.split("=", 1)[1] for d in conda if d.split("=")[0] == "python")


def test_rule_env_pins_the_package_dependencies(repo, project):
    env, conda, pip = _env(repo, "selcn.yaml")
    requirements = [p for p in pip if not p.startswith(("-", "."))]
    assert _pins(requirements) == _pins(project["dependencies"])
    assert "--editable .." in pip                      # the package itself, from this repository
    assert (repo / "envs" / ".." / "pyproject.toml").is_file()
    assert SpecifierSet(project["requires-python"]).contains(_python(conda) + ".0")
    assert "pip" in conda


def test_workflow_env_pins_snakemake_and_the_slurm_plugin(repo, project):
    env, conda, pip = _env(repo, "workflow.yaml")
    pins = _pins(pip)
    extra = _pins(project["optional-dependencies"]["workflow"])
    assert {k: pins[k] for k in extra} == extra
    allowed = {**_pins(project["dependencies"]), **extra}
    assert {k: allowed.get(k) for k in pins} == pins  # nothing the project does not pin
    assert SpecifierSet(project["requires-python"]).contains(_python(conda) + ".0")


def test_lock_file_agrees_with_the_pins(repo, project):
    lock = {}
    for line in (repo / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            lock[canonicalize_name(req.name)] = str(req.specifier)
    pins = _pins(project["dependencies"])
    for extra in project["optional-dependencies"].values():   # workflow, test, lint
        pins.update(_pins(extra))
    assert {"snakemake", "pytest", "ruff", "snakefmt"} <= set(pins)
    assert {k: lock.get(k) for k in pins} == pins


def test_rules_reference_the_env_that_exists(repo):
    common = (repo / "rules" / "common.smk").read_text()
    line = next(x for x in common.splitlines() if x.startswith("SELCN_ENV = "))
    path = yaml.safe_load(line.split("=", 1)[1])
    assert (repo / "rules" / path).resolve() == (repo / "envs" / "selcn.yaml").resolve()
