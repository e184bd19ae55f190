"""Predicting digits in image files: preprocess each, run the model on the batch, report top-k per file.

One bad file never stops the others: it gets an {"file", "error"} entry instead of a prediction.
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import MnistlabError
from ..training.rundir import load_model, make_dir, read_json
from .preprocess import load_digit, to_png
from .weights import default_run_dir

# Images per forward pass. Eight cost ~2x one (~1.3 vs ~0.6 ms on 2 CPU cores), and per image ~1.25x their
# share of a batch of 500 (10,000 images: ~1.3 s more on 2 busy cores).
FORWARD_BATCH = 8


@dataclass
class Predictor:
    """A loaded model with what its inputs need: model.json's normalisation and class names."""

    model: torch.nn.Module
    mean: float
    std: float
    classes: list[str]
    meta: dict
    run_dir: Path

    @classmethod
    def load(cls, run_dir: str | Path | None = None, trust_code: bool = False) -> "Predictor":
        """From a run directory; None means the shipped default model. trust_code: see rundir.load_model."""
        run_dir = Path(run_dir) if run_dir else default_run_dir()
        meta = read_json(run_dir / "model.json")
        norm = meta.get("normalize", {})
        classes = [str(c) for c in meta.get("classes", range(10))]
        return cls(
            load_model(run_dir, trust_code=trust_code),
            norm.get("mean", 0.1307),
            norm.get("std", 0.3081),
            classes,
            meta,
            run_dir,
        )

    def label(self, index: int):
        """Class index -> what the user reads: the digit as an int for MNIST, else the class name."""
        name = self.classes[index]
        return int(name) if name.isdigit() else name

    @torch.inference_mode()
    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float in [0, 1] -> (N, 10) softmax probabilities, float64 for printing.

        Every forward pass takes exactly FORWARD_BATCH images, the last one padded with blank ones: the CPU
        kernels' rounding depends on a batch's size (by up to ~3e-7 here, enough to move a probability's
        sixth decimal) but not on the other images in it, so an image gets the same bits alone, in a folder
        of any size, or batched with other requests by `mnistlab serve`.
        """
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).unsqueeze(1)  # (N, 1, 28, 28)
        n = len(x)
        x = torch.cat([x, x.new_zeros(-n % FORWARD_BATCH, *x.shape[1:])])
        # Same arithmetic as evaluate.normalize (x / 255 already done), so MNIST PNGs score as in eval.
        out = torch.cat([self.model((b - self.mean) / self.std) for b in x.split(FORWARD_BATCH)])[:n]  # (N, 10)
        return torch.softmax(out.double(), dim=1).numpy()

    def result(self, name: str, probs: np.ndarray, top_k: int) -> dict:
        """One file's answer: {"file", "label", "confidence", "top_k": [[label, prob], ...]}."""
        order = np.argsort(-probs, kind="stable")[: max(1, top_k)]
        return {
            "file": name,
            "label": self.label(int(order[0])),
            "confidence": round(float(probs[order[0]]), 6),
            "top_k": [[self.label(int(i)), round(float(probs[i]), 6)] for i in order],
        }


def image_extensions() -> set[str]:
    return {ext.lower() for ext in Image.registered_extensions()}


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files as given; folders -> their image files (by extension, recursively, sorted, hidden ones skipped)."""
    exts, files = image_extensions(), []
    for p in map(Path, paths):
        if p.is_dir():
            found = [
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in exts
                and not any(s.startswith(".") for s in f.relative_to(p).parts)
            ]
            files.extend(sorted(found))
        else:
            files.append(p)  # a missing file is reported by load_digit, with the others still predicted
    return files


def predict_files(
    paths: list[str | Path],
    run_dir: str | Path | None = None,
    top_k: int = 3,
    save_preprocessed: str | Path | None = None,
    predictor: Predictor | None = None,
    trust_code: bool = False,
) -> list[dict]:
    """Files and folders -> one dict per image, in order: a prediction, or {"file", "error"}."""
    predictor = predictor or Predictor.load(run_dir, trust_code)
    if not 1 <= top_k <= len(predictor.classes):
        raise MnistlabError(f"--top-k must be between 1 and {len(predictor.classes)}, got {top_k}")
    files = expand_paths(paths)
    if not files:
        raise MnistlabError(f"no image files in {', '.join(map(str, paths))}")
    out_dir = make_dir(save_preprocessed) if save_preprocessed else None
    stems = Counter(f.stem for f in files)
    results, inputs, slots = [], [], []
    for f in files:
        try:
            x = load_digit(f)  # (28, 28)
        except MnistlabError as e:  # "<file>: <reason>" -> the reason; the entry names the file
            results.append({"file": str(f), "error": str(e).removeprefix(f"{f}: ")})
            continue
        slots.append(len(results))
        results.append(None)
        inputs.append(x)
        if out_dir:
            (out_dir / _saved_name(f, stems)).write_bytes(to_png(x))
    if inputs:
        probs = predictor.probabilities(np.stack(inputs))  # (N, 10), one forward pass for all files
        for slot, p in zip(slots, probs, strict=True):  # results[i] belongs to files[i]
            results[slot] = predictor.result(str(files[slot]), p, top_k)
    return results


def _saved_name(f: Path, stems: Counter) -> str:
    """<stem>.png, or the path joined by '_' when two inputs share a stem (photos/a.jpg, scans/a.png)."""
    if stems[f.stem] == 1:
        return f"{f.stem}.png"
    return "_".join(p for p in f.with_suffix("").parts if p not in ("/", "..", ".")) + ".png"
