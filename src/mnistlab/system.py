"""The machine: device choice, thread count, and the facts a run records about where it ran."""

import os
import platform
from pathlib import Path

import torch

from .errors import MnistlabError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MnistlabError("--device cuda: no CUDA device is available here")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise MnistlabError("--device mps: no Apple GPU is available here")
    return torch.device(name)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_threads(n: int) -> int:
    """0 -> one thread per core, never more: for small convolutions oversubscription is far worse."""
    if n < 0:
        raise MnistlabError(f"--threads must be >= 0 (0: one per core), got {n}")
    n = n or cores()
    torch.set_num_threads(n)
    return n


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16() -> bool:
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast pays off here: on CUDA, and on CPUs with AVX-512 BF16 or AMX (measured on a
    Zen 5: train steps 1.16-1.53x faster, benchmarks/results/2026-12-02-epyc/bf16.txt); on AVX2-only CPUs bf16
    is slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_bf16()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def library_versions() -> dict:
    import numpy

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": cpu_name(),
        "cores": cores(),
        "cpu_bf16": cpu_has_bf16(),
    }
