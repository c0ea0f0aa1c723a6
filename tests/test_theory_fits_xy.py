"""Theory items 6 and 7: forward vs reverse KL fits, and gradient play on the xy game."""

import json
import math

import numpy as np
import pytest
from no_drawing import matplotlib_unimportable
from scipy import integrate, stats

from ganlab.theory.divergence_fits import (
    compute_kl_directions,
    describe_kl_directions,
    fit_gaussian,
    gaussian,
    kl_divergence,
    kl_forward,
    kl_quad,
    kl_reverse,
    moment_match,
    run_kl_directions,
    two_mode_mixture,
)
from ganlab.theory.xy_game import (
    METHODS,
    alternating_gradient_play,
    alternating_invariant,
    alternating_orbit_radii,
    compute_xy_game,
    contraction_factor,
    describe_xy_game,
    distance_to_equilibrium,
    extragradient,
    growth_factor,
    optimistic_contraction_factor,
    optimistic_gradient,
    run_xy_game,
    simultaneous_gradient_play,
)

P = two_mode_mixture()  # 0.5 N(-2, 0.6^2) + 0.5 N(2, 0.6^2)


# ---------------------------------------------------------------- item 6: KL directions


@pytest.fixture(scope="module")
def fits():
    return {direction: fit_gaussian(P, direction) for direction in ("forward", "reverse")}


def test_mixture_moments_match_numerical_integration():
    mean = integrate.quad(lambda x: x * P.pdf(x), -12, 12, points=[-2, 2])[0]
    var = integrate.quad(lambda x: (x - mean) ** 2 * P.pdf(x), -12, 12, points=[-2, 2])[0]
    # quad's default tolerance is 1.5e-8 relative; the closed forms are 0 and 0.6^2 + 2^2.
    assert mean == pytest.approx(P.mean(), abs=1e-8)
    assert var == pytest.approx(P.var(), rel=1e-8)
    assert P.var() == pytest.approx(0.6**2 + 4, rel=1e-15)


@pytest.mark.parametrize("a, b", [((0.0, 1.0), (1.0, 2.0)), ((2.0, 0.6), (-1.0, 0.3))])
def test_kl_of_two_gaussians_matches_closed_form(a, b):
    (m1, s1), (m2, s2) = a, b
    closed = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    # Trapezoid rule on an entire, Gaussian-decaying integrand: error far below float64
    # rounding of the sum (~1e-14 for a KL of order 1), see kl_divergence.
    assert kl_divergence(gaussian(*a), gaussian(*b)) == pytest.approx(closed, rel=0, abs=1e-12)


@pytest.mark.parametrize("mu, s", [(0.0, 2.088), (2.0, 0.6), (0.5, 1.0), (-3.0, 0.2), (1.0, 5.0)])
def test_grid_kl_matches_adaptive_quadrature(mu, s):
    q = gaussian(mu, s)
    # quad runs at epsabs 1e-13 and the grid's error is ~1e-14 (kl_divergence); 1e-10 gives
    # room for quad's error estimate being optimistic on the tails.
    assert kl_forward(P, q) == pytest.approx(kl_quad(P, q), rel=0, abs=1e-10)
    assert kl_reverse(P, q) == pytest.approx(kl_quad(q, P), rel=0, abs=1e-10)


# The claims of the figure, one function each, so that the negative case below can apply each
# claim to the fit in the other direction and see it fail.


def assert_mean_between_modes(fit):
    # Nelder-Mead stops at xatol 1e-9 in (mu, log s) and KL has a quadratic minimum, so the
    # optimum is found to ~1e-8 (measured 3e-9); 1e-6 leaves margin and is still far from +-2.
    assert fit.mu == pytest.approx(0.0, abs=1e-6)


def assert_variance_covers_both_modes(fit):
    # The closed form (moment matching) says s^2 = Var_p = 0.6^2 + 2^2 = 4.36; same optimiser
    # tolerance as above, relative (measured 2e-9).
    assert fit.s**2 == pytest.approx(0.6**2 + 4, rel=1e-6)


def assert_on_one_mode(fit):
    # The exact reverse optimum is pulled off (2, 0.6) by the other mode's tail under q:
    # |mu| = 1.9971, s = 0.6049 (see the stationarity test); 0.01 covers that pull.
    assert abs(fit.mu) == pytest.approx(2.0, abs=0.01)


def assert_width_of_one_mode(fit):
    assert fit.s == pytest.approx(0.6, abs=0.01)


FORWARD_CLAIMS = [assert_mean_between_modes, assert_variance_covers_both_modes]
REVERSE_CLAIMS = [assert_on_one_mode, assert_width_of_one_mode]


@pytest.mark.parametrize("claim", FORWARD_CLAIMS)
def test_forward_kl_fit_covers_both_modes(fits, claim):
    claim(fits["forward"])


@pytest.mark.parametrize("claim", REVERSE_CLAIMS)
def test_reverse_kl_fit_sits_on_one_mode(fits, claim):
    claim(fits["reverse"])


@pytest.mark.parametrize(
    "claim, wrong_direction",
    [(c, "reverse") for c in FORWARD_CLAIMS] + [(c, "forward") for c in REVERSE_CLAIMS],
)
def test_swapping_the_kl_direction_fails_the_claim(fits, claim, wrong_direction):
    # Negative case: each claim distinguishes the directions, it is not true of any fit.
    with pytest.raises(AssertionError):
        claim(fits[wrong_direction])


def test_forward_fit_is_moment_matching_with_its_closed_form_kl(fits):
    mean, std = moment_match(P)
    fit = fits["forward"]
    # Optimiser tolerance as in assert_mean_between_modes.
    assert (fit.mu, fit.s) == pytest.approx((mean, std), abs=1e-6)
    # At q = N(E_p x, Var_p): KL(p||q) = -H(p) + 1/2 log(2 pi e Var_p), H(p) by quad. KL is
    # flat at the optimum, so a 1e-8 parameter error moves it by ~1e-16.
    entropy = integrate.quad(lambda x: -P.pdf(x) * P.logpdf(x), -12, 12, points=[-2, 2])[0]
    closed = -entropy + 0.5 * math.log(2 * math.pi * math.e * P.var())
    assert fit.kl == pytest.approx(closed, rel=0, abs=1e-10)


def test_reverse_fit_is_stationary_and_costs_about_log_2(fits):
    fit = fits["reverse"]
    q = stats.norm(fit.mu, fit.s)

    def score(x):  # d/dx log p(x) and d^2/dx^2 log p(x) of the equal-width mixture
        m, s = np.asarray(P.means), P.stds[0]
        log_r = stats.norm.logpdf(x, m, s)
        r = np.exp(log_r - np.logaddexp(*log_r))  # responsibilities of the two modes
        g = -(x - m) / s**2  # each component's score
        return r @ g, -1 / s**2 + r @ g**2 - (r @ g) ** 2

    # Stationarity of KL(q||p) for Gaussian q (Opper & Archambeau 2009):
    #   d/dmu: E_q[(log p)'] = 0,   d/ds: E_q[(log p)''] = -1/s^2.
    lo, hi = fit.mu - 12 * fit.s, fit.mu + 12 * fit.s
    first = integrate.quad(lambda x: q.pdf(x) * score(x)[0], lo, hi, epsabs=1e-12)[0]
    second = integrate.quad(lambda x: q.pdf(x) * score(x)[1], lo, hi, epsabs=1e-12)[0]
    # Both are gradients of KL: curvature (~1/s^2 ~ 3) times the ~1e-8 parameter error.
    assert first == pytest.approx(0.0, abs=1e-6)
    assert second == pytest.approx(-1 / fit.s**2, abs=1e-6)
    # q on one mode leaves out half of p: KL ~ log 2, lowered by the other mode's mass under
    # q, of order P(N(2, 0.6^2) < 0) ~ 4e-4 (measured log 2 - KL = 1.3e-3).
    assert fit.kl == pytest.approx(math.log(2), abs=2e-3)


def test_reverse_fit_has_two_symmetric_optima(fits):
    mirror = fit_gaussian(P, "reverse", start=(-0.5, 1.0))
    fit = fits["reverse"]
    assert fit.mu > 0 > mirror.mu
    # Same optimiser tolerance as above on a mirror-symmetric objective.
    assert (mirror.mu, mirror.s) == pytest.approx((-fit.mu, fit.s), abs=1e-6)
    assert mirror.kl == pytest.approx(fit.kl, rel=0, abs=1e-12)


def test_fit_gaussian_rejects_an_unknown_direction():
    with pytest.raises(ValueError, match="direction must be one of .* got 'sideways'"):
        fit_gaussian(P, "sideways")


def test_kl_directions_item_holds_each_fit_and_its_claim():
    with matplotlib_unimportable():  # compute and describe draw nothing
        r = compute_kl_directions(quick=True)
        numbers = json.loads(json.dumps(describe_kl_directions(r).numbers))
    for claim in FORWARD_CLAIMS:
        claim(r.forward)
    for claim in REVERSE_CLAIMS:
        claim(r.reverse)
    assert r.reverse.mu > 0 > r.mirror.mu
    # Each fit is bad at the other's game: the covering fit puts mass between the modes, where
    # p has little (its reverse KL measured 1.27 against the mode fit's 0.69 ~ log 2), and the
    # mode fit misses half of p (its forward KL 10.2 against 0.56).
    assert r.forward_fit_reverse_kl > r.reverse.kl and r.reverse_fit_forward_kl > r.forward.kl
    assert r.grid_vs_quad_max_abs is None and "grid_vs_quad_max_abs" not in numbers
    assert numbers["reverse"]["mode"] == "+2"
    assert numbers["forward"]["var"] == pytest.approx(4.36, rel=1e-6)


def test_run_kl_directions_writes_its_figure(tmp_path):
    result = run_kl_directions(tmp_path, quick=True)
    assert list(result) == ["name", "title", "equation", "claim", "figures", "numbers"]
    assert result["name"] == "kl_directions"
    assert [(tmp_path / f).stat().st_size > 10_000 for f in result["figures"]] == [True]
    # run is compute, plot, describe: the same numbers as describe of compute.
    assert result["numbers"] == describe_kl_directions(compute_kl_directions(quick=True)).numbers


# ---------------------------------------------------------------- item 7: the xy game

ETAS = [0.01, 0.1, 0.5, 1.3, 1.9]  # 1.3, 1.9: large steps; eta = 1, sqrt 2 give periodic orbits
X0, Y0 = 1.0, 0.5
# One update is a few float64 roundings, each <= 2^-53 ~ 1.1e-16 relative, plus hypot and the
# division: a per-step ratio is exact to ~1e-15 (measured <= 4e-16). 1e-14 leaves 10x margin.
PER_STEP_RTOL = 1e-14


def per_step_ratios(trajectory):
    r = distance_to_equilibrium(trajectory)
    return r[1:] / r[:-1]


def assert_grows_by_sqrt_1_plus_eta2(method, eta):
    ratios = per_step_ratios(method(X0, Y0, eta, 200))
    np.testing.assert_allclose(ratios, growth_factor(eta), rtol=PER_STEP_RTOL)


def assert_conserves_modified_energy(method, eta, steps=1_000):
    q = alternating_invariant(method(X0, Y0, eta, steps), eta)
    # Each step rounds x and y (a few ulp), moving Q by <= ~1e-15 relative; the map is
    # area-preserving, so these add at worst linearly over the steps (measured 3e-14 after
    # 1e4 steps: they mostly cancel).
    np.testing.assert_allclose(q, q[0], rtol=steps * 1e-15)


def assert_contracts_by_extragradient_factor(method, eta):
    ratios = per_step_ratios(method(X0, Y0, eta, 200))
    np.testing.assert_allclose(ratios, contraction_factor(eta), rtol=PER_STEP_RTOL)


@pytest.mark.parametrize("eta", ETAS)
def test_simultaneous_play_moves_away_by_sqrt_1_plus_eta2_per_step(eta):
    assert_grows_by_sqrt_1_plus_eta2(simultaneous_gradient_play, eta)


@pytest.mark.parametrize("eta", [0.1, 1.3])
def test_simultaneous_play_is_multiplication_by_1_minus_i_eta(eta):
    t = simultaneous_gradient_play(X0, Y0, eta, 100)
    w = (X0 + 1j * Y0) * (1 - 1j * eta) ** np.arange(101)  # the complex-form oracle
    # Both sides accumulate ~1e-15 relative per step over 100 steps: 1e-13 relative to |w|.
    np.testing.assert_allclose(t[:, 0] + 1j * t[:, 1], w, rtol=0, atol=1e-13 * np.abs(w).max())


@pytest.mark.parametrize("eta", ETAS)
def test_alternating_play_conserves_x2_plus_y2_plus_eta_xy(eta):
    assert_conserves_modified_energy(alternating_gradient_play, eta, steps=10_000)


@pytest.mark.parametrize("eta", ETAS)
def test_alternating_play_orbits_neither_growing_nor_shrinking(eta):
    t = alternating_gradient_play(X0, Y0, eta, 10_000)
    r = distance_to_equilibrium(t)
    r_min, r_max = alternating_orbit_radii(alternating_invariant(t[:1], eta)[0], eta)
    # The orbit is the ellipse Q = Q_0: after 10^4 steps the distance still sweeps exactly
    # [r_min, r_max]. The rotation angle per step is not a rational multiple of 2 pi here, so
    # the iterates come within ~1e-7 of both axes of the ellipse (measured <= 4e-8).
    assert r.min() == pytest.approx(r_min, rel=1e-6)
    assert r.max() == pytest.approx(r_max, rel=1e-6)


@pytest.mark.parametrize("eta", [0.01, 0.1, 0.5, 0.9])
def test_extragradient_converges_by_sqrt_1_minus_eta2_plus_eta4_per_step(eta):
    assert_contracts_by_extragradient_factor(extragradient, eta)
    t = extragradient(X0, Y0, eta, 100)
    w = (X0 + 1j * Y0) * (1 - 1j * eta - eta**2) ** np.arange(101)  # complex-form oracle
    np.testing.assert_allclose(t[:, 0] + 1j * t[:, 1], w, rtol=0, atol=1e-13)


@pytest.mark.parametrize("eta", [0.05, 0.15, 0.3])
def test_optimistic_gradient_converges_at_its_characteristic_root(eta):
    r = distance_to_equilibrium(optimistic_gradient(X0, Y0, eta, 400))
    # w_k = a lambda_1^k + b lambda_2^k; by step 400 the smaller root's share is below
    # (|lambda_2| / |lambda_1|)^400 < 1e-100, so the ratio is |lambda_1| to rounding.
    assert r[-1] / r[-2] == pytest.approx(optimistic_contraction_factor(eta), rel=1e-12)
    assert optimistic_contraction_factor(eta) < 1


@pytest.mark.parametrize(
    "claim, method",
    [
        (assert_grows_by_sqrt_1_plus_eta2, alternating_gradient_play),
        (assert_grows_by_sqrt_1_plus_eta2, extragradient),
        (assert_conserves_modified_energy, simultaneous_gradient_play),
        (assert_conserves_modified_energy, extragradient),
        (assert_contracts_by_extragradient_factor, simultaneous_gradient_play),
        (assert_contracts_by_extragradient_factor, alternating_gradient_play),
    ],
    ids=lambda v: v.__name__,
)
def test_each_claim_fails_for_the_other_methods(claim, method):
    # Negative case: the tolerances above are tight enough to tell the methods apart.
    with pytest.raises(AssertionError):
        claim(method, 0.3)


def test_methods_reject_negative_steps():
    for method in METHODS.values():
        with pytest.raises(ValueError, match="steps must be >= 0, got -1"):
            method(X0, Y0, 0.1, -1)


def test_xy_game_item_measures_each_rate():
    with matplotlib_unimportable():  # compute and describe draw nothing
        r = compute_xy_game(quick=True)
        numbers = json.loads(json.dumps(describe_xy_game(r).numbers))
    assert r.simultaneous_ratio_error < PER_STEP_RTOL
    assert r.extragradient_ratio_error < PER_STEP_RTOL
    # The bound of assert_conserves_modified_energy over the quick run's 2,000 steps.
    assert r.long_steps == 2_000 and r.invariant_max_rel_drift < 1e-15 * 2_000
    # Out, around, in: after 150 steps of eta = 0.15 the distance from 1 is
    # (1 + eta^2)^75 = 5.3, 1 within the ellipse's radii, and (1 - eta^2 + eta^4)^75 = 0.19.
    # Each distance is 150 steps of a few roundings (~1e-16 each): 1e-12 relative is ample.
    final = {name: d[-1] for name, d in r.distances.items()}
    assert final["simultaneous"] == pytest.approx(growth_factor(0.15) ** 150, rel=1e-12)
    assert final["extragradient"] == pytest.approx(contraction_factor(0.15) ** 150, rel=1e-12)
    r_min, r_max = alternating_orbit_radii(1.0, 0.15)
    assert r_min <= final["alternating"] <= r_max
    assert final["optimistic"] < 1
    assert numbers["simultaneous"]["per_step_ratio_max_rel_error"] < PER_STEP_RTOL
    assert numbers["alternating"]["ellipse_radii_theory"] == [r_min, r_max]


def test_run_xy_game_writes_its_figure(tmp_path):
    result = run_xy_game(tmp_path, quick=True)
    assert list(result) == ["name", "title", "equation", "claim", "figures", "numbers"]
    assert result["name"] == "xy_game"
    assert [(tmp_path / f).stat().st_size > 10_000 for f in result["figures"]] == [True]
    # run is compute, plot, describe: the same numbers as describe of compute.
    assert result["numbers"] == describe_xy_game(compute_xy_game(quick=True)).numbers
