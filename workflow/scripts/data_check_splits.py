"""The leakage check: fails the run if a lesion lies on both sides of a split boundary, a
SymDerm image that is a PH² test image is not excluded, or (protocol leakage_free) a test image
has a copy left in a training fold (selcn.data.overlap); writes the overlaps' summary."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from selcn.atomic import write_csv, write_json
from selcn.data.overlap import OverlapPlan, check_overlaps, read_overlaps, resolve, summarise
from selcn.data.splits import check_no_leakage, check_ph2_pairs, leakage_report
from selcn.grid import grid
from selcn.protocol import policy

ham = None                  # HAM10000's split table, where HAM10000 is one of the datasets
if "ham10000" in snakemake.input.keys():
    ham = pd.read_csv(snakemake.input.ham10000, dtype=str, keep_default_na=False)
protocol = policy(snakemake.params.protocol)
report = {"protocol": protocol.name}
tables = {name: pd.read_csv(path, dtype=str, keep_default_na=False)
          for name, path in zip(snakemake.params.datasets, snakemake.input.splits)}
# the PH² datasets that are test sets (their test images must not train the symmetry network)
ph2_tests = [tables[d] for d in grid(snakemake.config).test_sets_of_ph2]
for name, path in zip(snakemake.params.datasets, snakemake.input.splits):
    splits = tables[name]
    if name == "symderm" and ph2_tests:
        print(f"symderm: {check_ph2_pairs(splits, ph2_tests, name=path)} PH2 test images "
              "excluded")
    if protocol.grouped:
        report[name] = check_no_leakage(splits, ham_splits=None if name == "ham10000" else ham,
                                        external=name == "isic2019", name=path)
    else:                       # an image-level split leaks by design: report, do not fail
        report[name] = leakage_report(splits)
    print(f"{name}: {report[name]}")
# the overlap guard: no test image with a copy left in a training fold (leakage_free), or the
# overlaps reported (thesis); the summary is the report's "Overlaps" table
plan = OverlapPlan.from_params(snakemake.params.overlap_plan)
resolved = resolve(plan, read_overlaps(snakemake.input.overlaps), tables)
report["overlaps_left_in_training"] = check_overlaps(plan, resolved)
summary = summarise(plan, resolved)
print(f"overlaps:\n{summary.to_string(index=False)}")
write_csv(summary, snakemake.output.overlaps)
write_json(report, snakemake.output.report)
