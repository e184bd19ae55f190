import json

from ..inspection.bench import bench


def add(sub):
    p = sub.add_parser("bench", help="time the notebooks' pipeline against mnistlab's trainer, side by side")
    p.add_argument("--model", default="ref1", help="a registered name or your FILE.py:Name (default ref1)")
    p.add_argument("--config", default=None,
                   help="the mnistlab side's recipe (default: the model's preset; ref3 for yours)")  # fmt: skip
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    p.add_argument("--replicas", type=int, choices=(1, 2), default=None,
                   help="mnistlab side: model replicas, one thread each (default: 2 on 2+ threads)")  # fmt: skip
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"),
                   help="where both sides train (default cpu); the notebook side sends each batch there")  # fmt: skip
    p.add_argument("--plain-dropout", action="store_true",
                   help="mnistlab side: nn.Dropout's masks instead of the cheaper fast_dropout ones")  # fmt: skip
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epoch", action="store_true",
                   help="whole processes instead: one epoch with its test pass, the notebooks' loop against "
                        "`mnistlab train --epochs 1`, same network and recipe")  # fmt: skip
    p.add_argument("--rounds", type=int, default=3, help="with --epoch: interleaved rounds, medians compared")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="with --epoch: a config override for the mnistlab side, as train --set")  # fmt: skip
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(ns):
    from ..errors import MnistlabError

    if ns.steps < 1:
        raise MnistlabError("--steps must be >= 1")
    if ns.epoch:
        return run_epoch(ns)
    if ns.set:
        raise MnistlabError("--set goes with --epoch (the in-process bench takes --replicas, --plain-dropout)")
    r = bench(
        ns.model, ns.steps, ns.data_dir, ns.dataset, ns.threads, ns.replicas, ns.device, not ns.plain_dropout, ns.config
    )
    if ns.json:
        print(json.dumps(r.to_dict(), indent=2))
        return
    where = r.cpu if r.device == "cpu" else f"{r.device} (CPU: {r.cpu})"
    print(f"{r.model}: {r.steps} steps of batch {r.batch_size}, {r.threads} threads, {where}")
    print(f"  notebook pipeline  {r.notebook_s_per_step * 1000:8.1f} ms/step  {r.notebook_gflops:6.2f} GFLOP/s")
    print(
        f"  mnistlab trainer   {r.mnistlab_s_per_step * 1000:8.1f} ms/step  {r.mnistlab_gflops:6.2f} GFLOP/s "
        f"({100 * r.mnistlab_share_of_peak:.1f}% of peak){', bf16 autocast' if r.mnistlab_bf16 else ''}"
        f"{', 2 replicas x 1 thread' if r.mnistlab_replicas == 2 else ''}"
        f"{', fast dropout masks' if r.mnistlab_fast_dropout else ''}"
    )
    print(f"  speed-up {r.speedup:.2f}x; peak {r.peak_gflops:.0f} GFLOP/s = {r.peak_formula}")


def run_epoch(ns):
    from ..inspection.epoch_bench import epoch_bench

    def show(i, nb, ml):
        if not ns.json:
            print(f"  round {i}: notebook {nb:6.1f} s   mnistlab {ml:6.1f} s   {nb / ml:.2f}x", flush=True)

    if not ns.json:
        print(f"{ns.model}: one epoch and its test pass, whole processes, {ns.rounds} interleaved rounds")
    extra = [arg for kv in ns.set for arg in ("--set", kv)]
    r = epoch_bench(ns.model, ns.config, ns.rounds, ns.data_dir, ns.dataset, extra, on_round=show)
    if ns.json:
        print(json.dumps(r.to_dict(), indent=2))
        return
    print(f"  notebook:  python {r.commands['notebook']}")
    print(f"  mnistlab:  python {r.commands['mnistlab']}")
    print(f"  median: notebook {r.notebook_median_s:.1f} s, mnistlab {r.mnistlab_median_s:.1f} s: "
          f"speed-up {r.speedup:.2f}x ({r.cpu})")  # fmt: skip
