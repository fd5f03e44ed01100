"""Which device a job runs on, chosen explicitly and said at its start.

A stage job calls :func:`job_device` once, before it reads any data (the training jobs through
:meth:`selcn.engine.Training.of`): it writes one ``[device]`` line to the job's log — the device,
its name and memory, the torch build, the CUDA version it was built for and the NVIDIA driver's
version (:func:`describe_device`) — and returns the ``torch.device``. The rules are:

- ``device: cuda`` needs a working GPU: without one the job fails at once
  (:class:`DeviceError`, saying why CUDA is unavailable: a CPU-only torch build, no NVIDIA
  driver, a driver older than the CUDA the build needs, no GPU visible);
- ``device: auto`` runs on the GPU when CUDA works. Without one it falls back to the CPU only
  when the job's rule declares no GPU (``<stage>.resources.gpu: 0``), and says so; a rule that
  declares one (``resources.gpu > 0``: the scheduler reserved a GPU for it) fails at once — a
  GPU job never trains on the CPU unnoticed;
- ``device: cpu`` runs on the CPU, also where the rule declares a GPU (a note says that the
  reserved GPU stays idle): the explicit way to run a GPU rule on the CPU.

The driver's versions are read from ``libcuda`` (``cuDriverGetVersion``: the newest CUDA the
driver supports) and ``libnvidia-ml`` (the driver's own version, e.g. ``550.54.15``) through
ctypes (once per process); torch itself exposes neither. Both are optional: a machine without
them has "no NVIDIA driver".
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import torch

__all__ = ["DeviceError", "CudaStatus", "cuda_status", "describe_device", "job_device"]


class DeviceError(RuntimeError):
    """The job needs CUDA and CUDA is unavailable (the message says why and what to change)."""


@dataclass(frozen=True)
class CudaStatus:
    """What this process can say about CUDA.

    Attributes:
        available: ``torch.cuda.is_available()``.
        build: the CUDA version torch was built for (``torch.version.cuda``, e.g. ``"12.6"``),
            None for a CPU-only build.
        driver_cuda: the newest CUDA version the installed NVIDIA driver supports
            (``cuDriverGetVersion``, e.g. ``"12.4"``), None without a driver.
        driver: the NVIDIA driver's version (NVML, e.g. ``"550.54.15"``), None when unknown.
        reason: why CUDA is unavailable ("" when it is available).
    """

    available: bool
    build: str | None
    driver_cuda: str | None
    driver: str | None
    reason: str = ""

    def versions(self) -> str:
        """``torch 2.x+cu126, CUDA 12.6 build, driver 550.54.15 (CUDA 12.4)`` or ``…, no CUDA``."""
        build = f"CUDA {self.build} build" if self.build else "CPU-only build"
        if self.driver_cuda is None:
            driver = "no NVIDIA driver"
        else:
            driver = f"driver {self.driver or '?'} (CUDA {self.driver_cuda})"
        return f"torch {torch.__version__}, {build}, {driver}"


# ---- the driver, through ctypes ----------------------------------------------------------
def _load(names: tuple[str, ...]) -> ctypes.CDLL | None:
    """The first of the shared libraries ``names`` that loads, or None."""
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


@functools.cache
def _driver_cuda_version() -> str | None:
    """The newest CUDA the installed driver supports (``"12.4"``), None without a driver."""
    lib = _load(("libcuda.so.1", "libcuda.so", "nvcuda.dll"))
    if lib is None:
        return None
    version = ctypes.c_int(0)
    try:
        if lib.cuDriverGetVersion(ctypes.byref(version)) != 0 or version.value <= 0:
            return None
    except AttributeError:
        return None
    return f"{version.value // 1000}.{version.value % 1000 // 10}"


@functools.cache
def _driver_version() -> str | None:
    """The NVIDIA driver's version (``"550.54.15"``) from NVML, None when it cannot be read."""
    lib = _load(("libnvidia-ml.so.1", "libnvidia-ml.so", "nvml.dll"))
    if lib is None:
        return None
    buffer = ctypes.create_string_buffer(96)
    try:
        if lib.nvmlInit_v2() != 0:
            return None
        try:
            if lib.nvmlSystemGetDriverVersion(buffer, ctypes.c_uint(len(buffer))) != 0:
                return None
        finally:
            lib.nvmlShutdown()
    except AttributeError:
        return None
    return buffer.value.decode(errors="replace") or None


def _older(version: str, than: str) -> bool:
    """``"12.4" < "12.6"`` by (major, minor)."""
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".")[:2] if p.isdigit())
    return key(version) < key(than)


def cuda_status() -> CudaStatus:
    """Whether CUDA works in this process and, when it does not, why (the first that applies):
    a CPU-only torch build; no NVIDIA driver; a driver older than the CUDA of the build; no GPU
    visible (``CUDA_VISIBLE_DEVICES`` named when set); else the driver's own refusal."""
    available = bool(torch.cuda.is_available())
    build = torch.version.cuda
    driver_cuda = _driver_cuda_version()
    driver = _driver_version() if driver_cuda is not None else None
    reason = ""
    if not available:
        if build is None:
            reason = f"this torch ({torch.__version__}) is a CPU-only build"
        elif driver_cuda is None:
            reason = "no NVIDIA driver found (libcuda.so.1 cannot be loaded)"
        elif _older(driver_cuda, build):
            named = f"NVIDIA driver {driver}" if driver else "NVIDIA driver"
            reason = (f"the {named} supports CUDA up to {driver_cuda}, older than the CUDA "
                      f"{build} this torch ({torch.__version__}) was built for: update the "
                      f"driver, or install a torch build for CUDA <= {driver_cuda}")
        elif os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
            reason = ("no GPU visible (CUDA_VISIBLE_DEVICES="
                      f"{os.environ['CUDA_VISIBLE_DEVICES']!r})")
        else:
            reason = "the driver reports no usable GPU"
    return CudaStatus(available, build, driver_cuda, driver, reason)


# ---- the device of a job -----------------------------------------------------------------
def describe_device(device: torch.device, status: CudaStatus | None = None) -> str:
    """One line: the device, its name and memory, and the versions, e.g.
    ``cuda:0 (NVIDIA H100 80GB HBM3, 79.1 GiB); torch 2.6.0+cu126, CUDA 12.6 build, driver
    560.35.03 (CUDA 12.6)`` or ``cpu (4 threads); torch 2.6.0+cpu, CPU-only build, no NVIDIA
    driver``."""
    status = status or cuda_status()
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        what = (f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.1f} GiB, "
                f"compute {props.major}.{props.minor})")
    else:
        threads = torch.get_num_threads()
        what = f"{device} ({threads} thread{'' if threads == 1 else 's'})"
    return f"{what}; {status.versions()}"


def _device_name(cfg: Mapping | str | torch.device) -> str:
    if isinstance(cfg, Mapping):
        return str(cfg.get("device", "auto"))
    return str(cfg)


def job_device(cfg: Mapping | str | torch.device, gpus_declared: int | None = 0, *,
               job: str = "this job", quiet: bool = False) -> torch.device:
    """The device of a job (rules: the module's docstring), logged at its start.

    Args:
        cfg: the validated config (its ``device``: ``auto``, ``cpu``, ``cuda``), or the device
            name itself (``cuda:1`` too).
        gpus_declared: the GPUs the job's rule declares (``snakemake.resources.gpu``, from the
            config's ``<stage>.resources.gpu``); None counts as 0.
        job: how messages name the job (``rule train_lesion_ham10000``).
        quiet: resolve without writing the ``[device]`` lines (the checks still apply).

    Returns:
        ``torch.device("cuda")`` / ``cuda:<k>`` or ``cpu``.

    Raises:
        DeviceError: CUDA is needed (``device: cuda``, or ``auto`` with a declared GPU) and
            unavailable, or ``cuda:<k>`` names a GPU that is not there.
        ValueError: the name is not a device.
    """
    name = _device_name(cfg)
    gpus = int(gpus_declared or 0)
    try:
        asked = None if name == "auto" else torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"config: device {name!r} is not a torch device "
                         "(auto, cpu, cuda, cuda:<k>)") from err
    status = cuda_status()
    note = ""
    if asked is not None and asked.type not in ("cuda", "cpu"):
        device = asked
    elif asked is not None and asked.type == "cpu":
        device = asked
        if gpus:
            note = (f"{job} declares {gpus} GPU(s) but the config sets device: cpu: it runs on "
                    "the CPU and the reserved GPU stays idle")
    elif status.available:
        device = asked or torch.device("cuda")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{job}: device {name!r} asked for, but only "
                              f"{torch.cuda.device_count()} GPU(s) are visible")
    elif asked is not None or gpus:
        why = (f"the config sets device: {name}" if asked is not None else
               f"{gpus} GPU(s) declared (resources.gpu, from the config's "
               f"<stage>.resources.gpu) and device: {name}")
        raise DeviceError(
            f"{job} needs a GPU — {why} — but CUDA is unavailable: {status.reason} "
            f"[{status.versions()}]. Run it where a GPU works (a GPU node / partition, "
            "`nvidia-smi` there), or, to run it on the CPU on purpose, set device: cpu (or "
            "the stage's resources.gpu: 0)")
    else:
        device = torch.device("cpu")
        note = (f"device: auto and CUDA is unavailable ({status.reason}): {job} runs on the "
                "CPU, as it declares no GPU")
    if not quiet:
        print(f"[device] {describe_device(device, status)}", file=sys.stderr, flush=True)
        if note:
            print(f"[device] {note}", file=sys.stderr, flush=True)
    return device
