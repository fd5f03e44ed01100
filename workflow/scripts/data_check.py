"""check_data: look up every configured dataset's files and print what was found (no decoding)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.atomic import write_csv
from selcn.data.check import check_data

result = check_data({"data": snakemake.params.paths})
print(result)
write_csv(result.table(), snakemake.output.table)
print(result, file=sys.__stderr__)             # the user sees the table, not only the log
if not result.ok:
    sys.exit(f"check_data: problems found (see {snakemake.log[0]})")
