"""The demo's new images: copy the first `n` HAM10000 test images into the demo's own folder
(`selcn.paths.DEMO_PREDICT_INPUT`, never `predict.input_dir` of a user's folder)."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import shutil
from pathlib import Path

from selcn.config import inside
from selcn.data.tables import read_csv
from selcn.paths import DEFAULT_RESULTS

# the run's results folder (config results_dir; the schema's default where the config omits it)
results = snakemake.config.get("results_dir", DEFAULT_RESULTS)

splits = read_csv(snakemake.input.splits, ("image_id", "split"), "split table")
ids = sorted(splits.loc[splits["split"] == "test", "image_id"].astype(str))[: snakemake.params.n]
found = {p.stem: p for d in snakemake.params.image_dirs for p in Path(d).iterdir()}
missing = [i for i in ids if i not in found]
if missing:
    raise FileNotFoundError(f"HAM10000 test image {missing[0]} not in "
                            f"{snakemake.params.image_dirs}")
out = Path(snakemake.output.images)
if not inside(out, results):                    # the demo writes into its own folder only
    raise RuntimeError(f"predict_demo_images: {out} is outside {results}/")
out.mkdir(parents=True, exist_ok=True)
for i in ids:
    shutil.copyfile(found[i], out / found[i].name)
print(f"copied {len(ids)} HAM10000 test images to {out}")
