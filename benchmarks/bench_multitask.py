"""What model 13 (one network, :mod:`selcn.multitask`) saves against the cascade: parameters,
multiply-accumulates per image, training GPU-hours from the plan, and inference images/s.

Not a test: prints numbers (and, with ``--csv``, the table the report's cost table reads). It
builds the networks of a config with random weights (the weights do not change the cost):

- **the cascade for one image** (``selcn predict``'s path for a model with CAM transfer): the
  segmentation network (``segmentation.architectures[0]`` unless ``--segmentation``), the
  symmetry network on the masked image, its Grad-CAM++ (a forward from the target layer on and a
  backward to it), the lesion network with the E-Layer;
- **model 13**: one forward pass of the network (encoder, U-Net mask decoder, symmetry head,
  its CAM, the E-Layer, the lesion head);
- for scale, **the lesion network alone** (the cascade's last network): no network built on its
  encoder at this input side can be faster.

Every network sees the same input side (``--input-size``; default the lesion network's
``input_size`` rounded up to a multiple of 32, the segmenters' output stride). Both systems are
timed alternately in this one process on the CPU (``--threads``; median of ``--repeats`` calls
of ``--batch-size`` images after one warm-up call each), so that a machine shared with other
work slows both alike and the ratio holds; the absolute images/s do not. MACs are counted with
``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2; Grad-CAM++'s backward included).

Usage::

    .venv/bin/python benchmarks/bench_multitask.py                                 # the demo's
    .venv/bin/python benchmarks/bench_multitask.py --configfile config/paper.yaml  # the thesis'
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd

from selcn.config import load_config
from selcn.multitask import CostSettings, cost_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--dataset", default=None, help="lesion dataset (default: the first)")
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--segmentation", default=None, help="deeplabv3plus or unet")
    parser.add_argument("--csv", default=None, help="also write the table here")
    args = parser.parse_args(argv)

    cfg = load_config(args.configfile, {"multitask": {"enabled": True}})
    dataset = args.dataset or cfg["lesion"]["datasets"][0]
    size = args.input_size or -(-int(cfg["lesion"]["input_size"]) // 32) * 32
    settings = CostSettings(size, args.batch_size, args.repeats, args.threads, args.segmentation)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    table = cost_table(cfg, settings, dataset)
    seconds = time.perf_counter() - started
    pd.set_option("display.width", 200)
    shown = table.assign(parameters_m=table["parameters"] / 1e6,
                         gmacs=table["macs_per_image"] / 1e9)
    print(f"config {args.configfile}, dataset {dataset}: every network at {size} x {size} px, "
          f"batch {args.batch_size}, {args.threads} CPU thread(s), median of {args.repeats} "
          f"calls; load average before the run {load:.2f} on {os.cpu_count()} CPUs "
          f"({seconds:.0f} s)")
    columns = ["system", "parameters_m", "gmacs", "training_gpu_hours", "images_per_s"]
    print(shown.iloc[:3][columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    ratio = table.iloc[3]
    ceiling = table.iloc[1]["images_per_s"] / table.iloc[0]["images_per_s"]
    print(f"model 13: {ratio['images_per_s']:.2f}x the cascade's images/s, "
          f"{ratio['macs_per_image']:.2f}x fewer MACs, {ratio['parameters']:.2f}x fewer "
          f"parameters (GPU-hours: {table['gpu_hours_source'].iloc[0] or 'no plan rate'}); "
          f"the lesion network alone: {ceiling:.2f}x the cascade's images/s")
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
