"""Figure 6: class distribution of the figures' dataset (HAM10000, or PH² in config/ph2.yaml)
before / after balancing (one training part)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from selcn.atomic import write_csv
from selcn.data.labels import classes
from selcn.grid import DATASET_LABELS
from selcn.report.data_figures import class_counts, plot_class_distribution

index = pd.read_csv(snakemake.input.index, dtype={"image_id": str}, keep_default_na=False)
splits = pd.read_csv(snakemake.input.splits, dtype={"image_id": str}, keep_default_na=False)
target = snakemake.params.target_per_class
dataset = snakemake.params.dataset
counts = class_counts(index, splits, classes(dataset), target_per_class=target,
                      max_copies=snakemake.params.max_copies, seed=snakemake.params.seed)
print(counts.pivot(index="class", columns="stage", values="count").to_string())
write_csv(counts, snakemake.output.counts)
plot_class_distribution(counts, snakemake.output.figure, target_per_class=target,
                        title=f"{DATASET_LABELS[dataset]}: class distribution before / after "
                              "balancing")
