"""Pick a symmetry variant's best fold (validation balanced accuracy; test accuracy where the
protocol selects on the test split) and write best_fold.json."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.atomic import write_json
from selcn.protocol import policy
from selcn.selection import FOLD_METRICS, best_fold_criterion, select_best_fold

criterion = best_fold_criterion(policy(snakemake.params.protocol), FOLD_METRICS["symmetry"])
best = select_best_fold(dict(zip(snakemake.params.folds, snakemake.input.predictions)), criterion)
write_json(best, snakemake.output.best)
print(f"[symmetry] {snakemake.wildcards.variant}: best fold {best}")
