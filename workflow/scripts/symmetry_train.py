"""Train one symmetry variant (or comparison architecture) x fold; write model, history and
val/test predictions."""
import sys
from pathlib import Path

from selcn.joblog import start_job

# lock the job's folder (a second process of it fails, naming this one's PID), then the log,
# continuing the one of an earlier, interrupted attempt
sys.stderr = sys.stdout = start_job(snakemake.log[0], Path(snakemake.output.model).parent)

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
           Training.of(cfg, "symmetry", snakemake.input.get("hpo"),
                       gpus=snakemake.resources.get("gpu", 0)))
