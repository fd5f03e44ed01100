"""The demo's new images: copy the first `n` HAM10000 test images into `predict.input_dir`."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import shutil
from pathlib import Path

from selcn.data.tables import read_csv

splits = read_csv(snakemake.input.splits, ("image_id", "split"), "split table")
ids = sorted(splits.loc[splits["split"] == "test", "image_id"].astype(str))[: snakemake.params.n]
found = {p.stem: p for d in snakemake.params.image_dirs for p in Path(d).iterdir()}
missing = [i for i in ids if i not in found]
if missing:
    raise FileNotFoundError(f"HAM10000 test image {missing[0]} not in "
                            f"{snakemake.params.image_dirs}")
out = Path(snakemake.output.images)
out.mkdir(parents=True, exist_ok=True)
for i in ids:
    shutil.copyfile(found[i], out / found[i].name)
print(f"copied {len(ids)} HAM10000 test images to {out}")
