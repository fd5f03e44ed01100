"""check_data / check_data_deep: look up every configured dataset's files and check them with the
cache's loader, from their headers (check_data) or decoding every pixel (check_data_deep)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.atomic import write_csv
from selcn.data.check import CheckOptions, check_data
from selcn.data.preprocess import LoaderSettings

options = CheckOptions(deep=bool(getattr(snakemake.params, "deep", False)),
                       loader=LoaderSettings.of(snakemake.config["data"]),
                       threads=snakemake.threads)
result = check_data({"data": snakemake.params.paths}, options=options)
print(result)
write_csv(result.table(), snakemake.output.table)
print(result, file=sys.__stderr__)             # the user sees the table, not only the log
if not result.ok:
    sys.exit(f"{snakemake.rule}: problems found (see {snakemake.log[0]})")
