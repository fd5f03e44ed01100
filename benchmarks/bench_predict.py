"""End-to-end throughput of ``selcn predict`` (decode, hair removal, resize, segmentation, LAE,
symmetry + Grad-CAM++, K lesion folds + Grad-CAM++, panels, CSV and gallery).

Not a test: prints numbers. It builds a bundle of randomly initialised networks of the real
factories (the compute of a trained bundle; the weights do not change the cost), renders
synthetic dermoscopy images with hair (the demo's renderer) and runs the ``selcn`` console
script on them in a subprocess, as a user would. Presets:

- ``demo``: the demo config's networks (cache 128 px, U-Net/ResNet-18 at 96 px, SqueezeNet at
  64 px with 32 px CAMs, timm ``test_efficientnet`` at 64 px, 2 folds), model 11 (LAE masks +
  segmentation-masked CAMs, the longest path), 300 x 225 px images as the demo's;
- ``b4``: the thesis' sizes (cache 384 px, U-Net/ResNet-34 at 384 px, SqueezeNet at 256 px with
  64 px CAMs, EfficientNet-B4 at 380 px, 4 folds), 600 x 450 px images as HAM10000's (for a GPU).

It prints the command's own images/s (from the first image read to the last file written) and
the wall time of the whole command (interpreter start and bundle loading included), plus the
hair-removal-and-resize rate alone on the same threads for context.

Usage::

    .venv/bin/python benchmarks/bench_predict.py                          # demo bundle, CPU
    .venv/bin/python benchmarks/bench_predict.py --preset b4 --device cuda --batch-size 32
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from selcn.checkpoints import save_model_file
from selcn.data.synthetic import render, sample_lesion
from selcn.export import BundleFiles, BundleProvenance, BundleSettings, export_bundle
from selcn.models.lesion import create_lesion_model
from selcn.models.segmentation import create_segmentation_model
from selcn.models.symmetry import create_symmetry_model
from selcn.predict.cascade import read_input

HAM = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
PRESETS = {
    "demo": dict(image_size=128, seg_encoder="resnet18", seg_size=96, sym_size=64, cam_size=32,
                 lesion_arch="test_efficientnet", lesion_size=64, folds=2, width=300,
                 height=225),
    "b4": dict(image_size=384, seg_encoder="resnet34", seg_size=384, sym_size=256, cam_size=64,
               lesion_arch="efficientnet_b4", lesion_size=380, folds=4, width=600, height=450),
}


def build_bundle(root: Path, p: dict) -> Path:
    """Model 11 (classifier mask lae, CAMs of the seg-masked symmetry network)."""
    torch.manual_seed(0)
    models = root / "models"
    save_model_file(models / "seg.pt", create_segmentation_model("unet", p["seg_encoder"]),
                    arch="unet", encoder=p["seg_encoder"], input_size=p["seg_size"],
                    threshold=0.5)
    save_model_file(models / "sym.pt", create_symmetry_model("squeezenet1_0"),
                    arch="squeezenet1_0", num_classes=2, input_size=p["sym_size"], mask="seg",
                    pretrained=False, class_names=["asymmetric", "symmetric"], fold=0,
                    best_epoch=1)
    lesion = {}
    for k in range(p["folds"]):
        model = create_lesion_model(p["lesion_arch"], len(HAM), use_cam=True)
        lesion[k] = models / f"lesion{k}.pt"
        save_model_file(lesion[k], model, arch=p["lesion_arch"], num_classes=len(HAM),
                        use_cam=True, input_size=p["lesion_size"], classifier_mask="lae",
                        symmetry_mask="seg", class_names=HAM, fold=k, best_epoch=1)
    export_bundle(root / "bundle",
                  BundleFiles(segmentation_pt=models / "seg.pt", symmetry_pt=models / "sym.pt",
                              lesion_pts=lesion),
                  BundleSettings(number=11, dataset="ham10000", image_size=p["image_size"],
                                 hair_removal=True, cam_size=p["cam_size"],
                                 cfg_hash="benchmark"),
                  validation={}, selection={"number": 11, "criterion": "benchmark"},
                  provenance=BundleProvenance(
                      source="synthetic", protocol="leakage_free",
                      datasets={"segmentation": "ham10000", "symmetry": "symderm",
                                "lesion": "ham10000"}))
    return root / "bundle"


def write_images(folder: Path, n: int, width: int, height: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        bgr, _ = render(sample_lesion(HAM[i % len(HAM)], rng), rng, width, height, hair=True)
        paths.append(folder / f"ISIC_{i:07d}.jpg")
        cv2.imwrite(str(paths[-1]), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    parser.add_argument("--n-images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-panels", action="store_true")
    args = parser.parse_args()
    p = PRESETS[args.preset]
    script = Path(sys.executable).with_name("selcn")
    if not script.exists():
        raise SystemExit(f"{script} not found: pip install -e {REPO}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bundle = build_bundle(root, p)
        paths = write_images(root / "images", args.n_images, p["width"], p["height"])
        workers = args.workers or min(8, os.cpu_count() or 1)
        cv2.setNumThreads(1)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda q: read_input(q, p["image_size"], True), paths))
        prep = len(paths) / (time.perf_counter() - t0)
        cmd = [str(script), "predict", str(bundle), str(root / "images"), "--out",
               str(root / "out"), "--device", args.device, "--batch-size", str(args.batch_size),
               "--quiet", *(["--workers", str(args.workers)] if args.workers else []),
               *(["--no-panels"] if args.no_panels else [])]
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if run.returncode != 0:
            raise SystemExit(f"selcn predict failed ({run.returncode}):\n{run.stderr[-3000:]}")
        rate = float(re.search(r"\(([\d.]+) images/s\)", run.stdout).group(1))
    print(f"preset {args.preset}: {args.n_images} images {p['width']}x{p['height']} px, "
          f"batch {args.batch_size}, device {args.device}, {workers} worker threads, "
          f"torch threads {torch.get_num_threads()}, panels {'off' if args.no_panels else 'on'}")
    print(f"  hair removal + resize alone: {prep:.1f} images/s")
    print(f"  selcn predict (its own count): {rate:.2f} images/s")
    print(f"  selcn predict (whole command, start-up included): {args.n_images / wall:.2f} "
          f"images/s ({wall:.1f} s)")


if __name__ == "__main__":
    main()
