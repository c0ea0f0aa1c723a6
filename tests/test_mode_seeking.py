"""MSGAN's mode-seeking term on G's loss (regularizers.mode_seeking, Mao et al. 2019)."""

from __future__ import annotations

import pytest
import torch
from test_conditional import SMALL
from torch import nn

import ganlab
from ganlab.config import load_config
from ganlab.errors import ConfigError
from ganlab.game.regularizers import mode_seeking_term, pair_rows
from ganlab.training.algorithm import loss_functions
from ganlab.training.conditional import conditional_generator_forward
from ganlab.training.regularization import regularization


def test_the_term_is_one_over_the_mean_ratio_of_sample_to_noise_distances():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [1.0, 3.0]])
    fake = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [3.0, 0.0, 0.0], [1.0, 1.0, 4.0]])
    # pairs (0, 2) and (1, 3): |dz| means 1 and 1, |dx| means 1 and 1: ratios 1 and 1
    assert float(mode_seeking_term(z, fake, eps=0.0)) == pytest.approx(1.0)
    # doubling every sample distance halves the term
    assert float(mode_seeking_term(z, 2 * fake, eps=0.0)) == pytest.approx(0.5)
    # a collapsed G (every sample the same): the term is 1 / eps, its largest
    assert float(mode_seeking_term(z, torch.ones(4, 3), eps=1e-5)) == pytest.approx(1e5)


def test_descending_the_term_spreads_a_collapsed_generators_samples():
    torch.manual_seed(0)
    G = nn.Linear(8, 16)
    with torch.no_grad():
        G.weight.mul_(0.01)  # nearly every z maps to G's bias: a collapsed G
    z = torch.randn(64, 8)

    def spread():
        with torch.no_grad():
            x = G(z)
            return float(torch.cdist(x, x).mean())

    before = spread()
    opt = torch.optim.SGD(G.parameters(), lr=1e-4)
    for _ in range(5):
        opt.zero_grad()
        mode_seeking_term(z, G(z)).backward()
        opt.step()
    assert spread() > 2 * before  # the samples move apart (46x here)


def test_pairs_are_asked_for_one_class():
    y = torch.tensor([3, 1, 4, 1, 5, 9, 2])
    paired = pair_rows(y)
    assert paired.tolist() == [3, 1, 4, 3, 1, 4, 2]  # rows 3-5 copy rows 0-2; the odd row stays
    assert y.tolist() == [3, 1, 4, 1, 5, 9, 2]  # not changed in place

    seen = []

    class RecordingG(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))

        def forward(self, z, y):
            seen.append(y)
            return self.w * z

    cfg = load_config("cring8", ["conditional.kind=concat", "regularizers.mode_seeking=1"])
    game = loss_functions(cfg)
    D = lambda x, y: x.sum(1)  # noqa: E731 - a critic of any kind: only G's classes matter here
    z = torch.randn(6, 2)
    conditional_generator_forward(
        RecordingG(), D, game, 1.0, regularization(cfg), z, torch.tensor([0, 1, 2, 3, 4, 5])
    )
    assert seen[0].tolist() == [0, 1, 2, 0, 1, 2]


def test_mode_seeking_is_on_g_alone_and_refused_for_simultaneous_updates():
    assert regularization(load_config("ring8")) is None
    reg = regularization(load_config("ring8", ["regularizers.mode_seeking=2"]))
    assert reg is not None and reg.mode_seeking == 2.0
    assert reg.penalty(None, None, None, None, None) == 0.0  # D's loss gets nothing
    with pytest.raises(ConfigError, match="update=alternating"):
        load_config("ring8", ["regularizers.mode_seeking=1", "update=simultaneous"])


def test_a_conditional_run_with_mode_seeking_trains_and_resumes_exactly(tmp_path):
    over = [*SMALL, "conditional.kind=projection", "regularizers.mode_seeking=1"]
    straight = ganlab.train("cring8", tmp_path / "a", overrides=[*over, "steps=30"], report=False)
    half = ganlab.train("cring8", tmp_path / "b", overrides=[*over, "steps=13"], report=False)
    resumed = ganlab.resume(half.path, steps=30, report=False)
    without = [*SMALL, "conditional.kind=projection", "steps=30"]
    plain = ganlab.train("cring8", tmp_path / "c", overrides=without, report=False)
    a, b = straight.generator.state_dict(), resumed.generator.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the term changes G's updates: the same seed without it ends elsewhere
    c = plain.generator.state_dict()
    assert any(not torch.equal(a[key], c[key]) for key in a)
