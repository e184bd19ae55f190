"""How a training run stops early: a signal between two steps, or a non-finite loss.

SIGINT/SIGTERM only set a flag (StopFlag); the trainer reads it between steps, saves a mid-epoch checkpoint
and raises Interrupted (exit 130 / 143) with the command that resumes. A non-finite loss, read every
SYNC_EVERY steps (train.py), stops the run with exit 3 and keeps the last finished epoch's checkpoint.
"""

import signal
from pathlib import Path

from ..errors import MnistlabError


class Interrupted(MnistlabError):
    """Stopped by a signal after saving a checkpoint; exit 130 (SIGINT) or 143 (SIGTERM)."""

    run_dir: Path | None = None  # where the checkpoint is (api.fit names it in its resume hint)


class StopFlag:
    """SIGINT/SIGTERM set a flag the loop reads between steps, so a step is never cut in half."""

    def __init__(self):
        self.signum = 0
        self._old = {}

    def __enter__(self):
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[s] = signal.signal(s, self._set)
            except ValueError:  # not the main thread: signals stay with whoever owns them
                pass
        return self

    def _set(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def interrupted(signum: int, run_dir: Path, epoch: int, step: int):
    code = 130 if signum == signal.SIGINT else 143
    e = Interrupted(
        f"interrupted by {signal.Signals(signum).name} in epoch {epoch} after step {step}; checkpoint saved. "
        f"Resume with: mnistlab train --resume {run_dir}",
        exit_code=code,
    )
    e.run_dir = run_dir
    raise e


def check_finite(bad_step: int, run_dir: Path, epoch: int, metrics: list):
    if bad_step:
        kept = f"the checkpoint of epoch {metrics[-1]['epoch']} is kept" if metrics else "no epoch had finished"
        raise MnistlabError(
            f"loss became non-finite at step {bad_step} (epoch {epoch}); training stopped, {kept} in {run_dir}; "
            "lower the lr",
            exit_code=3,
        )
