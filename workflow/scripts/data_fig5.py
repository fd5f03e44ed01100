"""Figure 5 and its table: what every hair filter marks as hair on each image of the figures'
dataset (HAM10000, or PH² in config/ph2.yaml; of the image and of its ground-truth lesion), and
the images with the largest share of this run's filter, before and after hair removal, with
the lesion's outline."""
import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from selcn.atomic import write_csv
from selcn.data.readers import read_dataset, read_ham10000
from selcn.grid import DATASETS_WITH_GT_MASKS
from selcn.report.data_figures import hair_table, plot_hair_removal

p = snakemake.params.paths
dataset = snakemake.params.dataset
method = snakemake.params.hair_removal          # the run's filter (selcn.data.preprocess)
masks = dataset in DATASETS_WITH_GT_MASKS
table = (read_ham10000(p["metadata"], p["image_dirs"], p["mask_dir"] if masks else None)
         if dataset == "ham10000" else read_dataset(dataset, p))
shares = hair_table(table, threads=snakemake.threads)
write_csv(shares.drop(columns=["path", "mask_path"]), snakemake.output.table)
score = f"image_{method if method != 'off' else 'thesis'}"
chosen = shares.sort_values(score, ascending=False, kind="stable").head(snakemake.params.n)
for row in chosen.itertuples():
    print(f"{row.path}: {score} {getattr(row, score):.4f}")
summary = shares.drop(columns=["image_id", "path", "mask_path"]).mean()
print("mean over images:", summary.round(4).to_dict())
plot_hair_removal(chosen["path"].tolist(), snakemake.output.figure,
                  fractions=chosen[score].tolist(),
                  mask_paths=[m or None for m in chosen["mask_path"]] if masks else None,
                  method=method)
