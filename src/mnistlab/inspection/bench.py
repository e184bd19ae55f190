"""`mnistlab bench`: the notebooks' input pipeline against mnistlab's trainer, same model, same steps.

(a) notebook: a torch Dataset handing out PIL images, per-sample RandomRotation(+-7) done with PIL as
    torchvision does it (Image.rotate, NEAREST, fill 0), ToTensor + Normalize, DataLoader(batch_size=128,
    shuffle=True, num_workers=2), SGD, a tqdm bar updated with loss.item() every step, then one pass over
    the test set with a batch-128 loader. Timed from arrays already in memory (its download is free).
(b) mnistlab: `train()` with the model's preset recipe capped at the same number of steps, timed whole:
    reading and SHA-256-verifying the files, the steps, the test evaluation and writing the run folder.
    With the trainer's speed levers: bf16 autocast where native and, on 2+ threads, two one-thread
    replicas (`replicas = 2`, parallel.py); no teacher (the notebooks do not distil: same work per step).
"""

import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..data import verified as data_mod
from ..models import create_model, model_entry
from ..models.source import parse_ref
from ..system import cpu_flags, cpu_name, native_bf16, resolve_device, set_threads
from ..training.config import load_config
from ..training.train import train
from .notebook import notebook_run
from .summary import summarize


@dataclass
class BenchResult:
    model: str
    steps: int
    batch_size: int
    threads: int
    mnistlab_bf16: bool  # bf16 autocast in mnistlab's training steps (trainer default where the CPU has it)
    mnistlab_replicas: int  # 2: the batch's halves trained by two one-thread model copies (parallel.py)
    notebook_s_per_step: float
    mnistlab_s_per_step: float
    speedup: float  # notebook time / mnistlab time
    macs_per_image: int
    notebook_gflops: float  # achieved training FLOP/s (forward + backward ~ 6 FLOPs per MAC per image)
    mnistlab_gflops: float
    peak_gflops: float
    peak_formula: str
    mnistlab_share_of_peak: float
    cpu: str
    device: str = "cpu"  # both sides train there; the notebook side moves each batch to it as the notebooks do
    mnistlab_fast_dropout: bool = False  # dropout.py's cheaper masks on mnistlab's side (nn.Dropout's on the other);
    # false for a model without dropout, where the lever changes nothing

    def to_dict(self) -> dict:
        return asdict(self)


def peak_gflops(threads: int) -> tuple[float, str]:
    """Nominal fp32 peak: cores x SIMD lanes x 2 FMA units x 2 FLOPs per FMA x clock."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = cpu_flags()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma_units = 2 if "fma" in flags or "avx512f" in flags else 1
    ghz = re.findall(r"@\s*([\d.]+)GHz", cpu_name())
    if ghz:
        clock = float(ghz[0])
    else:
        mhz = re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)
        clock = float(mhz[0]) / 1000 if mhz else 2.0
    peak = threads * lanes * fma_units * 2 * clock
    formula = f"{threads} cores x {lanes} fp32 lanes x {fma_units} FMA units x 2 FLOPs x {clock:.2f} GHz"
    return peak, formula


def gpu_peak_gflops(device: torch.device) -> tuple[float, str]:
    """Nominal fp32 (non-tensor-core) peak: SMs x fp32 lanes per SM x 2 FLOPs per FMA x max SM clock."""
    import subprocess

    props = torch.cuda.get_device_properties(device)
    lanes = 64 if (props.major, props.minor) in {(6, 0), (7, 0), (7, 5), (8, 0)} else 128
    try:  # the boost clock; torch does not report it
        out = subprocess.run(["nvidia-smi", "--query-gpu=clocks.max.sm", "--format=csv,noheader,nounits",
                              "-i", str(device.index or 0)], capture_output=True, text=True, timeout=30)  # fmt: skip
        clock = float(out.stdout.split()[0]) / 1000
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return 0.0, f"{props.name}: max SM clock unknown (nvidia-smi did not answer)"
    peak = props.multi_processor_count * lanes * 2 * clock
    return peak, f"{props.multi_processor_count} SMs x {lanes} fp32 lanes x 2 FLOPs x {clock:.2f} GHz"


def has_dropout(model) -> bool:
    return any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules())


def bench(
    model_name: str = "ref1",
    steps: int = 200,
    data_dir: str | None = None,
    dataset: str = "mnist",
    threads: int = 0,
    replicas: int | None = None,
    device: str = "cpu",
    fast_dropout: bool = True,
    config: str | None = None,
) -> BenchResult:
    """`model_name`: a registered name or FILE.py:Name; `config`: the mnistlab side's recipe (default: the
    registered model's preset; for your own network the notebooks' recipe, ref3)."""
    dev = resolve_device(device)  # an unavailable device fails before any timing
    threads = set_threads(threads)
    spec = data_mod.get_spec(dataset)
    train_split = data_mod.load_split(dataset, True, data_dir)
    test_split = data_mod.load_split(dataset, False, data_dir)
    macs = summarize(create_model(model_name)).macs
    torch.manual_seed(0)
    t_nb = notebook_run(create_model(model_name), train_split, test_split, steps, spec.mean, spec.std, dev)
    # The preset's recipe with the trainer's defaults for speed: a preset may pin amp = false (ref0 and the
    # frontier presets train in fp32), but bf16 autocast where the CPU has it is one of the trainer's levers.
    # Two replicas pay on 2+ cores (benchmarks/README.md); None picks them there.
    # Replicas are a CPU lever: on a GPU one copy of the model already has the whole device.
    replicas = (2 if threads >= 2 and dev.type == "cpu" else 1) if replicas is None else replicas
    overrides = {"max_steps": steps, "threads": threads, "dataset": dataset, "batch_size": 128, "amp": True,
                 "replicas": replicas, "teacher": "", "device": dev.type, "fast_dropout": fast_dropout}  # fmt: skip
    own = parse_ref(model_name).kind != "registry"
    if own:  # the user's network in the preset's recipe (load_config drops the preset's model_kwargs)
        overrides |= {"model": model_name}
    cfg = load_config(config or ("ref3" if own else model_entry(model_name).config), overrides)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train(cfg, out=Path(tmp) / "run", data_dir=data_dir, quiet=True, progress=False)
        t_ml = time.perf_counter() - t0
    train_flops = 6 * macs * 128 * steps
    peak, formula = gpu_peak_gflops(dev) if dev.type == "cuda" else peak_gflops(threads)
    return BenchResult(
        model=model_name,
        steps=steps,
        batch_size=128,
        threads=threads,
        mnistlab_bf16=native_bf16(dev),  # cfg.amp is on
        mnistlab_replicas=replicas,
        mnistlab_fast_dropout=fast_dropout and has_dropout(create_model(cfg.model, **cfg.model_kwargs)),  # as trained
        notebook_s_per_step=t_nb / steps,
        mnistlab_s_per_step=t_ml / steps,
        speedup=t_nb / t_ml,
        macs_per_image=macs,
        notebook_gflops=train_flops / t_nb / 1e9,
        mnistlab_gflops=train_flops / t_ml / 1e9,
        peak_gflops=peak,
        peak_formula=formula,
        mnistlab_share_of_peak=train_flops / t_ml / 1e9 / peak if peak else 0.0,
        cpu=cpu_name(),
        device=torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type,
    )
