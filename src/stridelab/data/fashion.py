"""Fashion-MNIST: Zalando's 28x28 clothing images in the MNIST IDX format.

Looked up in ``<data_dir>/fashion-mnist``, ``<data_dir>/FashionMNIST/raw`` and where
Debian's ``dataset-fashion-mnist`` package installs it (``/usr/share/datasets/fashion-mnist``,
the four standard ``.gz`` files).
"""

from __future__ import annotations

from stridelab.data.mnist import IdxSource

CLASSES = (
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
)

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    description="Fashion-MNIST clothing images, 60,000 train / 10,000 test, 28x28 grey",
    classes=CLASSES,
    subdirs=("fashion-mnist", "FashionMNIST/raw"),
    system_dirs=(DEBIAN_DIR,),
    npz_name=None,
    npz_sha256=None,
    # The MD5s torchvision publishes for Zalando's files.
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    # SHA-256 of the decompressed files. Debian's package recompresses them without the
    # stored file name, so its .gz MD5s differ from the published ones while the data
    # is byte-for-byte the same; these digests verify such copies and unpacked files.
    content_sha256={
        "train-images-idx3-ubyte": (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        "train-labels-idx1-ubyte": (
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        "t10k-images-idx3-ubyte": (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        ),
        "t10k-labels-idx1-ubyte": (
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        ),
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    n_train=60_000,
    n_test=10_000,
)
