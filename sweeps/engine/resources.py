"""What a trial asks for and how many fit: the GPU-share rule and the packing arithmetic.

Used by the runner (the share it requests through `tune.with_resources`) and the dry run
(what it says the sweep would request and run at once), so the two cannot disagree.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass

import ray


@dataclass(frozen=True)
class Resources:
    """What trials can be packed onto: a machine's or a cluster's CPUs and GPUs."""

    cpus: float
    gpus: float
    where: str  # "this machine" or "the cluster at ADDRESS"


def gpu_share(requested: float | None, sweep_default: float, cluster_gpus: float) -> float:
    """The GPU share a trial requests: the user's (--gpus-per-trial), else the sweep's default
    when the cluster has GPUs, else none (a request for a GPU that does not exist never starts)."""
    if requested is not None:
        return requested
    return sweep_default if cluster_gpus > 0 else 0.0


def concurrency(resources: Resources, cpus_per_trial: float, gpus_per_trial: float, max_concurrent: int | None) -> int:
    """Trials that fit at once: limited by CPUs, by GPUs when trials take a share, and by the cap."""
    fit = math.floor(resources.cpus / cpus_per_trial)
    if gpus_per_trial > 0:
        fit = min(fit, math.floor(resources.gpus / gpus_per_trial + 1e-9))
    return min(fit, max_concurrent) if max_concurrent else fit


def local_resources() -> Resources:
    """CPUs this process may use and the NVIDIA GPUs, counted as a local Ray would.

    GPUs: the entries of CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L` (asking
    TensorFlow would initialise CUDA and print its notices on this console).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return Resources(cpus=float(cpus), gpus=float(_count_gpus()), where="this machine")


def _count_gpus() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([device for device in visible.split(",") if device.strip() not in ("", "-1")])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def gpu_memory() -> float | None:
    """Bytes of memory of this machine's smallest NVIDIA GPU (`nvidia-smi`), None where it cannot say."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=20).stdout
        sizes = [float(line) for line in listing.split()]
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return min(sizes) * 2**20 if sizes else None  # MiB


def running_resources() -> Resources:
    """The CPUs and GPUs of the Ray instance this driver runs (started or joined)."""
    total = ray.cluster_resources()
    return Resources(cpus=total.get("CPU", 0.0), gpus=total.get("GPU", 0.0), where="the running Ray instance")


def cluster_resources(address: str) -> Resources:
    """A running cluster's CPUs and GPUs (connects as a driver; starts nothing)."""
    ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    try:
        total = ray.cluster_resources()
    finally:
        ray.shutdown()
    return Resources(cpus=total.get("CPU", 0.0), gpus=total.get("GPU", 0.0), where=f"the cluster at {address}")
