"""Download one architecture's ImageNet weights into the weight cache (localrule, login node)."""
import os
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)
os.environ.pop("HF_HUB_OFFLINE", None)  # this rule is the one place that downloads

from pathlib import Path

from selcn.weights import fetch_weights

out = Path(snakemake.output.weights)
path = fetch_weights(snakemake.wildcards.weights_name, out.parent, snakemake.params.library,
                     snakemake.params.model)
print(f"{snakemake.params.library} {snakemake.params.model} -> {path}")
