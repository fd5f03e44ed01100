"""Write the synthetic demo datasets in their published formats (data.synthetic)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.data.synthetic import SyntheticSpec, generate_all

spec = SyntheticSpec.from_config(snakemake.params.synthetic, seed=snakemake.params.seed)
generate_all(snakemake.params.root, spec)
