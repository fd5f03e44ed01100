"""Figure 5: the images of the figures' dataset (HAM10000, or PH² in config/ph2.yaml) with the
largest hair-mask fraction, before and after hair removal (every image of the metadata is
scored)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.data.readers import read_dataset, read_ham10000
from selcn.report.data_figures import pick_hairy, plot_hair_removal

p = snakemake.params.paths
dataset = snakemake.params.dataset
table = (read_ham10000(p["metadata"], p["image_dirs"], None) if dataset == "ham10000"
         else read_dataset(dataset, p))
chosen = pick_hairy(table["path"].tolist(), n=snakemake.params.n, threads=snakemake.threads)
for path, fraction in chosen:
    print(f"{path}: hair-mask fraction {fraction:.4f}")
plot_hair_removal([c[0] for c in chosen], snakemake.output.figure,
                  fractions=[c[1] for c in chosen])
