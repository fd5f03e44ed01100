"""Training throughput of the shared core: model step vs data loader, and core vs bare loop.

Not a test: prints numbers. Three parts:

1. CPU (default): for the demo (``config/config.yaml``) and paper (``config/paper.yaml``) image
   sizes, the training images/s of one model step (forward + backward + Adam) of each network
   of the cascade, beside the images/s of the data loader alone (``CachedImageDataset`` over a
   synthetic uint8 cache with masks / CAMs, the strategy each network uses, the configured
   worker count capped at the CPU count). Goal: loader >= 5x the model step. The paper models are
   timed with a smaller batch on the CPU (``--cpu-batch``) to keep the run under two minutes.
2. ``--gpu``: EfficientNet-B4 lesion model (E-Layer, CAM input) at 380 px, batch 32, bfloat16
   autocast + channels_last: one epoch through :func:`selcn.training.fit` beside a bare PyTorch
   loop of the same model, loader, batch and precision, in one run. Goal: core >= 0.9x bare.
3. ``--memory-format``: the CPU training step of every demo network (both segmentation
   architectures, the symmetry network and the ones it is compared with, the lesion network with
   its E-Layer) in contiguous NCHW beside ``channels_last`` NHWC, interleaved in one run: why
   :func:`selcn.training.fit` trains in ``channels_last`` on the CPU too.

Usage::

    .venv/bin/python benchmarks/bench_training.py                  # CPU, < 2 minutes
    python3 benchmarks/bench_training.py --gpu --skip-cpu          # on a GPU machine
    .venv/bin/python benchmarks/bench_training.py --memory-format --skip-cpu   # ~1 minute
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from selcn.data.datasets import CachedImageDataset, View, make_loader
from selcn.training import FitConfig, fit, set_seed


# ---- synthetic inputs ---------------------------------------------------------------------
def synthetic_cache(n: int, side: int, cam_size: int, seed: int = 0):
    """uint8 images ``(n, side, side, 3)``, one elliptic lesion mask each, float16 CAMs."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:side, :side]
    masks = np.empty((n, side, side), dtype=np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(0.3, 0.7, 2) * side
        ry, rx = rng.uniform(0.1, 0.3, 2) * side
        masks[i] = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    cams = rng.random((n, cam_size, cam_size)).astype(np.float16)
    return images, masks, cams


def stage_dataset(network: str, images, masks, cams, size: int, n_items: int, seed: int = 0):
    """The dataset a network trains on: segmentation targets, or LAE masking (+ CAMs)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(images), n_items)
    transforms = rng.integers(0, 4, n_items)
    if network == "segmentation":
        return CachedImageDataset(images, rows, transforms=transforms, target_masks=masks,
                                  view=View(size=size))
    n_classes = 2 if network == "symmetry" else 7
    return CachedImageDataset(images, rows, rng.integers(0, n_classes, n_items),
                              transforms=transforms, masks=masks,
                              cams=cams if network == "lesion" else None,
                              view=View(mask="lae", size=size))


# ---- models ------------------------------------------------------------------------------
def stage_model(network: str, cfg: dict) -> tuple[nn.Module, nn.Module]:
    """(model, loss) of a network as the stages build them, random initialisation."""
    if network == "segmentation":
        from selcn.losses import HybridLoss
        from selcn.models.segmentation import create_segmentation_model

        seg = cfg["segmentation"]
        loss = seg["loss"]
        return (create_segmentation_model(seg["architectures"][0], seg["encoder"]),
                HybridLoss(rank_weight=loss["rank_weight"], k=loss["rank_k"],
                           margin=loss["rank_margin"]))
    if network == "symmetry":
        import torchvision

        return (torchvision.models.get_model(cfg["symmetry"]["architecture"], weights=None,
                                             num_classes=2), nn.CrossEntropyLoss())
    from selcn.models.lesion import create_lesion_model

    model = create_lesion_model(cfg["lesion"]["architecture"], 7, use_cam=True)
    return model, nn.CrossEntropyLoss()


def model_step_rate(model: nn.Module, loss_fn: nn.Module, batch: dict, min_seconds: float,
                    max_steps: int = 10) -> float:
    """Images/s of training steps on one fixed batch (one warm-up step, then >= min_seconds)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    extra = [batch["cam"]] if "cam" in batch else []

    def step():
        out = model(batch["image"], *extra)
        loss = loss_fn(out.float(), batch["target"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    steps, start = 0, time.perf_counter()
    while steps < max_steps and (steps == 0 or time.perf_counter() - start < min_seconds):
        step()
        steps += 1
    return steps * len(batch["image"]) / (time.perf_counter() - start)


def loader_rate(loader) -> float:
    """Images/s of one pass over ``loader`` (worker start-up included)."""
    n, start = 0, time.perf_counter()
    for batch in loader:
        n += len(batch["image"])
    return n / (time.perf_counter() - start)


# ---- CPU part ----------------------------------------------------------------------------
def cpu_benchmark(args) -> list[dict]:
    from selcn.config import load_config

    rows = []
    for label, path in (("demo", REPO / "config" / "config.yaml"),
                        ("paper", REPO / "config" / "paper.yaml")):
        cfg = load_config(path)
        side = cfg["data"]["image_size"]
        images, masks, cams = synthetic_cache(64, side, cfg["symmetry"]["cam_size"])
        for network in ("segmentation", "symmetry", "lesion"):
            part = cfg[network]
            size, params = part["input_size"], part["train"]
            batch_size = params["batch_size"] if label == "demo" else min(params["batch_size"],
                                                                          args.cpu_batch)
            workers = min(int(params.get("num_workers", 0)), os.cpu_count() or 1)
            set_seed(0)
            ds = stage_dataset(network, images, masks, cams, size, n_items=args.loader_items)
            load = loader_rate(make_loader(ds, batch_size, shuffle=True, num_workers=workers,
                                           seed=0, pin_memory=False))
            model, loss_fn = stage_model(network, cfg)
            batch = next(iter(make_loader(ds, batch_size, shuffle=True, seed=0,
                                          pin_memory=False)))
            step = model_step_rate(model, loss_fn, batch, args.min_seconds)
            rows.append({"config": label, "network": network, "model": _model_name(network, cfg),
                         "input": size, "batch": batch_size, "workers": workers,
                         "model_img_s": step, "loader_img_s": load, "ratio": load / step})
            r = rows[-1]
            print(f"  {label:5s} {network:12s} done: model {r['model_img_s']:.1f} img/s, "
                  f"loader {r['loader_img_s']:.0f} img/s", file=sys.stderr, flush=True)
    return rows


def _model_name(network: str, cfg: dict) -> str:
    if network == "segmentation":
        return f"{cfg['segmentation']['architectures'][0]}/{cfg['segmentation']['encoder']}"
    return cfg[network]["architecture"]


def print_cpu_table(rows: list[dict]) -> None:
    print(f"\nCPU: {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs; "
          "training img/s (forward + backward + Adam) vs loader alone")
    head = (f"{'config':6s} {'network':12s} {'model':22s} {'input':>5s} {'batch':>5s} "
            f"{'workers':>7s} {'model img/s':>11s} {'loader img/s':>12s} {'loader/model':>12s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        flag = "" if r["ratio"] >= 5 else "  < 5x goal"
        print(f"{r['config']:6s} {r['network']:12s} {r['model']:22s} {r['input']:5d} "
              f"{r['batch']:5d} {r['workers']:7d} {r['model_img_s']:11.2f} "
              f"{r['loader_img_s']:12.0f} {r['ratio']:11.1f}x{flag}")
    met = all(r["ratio"] >= 5 for r in rows)
    print(f"goal loader >= 5x model step: {'met' if met else 'NOT met'} "
          f"(worst {min(r['ratio'] for r in rows):.1f}x); the machine's load average: "
          f"{os.getloadavg()[0]:.1f}")


# ---- memory format (CPU) ------------------------------------------------------------------
def memory_format_networks(cfg: dict) -> list[tuple[str, str, nn.Module, nn.Module]]:
    """``(network, model name, model, loss)`` of every network the demo config trains."""
    import copy

    from selcn.models.lesion import create_lesion_model
    from selcn.models.symmetry import create_symmetry_model

    out = []
    for arch in cfg["segmentation"]["architectures"]:
        seg_cfg = copy.deepcopy(cfg)
        seg_cfg["segmentation"]["architectures"] = [arch]
        model, loss = stage_model("segmentation", seg_cfg)
        out.append(("segmentation", f"{arch}/{cfg['segmentation']['encoder']}", model, loss))
    sym = cfg["symmetry"]
    for arch in dict.fromkeys([sym["architecture"], *sym.get("compare_architectures", [])]):
        out.append(("symmetry", arch, create_symmetry_model(arch), nn.CrossEntropyLoss()))
    les = cfg["lesion"]
    stride = int(les.get("output_stride", 32))
    model = create_lesion_model(les["architecture"], 7, use_cam=True, output_stride=stride)
    out.append(("lesion", f"{les['architecture']} os{stride}", model, nn.CrossEntropyLoss()))
    return out


def memory_format_benchmark(args) -> None:
    from selcn.config import load_config

    cfg = load_config(REPO / "config" / "config.yaml")
    side = cfg["data"]["image_size"]
    images, masks, cams = synthetic_cache(64, side, cfg["symmetry"]["cam_size"])
    print(f"\nCPU memory format: {torch.get_num_threads()} torch threads; demo config; training "
          "img/s (forward + backward + Adam), NCHW vs channels_last, interleaved "
          f"{args.format_repeats}x")
    head = (f"{'network':12s} {'model':24s} {'input':>5s} {'batch':>5s} {'NCHW img/s':>10s} "
            f"{'NHWC img/s':>10s} {'NHWC/NCHW':>9s}")
    print(head)
    print("-" * len(head))
    for network, name, model, loss_fn in memory_format_networks(cfg):
        part = cfg[network]
        ds = stage_dataset(network, images, masks, cams, part["input_size"], n_items=64)
        batch = next(iter(make_loader(ds, part["train"]["batch_size"], shuffle=True, seed=0,
                                      pin_memory=False)))
        if network != "lesion":
            batch.pop("cam", None)
        rates: dict[bool, list[float]] = {False: [], True: []}
        state = {k: v.clone() for k, v in model.state_dict().items()}
        for _ in range(args.format_repeats):
            for channels_last in (False, True):
                model.load_state_dict(state)
                fmt = torch.channels_last if channels_last else torch.contiguous_format
                model = model.to(memory_format=fmt)
                step_batch = {**batch, "image": batch["image"].contiguous(memory_format=fmt)}
                rates[channels_last].append(model_step_rate(model, loss_fn, step_batch,
                                                            args.min_seconds))
        nchw, nhwc = float(np.mean(rates[False])), float(np.mean(rates[True]))
        print(f"{network:12s} {name:24s} {part['input_size']:5d} {len(batch['image']):5d} "
              f"{nchw:10.1f} {nhwc:10.1f} {nhwc / nchw:8.2f}x", flush=True)
    print(f"the machine's load average: {os.getloadavg()[0]:.1f}")


# ---- GPU part ----------------------------------------------------------------------------
def gpu_benchmark(args) -> None:
    from selcn.models.lesion import create_lesion_model

    if not torch.cuda.is_available():
        raise SystemExit("--gpu: no CUDA device visible")
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    bs, size, steps = args.gpu_batch, 380, args.gpu_steps
    workers = min(args.gpu_workers, os.cpu_count() or 1)
    images, masks, cams = synthetic_cache(512, 384, 32)
    train = stage_dataset("lesion", images, masks, cams, size, n_items=bs * steps)
    val = stage_dataset("lesion", images, masks, cams, size, n_items=bs, seed=1)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    print(f"\nGPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}; EfficientNet-B4 + "
          f"E-Layer, {size} px, batch {bs}, {dtype}, channels_last, {steps} batches/epoch, "
          f"{workers} loader workers (LAE masking + CAM)", flush=True)

    def loader(ds, shuffle=True):
        return make_loader(ds, bs, shuffle=shuffle, num_workers=workers, seed=0, drop_last=True)

    load = loader_rate(loader(train))
    train[0]
    start = time.perf_counter()
    for i in range(100):
        train[i]
    item_ms = (time.perf_counter() - start) * 10
    print(f"  loader alone: {load:.0f} img/s with {workers} workers; one item in the main "
          f"process: {item_ms:.1f} ms", flush=True)

    def new_model():
        set_seed(0)
        model = create_lesion_model("efficientnet_b4", 7, use_cam=True).to(device)
        return model.to(memory_format=torch.channels_last)

    def warm_up(model, opt):  # cudnn autotuning and allocator, on a resident batch
        x = torch.randn(bs, 3, size, size, device=device).contiguous(
            memory_format=torch.channels_last)
        c, y = torch.rand(bs, 1, 32, 32, device=device), torch.randint(0, 7, (bs,), device=device)
        for _ in range(args.gpu_warmup):
            with torch.autocast("cuda", dtype=dtype):
                out = model(x, c)
            loss = nn.functional.cross_entropy(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        torch.cuda.synchronize()

    def bare() -> float:
        model = new_model()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999))
        loss_fn = nn.CrossEntropyLoss()
        warm_up(model, opt)
        model.train()
        n, start = 0, time.perf_counter()
        for batch in loader(train):
            image = batch["image"].to(device, non_blocking=True).contiguous(
                memory_format=torch.channels_last)
            cam = batch["cam"].to(device, non_blocking=True)
            target = batch["target"].to(device, non_blocking=True)
            with torch.autocast("cuda", dtype=dtype):
                out = model(image, cam)
            loss = loss_fn(out.float(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += len(image)
        torch.cuda.synchronize()
        return n / (time.perf_counter() - start)

    def core() -> dict[str, float]:
        model = new_model()
        warm_up(model, torch.optim.Adam(model.parameters(), lr=1e-4))
        cfg = FitConfig(max_epochs=1, patience=1, lr=1e-4, momentum=0.9, seed=0, device="cuda",
                        amp=True, channels_last=True, progress=True)
        with tempfile.TemporaryDirectory() as out_dir:
            start = time.perf_counter()
            result = fit(model, loader(train), loader(val, shuffle=False), nn.CrossEntropyLoss(),
                         out_dir, cfg)
            torch.cuda.synchronize()
            wall = time.perf_counter() - start
        return {**result.timings[0], "wall_s": wall}

    n = bs * steps
    bares, cores = [], []
    for _ in range(args.gpu_repeats):  # interleaved: bare, core, bare, core, ...
        bares.append(bare())
        print(f"  bare loop: {bares[-1]:.0f} img/s", flush=True)
        timing = core()
        cores.append((n / timing["train_s"], n / timing["wall_s"], timing))
        print(f"  core: {cores[-1][0]:.0f} img/s (training pass), {cores[-1][1]:.0f} img/s "
              "(fit() wall)", flush=True)
    ref = float(np.mean(bares))
    core_train = float(np.mean([c[0] for c in cores]))
    core_wall = float(np.mean([c[1] for c in cores]))
    timing = cores[-1][2]
    print(f"\nGPU result (training img/s over one epoch of {n} images, loader included; "
          f"mean of {args.gpu_repeats} interleaved runs):")
    print(f"{'bare PyTorch loop':40s} {ref:8.0f}   runs: "
          + ", ".join(f"{b:.0f}" for b in bares))
    print(f"{'selcn.training.fit, training pass':40s} {core_train:8.0f}   "
          f"{core_train / ref:.2f}x bare  (goal >= 0.9x); runs: "
          + ", ".join(f"{c[0]:.0f}" for c in cores))
    print(f"{'selcn.training.fit, whole call':40s} {core_wall:8.0f}   {core_wall / ref:.2f}x bare"
          f"  (+ validation {timing['val_s']:.1f} s of {bs} images incl. worker start,"
          f" checkpoint {timing['checkpoint_s']:.1f} s, set-up)")
    print(f"{'data loader alone':40s} {load:8.0f}   {load / ref:.2f}x bare")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true", help="run the GPU comparison too")
    parser.add_argument("--skip-cpu", action="store_true", help="skip the CPU table")
    parser.add_argument("--memory-format", action="store_true",
                        help="compare NCHW and channels_last CPU training steps (demo networks)")
    parser.add_argument("--format-repeats", type=int, default=2,
                        help="interleaved NCHW / NHWC measurements per network (default 2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's; the demo's symmetry and lesion "
                             "jobs run with 1)")
    parser.add_argument("--cpu-batch", type=int, default=2,
                        help="batch cap for the paper-size models on the CPU (default 2)")
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="timed seconds per CPU model step measurement (default 1)")
    parser.add_argument("--loader-items", type=int, default=96,
                        help="items per CPU loader measurement (default 96)")
    parser.add_argument("--gpu-batch", type=int, default=32)
    parser.add_argument("--gpu-steps", type=int, default=120, help="batches per timed epoch")
    parser.add_argument("--gpu-warmup", type=int, default=10)
    parser.add_argument("--gpu-workers", type=int, default=14)
    parser.add_argument("--gpu-repeats", type=int, default=2,
                        help="interleaved bare / core runs (default 2)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if not args.skip_cpu:
        print_cpu_table(cpu_benchmark(args))
    if args.memory_format:
        memory_format_benchmark(args)
    if args.gpu:
        gpu_benchmark(args)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
