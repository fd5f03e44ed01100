"""Pick a symmetry variant's best fold (validation balanced accuracy; test accuracy under
protocol: thesis) and write best_fold.json."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.symmetry import select_best_fold, write_best_fold

best = select_best_fold(dict(zip(snakemake.params.folds, snakemake.input.predictions)),
                        protocol=snakemake.params.protocol)
write_best_fold(best, snakemake.output.best)
print(f"[symmetry] {snakemake.wildcards.variant}: best fold {best}")
