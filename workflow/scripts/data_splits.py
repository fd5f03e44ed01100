"""Split table of one dataset (leakage-free: grouped by lesion; `protocol: thesis`: by image)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from selcn.atomic import write_csv
from selcn.data.splits import make_splits
from selcn.protocol import policy

dataset = snakemake.wildcards.dataset
protocol = policy(snakemake.params.protocol)
index = pd.read_csv(snakemake.input.index, dtype={"image_id": str, "group": str},
                    keep_default_na=False)
ham_splits = None
if "ham_splits" in snakemake.input.keys():
    ham_splits = pd.read_csv(snakemake.input.ham_splits, dtype=str, keep_default_na=False)
if not protocol.grouped:
    print(f"protocol: {protocol.name} — image-level split as in the thesis (lesions cross the "
          "test boundary); set protocol: leakage_free for lesion-grouped splits")
table = make_splits(dataset, index, n_folds=snakemake.params.folds,
                    test_fraction=snakemake.params.test_fraction, seed=snakemake.params.seed,
                    protocol=protocol, ham_splits=ham_splits)
write_csv(table, snakemake.output.splits)
