"""The machine: device choice, thread count, and the facts a run records about where it ran."""

import ctypes
import os
import platform
import sys
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


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed blocks for the next step instead of handing them back to the kernel.

    Why: a training step frees and allocates the same activation-sized blocks every time (ref4 at batch 256:
    (256, 32, 28, 28) fp32, 25.7 MB each). By default glibc returns large freed blocks to the kernel, and the
    next step faults their pages back in, zeroed: 20,274 minor page faults per ref4 step against 142 with
    this, and the fp32 step 1.29x faster (ref2 1.18x, ref3 1.13x;
    benchmarks/results/2026-12-06-xeon-amx-epoch-bf16/freed-memory.txt). It changes no arithmetic, only where
    a block comes from. The cost: the process keeps its peak heap until it exits. Process-wide, so set once;
    elsewhere than Linux with glibc it does nothing and returns False.
    """
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)  # the process's own C library
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    # Blocks up to 32 MB (glibc's largest mmap threshold) come from the heap, and the heap is never trimmed.
    return libc.mallopt(m_mmap_threshold, 32 << 20) == 1 and libc.mallopt(m_trim_threshold, 1 << 30) == 1


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
