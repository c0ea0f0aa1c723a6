"""Theory items 1, 2 and 5 (ganlab.theory.optimal_discriminator, virtual_criterion,
loss_objectives) as the report runs them: each claim checked on what compute_<item> returns
(computed with matplotlib unimportable), then plot and describe, and run_<item> as their
composition. The formulas behind them are tested in tests/test_theory_game.py.
"""

import importlib
import json
import math

import pytest
import torch
from no_drawing import matplotlib_unimportable
from torch.testing import assert_close

from ganlab.game.divergences import LOG_4


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny MLPs and vectors of a few thousand points: one thread is faster than two fighting
    over the shared cores of a test machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


ITEM_MODULES = {
    name: importlib.import_module(f"ganlab.theory.{name}")
    for name in ("optimal_discriminator", "virtual_criterion", "loss_objectives")
}


@pytest.fixture(scope="module")
def computed():
    """Each item's numbers (quick), computed once with matplotlib unimportable: a compute
    function that drew anything would fail here."""
    with matplotlib_unimportable():
        return {
            name: getattr(module, f"compute_{name}")(quick=True)
            for name, module in ITEM_MODULES.items()
        }


def test_optimal_discriminator_item_learns_d_star(computed):
    r = computed["optimal_discriminator"]
    # The bound of test_trained_discriminator_matches_optimal_discriminator (same D, 1000
    # steps, seed 0): measured 0.025 on the 99% region; an untrained D is off by ~0.5.
    assert r.max_abs_error < 0.1
    assert_close(r.error.max(), (r.d - r.d_star).abs().max())
    # Proposition 1: D* maximises V(D, G), so the learned D's exact value is below it (by
    # 8e-4 measured; rounding of the two quadratures is ~1e-15).
    assert r.value_learned_d < r.value_optimal_d


def test_virtual_criterion_item_has_its_minimum_at_p_data_and_trained_d_below(computed):
    r = computed["virtual_criterion"]
    # Two routes to C(G) on one grid, 363 members: rounding only (measured 4e-16).
    assert r.identity_error < 1e-12
    assert abs(r.criterion_at_p_data + LOG_4) < 1e-12 and r.mu_at_minimum == 0.0
    # V(D, G) <= C(G) for every trained D, and close after 300 steps (measured 2e-5 - 2e-4;
    # the bound of test_trained_discriminator_value_is_below_criterion, 5e-3).
    assert all(-1e-12 <= gap <= 5e-3 for gap in r.gap_exact)
    for row, gap in zip(r.trained, r.gap_exact, strict=True):
        assert abs(row["gap_mc"] - gap) <= 3 * row["gap_se"]  # a 3-sigma band
    # The training curve climbs to C(G) from below: never above it, ending within 5e-3.
    values = [v for _, v in r.curve]
    assert max(values) <= r.curve_criterion + 1e-12
    assert r.curve_criterion - values[-1] <= 5e-3 < r.curve_criterion - values[0]


def test_loss_objectives_item_covers_or_seeks_modes(computed):
    r = computed["loss_objectives"]
    # The gradient identities of test_generator_loss_gradient_is_divergence_gradient.
    assert r.gradient_error < 1e-8
    final = {n: torch.tensor(v, dtype=torch.float64) for n, v in r.final.items()}
    # After 200 steps (quick) maximum likelihood is at moment matching, (0, sqrt(4.25)), to
    # 3e-3 in mu (measured; the residual shrinks geometrically); 0.02 leaves margin.
    expected = torch.tensor([0.0, math.sqrt(4.25)], dtype=torch.float64)
    assert_close(final["maximum_likelihood"], expected, rtol=0, atol=0.02)
    # Non-saturating sits on the mode N(2, 0.5^2) from both starts; minimax does from the
    # start near it (tolerance as in test_descent_on_each_loss_covers_or_seeks_modes).
    mode = torch.tensor([2.0, 0.5], dtype=torch.float64)
    assert_close(final["nonsaturating"], mode, rtol=0, atol=1e-2)
    assert_close(r.paths_near_mode["minimax"][-1], mode, rtol=0, atol=1e-2)
    assert final["minimax"][1] > 1.9
    # Each fit is best at its own divergence: the mode-seeker has the lowest reverse KL
    # (log 2 = 0.69, against > 2 for the others), the maximum-likelihood fit the lowest
    # forward KL.
    assert min(r.final_reverse_kl, key=r.final_reverse_kl.get) == "nonsaturating"
    assert min(r.final_forward_kl, key=r.final_forward_kl.get) == "maximum_likelihood"


@pytest.mark.parametrize(
    "name, key, check",
    [
        ("optimal_discriminator", "max_abs_error_99", lambda v: v < 0.1),
        ("virtual_criterion", "criterion_at_p_data", lambda v: abs(v + LOG_4) < 1e-12),
        ("loss_objectives", "max_gradient_identity_error", lambda v: v < 1e-8),
    ],
)
def test_describe_reports_the_computed_numbers(computed, name, key, check):
    with matplotlib_unimportable():
        text = getattr(ITEM_MODULES[name], f"describe_{name}")(computed[name])
    assert text.name == name and text.title and text.equation and text.claim
    json.dumps(text.numbers)
    assert check(text.numbers[key]), text.numbers[key]


@pytest.mark.parametrize("name", ITEM_MODULES)
def test_run_is_compute_plot_describe(computed, tmp_path, monkeypatch, name):
    module = ITEM_MODULES[name]
    # run_<item> composes the three parts; given compute's result it must plot and describe it.
    monkeypatch.setattr(module, f"compute_{name}", lambda quick: computed[name])
    threads = torch.get_num_threads()
    result = getattr(module, f"run_{name}")(tmp_path, quick=True)
    assert torch.get_num_threads() == threads  # the one-thread scope is given back
    assert list(result) == ["name", "title", "equation", "claim", "figures", "numbers"]
    text = getattr(module, f"describe_{name}")(computed[name])
    assert result == text.item_result(result["figures"]) and result["name"] == name
    assert result["figures"]
    for figure in result["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
