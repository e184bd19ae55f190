import socket

from ..errors import MnistlabError
from .common import add_trust_flag

# The bounds of the load flags; the defaults are mnistlab.use.serve's WORKERS, QUEUE and LARGE_QUEUE (not
# imported here: FastAPI loads only when the command runs).
MAX_WORKERS, MAX_QUEUE = 64, 10_000


def add(sub):
    p = sub.add_parser("serve", help="web page to draw a digit and see the model's prediction")
    p.add_argument("--run", default=None, metavar="RUN_DIR", help="run directory (default: the shipped model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="processes that decode and preprocess small images, 8 at a time each (default 2, for 2 cores)",
    )
    p.add_argument(
        "--queue",
        type=int,
        default=32,
        metavar="N",
        help="small images admitted at once, running or waiting; one more gets 503 at once (default 32)",
    )
    p.add_argument(
        "--large-queue",
        type=int,
        default=4,
        metavar="N",
        help="photos (over 320x320 pixels) admitted at once, prepared one at a time by a niced process (default 4)",
    )
    add_trust_flag(p)
    p.set_defaults(func=run)


def run(ns):
    for flag, value, top in (("--workers", ns.workers, MAX_WORKERS), ("--queue", ns.queue, MAX_QUEUE),
                             ("--large-queue", ns.large_queue, MAX_QUEUE)):  # fmt: skip
        if not 1 <= value <= top:
            raise MnistlabError(f"{flag} must be between 1 and {top}, got {value}")
    import uvicorn  # FastAPI and uvicorn load only for this command (missing: cli.main names the extra)

    from ..use.serve import Limits, create_app

    family = socket.AF_INET6 if ":" in ns.host else socket.AF_INET
    with socket.socket(family) as probe:  # a taken port: one line now, not uvicorn's log and exit later
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind((ns.host, ns.port))
        except (OSError, OverflowError) as e:  # OverflowError: a port outside 0-65535
            raise MnistlabError(f"cannot listen on {ns.host}:{ns.port}: {getattr(e, 'strerror', None) or e}") from None
    import torch

    # One intra-op thread: on a busy machine two wait on each other (measured on 2 cores next to a training
    # run: ~210 ms per 28x28 forward with 2 threads, ~1 ms with 1; benchmarks/serve_load.py's profile shows
    # ~150-330 ms with 2 beside its load). The lanes' threads run their forward passes side by side instead.
    torch.set_num_threads(1)
    limits = Limits(workers=ns.workers, queue=ns.queue, large_queue=ns.large_queue)
    app = create_app(ns.run, trust_code=ns.trust_code, limits=limits)  # a bad --run fails before the server starts
    print(f"mnistlab serve: http://{ns.host}:{ns.port}/  (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=ns.host, port=ns.port, log_level="warning")
