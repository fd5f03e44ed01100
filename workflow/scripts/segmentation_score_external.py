"""Score the selected segmentation network's masks of an external test set against its
ground-truth masks (rule score_external_masks, Table 5 (external))."""
import sys

from selcn.joblog import open_job_log

sys.stderr = sys.stdout = open_job_log(snakemake.log[0])

from selcn.external import score_external_masks

i = snakemake.input
score_external_masks(i.masks, i.gt_masks, i.index, i.splits, i.selected,
                     snakemake.wildcards.dataset, snakemake.output.scores)
