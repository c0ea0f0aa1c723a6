"""Theory item `objectives` (issue 16): each objective's D* for a fixed G, the divergence its
value equals, and Ds trained with each d_loss. Closed forms are checked against independent
oracles (scipy's quad, a second derivation, Newton's method); compute runs with matplotlib
unimportable.
"""

import json
import math

import pytest
import torch
from no_drawing import matplotlib_unimportable
from scipy import integrate, optimize, stats
from torch.testing import assert_close

from ganlab.cli import main
from ganlab.data.toy import gaussian_1d, mixture_1d
from ganlab.game.divergences import quadrature_grid
from ganlab.game.objectives import OBJECTIVE_NAMES, objective
from ganlab.theory import objectives as item
from ganlab.theory.learned_discriminator import log_density
from ganlab.theory.objectives_optimum import (
    GAMES,
    OBJECTIVES_P_DATA,
    OBJECTIVES_P_G,
    RELATIVISTIC_GRID,
    closed_form_critic,
    relativistic_optimum,
    relativistic_value_on_grid,
    sample_terms,
    total_variation,
    wasserstein_1,
)
from ganlab.theory.objectives_training import penalty_weight

SMOOTH = [g for g in GAMES if g not in ("wasserstein", "hinge")]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny MLPs and vectors of a few thousand points: one thread is faster than two fighting
    over the shared cores of a test machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def computed():
    """The item's numbers (quick: every game, one seed, 1,000 D steps), computed once with
    matplotlib unimportable: a compute function that drew anything would fail here."""
    with matplotlib_unimportable():
        return item.compute_objectives(quick=True)


def test_every_objective_has_a_game():
    # The 2014 three share the cross-entropy D; every other objective is a game of its own.
    d_losses = {GAMES[g].objective for g in GAMES}
    assert d_losses | {"nonsaturating", "maximum_likelihood"} == set(OBJECTIVE_NAMES)


@pytest.mark.parametrize("game", [g for g in GAMES if g != "relativistic"])
def test_sample_terms_split_each_separable_d_loss(game):
    # mean(l_real) + mean(l_fake) is the library's minibatch loss: the quadrature of
    # objective_value_on_grid integrates the library's own formula. float64: rounding, 1e-12.
    g = torch.Generator().manual_seed(0)
    d_real = torch.randn(37, generator=g, dtype=torch.float64)
    d_fake = torch.randn(23, generator=g, dtype=torch.float64)
    real, fake = sample_terms(GAMES[game].d_loss, d_real, d_fake)
    expected = GAMES[game].d_loss(d_real, d_fake)
    assert_close(real.mean() + fake.mean(), expected, rtol=0, atol=1e-12)


def test_smooth_games_value_at_d_star_is_their_divergence(computed):
    # -L_D(D*) by quadrature against the divergence from its own definition (KL, JSD, int p_g
    # f(r), Delta, the pairs' JSD): smooth Gaussian-tailed integrands, where the trapezoid rule
    # is exact to float64 rounding (ganlab.game.divergences); measured <= 4.5e-16.
    for game in SMOOTH:
        assert computed.identity_error[game] < 1e-12, game
    # Theorem 1 on this pair: -log 4 + 2 JSD; the f-GAN JS game is the 2014 one plus log 4.
    jsd = computed.divergence["cross_entropy"]
    assert_close(computed.optimum["cross_entropy"], -math.log(4) + 2 * jsd, rtol=0, atol=1e-12)
    assert_close(computed.divergence["f_js"], 2 * jsd, rtol=0, atol=1e-15)


def test_kinked_games_value_at_d_star_is_tv_and_w1(computed):
    # Hinge's D* = sign(p_data - p_g) and the W1 critic's kinks put a kink in the integrand at
    # each crossing: the trapezoid rule is second order there, error <= (1/8 + 1/12) h^2 J per
    # kink, J the jump of the integrand's slope (2 |p_data - p_g| <= 0.6 for W1, 2 |p_data' -
    # p_g'| <= 0.6 for hinge), h = 0.005: <= 3e-6 per kink, 3 kinks each; measured 3.1e-7.
    # The divergences come from the CDFs at the crossings, with no quadrature.
    assert computed.identity_error["wasserstein"] < 1e-5
    assert computed.identity_error["hinge"] < 1e-5
    tv, w1 = computed.divergence["hinge"], computed.divergence["wasserstein"]
    assert_close(computed.optimum["hinge"], 2 * tv - 2, rtol=0, atol=1e-5)
    assert_close(computed.optimum["wasserstein"], w1, rtol=0, atol=1e-5)


def test_total_variation_and_w1_match_scipy_quad():
    # An independent oracle: scipy's adaptive quadrature of |p_data - p_g| and |F_data - F_g|
    # with scipy.stats' densities and CDFs, broken at the crossings (|.| has kinks there);
    # quad's own error estimate is ~1e-15 here (measured agreement 1e-16), so 1e-12 is a real
    # check: breaks off the crossings by 0.005 alone leave quad 3e-7 off.
    def p(t):
        return 0.5 * stats.norm.pdf(t, -1.0, 0.8) + 0.5 * stats.norm.pdf(t, 1.5, 0.8)

    def big_p(t):
        return 0.5 * stats.norm.cdf(t, -1.0, 0.8) + 0.5 * stats.norm.cdf(t, 1.5, 0.8)

    def q(t):
        return stats.norm.pdf(t, 0.0, 1.2)

    def big_q(t):
        return stats.norm.cdf(t, 0.0, 1.2)

    def integral_of_abs(fn):
        v = fn(grid)  # the crossings, bracketed on the grid, by scipy's brentq: quad's breaks
        cells = [i for i in range(len(grid) - 1) if v[i] * v[i + 1] < 0]
        breaks = [optimize.brentq(fn, grid[i], grid[i + 1], xtol=1e-15) for i in cells]
        edges = [-30.0, *breaks, 30.0]
        return sum(
            integrate.quad(lambda t: abs(fn(t)), a, b, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        )

    x = quadrature_grid()
    grid = x.numpy()
    tv = 0.5 * integral_of_abs(lambda t: p(t) - q(t))
    w1 = integral_of_abs(lambda t: big_p(t) - big_q(t))
    assert abs(total_variation(OBJECTIVES_P_DATA, OBJECTIVES_P_G, x) - tv) < 1e-12
    assert abs(wasserstein_1(OBJECTIVES_P_DATA, OBJECTIVES_P_G, x) - w1) < 1e-12


def test_wasserstein_of_two_gaussians_of_equal_std_is_the_mean_shift():
    # A second closed form: N(mu, s^2) and N(mu', s^2) are translates, W1 = |mu - mu'|; their
    # densities cross once, at the midpoint, where TV = 2 Phi(|mu - mu'| / (2 s)) - 1.
    x = quadrature_grid()
    p, q = gaussian_1d(0.3, 0.7), gaussian_1d(-0.9, 0.7)
    assert abs(wasserstein_1(p, q, x) - 1.2) < 1e-12
    assert abs(total_variation(p, q, x) - (2 * stats.norm.cdf(0.6 / 0.7) - 1)) < 1e-12


def test_relativistic_optimum_is_log_ratio_by_newton(computed):
    # Newton's method on the concave pairing objective, from C = 0, lands on log r + const
    # (Proposition 1 on pairs): the values agree to rounding (measured 5e-16), and C itself
    # to 4e-10 where (p_data + p_g) / 2 > 1e-3 (it stops on a decrement of 1e-15, ~ error^2).
    assert_close(computed.newton_value, computed.optimum["relativistic"], rtol=0, atol=1e-12)
    assert computed.newton_error < 1e-6
    assert computed.newton_steps < 30


def test_log_ratio_solves_the_pairing_stationarity_equation():
    # dJ/dC = 0 at C = log r: the gradient of the library's pairing loss, by autograd, relative
    # to the point's weight (p_data + p_g) h, is rounding (measured 1e-15); at C = 0 it is
    # p_data - p_g over the same, order 1.
    x = RELATIVISTIC_GRID
    log_p_data, log_p_g = log_density(OBJECTIVES_P_DATA)(x), log_density(OBJECTIVES_P_G)(x)
    weight = (log_p_data.exp() + log_p_g.exp()) * (x[1] - x[0])
    for c, small in ((closed_form_critic("relativistic", log_p_data, log_p_g), True),
                     (torch.zeros_like(x), False)):  # fmt: skip
        c = c.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(relativistic_value_on_grid(c, log_p_data, log_p_g, x), c)
        residual = (grad / weight).abs().max().item()
        assert (residual < 1e-10) if small else (residual > 0.1), residual


def test_relativistic_divergence_vanishes_only_at_p_data():
    # JSD(p x q || q x p) = 0 iff p = q: a constant C then attains -log 2, and Newton from 0
    # stops at once; for a different p_g it is > 0.
    x = RELATIVISTIC_GRID
    log_p = log_density(mixture_1d([-1.0, 1.5], std=0.8))(x)
    _, value, steps = relativistic_optimum(log_p, log_p, x)
    assert abs(value.item() + math.log(2)) < 1e-12 and steps == 0
    _, value, _ = relativistic_optimum(log_p, log_density(gaussian_1d(0.0, 1.2))(x), x)
    assert value.item() + math.log(2) > 0.01


def test_least_squares_g_criterion_is_half_pearson(computed):
    # Mao et al. (2017): with b - c = 1, b - a = 2, C(G) = chi^2(p_data + p_g || 2 p_g) / 2,
    # here from g_loss_least_squares at D* by quadrature; rounding, 1e-12.
    assert_close(
        computed.least_squares_g, computed.divergence["least_squares"] / 2, rtol=0, atol=1e-12
    )
    assert "Pearson" in objective("least_squares").minimises


def test_2014_generator_objectives_are_the_f_divergences(computed):
    # The 2014 results as in item loss_objectives: maximum likelihood descends KL(p_data || p_g)
    # (= the f-GAN KL game's optimum), minimax 2 JSD (= the f-GAN JS game's); both by
    # quadrature of the same integrands, rounding.
    g = computed.generator_2014
    assert_close(g["maximum_likelihood"], computed.optimum["f_kl"], rtol=0, atol=1e-12)
    assert_close(g["minimax"], computed.optimum["f_js"], rtol=0, atol=1e-12)


def test_trained_discriminators_reach_the_optimum(computed):
    gap, bound = computed.gap, item.TRAINED_GAP_BOUND
    for game, rows in computed.trained.items():
        for row in rows:
            # No D beats D* where it is the pointwise (or, for pairs, concave) maximiser: -L_D
            # by quadrature is below it but for rounding. The GP-trained critic is only softly
            # 1-Lipschitz, so it may exceed W1 (by 5e-3 measured).
            if game != "wasserstein":
                assert row["exact"] <= computed.optimum[game] + 1e-12, game
            # Within the gap bound (twice the largest gap measured over seeds 0-2, 1,000 steps),
            # and the held-out estimate within 3 of its standard errors beyond that.
            assert gap[game] <= bound[game], (game, gap[game])
            assert abs(row["mc"] - computed.optimum[game]) <= 3 * row["se"] + bound[game], game
    assert all(computed.agrees.values())


def test_penalty_weight_rises_to_lambda_halfway():
    assert penalty_weight(0, 1000) == pytest.approx(1e-2)
    assert penalty_weight(250, 1000) == pytest.approx(10**-0.5)
    assert penalty_weight(500, 1000) == penalty_weight(999, 1000) == 10.0


def test_describe_reports_the_computed_numbers(computed):
    with matplotlib_unimportable():
        text = item.describe_objectives(computed)
    assert text.name == "objectives" and text.title and text.equation and text.claim
    json.dumps(text.numbers)
    assert set(text.numbers["minimises"]) == set(OBJECTIVE_NAMES)
    assert text.numbers["divergence"]["wasserstein"] == pytest.approx(0.359022, abs=1e-6)


def test_run_is_compute_plot_describe(computed, tmp_path, monkeypatch):
    # run_objectives composes the three parts; given compute's result it must plot and
    # describe it (compute itself ran above, in quick mode).
    monkeypatch.setattr(item, "compute_objectives", lambda quick: computed)
    threads = torch.get_num_threads()
    result = item.run_objectives(tmp_path, quick=True)
    assert torch.get_num_threads() == threads
    assert result == item.describe_objectives(computed).item_result(result["figures"])
    assert result["figures"] == item.FIGURES
    for figure in result["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_theory_list_shows_objectives(capsys):
    assert main(["theory", "--list"]) == 0
    assert "objectives" in capsys.readouterr().out.split()
