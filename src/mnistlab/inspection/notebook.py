"""The source notebooks' training loop, as a process of its own: the baseline every speed ratio is taken against.

What a notebook does, per epoch: a torch Dataset hands out PIL images; RandomRotation(+-angle) is done per
sample with PIL as torchvision does it (Image.rotate, NEAREST, fill 0); ToTensor + Normalize; a
DataLoader(batch_size, shuffle=True, num_workers=2); SGD; a tqdm bar fed `loss.item()` every step; then
one pass over the test set with a loader of the same batch size after every epoch. The recipe (batch size, optimizer,
rotation) is the preset's, so `--config ref3` is notebook 003 as it trained.

    python -m mnistlab.inspection.notebook --config ref3 --epochs 1     # whole process, as `time` sees it

Reading the IDX files is what torchvision's MNIST does too (no checksum: the notebooks did not verify).
"""

import argparse
import io
import time

import numpy as np
import torch
import torch.nn.functional as F


class NotebookMNIST(torch.utils.data.Dataset):
    """torchvision.datasets.MNIST + transforms, per sample: PIL image -> rotate -> tensor -> normalise."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, rotate: float, mean: float, std: float):
        self.images, self.labels, self.rotate, self.mean, self.std = images, labels, rotate, mean, std

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.images[i], mode="L")
        if self.rotate:
            angle = float(torch.empty(1).uniform_(-self.rotate, self.rotate).item())  # as RandomRotation
            img = img.rotate(angle, resample=Image.NEAREST, expand=False, center=None, fillcolor=0)
        t = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(28, 28, 1).permute(2, 0, 1).float().div(255)
        return (t - self.mean) / self.std, int(self.labels[i])


def notebook_run(
    model,
    train_split,
    test_split,
    steps: int,
    mean: float,
    std: float,
    device="cpu",
    batch_size: int = 128,
    rotate: float = 7.0,
    make_opt=None,
    bar=None,
    test_every_epoch: bool = False,
) -> float:
    """Seconds for `steps` notebook-style SGD steps plus one notebook test pass, on `device` as a Colab
    notebook does it: the model moved there, each DataLoader batch sent with `.to(device)`.
    `make_opt(params)`: the notebook's optimizer (default SGD lr 0.01, momentum 0.9); `bar`: where tqdm draws;
    `test_every_epoch`: a test pass after every full epoch too, as the notebooks' `for epoch: train; test`."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    ds = NotebookMNIST(train_split.images.numpy(), train_split.labels.numpy(), rotate, mean, std)
    test_ds = NotebookMNIST(test_split.images.numpy(), test_split.labels.numpy(), 0.0, mean, std)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=2)
    test_loader = torch.utils.data.DataLoader(test_ds, batch_size=batch_size, shuffle=True, num_workers=2)
    model = model.to(device)
    opt = (make_opt or (lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)))(model.parameters())
    pbar = tqdm(total=steps, file=bar or io.StringIO())  # default: the bar's cost without cluttering the terminal

    def test():
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                x, y = x.to(device), y.to(device)
                correct += (model(x).argmax(1) == y).sum().item()
        return correct

    i = 0
    while i < steps:  # a new epoch (reshuffled, workers restarted) when the steps outlast one
        model.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            pbar.set_description(f"loss={loss.item()} batch_id={i}")
            pbar.update(1)
            i += 1
            if i == steps:
                break
        if test_every_epoch and i < steps:
            test()
    test()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    """One process as a notebook runs: imports, the data, the network, `--epochs` epochs with a test pass
    after each."""
    t_start = time.perf_counter()
    p = argparse.ArgumentParser(prog="python -m mnistlab.inspection.notebook", description=__doc__.split("\n")[0])
    p.add_argument("--config", default="ref3", help="the recipe (a preset or TOML file; default ref3)")
    p.add_argument("--model", default=None, help="the network (default: the preset's); FILE.py:Name for yours")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--dataset", default=None, help="mnist | fashion-mnist | custom (default: the recipe's)")
    p.add_argument("--data-dir", default=None)
    ns = p.parse_args(argv)

    from ..data import verified
    from ..data.idx import parse_idx, read_bytes
    from ..models import create_model
    from ..training.config import load_config

    cfg = load_config(ns.config, {"model": ns.model, "dataset": ns.dataset})
    spec = verified.get_spec(cfg.dataset)
    folder = verified.data_dir(cfg.dataset, ns.data_dir)

    def read_split(prefix: str) -> verified.Split:  # as torchvision's MNIST: the IDX files read, not verified
        read = lambda kind: parse_idx(read_bytes(verified.find_file(folder, f"{prefix}-{kind}")))  # noqa: E731
        return verified.Split(torch.from_numpy(read("images-idx3-ubyte").copy()),
                              torch.from_numpy(read("labels-idx1-ubyte").astype(np.int64)))  # fmt: skip

    train_split, test_split = read_split("train"), read_split("t10k")
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, **cfg.model_kwargs)
    steps = ns.epochs * -(-len(train_split.labels) // cfg.batch_size)

    def make_opt(params):
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)  # fmt: skip

    t = notebook_run(model, train_split, test_split, steps, spec.mean, spec.std, "cpu", cfg.batch_size,
                     cfg.augment.rotation, make_opt, test_every_epoch=True)  # fmt: skip
    print(f"notebook loop: {ns.epochs} epoch(s), {steps} steps of batch {cfg.batch_size}, a test pass after each: "
          f"{t:.1f}s; "
          f"process so far {time.perf_counter() - t_start:.1f}s")  # fmt: skip


if __name__ == "__main__":
    main()
