"""glibc keeping freed blocks (system.keep_freed_memory) against its default, for ref2, ref3 and ref4:
python benchmarks/ab/freed_memory.py [--steps 40] [--rounds 3] [--threads 2] [MODEL:BATCH ...]

mallopt is process-wide and cannot be undone cleanly, so each side is a fresh process, interleaved in rounds.
Each times the trainer's fp32 step (channels_last, nn.Dropout, one model, SGD with momentum) on a fixed
random batch and counts the minor page faults per step (getrusage). Medians per side, and their ratio.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

CHILD = "--child"


def child(name: str, batch: int, steps: int, threads: int, keep: bool) -> dict:
    import torch
    import torch.nn.functional as F

    from mnistlab.models import create_model
    from mnistlab.system import keep_freed_memory

    torch.set_num_threads(threads)
    if keep:
        keep_freed_memory()
    torch.manual_seed(0)
    model = create_model(name).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)  # (B,1,28,28) NHWC
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(5):  # warm-up: oneDNN's kernels chosen, the heap grown
        step()
    faults, t = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for _ in range(steps):
        step()
    ms = (time.perf_counter() - t) / steps * 1000
    return {"ms": ms, "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cases", nargs="*", default=["ref2:128", "ref3:128", "ref4:256"], help="MODEL:BATCH")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    print(
        f"fp32 train step, channels_last, {args.threads} threads, {args.steps} steps; medians of {args.rounds} rounds"
    )
    for case in args.cases:
        name, batch = case.split(":")
        runs = {False: [], True: []}
        for _ in range(args.rounds):
            for keep in (False, True):
                cmd = [sys.executable, __file__, CHILD, name, batch, str(args.steps), str(args.threads), str(int(keep))]
                runs[keep].append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
        med = {
            k: (statistics.median(r["ms"] for r in v), statistics.median(r["faults"] for r in v))
            for k, v in runs.items()
        }
        print(
            f"{name} batch {batch}: glibc default {med[False][0]:.1f} ms/step ({med[False][1]:.0f} faults/step), "
            f"freed blocks kept {med[True][0]:.1f} ms/step ({med[True][1]:.0f} faults/step): "
            f"{med[False][0] / med[True][0]:.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        name, batch, steps, threads, keep = sys.argv[2:7]
        print(json.dumps(child(name, int(batch), int(steps), int(threads), keep == "1")))
    else:
        main()
