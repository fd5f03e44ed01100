"""Figure 5: HAM10000 images before and after hair removal."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.data.readers import read_ham10000
from selcn.report.data_figures import pick_hairy, plot_hair_removal

p = snakemake.params.paths
table = read_ham10000(p["metadata"], p["image_dirs"], None)
chosen = pick_hairy(table["path"].tolist(), n=snakemake.params.n, seed=snakemake.params.seed)
print("images:", chosen)
plot_hair_removal(chosen, snakemake.output.figure)
