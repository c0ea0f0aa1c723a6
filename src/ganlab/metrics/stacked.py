"""Modes of Stacked MNIST (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018, Table 2).

Each channel of a generated (3, 28, 28) image is classified by the reference MNIST classifier
(metrics/classifier.py); the image's mode is its triple of digits, one of 1000. The protocol
scores 26,000 samples: how many of the 1000 triples occur, and

    KL(q || u) = sum_t q_t log(q_t * 1000),  q_t = share of samples classified as triple t,

the KL divergence of the triple histogram to the uniform distribution of the data (0 log 0 = 0).
A generator that covers 10 triples equally has KL = log(1000 / 10) = log 100.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganlab.data.stacked import load_stacked_mnist, mode_index, stack_digits
from ganlab.metrics.classifier import DigitClassifier, predict
from ganlab.metrics.features import digit_coverage

MODES = 1000  # 10^3 triples of digit classes
SAMPLES = 26_000  # the protocol's number of generated samples

__all__ = [
    "MODES",
    "SAMPLES",
    "classify_triples",
    "load_stacked_mnist",
    "stack_digits",
    "stacked_modes",
    "triple_histogram_scores",
]


def classify_triples(model: DigitClassifier, images: Tensor, batch: int = 3000) -> Tensor:
    """The classifier's digit for each channel: (n, 3, 28, 28) images in [0, 1] -> (n, 3)."""
    n = len(images)
    channels = torch.as_tensor(images, dtype=torch.float32).reshape(3 * n, 1, 28, 28)
    return predict(model, channels, batch).reshape(n, 3)  # rows stay image-major


def triple_histogram_scores(triples: Tensor) -> dict:
    """Modes covered and KL to uniform of a set of class triples.

    Args:
        triples: (n, 3) digit classes in 0..9.
    Returns:
        {"modes": 1000, "modes_covered": int, "kl": float (nats), "samples": n,
         "counts": (1000,) list of samples per triple, numbered 100 y_1 + 10 y_2 + y_3}.
    """
    n = len(triples)
    # the digit histogram's own scores over 1000 classes, against the uniform (all classes once)
    c = digit_coverage(mode_index(triples), torch.arange(MODES), classes=MODES)
    return {
        "modes": MODES,
        "modes_covered": c.covered,
        "kl": c.kl if n else math.inf,
        "samples": n,
        "counts": c.counts,
    }


def stacked_modes(model: DigitClassifier, images: Tensor) -> dict:
    """Stacked MNIST mode coverage of images: classify each channel, then count triples.

    Args:
        model: the reference classifier (metrics.classifier.reference_classifier().model).
        images: (n, 3, 28, 28) in [0, 1]; the protocol uses n = 26,000.
    Returns:
        triple_histogram_scores of the classified triples.
    """
    return triple_histogram_scores(classify_triples(model, images))
