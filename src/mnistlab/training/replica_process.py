"""ReplicaPair with replica 1 in a forked process instead of a thread: the same step, without the GIL.

Why: a replica that sleeps while it waits for the other (a thread blocked on the GIL or on its future, a
process blocked on its pipe) computes its next half much slower on these 2 cores. ref3's step (two halves
of 64, bf16) took 37.0 ms as a thread pair and 36.0 ms as a process pair that sleeps at each rendezvous,
against 21.0 ms for one half alone; a process pair that spins through the short wait takes 21.7 ms
(benchmarks/results/2026-12-06-xeon-amx-epoch/replicas.txt). Spinning needs a process: a spinning thread
would hold the GIL the other replica needs.

What the two processes share (torch shared memory, set up before the fork): replica 1's weights and
BatchNorm buffers (so parallel.ReplicaPair.sync() works unchanged from the parent), its gradients, the half
batch's inputs and labels, its outputs and loss. Each step the parent writes half 1's inputs, sends one small
message, runs half 0 itself and waits for the reply. The worker computes exactly what the thread would: the
same ops on the same tensors with one intra-op thread, its dropout generator seeded from (seed, step, 1); the
weights are bit for bit those of the thread pair (tests/test_parallel.py).

Used on CPUs where `fork` exists, for the cross-entropy objective (a teacher's soft targets stay with the
thread pair). The worker ignores Ctrl-C (the parent saves a checkpoint and stops it) and ends when the
parent closes the pipe or exits.
"""

import multiprocessing as mp
import signal
import time
import weakref
from functools import partial

import torch
import torch.nn.functional as F

from .parallel import ReplicaPair

SPIN_S = 0.05  # how long a side polls before it sleeps (the gap between two steps is ~1-3 ms)
OUT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)  # what a forward under autocast may return


def available(device: torch.device) -> bool:
    return device.type == "cpu" and "fork" in mp.get_all_start_methods()


class ReplicaProcess(ReplicaPair):
    def __init__(self, model, seed: int, batch_size: int, label_smoothing: float):
        super().__init__(model, seed)
        self.pool.shutdown(wait=True)  # the thread is not used
        self.label_smoothing = label_smoothing
        half = batch_size // 2  # half 1 holds n // 2 rows, at most this many
        shared = lambda t: t.share_memory_()  # noqa: E731
        # Weights and buffers, in place (self.params[1] and self.stats[1] stay the same tensors): written by
        # sync() here, read and updated there.
        self.models[1].share_memory()
        self.grads = [shared(torch.zeros_like(p)) for p in self.params[1]]
        self.x = shared(torch.zeros(half, 1, 28, 28).contiguous(memory_format=torch.channels_last))
        self.y = shared(torch.zeros(half, dtype=torch.long))
        width = self._output_width()  # 10 for the digits; a network of your own may give more outputs
        self.outs = {dt: shared(torch.zeros(half, width, dtype=dt)) for dt in OUT_DTYPES}
        self.loss = shared(torch.zeros(()))
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(self, child), daemon=True, name="mnistlab-replica")
        self.proc.start()
        child.close()
        self._stop = weakref.finalize(self, _stop, self.proc, self.conn)

    @torch.no_grad()
    def _output_width(self) -> int:
        """The network's outputs per image, from one eval-mode forward of zeros (no state changes)."""
        model = self.models[1]
        was_training = model.training
        width = model.eval()(self.x[:1]).shape[-1]
        model.train(was_training)
        return width

    def forward_backward(self, prepare, n: int, loss_of, step: int, autocast):
        labels = getattr(loss_of, "labels", None)
        if labels is None:  # not plain cross-entropy: the thread's way (a worker holds no teacher)
            raise TypeError("ReplicaProcess needs a CrossEntropy objective")
        k = n - n // 2  # half 0: rows [0, k), half 1: rows [k, n)
        with autocast():
            amp = torch.is_autocast_enabled("cpu")
        x1 = prepare(slice(k, n))  # (n // 2, 1, 28, 28), as the thread would have prepared it
        if x1.shape[1:] != self.x.shape[1:] or n // 2 > len(self.x):
            raise ValueError(f"ReplicaProcess: inputs {tuple(x1.shape)} do not fit its buffers")
        self.x[: n // 2].copy_(x1)
        self.y[: n // 2].copy_(labels[k:n])
        self.conn.send((step, n, amp))

        rows = slice(0, k)  # prepared outside autocast, as the thread pair does (warping under it would be bf16)
        out0, loss0 = self.half_step(0, prepare(rows), lambda out: loss_of(out, rows), k / n, step, autocast)

        try:
            spin_until_ready(self.conn)
            reply = self.conn.recv()
        except EOFError:
            reply = "the replica process ended unexpectedly"
        if not isinstance(reply, int):
            raise RuntimeError(f"replica 1: {reply}")
        torch._foreach_add_([p.grad for p in self.params[0]], self.grads)
        out1 = self.outs[OUT_DTYPES[reply]][: n // 2].clone()
        return torch.cat([out0, out1]), (loss0 * k + self.loss.clone() * (n - k)) / n

    def close(self) -> None:
        self._stop()
        self.restore_dropout()


def spin_until_ready(conn, spin_s: float | None = None) -> None:
    """Poll without sleeping for up to spin_s, then block: see the module's docstring for why. Longer waits
    (the parent evaluating, the end of an epoch) fall asleep after spin_s."""
    end = time.perf_counter() + (SPIN_S if spin_s is None else spin_s)
    while not conn.poll(0):
        if time.perf_counter() > end:
            conn.poll(None)  # until a message or the other end closes
            return


def _stop(proc, conn) -> None:
    try:
        conn.send(None)
    except (OSError, ValueError):
        pass
    conn.close()
    proc.join(timeout=5)
    if proc.is_alive():
        proc.terminate()


def _worker(pair: ReplicaProcess, conn) -> None:
    """Replica 1's loop, in the forked process: one message per step, one reply (the output dtype's index)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
    pair.conn.close()  # the parent's end: without this copy the worker would never see the pipe close
    torch.set_num_threads(1)
    while True:
        try:
            spin_until_ready(conn)
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        step, n, amp = msg
        try:
            m = n // 2
            loss_fn = partial(F.cross_entropy, target=pair.y[:m], label_smoothing=pair.label_smoothing)
            autocast = partial(torch.autocast, "cpu", torch.bfloat16, enabled=amp)
            out, loss = pair.half_step(1, pair.x[:m], loss_fn, m / n, step, autocast)
            torch._foreach_copy_(pair.grads, [p.grad for p in pair.params[1]])
            pair.outs[out.dtype][:m].copy_(out)
            pair.loss.copy_(loss)
            conn.send(OUT_DTYPES.index(out.dtype))
        except Exception as e:  # reported to the parent, which raises it in the training loop
            conn.send(f"{type(e).__name__}: {e}")
