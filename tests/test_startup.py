"""Jobs that do not need a heavy library do not import it (each SLURM job pays its imports)."""

import subprocess
import sys

import pytest

#: modules of the jobs that only read and write tables, JSON and figures
LIGHT = ["selcn.selection", "selcn.atomic", "selcn.masks", "selcn.metrics", "selcn.data.splits",
         "selcn.data.check", "selcn.report.tables", "selcn.report.stats", "selcn.report.figures",
         "selcn.report.data_figures", "selcn.grid", "selcn.paths", "selcn.config"]
HEAVY = ["torch", "timm", "torchvision", "segmentation_models_pytorch", "seaborn", "skopt",
         "sklearn"]


def _imported(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", LIGHT)
def test_light_modules_import_no_heavy_library(module):
    loaded = _imported(f"import {module}")
    assert not loaded & set(HEAVY), f"{module} imports {sorted(loaded & set(HEAVY))}"


def test_the_workflow_definition_imports_no_torch(repo, tmp_path):
    """Snakemake reads the Snakefile at every call (twice per SLURM job): no torch there."""
    code = ("import sys\nfrom snakemake.cli import main\n"
            f"sys.argv = ['snakemake', '-n', '--quiet', '--snakefile', r'{repo / 'Snakefile'}',"
            f" '--directory', r'{tmp_path}']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip().endswith("NO-TORCH"), out.stdout[-2000:] + out.stderr[-2000:]
