"""The overlap guard's matches: every (test image, training image) of every pair of the config,
found by id, pixels or perceptual hash in the caches (selcn.data.overlap)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import time

import numpy as np
import pandas as pd

from selcn.atomic import write_csv
from selcn.data.overlap import ImageSet, OverlapPlan, find_overlaps
from selcn.data.splits import fixed_test_ids
from selcn.protocol import policy

t0 = time.perf_counter()
plan = OverlapPlan.from_params(snakemake.params.plan)
protocol = policy(snakemake.params.protocol)
sets, fixed = {}, {}
for d in plan.datasets:
    index = pd.read_csv(snakemake.input[f"index_{d}"], dtype={"image_id": str},
                        keep_default_na=False)
    images = np.load(snakemake.input[f"images_{d}"], mmap_mode="r")
    sets[d] = ImageSet.of(d, index["image_id"], images)
    if d in plan.fixed:
        fixed[d] = fixed_test_ids(d, index, protocol, external=d in plan.externals) or []
table = find_overlaps(plan, sets, fixed)
write_csv(table, snakemake.output.overlaps)
print(f"{len(table)} match(es) over {len(plan.pairs())} pair(s) in "
      f"{time.perf_counter() - t0:.1f} s -> {snakemake.output.overlaps}")
