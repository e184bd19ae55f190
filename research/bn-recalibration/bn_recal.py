"""BN recalibration, checked on every committed MNIST research run with weights (evaluation only, no training):
val accuracy as saved vs after recomputing BatchNorm's running statistics as a plain average over the
clean (un-augmented) training split, dropout off. From the repository root:

    python research/bn-recalibration/bn_recal.py > research/bn-recalibration/bn_recal.txt
"""

from pathlib import Path

import torch

from mnistlab.data import carve_validation, get_spec, load_split
from mnistlab.training.evaluate import evaluate, normalize
from mnistlab.training.rundir import load_model, read_json

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)
splits = {}
for cfgp in sorted((ROOT / "research").rglob("config.json")):
    run = cfgp.parent
    if not (run / "model.safetensors").is_file():
        continue
    cfg = read_json(cfgp)
    if cfg.get("val_size") != 5000:
        continue
    ds = cfg["dataset"]
    if ds != "mnist":
        continue
    if ds not in splits:
        splits[ds] = carve_validation(load_split(ds, True), 5000)
    tr, va = splits[ds]
    spec = get_spec(ds)
    try:
        m = load_model(run)
    except Exception as e:
        print(run, "skip", e)
        continue
    a = evaluate(m, va, spec.mean, spec.std).accuracy
    # cumulative average of batch stats over the clean training split
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None
    m.eval()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.train()
    with torch.no_grad():
        for i in range(0, len(tr), 500):
            m(normalize(tr.images[i : i + 500], spec.mean, spec.std))
    m.eval()
    b = evaluate(m, va, spec.mean, spec.std).accuracy
    print(
        f"{str(run.relative_to(ROOT)):60s} saved {100 * a:.2f} recal {100 * b:.2f} diff {100 * (b - a):+.2f}",
        flush=True,
    )
