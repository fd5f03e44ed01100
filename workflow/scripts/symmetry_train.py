"""Train one symmetry variant (or comparison architecture) x fold; write model, history and
val/test predictions."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from selcn import symmetry
from selcn.data.inputs import StageInputs
from selcn.engine import Training, train_fold
from selcn.grid import Fold

torch.set_num_threads(snakemake.threads)
w, cfg = snakemake.wildcards, snakemake.config
net = (symmetry.network(cfg, variant=w.variant) if "variant" in w.keys()
       else symmetry.network(cfg, arch=w.arch))
train_fold(net, StageInputs.named(snakemake.input), Fold.parse(w.fold),
           Path(snakemake.output.model).parent,
           Training.of(cfg, "symmetry", snakemake.input.get("hpo")))
