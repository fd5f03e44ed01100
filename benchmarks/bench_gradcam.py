"""Grad-CAM++ throughput: the batched :func:`selcn.cams.gradcam_plus_plus` vs pytorch-grad-cam.

Not a test: prints numbers. Both explain the same batches of the symmetry network
(SqueezeNet 1.0, random weights, target layer = the last Fire module, target = predicted class)
and return per-image min-max normalised maps at the input resolution:

- **library**: ``pytorch_grad_cam.GradCAMPlusPlus`` (full backward through the network; the
  per-image min-max and ``cv2.resize`` on the CPU in numpy);
- **batched**: one forward with the graph recorded only from the target layer, one
  ``torch.autograd.grad`` down to it, all in torch on the device (:func:`selcn.cams.resize_cams`
  for the up-sampling).

It prints images/s of both, the speed-up, and the largest difference between the two maps.

Usage::

    .venv/bin/python benchmarks/bench_gradcam.py                     # CPU, about a minute
    .venv/bin/python benchmarks/bench_gradcam.py --size 256 --batch 64 --device cuda
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from selcn.cams import gradcam_plus_plus, resize_cams
from selcn.models.symmetry import cam_target_layer, create_symmetry_model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_library(model, layer, batches):
    from pytorch_grad_cam import GradCAMPlusPlus

    out = []
    with GradCAMPlusPlus(model=model, target_layers=[layer]) as cam:
        for images in batches:
            out.append(cam(input_tensor=images, targets=None))
    return np.concatenate(out)


def run_batched(model, layer, batches):
    out = []
    for images in batches:
        cams = gradcam_plus_plus(model, images, layer)
        out.append(resize_cams(cams, tuple(images.shape[-2:])))
    return torch.cat(out).cpu().numpy()


def timed(fn, *args, device, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        result = fn(*args)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="squeezenet1_0")
    parser.add_argument("--size", type=int, default=128, help="input side (px)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = create_symmetry_model(args.arch).to(device).eval()
    layer = cam_target_layer(model)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(device)
               for _ in range(args.batches)]
    n = args.batch * args.batches
    run_batched(model, layer, batches[:1])                     # warm-up (allocator, cuDNN)
    run_library(model, layer, batches[:1])
    t_lib, ref = timed(run_library, model, layer, batches, device=device, repeats=args.repeats)
    t_ours, ours = timed(run_batched, model, layer, batches, device=device, repeats=args.repeats)
    diff = float(np.abs(ours - ref).max())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"Grad-CAM++ of {args.arch} at {args.size} px, {args.batches} batches of {args.batch} "
          f"on {name}")
    print(f"  pytorch-grad-cam GradCAMPlusPlus : {n / t_lib:8.1f} img/s ({t_lib:.3f} s)")
    print(f"  selcn.cams (batched)             : {n / t_ours:8.1f} img/s ({t_ours:.3f} s)")
    print(f"  speed-up                         : {t_lib / t_ours:8.2f}x")
    print(f"  max |difference| of the maps     : {diff:.2e}")


if __name__ == "__main__":
    main()
