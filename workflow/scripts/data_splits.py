"""Split table of one dataset (leakage-free: grouped by lesion; `protocol: thesis`: by image);
where the protocol removes overlaps, the copies of test images leave its folds."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from selcn.atomic import write_csv
from selcn.data.overlap import OverlapPlan, read_overlaps
from selcn.data.splits import exclude_overlaps, exclude_ph2_test_images, make_splits
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
if "ph2_splits" in snakemake.input.keys():     # SymDerm: PH² test images never train it
    ph2 = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in snakemake.input.ph2_splits]
    table = exclude_ph2_test_images(table, ph2)
if "overlaps" in snakemake.input.keys():       # the overlap guard (selcn.data.overlap)
    plan = OverlapPlan.from_params(snakemake.params.overlap_plan)
    tests = {k[len("test_"):]: pd.read_csv(v, dtype=str, keep_default_na=False)
             for k, v in snakemake.input.items() if k.startswith("test_")}
    table = exclude_overlaps(dataset, table, read_overlaps(snakemake.input.overlaps),
                             losing=dataset in plan.losing, test_splits=tests)
write_csv(table, snakemake.output.splits)
