"""SE-LCN: symmetry enhanced skin lesion classification network.

The shared core of the Snakemake workflow: data readers and the synthetic
dermoscopy generator, masks, models, losses, the resumable training loop,
Grad-CAM++, metrics, hyper-parameter search and report aggregation.
Nothing here imports Snakemake.
"""

__version__ = "0.1.0"
