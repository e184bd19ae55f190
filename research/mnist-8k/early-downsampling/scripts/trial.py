"""python trial.py NAME key=value... : train candidate NAME on mnist-8k's recipe with a 5000 val split; print val only."""
import sys, tomllib
sys.path.insert(0, "/tmp/x")
import arch
from mnistlab.models.registry import register
from mnistlab.config import load_config
from mnistlab.train import train
C = arch.cands()
for k, mk in C.items():
    register("x-" + k.split(":")[0], k)(lambda mk=mk, **kw: mk())
name = sys.argv[1]; base = "mnist-8k"
ov = {}
for a in sys.argv[2:]:
    k, v = a.split("=", 1)
    if k == "base": base = v; continue
    ov |= tomllib.loads(f"{k} = {v}")
cfg = load_config(base, {"val_size": 5000, "threads": 1, **ov})
cfg.model = "x-" + name
r = train(cfg, out=f"/tmp/x/runs/{name}-{abs(hash(str(sys.argv)))%10**6}", data_dir="/tmp/mnl/mnist", quiet=True, progress=False)
m = r.metrics
print(name, sys.argv[2:], "val per epoch:", [round(x["val_acc"], 2) for x in m[-5:]], "train", m[-1]["train_acc"],
      "s/epoch", round(sum(x["seconds"] for x in m) / len(m), 1), flush=True)
