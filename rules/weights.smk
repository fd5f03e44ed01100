# Pretrained ImageNet weights for offline compute nodes (DESIGN: no network at run time).
# `snakemake fetch_weights`, run where there is network (a login node), puts the weights every
# pretrained network of the config needs into `weights.cache_dir`: one `download_weights` job
# per missing file, none when the cache is complete. The jobs read the cache only
# (selcn.weights.load_pretrained); with `weights.cache_dir: null` nothing is needed.
import re

from selcn.weights import required_weights, weight_file

try:
    WEIGHT_SPECS = {spec.name: spec for spec in required_weights(CFG)}
except ValueError as err:
    raise WorkflowError(str(err)) from None
WEIGHTS_DIR = CFG["weights"]["cache_dir"]


def weights_path(name):
    """The cache file of `name`: the one present (.pth or .safetensors), else the .pth to fetch."""
    return str(weight_file(WEIGHTS_DIR, name) or f"{WEIGHTS_DIR}/{name}.pth")


def pretrained_weights(network, arch=None):
    """Input of a training rule of `network` (and `arch`, for the symmetry comparison): the
    cache files it loads, so that a missing one is fetched first; [] without pretraining."""
    return [
        weights_path(name)
        for name, spec in WEIGHT_SPECS.items()
        if spec.network == network and (arch is None or spec.model == arch)
    ]


rule fetch_weights:
    input:
        [weights_path(name) for name in WEIGHT_SPECS],
    localrule: True


if WEIGHT_SPECS:

    rule download_weights:
        output:
            weights=f"{WEIGHTS_DIR}/{{weights_name}}.pth",
        params:
            library=lambda w: WEIGHT_SPECS[w.weights_name].library,
            model=lambda w: WEIGHT_SPECS[w.weights_name].model,
        log:
            f"{LOGS}/weights/{{weights_name}}.log",
        wildcard_constraints:
            weights_name="|".join(re.escape(name) for name in WEIGHT_SPECS),
        localrule: True
        conda:
            SELCN_ENV
        script:
            "../workflow/scripts/weights_fetch.py"
