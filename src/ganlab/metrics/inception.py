"""Inception-v3 FID and Inception Score, only from weights already on this machine.

The network is the one torch-fidelity and torchmetrics' FrechetInceptionDistance(feature=2048)
use: TensorFlow's 2015-12-05 Inception graph converted to PyTorch, the file
``weights-inception-2015-12-05-6726825d.pth``. Those libraries download it into
``torch.hub.get_dir()/checkpoints`` on first use; ganlab never does. It reads the file from
``$GANLAB_INCEPTION_WEIGHTS`` or that folder and passes the path to torch-fidelity, whose
extractor then loads it with torch.load instead of taking its download branch.

torch-fidelity imports torchvision, which has to be a build for the installed torch: PyPI's
torchvision wheels need the CUDA build of torch (with torch 2.13.0+cpu, importing
torchvision 0.28.0 fails with "operator torchvision::nms does not exist").
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor

from ganlab.errors import ConfigError

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_METRICS = ("inception_fid", "inception_score")

DEFINITIONS = {
    "inception_fid": "Frechet distance of Gaussians fitted to Inception-v3 pool features (2048-d, "
    "TF 2015-12-05 weights as torch-fidelity/torchmetrics; Heusel et al. 2017); lower is better",
    "inception_score": "exp(E_x KL(p(y|x) || p(y))) of Inception-v3's 1008 unbiased logits, mean "
    "(std) over 10 splits (Salimans et al. 2016); higher is better, at most the classes used",
}


def weights_path() -> Path:
    """The local Inception weights: $GANLAB_INCEPTION_WEIGHTS, else the torch hub checkpoints.

    Raises:
        ConfigError: the file is not there; the message names it and where to put it.
    """
    env = os.environ.get("GANLAB_INCEPTION_WEIGHTS")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(
                f"GANLAB_INCEPTION_WEIGHTS={env} is not a file; point it at your copy of "
                f"{WEIGHTS_FILE} or unset it"
            )
        return path
    path = Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE
    if not path.is_file():
        raise ConfigError(
            f"Inception metrics need the weights file {WEIGHTS_FILE}, not found at {path}; "
            "ganlab never downloads it: copy it there or set GANLAB_INCEPTION_WEIGHTS to its path"
        )
    return path


def check_backend() -> None:
    """Fail early, before any sampling, when torch-fidelity cannot be imported.

    Raises:
        ConfigError: as inception_extractor.
    """
    _extractor_class()


def _extractor_class():
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except (ImportError, RuntimeError) as e:  # RuntimeError: a torchvision built for another torch
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"Inception metrics need torch-fidelity and a torchvision built for this torch "
            f"({reason}); install both, e.g. pip install torch-fidelity"
        ) from None
    return FeatureExtractorInceptionV3


def inception_extractor(path: Path):
    """torch-fidelity's Inception-v3 with the weights read from `path` (no download).

    Returns:
        A module mapping (n, 3, H, W) uint8 images to (pool (n, 2048), logits (n, 1008)).
    Raises:
        ConfigError: torch-fidelity (or its torchvision) cannot be imported.
    """
    # With feature_extractor_weights_path given, torch-fidelity calls torch.load on it and
    # never load_state_dict_from_url.
    return _extractor_class()(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
    )


def to_uint8_rgb(images: Tensor) -> Tensor:
    """(n, C, H, W) images in [0, 1] -> (n, 3, H, W) uint8, grey channels repeated (the
    extractor resizes to 299 x 299 itself)."""
    x = (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@torch.no_grad()
def inception_outputs(extractor, images: Tensor, batch: int = 64) -> tuple[Tensor, Tensor]:
    """Pool features (n, 2048) and logits (n, 1008) of (n, C, H, W) images in [0, 1]."""
    pools, logits = [], []
    for start in range(0, len(images), batch):
        pool, logit = extractor(to_uint8_rgb(images[start : start + batch]))
        pools.append(pool.double().cpu())
        logits.append(logit.double().cpu())
    return torch.cat(pools), torch.cat(logits)


def inception_score(logits: Tensor, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016), mean and std over equal splits.

        IS = exp(E_x KL(p(y|x) || p(y))),  p(y) = E_x p(y|x) within the split

    1 when every image gets the same class distribution; the number of classes when each is
    one sure class and the classes are used equally.

    Args:
        logits: (n, classes) logits of the classifier.  splits: groups the n rows fall into.
    Returns:
        (mean, std) of IS over the splits (std with n - 1, as torch-fidelity).
    """
    if len(logits) < splits:
        raise ValueError(f"needs at least {splits} rows, got {len(logits)}")
    log_p = torch.log_softmax(logits.double(), dim=1)  # (n, classes)
    scores = []
    for part in torch.tensor_split(log_p, splits):
        log_py = torch.logsumexp(part, 0) - math.log(len(part))  # log p(y), (classes,)
        kl = (part.exp() * (part - log_py)).sum(1)  # KL(p(y|x) || p(y)) per row
        scores.append(kl.mean().exp())
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std()) if splits > 1 else 0.0


def inception_metrics(
    names: list[str], extractor, fake: Tensor, real: Tensor, floor: Tensor
) -> dict[str, dict]:
    """metrics.json entries of the Inception metrics, each beside its real-vs-real floor.

    Args:
        names: some of INCEPTION_METRICS.  extractor: from inception_extractor.
        fake, real, floor: (n, C, H, W) images in [0, 1]: generated, the reference set, and
            real images scored like `fake` (the floor).
    """
    from ganlab.metrics.features import frechet_distance

    sets = {"fake": fake, "real": real, "floor": floor}
    outputs = {key: inception_outputs(extractor, x) for key, x in sets.items()}
    counts = {"n_fake": len(fake), "n_real": len(real), "n_floor": len(floor)}
    out = {}
    if "inception_fid" in names:
        v = frechet_distance(outputs["real"][0], outputs["fake"][0])
        fl = frechet_distance(outputs["real"][0], outputs["floor"][0])
        out["inception_fid"] = {
            "definition": DEFINITIONS["inception_fid"],
            "value": v.value,
            "floor": fl.value,
            **counts,
            "eps": v.eps,
            "note": v.note,
            "floor_note": fl.note,
        }
    if "inception_score" in names:
        splits = min(10, len(fake), len(floor))
        mean, std = inception_score(outputs["fake"][1], splits)
        floor_mean, floor_std = inception_score(outputs["floor"][1], splits)
        out["inception_score"] = {
            "definition": DEFINITIONS["inception_score"],
            "value": mean,
            "std": std,
            "floor": floor_mean,
            "floor_std": floor_std,
            "splits": splits,
            "n_fake": len(fake),
            "n_floor": len(floor),
        }
    return out


def extractor_provenance(path: Path) -> dict:
    """What metrics.json records of the network: file, SHA-256, layers."""
    from ganlab.data.download import sha256_file

    return {
        "name": "inception-v3-compat (torch-fidelity)",
        "file": str(path),
        "sha256": sha256_file(path),
        "layer": "2048-d pool3 features (FID), 1008 unbiased logits (IS)",
        "dim": 2048,
    }
