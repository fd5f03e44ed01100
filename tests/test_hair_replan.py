"""``data.hair_removal`` re-plans the caches exactly when the filter changes (issue 20): the cache
rule's param is the resolved filter (:func:`selcn.data.preprocess.hair_param`), spelled
``true`` / ``false`` for the thesis' filter / none as caches built before recorded it.

As ``tests/test_rerun.py`` does, a finished run is stood in for by ``snakemake --touch`` over
empty files (the touch executor records each job's params), here of the demo's HAM10000 cache
only; then ``snakemake -n`` with an edited config must plan the cache job or nothing.
"""

import copy

import pytest
import yaml

from helpers import REPO, run_snakemake
from selcn.config import deep_merge
from selcn.plan import parse_dry_run
from test_workflow_e2e import TINY

pytestmark = pytest.mark.slow

TARGET = "results/cache/ham10000/index.csv"


def _run(work, config, *args):
    run = run_snakemake(work, "--configfile", str(config), *args, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return run.stdout + run.stderr


def _config(work, raw, name, value):
    cfg = copy.deepcopy(raw)
    cfg["data"]["hair_removal"] = value
    path = work / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """A work directory whose HAM10000 cache was 'built' under ``hair_removal: true``."""
    work = tmp_path_factory.mktemp("hair")
    raw = deep_merge(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), TINY)
    config = _config(work, raw, "true.yaml", True)
    text = _run(work, config, "-n", "--forceall", TARGET)
    for line in text.splitlines():
        if line.startswith("    output:"):
            for f in line.split(":", 1)[1].split(","):
                path = work / f.strip()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
    _run(work, config, "--touch", "--forceall", "--cores", "1", TARGET)
    assert "Nothing to be done" in _run(work, config, "-n", TARGET)
    return work, raw


@pytest.mark.parametrize("value, replans", [
    ("thesis", False),              # the old spelling's filter: the cache stays valid
    ("pigment_sparing", True),
    ("thesis_code", True),
    (False, True),
    (None, True),                   # leakage_free's default: pigment_sparing
])
def test_the_cache_is_replanned_when_the_filter_changes(cached, value, replans):
    work, raw = cached
    config = _config(work, raw, f"{value}.yaml", value)
    text = _run(work, config, "-n", TARGET)
    planned = {job.rule for job in parse_dry_run(text)}
    if replans:
        assert "cache_dataset" in planned and "Params have changed" in text, text[-3000:]
        assert "synthetic_data" not in planned
    else:
        assert "Nothing to be done" in text, text[-3000:]
