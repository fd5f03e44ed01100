# Pretrained ImageNet weights for offline compute nodes (DESIGN: no network at run time).
# `snakemake fetch_weights`, run where there is network (a login node), puts the weights every
# pretrained network of the config needs into `weights.cache_dir`: one `download_weights` job
# per missing file, none when the cache is complete. The jobs read the cache only
# (selcn.weights.load_pretrained); with `weights.cache_dir: null` nothing is needed.
# Helpers (WEIGHT_SPECS, weights_path, pretrained_weights): rules/common.smk, "---- weights".
import re


rule fetch_weights:
    input:
        [weights_path(name) for name in WEIGHT_SPECS],
    localrule: True


if WEIGHT_SPECS:

    rule download_weights:
        output:
            weights=f"{WEIGHTS_DIR}/{{weights_name}}.pth",
        log:
            f"{LOGS}/weights/{{weights_name}}.log",
        wildcard_constraints:
            weights_name="|".join(re.escape(name) for name in WEIGHT_SPECS),
        localrule: True
        conda:
            SELCN_ENV
        params:
            library=lambda w: WEIGHT_SPECS[w.weights_name].library,
            model=lambda w: WEIGHT_SPECS[w.weights_name].model,
        script:
            "../workflow/scripts/weights_fetch.py"
