"""The cost table of model 13 against the cascade (selcn.multitask.cost_table): parameters,
multiply-accumulates per image, training GPU-hours from the plan, CPU images/s at one input
size (one thread; both systems timed alternately in this process)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.atomic import write_csv
from selcn.multitask import CostSettings, cost_table

params = snakemake.params
table = cost_table(snakemake.config, CostSettings(int(params.input_size), int(params.batch_size),
                                                  int(params.repeats), threads=1),
                   params.dataset)
write_csv(table, snakemake.output.cost)
print(table.to_string(), flush=True)
