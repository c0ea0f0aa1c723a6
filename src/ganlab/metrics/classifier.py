"""The reference MNIST classifier whose penultimate layer is the feature space of FID, KID,
precision/recall, density/coverage and digit coverage on MNIST (metrics/features.py).

The usual FID features come from Inception-v3, trained on ImageNet photos and fed MNIST digits
upsampled to 299x299 in three channels; a small digit classifier is the MNIST convention, and
one trained here needs no download of weights from anywhere. It is trained, never fetched: the
first call trains it deterministically (fixed seed, fixed thread count, the 50,000 training
images of the paper's split) and caches the weights as safetensors under
``cache_dir()/classifier/``, named by the SHA-256 of the training tensors, the seed and
VERSION; later calls load them with safetensors, so no code in the file runs. Its checksum
(SHA-256 of the weights file) is written beside every score: two FIDs are comparable only when
their checksums agree (thread count and CPU can change the last bits of training).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ganlab.data.download import cache_dir, sha256_file
from ganlab.files import atomic_write_bytes

VERSION = "mnist-cnn-1"  # bump when the architecture or the training changes: a new cache file
SEED = 0
# One thread: a float sum split over another number of threads rounds differently, and on the
# 2-core reference machine 2 threads were slower than 1 whenever anything else ran (measured
# 34 vs 300 ms per batch), while channels_last made 1 thread 1.6x faster.
THREADS = 1
WIDTH = 16
FEATURES = 128
CLASSES = 10
# Measured on the 50,000 training images (test accuracy after the last epoch): 3 epochs at
# lr 1e-3, no BatchNorm, no shifts: 98.6-98.8%; BatchNorm: 98.9%; + shifts of +-2 pixels, lr
# 3e-3 decayed by 0.6 per epoch, 6 epochs: 99.3%.
EPOCHS = 6
BATCH = 128
LR = 3e-3
LR_DECAY = 0.6  # per epoch
SHIFT = 2  # pixels: each training image is moved by up to this much in x and y
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # pixel statistics of MNIST's training images
SCALE_EXAMPLES = 10_000  # training images whose features set the feature scale c


class DigitClassifier(nn.Module):
    """Two 3x3 conv + BatchNorm + max-pool stages and two linear layers, for (n, 1, 28, 28)
    images in [0, 1].

        h(x) = pool(relu(bn_2(conv_2(pool(relu(bn_1(conv_1((x - m) / s))))))))   (n, 2 w, 7, 7)
        u(x) = relu(W_1 flatten(h(x)) + b_1)                                     (n, 128)
        logits(x) = W_2 u(x) + b_2                                               (n, 10)
        features(x) = u(x) / c,  c = RMS of u over training images (fixed after training)

    c puts the features on the scale KID's kernel (x.y/d + 1)^3 was made for (Inception
    features): unscaled, x.y/d was ~10, and KID's spread over subsets exceeded its
    real-vs-real value. In eval mode BatchNorm uses its running statistics: an image's
    features do not depend on the other images of its batch.
    """

    def __init__(self, width: int = WIDTH, features: int = FEATURES, classes: int = CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)  # 28x28, pooled to 14x14
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)  # 14x14, pooled to 7x7
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.fc1 = nn.Linear(2 * width * 7 * 7, features)
        self.fc2 = nn.Linear(features, classes)
        self.num_features = features  # torchmetrics reads the feature size from here
        self.register_buffer("feature_scale", torch.ones(()))  # c, set by train_classifier

    def hidden(self, x: Tensor) -> Tensor:
        """u(x): the penultimate layer's activations, (n, num_features), >= 0."""
        x = (x - MNIST_MEAN) / MNIST_STD
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # (n, width, 14, 14)
        h = F.max_pool2d(F.relu(self.bn2(self.conv2(h))), 2)  # (n, 2 width, 7, 7)
        return F.relu(self.fc1(h.flatten(1)))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer features u(x) / c, (n, num_features): RMS 1 on training images."""
        return self.hidden(x) / self.feature_scale

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.hidden(x))


class ReferenceClassifier(NamedTuple):
    """The reference classifier in eval mode, the SHA-256 of its weights file, and the file's
    metadata (version, seed, training-data SHA-256, test accuracy, training time, ...)."""

    model: DigitClassifier
    sha256: str
    info: dict


def reference_classifier(
    path: str | Path | None = None,
    *,
    data: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
    progress: bool = False,
    folder: Path | None = None,
) -> ReferenceClassifier:
    """The cached reference classifier, trained first if the cache does not hold it.

    Args:
        path: where MNIST is (as load_mnist's ``path``); default $GANLAB_DATA, the cache, ...
        data: (x_train, y_train, x_test, y_test) to use instead of MNIST's train and test
            splits (tests train on small sets this way).
        progress: a progress bar (stderr) while training.
        folder: cache folder (default ``cache_dir() / "classifier"``).
    Returns:
        ReferenceClassifier(model in eval mode, SHA-256 of the weights file, metadata).
    Raises:
        DataError: MNIST cannot be found (see load_mnist).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if data is None:
        from ganlab.data.datasets import load_split

        data = (*load_split("mnist", "train", path), *load_split("mnist", "test", path))
    x_train, y_train, x_test, y_test = data
    key = cache_key(x_train, y_train, SEED, VERSION)
    folder = Path(folder) if folder is not None else cache_dir() / "classifier"
    file = folder / f"{VERSION}-{key[:16]}.safetensors"
    if file.exists():
        try:
            with safe_open(str(file), "pt") as f:
                info = _decode(f.metadata())
            if info.get("key") != key:
                raise ValueError("key mismatch")
            model = DigitClassifier()
            model.load_state_dict(load_file(str(file)))
            return ReferenceClassifier(model.eval(), sha256_file(file), info)
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            # A damaged or foreign file costs a retraining, not a wrong feature space.
            warnings.warn(f"{file} is unusable ({e}); training the classifier again", stacklevel=2)
    model = train_classifier(x_train, y_train, progress=progress)
    # Nothing that varies between identical trainings (such as the time taken) goes into the
    # file: the same weights give the same checksum on every machine that trains them.
    info = {
        "version": VERSION,
        "key": key,
        "seed": SEED,
        "threads": THREADS,
        "width": WIDTH,
        "epochs": EPOCHS,
        "batch": BATCH,
        "lr": LR,
        "lr_decay": LR_DECAY,
        "shift": SHIFT,
        "train_examples": len(x_train),
        "feature_scale": float(model.feature_scale),
        "test_examples": len(x_test),
        "test_accuracy": accuracy(model, x_test, y_test),
        "torch": torch.__version__,
    }
    _save(file, model, info)
    return ReferenceClassifier(model.eval(), sha256_file(file), info)


def cache_key(x: Tensor, y: Tensor, seed: int, version: str) -> str:
    """SHA-256 of the training tensors (shapes, dtypes, bytes), the seed and the version."""
    h = hashlib.sha256()
    for t in (x, y):
        t = t.detach().contiguous().cpu()
        h.update(f"{tuple(t.shape)} {t.dtype};".encode())
        h.update(t.numpy().tobytes())
    h.update(f"seed={seed};version={version}".encode())
    return h.hexdigest()


def train_classifier(
    x: Tensor,
    y: Tensor,
    *,
    epochs: int = EPOCHS,
    batch: int = BATCH,
    lr: float = LR,
    seed: int = SEED,
    threads: int = THREADS,
    progress: bool = False,
) -> DigitClassifier:
    """Train a DigitClassifier by Adam on cross-entropy, deterministically, and return it in
    eval mode.

        minimise  -1/m sum_i log softmax(logits(shift(x_i)))_{y_i}   over minibatches of m

    shift: each image moved by up to SHIFT pixels in x and y (zeros shifted in), drawn afresh
    every time it is used: a digit's class does not depend on where it sits.

    Init draws from torch's global generator seeded with ``seed`` inside an isolated RNG scope;
    shuffling and shifts from their own generator (seed + 1). Same data, seed, threads and
    machine: the same weights, bit for bit.

    Args:
        x: (N, 1, 28, 28) float32 images in [0, 1].  y: (N,) int64 labels in 0..9.
        epochs, batch, lr: Adam's schedule: lr * LR_DECAY^epoch in each epoch.
        seed: seed of init, shuffling and shifts.  threads: torch threads while training.
        progress: a tqdm bar on stderr.
    """
    rng = torch.Generator().manual_seed(seed + 1)
    steps = epochs * math.ceil(len(x) / batch)
    with torch.random.fork_rng(devices=[]), _threads(threads):
        torch.manual_seed(seed)
        model = DigitClassifier().to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        bar = tqdm(
            total=steps,
            disable=not progress,
            desc="reference MNIST classifier (trained once, then cached)",
            unit="batch",
            file=sys.stderr,
            dynamic_ncols=True,
        )
        for epoch in range(epochs):
            for group in opt.param_groups:
                group["lr"] = lr * LR_DECAY**epoch
            order = torch.randperm(len(x), generator=rng)
            for start in range(0, len(x), batch):
                i = order[start : start + batch]  # (m,)
                xb = random_shift(x[i], SHIFT, rng).contiguous(memory_format=torch.channels_last)
                loss = F.cross_entropy(model(xb), y[i])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bar.update()
        bar.close()
        # Back to the default layout: features computed right after training and from the
        # loaded file then go through the same kernels, bit for bit.
        model = model.to(memory_format=torch.contiguous_format).eval()
        with torch.no_grad():
            u = _batched(model, model.hidden, x[:SCALE_EXAMPLES], 1000)  # (n, num_features)
            model.feature_scale.fill_(float(u.double().square().mean().sqrt()))
    return model


def random_shift(x: Tensor, pixels: int, generator: torch.Generator) -> Tensor:
    """Each image moved by (dy, dx), each uniform in {-pixels, ..., pixels}, zeros shifted in.

    Args:
        x: (m, C, H, W) images.  pixels: the largest shift.  generator: draws the shifts.
    Returns:
        (m, C, H, W) shifted images.
    """
    if pixels == 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (pixels, pixels, pixels, pixels))  # (m, C, H + 2p, W + 2p)
    corner = torch.randint(0, 2 * pixels + 1, (len(x), 2), generator=generator)  # (m, 2)
    return torch.stack(
        [padded[j, :, a : a + h, b : b + w] for j, (a, b) in enumerate(corner.tolist())]
    )


@torch.no_grad()
def features(model: DigitClassifier, images: Tensor, batch: int = 1000) -> Tensor:
    """Penultimate-layer features of images, (n, num_features) float32, the model in eval mode.

    Args:
        images: (n, 1, 28, 28) in [0, 1] (the range the classifier was trained on).
    """
    return _batched(model, model.features, images, batch)


@torch.no_grad()
def logits(model: nn.Module, images: Tensor, batch: int = 1000) -> Tensor:
    """The classifier's logits of each image, (n, classes) float32, the model in eval mode."""
    return _batched(model, model, images, batch)


def predict(model: DigitClassifier, images: Tensor, batch: int = 1000) -> Tensor:
    """Predicted class of each image, argmax of the logits: (n,) int64."""
    return logits(model, images, batch).argmax(1)


def accuracy(model: DigitClassifier, x: Tensor, y: Tensor) -> float:
    """Share of images whose predicted class is their label."""
    return float((predict(model, x) == y).double().mean())


def _batched(model: nn.Module, fn, images: Tensor, batch: int) -> Tensor:
    mode = model.training
    model.eval()
    try:
        x = torch.as_tensor(images, dtype=torch.float32)
        return torch.cat([fn(x[s : s + batch]) for s in range(0, len(x), batch)])
    finally:
        model.train(mode)


def _save(file: Path, model: DigitClassifier, info: dict) -> None:
    from safetensors.torch import save

    file.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    # One key: safetensors writes its metadata map in a random order, and the checksum must be
    # a function of the weights and the info alone.
    metadata = {"ganlab": json.dumps(info, sort_keys=True)}
    atomic_write_bytes(file, save(tensors, metadata))


def _decode(metadata: dict[str, str] | None) -> dict:
    return json.loads((metadata or {}).get("ganlab", "{}"))


@contextmanager
def _threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
