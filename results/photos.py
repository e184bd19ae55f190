"""The README's photo figure: python results/photos.py [RUN_DIR]  (default: the shipped default model)

300 MNIST test digits turned into phone-style photos by tests/test_predict.py's `photo()` (dark ink on
side-lit grey paper, noisy, 3-8x larger, off-centre), read through `preprocess` and, for contrast, by
simply resizing the photo to 28x28. Output: results/photos.txt.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.test_predict
from tests.test_predict import photo  # noqa: E402

from mnistlab.data import load_split  # noqa: E402
from mnistlab.use.predict import Predictor  # noqa: E402
from mnistlab.use.preprocess import preprocess  # noqa: E402

N = 300
test = load_split("mnist", False)
predictor = Predictor.load(sys.argv[1] if len(sys.argv) > 1 else None)
rng = np.random.default_rng(0)  # the same draws as the test, over 300 digits instead of 60
labels = test.labels[:N].numpy()
photos = [
    photo(test.images[i].numpy(), int(rng.integers(3, 8)), (int(rng.integers(0, 20)), int(rng.integers(0, 40))), rng)
    for i in range(N)
]
ours = predictor.probabilities(np.stack([preprocess(p) for p in photos])).argmax(1)
naive = predictor.probabilities(np.stack([np.asarray(p.resize((28, 28)), np.float32) / 255 for p in photos])).argmax(1)
line = f"preprocessed {(ours == labels).sum()}/{N} right, naive resize {(naive == labels).mean():.0%}"
print(line)
(Path(__file__).parent / "photos.txt").write_text(line + "\n")
