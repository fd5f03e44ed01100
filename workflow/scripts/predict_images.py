"""`selcn predict` on the folder `predict.input_dir` with an exported bundle."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from selcn.export import load_bundle
from selcn.predict import PredictOptions, predict_images
from selcn.training import resolve_device

torch.set_num_threads(snakemake.threads)
bundle = load_bundle(snakemake.input.bundle, resolve_device(snakemake.params.device))
summary = predict_images(bundle, [snakemake.input.images],
                         Path(snakemake.output.predictions).parent,
                         PredictOptions(batch_size=snakemake.params.batch_size,
                                        workers=snakemake.threads, progress=False))
print(f"{summary.n_images} files, {summary.n_failed} failed, {summary.seconds:.1f} s, "
      f"{summary.images_per_second:.2f} images/s")
if summary.n_failed and snakemake.params.strict:
    failed = summary.table.loc[summary.table["error"].notna(), "file"].tolist()
    raise SystemExit(f"{summary.n_failed} file(s) failed (predict.strict): {', '.join(failed)}")
