# Pretrained ImageNet weights for offline compute nodes (DESIGN: no network at run time).
# `snakemake fetch_weights`, run where there is network (a login node), puts the weights every
# pretrained network of the config needs into `weights.cache_dir`: one `download_weights` job
# per missing file, none when the cache is complete. The jobs read the cache only
# (selcn.weights.load_pretrained); with `weights.cache_dir: null` nothing is needed.
# The files: JOBS.weights (name -> spec), JOBS.weight_files(), JOBS.pretrained_weights()
# (selcn.jobs).
import re


rule fetch_weights:
    input:
        JOBS.weight_files(),
    localrule: True


if JOBS.weights:

    rule download_weights:
        output:
            weights=f"{CFG['weights']['cache_dir']}/{{weights_name}}.pth",
        log:
            f"{LOGS}/weights/{{weights_name}}.log",
        wildcard_constraints:
            weights_name="|".join(re.escape(name) for name in JOBS.weights),
        localrule: True
        conda:
            SELCN_ENV
        params:
            library=lambda w: JOBS.weights[w.weights_name].library,
            model=lambda w: JOBS.weights[w.weights_name].model,
        script:
            "../workflow/scripts/weights_fetch.py"
