"""Train one candidate of arch.py on mnist-8k's recipe with a 5,000-image validation split and print its
validation accuracy, from the repository root:

    python research/mnist-8k/early-downsampling/scripts/trial.py NAME [KEY=VALUE ...]

NAME is a candidate's letter (A, B, E, E2, ...; registered for the run as x-NAME, which is what the runs'
config.json say); KEY=VALUE sets any config key, VALUE in TOML (amp=true, seed=1, epochs=5), except
base=PRESET (the recipe, default mnist-8k) and out=DIR (default runs/trial-NAME). MNIST is read from the
default data folder ($MNISTLAB_DATA or the cache `mnistlab data fetch` fills).
"""

import sys
import tomllib

from arch import cands

import mnistlab
from mnistlab.models.registry import register

for key, mk in cands().items():
    register("x-" + key.split(":")[0], key)(lambda mk=mk, **kw: mk())
name, base, out, overrides = sys.argv[1], "mnist-8k", f"runs/trial-{sys.argv[1]}", {}
for arg in sys.argv[2:]:
    key, value = arg.split("=", 1)
    if key == "base":
        base = value
    elif key == "out":
        out = value
    else:
        overrides |= tomllib.loads(f"{key} = {value}")
cfg = mnistlab.load_config(base, {"val_size": 5000, "threads": 1, **overrides})
run = mnistlab.fit(f"x-{name}", cfg, out=out, quiet=True, progress=False)
m = run.metrics
print(
    name,
    sys.argv[2:],
    "val per epoch:",
    [round(r["val_acc"], 2) for r in m[-5:]],
    "train",
    m[-1]["train_acc"],
    "s/epoch",
    round(sum(r["seconds"] for r in m) / len(m), 1),
    flush=True,
)
