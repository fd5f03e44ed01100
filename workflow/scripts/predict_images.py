"""`selcn predict` on the folder `predict.input_dir` with an exported bundle."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

from pathlib import Path

import torch

from selcn.device import job_device
from selcn.export import BundleError, load_bundle
from selcn.predict import PredictError, PredictOptions, predict_images

torch.set_num_threads(snakemake.threads)
device = job_device(snakemake.params.device, snakemake.resources.get("gpu", 0),
                    job=f"rule {snakemake.rule}")
try:
    bundle = load_bundle(snakemake.input.bundle, device)
except BundleError as err:
    raise SystemExit(f"selcn predict: {err}") from None
for note in bundle.warnings:
    print(f"warning: {note}")
if bundle.trained_on_synthetic:
    print("warning: the bundle was trained on synthetic demo data \u2014 not for real lesions")
try:
    summary = predict_images(bundle, [snakemake.input.images],
                             Path(snakemake.output.predictions).parent,
                             PredictOptions(batch_size=snakemake.params.batch_size,
                                            workers=snakemake.threads, progress=False))
except PredictError as err:
    raise SystemExit(f"selcn predict: {err}") from None
print(f"{summary.n_images} files, {summary.n_failed} failed, {summary.seconds:.1f} s, "
      f"{summary.images_per_second:.2f} images/s")
if summary.n_failed and snakemake.params.strict:
    failed = summary.table.loc[summary.table["error"].notna(), "file"].tolist()
    raise SystemExit(f"{summary.n_failed} file(s) failed (predict.strict): {', '.join(failed)}")
