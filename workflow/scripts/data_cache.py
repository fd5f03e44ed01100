"""Read one dataset as published, decode + hair-remove + resize it into the cache."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from selcn.data.preprocess import LoaderSettings, build_cache
from selcn.data.readers import ham10000_image_ids, read_dataset
from selcn.protocol import policy

dataset = snakemake.wildcards.dataset
ham = snakemake.input.get("ham_metadata")
protocol = policy(snakemake.params.protocol)
exclude = []
if dataset == "isic2019" and protocol.exclude_ham_from_isic2019 and ham:
    exclude = ham10000_image_ids(ham)       # the external test set holds no HAM10000 image
# data.symderm.missing: skip = the rows whose image or mask is not there are left out (parts of
# SymDerm v2.0 are no longer distributed), counted by source; error = the first is an error
skipped = [] if dataset == "symderm" and \
    snakemake.config["data"]["symderm"].get("missing") == "skip" else None
table = read_dataset(dataset, snakemake.params.paths,
                     ham_metadata=ham if dataset == "symderm" else None, exclude_ids=exclude,
                     missing=skipped)
if skipped:
    print(f"data.symderm.missing: skip — {len(skipped)} missing image(s) / mask(s) left out; "
          f"rows kept by source: {table['source'].value_counts().to_dict()}; first: "
          f"{skipped[0]}")
print(f"{dataset}: {len(table)} images; classes {table['label'].value_counts().to_dict()}"
      + (f"; dropped {table.attrs['dropped']}" if "dropped" in table.attrs else ""))
# data.max_pixels / data.resize_masks are read from the config, not declared as params: they
# decide whether a file is accepted, and a cache built under them stays valid
build_cache(table, Path(snakemake.output.index).parent, snakemake.params.size,
            hair_removal=snakemake.params.hair_removal, threads=snakemake.threads,
            loader=LoaderSettings.of(snakemake.config["data"]))
