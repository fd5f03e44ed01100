"""The leakage check: fails the run if a lesion lies on both sides of a split boundary."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from selcn.atomic import write_json
from selcn.data.splits import check_no_leakage, leakage_report
from selcn.protocol import policy

ham = pd.read_csv(snakemake.input.ham10000, dtype=str, keep_default_na=False)
protocol = policy(snakemake.params.protocol)
report = {"protocol": protocol.name}
for name, path in zip(snakemake.params.datasets, snakemake.input.splits):
    splits = pd.read_csv(path, dtype=str, keep_default_na=False)
    if protocol.grouped:
        report[name] = check_no_leakage(splits, ham_splits=None if name == "ham10000" else ham,
                                        external=name == "isic2019", name=path)
    else:                       # an image-level split leaks by design: report, do not fail
        report[name] = leakage_report(splits)
    print(f"{name}: {report[name]}")
write_json(report, snakemake.output.report)
