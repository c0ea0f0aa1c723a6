"""DiffAugment (regularizers.augment): what each transformation does to an image, that G's
gradient flows through it, that training with it resumes bit for bit, and its refusals."""

import pytest
import torch

import ganlab
from ganlab.config import load_config
from ganlab.errors import ConfigError
from ganlab.game.augment import color, cutout, diff_augment, translation
from ganlab.runs.checkpoints import CheckpointStore
from ganlab.training.algorithm import algorithm1
from ganlab.training.state import build_state, seeded_rng


def test_translation_moves_each_image_by_at_most_an_eighth_of_its_side_with_zeros_moved_in():
    torch.manual_seed(0)
    x = torch.rand(64, 2, 16, 16) + 1.0  # no zeros inside: zeros in the output are padding
    y = translation(x)
    shift = round(16 * 0.125)
    seen = set()
    for xi, yi in zip(x, y, strict=True):
        match = [
            (dy, dx)
            for dy in range(-shift, shift + 1)
            for dx in range(-shift, shift + 1)
            if torch.equal(yi, shifted(xi, dy, dx))
        ]
        assert len(match) == 1  # every output is the input moved by one allowed shift
        seen.add(match[0])
    assert len(seen) > 10  # and the shifts vary between images (25 possible, 64 draws)


def shifted(x, dy, dx):
    """x (C, H, W) with out[:, i, j] = x[:, i + dy, j + dx], 0 outside."""
    out = torch.zeros_like(x)
    h, w = x.shape[1:]
    ys, xs = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
    ys_src = slice(ys.start + dy, ys.stop + dy)
    xs_src = slice(xs.start + dx, xs.stop + dx)
    out[:, ys, xs] = x[:, ys_src, xs_src]
    return out


def test_cutout_zeroes_one_square_of_at_most_half_the_side_and_keeps_the_rest():
    torch.manual_seed(1)
    x = torch.rand(32, 3, 16, 16) + 1.0
    y = cutout(x)
    for xi, yi in zip(x, y, strict=True):
        zero = yi[0] == 0
        assert torch.equal(zero, (yi == 0).all(0))  # the same pixels in every channel
        assert torch.equal(yi[:, ~zero], xi[:, ~zero])
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        # a (clipped) square of side 8: its bounding box is full and at most 8 on a side
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8
        assert int(zero.sum()) == len(rows) * len(cols)


def test_color_shifts_brightness_and_scales_contrast_per_image():
    torch.manual_seed(2)
    flat = torch.full((16, 1, 8, 8), 0.3)
    out = color(flat)
    # a flat image stays flat (contrast scales deviations from the mean: there are none), its
    # level moves by the brightness draw U(-0.5, 0.5)
    assert torch.allclose(out, out[:, :, :1, :1].expand_as(out))
    assert ((out[:, 0, 0, 0] - 0.3).abs() <= 0.5 + 1e-6).all()
    assert out[:, 0, 0, 0].std() > 0.05  # the draws differ between images


def test_g_gets_a_gradient_through_the_augmentation_and_points_are_refused():
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    diff_augment(x, ("color", "translation", "cutout")).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="augment"):
        diff_augment(torch.randn(8, 2), ("translation",))


def test_augmented_training_differs_and_resumes_bit_for_bit(tmp_path):
    over = ["data.kind=digits", "generator.output=tanh", "m=16", "log_every=5",
            "sample_every=10", "checkpoint_every=10", "regularizers.augment=[translation,cutout]",
            "generator.hidden=[32]", "discriminator.hidden=[32]"]  # fmt: skip
    full = ganlab.train("gauss1d", tmp_path / "full", overrides=[*over, "steps=20"], report=False)
    ganlab.train("gauss1d", tmp_path / "part", overrides=[*over, "steps=10"], report=False)
    ganlab.resume(tmp_path / "part", steps=20, report=False)
    a = CheckpointStore(tmp_path / "full" / "checkpoints").load_latest()[1]
    b = CheckpointStore(tmp_path / "part" / "checkpoints").load_latest()[1]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    plain = [o for o in over if not o.startswith("regularizers")]
    cfg = load_config("gauss1d", [*plain, "steps=20"])
    with seeded_rng(cfg):
        state = build_state(cfg)
        algorithm1(cfg, state)
    assert not torch.equal(
        full.generator.state_dict()["net.0.weight"], state.G.state_dict()["net.0.weight"]
    )


def test_augmenting_points_is_one_line_naming_the_fix():
    cfg = load_config("ring8", ["regularizers.augment=[translation]", "steps=1"])
    with pytest.raises(ConfigError, match=r"regularizers.augment=\[\]"):
        build_state(cfg)
