"""Write the synthetic demo datasets in their published formats (data.synthetic)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.data.synthetic import generate_all

generate_all(snakemake.params.root, seed=snakemake.params.seed, **snakemake.params.synthetic)
