"""`ganlab lab`: the session (ganlab's own updates, controls, frames, save/load), its HTTP and
WebSocket API, and the page itself in headless Chromium (Debian's /usr/bin/chromium through
Playwright; those tests skip when either is missing). Screenshots go to $GANLAB_TEST_ARTIFACTS
(default tests/artifacts/)."""

from __future__ import annotations

import json
import math
import socket
import time

import pytest
import torch
from browsing import artifacts, chromium_browser, served_lab

import ganlab
from ganlab.config import OBJECTIVES
from ganlab.errors import ConfigError, GanlabError, RunDirError
from ganlab.game.objectives import objective
from ganlab.lab import frames
from ganlab.lab.controls import MAX_POINTS, LabError
from ganlab.lab.session import PREVIEW_POINTS, LabSession
from ganlab.runs.api import load_run
from ganlab.training.algorithm import algorithm1
from ganlab.training.state import build_state, seeded_rng

# fastapi's TestClient on a newer starlette asks for httpx2; httpx still works for these tests
pytestmark = pytest.mark.filterwarnings("ignore:Using .httpx. with .starlette.testclient.")

SMALL = {"generator.hidden": [16, 16], "discriminator.hidden": [16, 16], "m": 64}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def session():
    s = LabSession("ring")
    s.control({"action": "set", "values": SMALL})
    yield s
    s.close()


def params(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------------------------------
# The session: one update at a time, with ganlab's own code


def test_step_d_updates_only_d_once(session):
    g0, d0 = params(session.state.G), params(session.state.D)
    session.control({"action": "step_d"})
    assert same(g0, params(session.state.G))
    assert not same(d0, params(session.state.D))
    assert (session.d_updates, session.g_updates, session.state.step) == (1, 0, 0)


def test_step_g_updates_only_g_once(session):
    g0, d0 = params(session.state.G), params(session.state.D)
    session.control({"action": "step_g"})
    assert not same(g0, params(session.state.G))
    assert same(d0, params(session.state.D))
    assert (session.d_updates, session.g_updates, session.state.step) == (0, 1, 1)


def test_update_buttons_are_algorithm1(session):
    """k D updates then one G update by the buttons = one iteration of algorithm1, exactly: the
    same minibatches (noise and data streams) and the same arithmetic, so equal parameters."""
    session.control({"action": "set", "values": {"k": 2}})
    cfg = session.cfg
    with seeded_rng(cfg):
        oracle = build_state(cfg)
    algorithm1(cfg.model_copy(update={"steps": 2}), oracle)
    for action in ("step_d", "step_d", "step_g", "step_d", "step_d", "step_g"):
        session.control({"action": action})
    assert session.state.step == oracle.step == 2
    assert same(params(session.state.G), params(oracle.G))
    assert same(params(session.state.D), params(oracle.D))
    # and the "step" button is algorithm1 itself
    algorithm1(cfg.model_copy(update={"steps": 3}), oracle)
    session.control({"action": "step"})
    assert same(params(session.state.G), params(oracle.G))
    assert (session.d_updates, session.g_updates) == (6, 3)


def test_play_trains_in_the_background_and_pause_stops_it(session):
    session.start()
    session.control({"action": "play"})
    deadline = time.monotonic() + 30
    while session.state.step < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    session.control({"action": "pause"})
    stopped = session.state.step
    assert stopped >= 5
    time.sleep(0.3)
    assert session.state.step == stopped


def test_a_divergence_stops_training_with_one_line(session):
    """Learning rates of 1e30 make D's loss NaN within the first iteration: the button and the
    training thread both stop there with one line; `last` shows the NaN, the chart never does."""
    session.control({"action": "set", "values": {"d_optimizer.lr": 1e30, "g_optimizer.lr": 1e30}})
    diverged = "training diverged at step 1: the discriminator's loss is NaN or infinite"
    with pytest.raises(LabError, match=diverged):
        session.control({"action": "step"})
    assert math.isnan(session.last["d_loss"]) and session.charts.train_history.rows == []
    session.control({"action": "reset"})
    session.start()
    session.control({"action": "play"})
    deadline = time.monotonic() + 30
    while session.playing and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not session.playing and session.state.step == 1
    assert session.error is not None and session.error.startswith(diverged)
    assert math.isnan(session.last["d_loss"])  # `last` charts the queued stats first
    assert session.charts.train_history.rows == []


def test_a_reset_drops_the_old_networks_queued_stats(session):
    """Stats wait in a queue until charted (outside the training lock): a reset before they are
    must not chart the old G and D's updates on the new ones' chart."""
    session.control({"action": "step"})  # queued: nothing has read the charts yet
    session.control({"action": "reset"})
    assert session.last == {} and session.charts.train_history.rows == []
    session.control({"action": "step_d"})
    assert set(session.last) == {"d_loss", "d_real", "d_fake"}
    assert [row["step"] for row in session.charts.train_history.rows] == [0]


def test_changing_the_loss_applies_without_reset(session):
    """`g_loss`, the setting's name before issue 16 (older clients), still sets the objective."""
    for _ in range(3):
        session.control({"action": "step"})
    session.control({"action": "step_g"})
    assert session.last["g_loss"] > 0  # non-saturating: softplus(-a) > 0
    reply = session.control({"action": "set", "values": {"g_loss": "minimax"}})
    assert "objective=minimax" in reply["message"]
    assert session.cfg.objective == "minimax" and session.state.step == 4  # not reset
    session.control({"action": "step_g"})
    assert session.last["g_loss"] < 0  # minimax: -softplus(a) < 0
    reply = session.control(
        {"action": "set", "values": {"objective": "minimax", "g_loss": "minimax"}}
    )
    assert reply["message"] == "settings unchanged"


def test_every_objective_is_offered_and_trains_live(session):
    """All twelve objectives apply to the running session, and its frames stay finite JSON."""
    for step, name in enumerate(OBJECTIVES, 1):
        session.control({"action": "set", "values": {"objective": name}})
        session.control({"action": "step"})
        assert session.cfg.objective == name and session.state.step == step
        json.loads(session.frame_text())
    assert json.loads(session.frame_text())["settings"]["objective"] == OBJECTIVES[-1]


def test_hinge_with_r1_trains_and_its_frames_are_finite(session):
    reply = session.control(
        {"action": "set", "values": {"objective": "hinge", "regularizers.r1": 1.0}}
    )
    assert "objective=hinge, regularizers.r1=1.0 (training continues" in reply["message"]
    for _ in range(3):
        session.control({"action": "step"})
    assert session.state.step == 3 and session.cfg.regularizers.r1 == 1.0
    f = session.frame()
    json.dumps(f, allow_nan=False)  # raises on a NaN or infinity anywhere in the frame
    assert f["d_output"] == "critic" and f["settings"]["regularizers.r1"] == 1.0
    assert math.isfinite(session.last["d_loss"]) and set(session.last) >= {"critic_real"}


def test_regularized_buttons_are_algorithm1(session):
    """The one-update buttons with R1, decaying instance noise, the relativistic objective and
    G's average = algorithm1 from the same torch generator: same parameters, bit for bit (the
    noise's std is that of the button's iteration, as algorithm1's reg.at_step sets it)."""
    settings = {
        "k": 2,
        "objective": "relativistic",
        "regularizers.r1": 0.5,
        "regularizers.instance_noise": 0.2,
        "regularizers.instance_noise_decay_steps": 3,
        "ema.beta": 0.5,
    }
    session.control({"action": "set", "values": settings})
    cfg = session.cfg
    with seeded_rng(cfg):
        oracle = build_state(cfg)
    with torch.random.fork_rng():
        torch.manual_seed(7)  # the noise and the penalties draw from torch's generator
        algorithm1(cfg.model_copy(update={"steps": 2}), oracle)
    with torch.random.fork_rng():
        torch.manual_seed(7)
        for action in ("step_d", "step_d", "step_g") * 2:  # k = 2
            session.control({"action": action})
    assert session.state.step == oracle.step == 2
    assert same(params(session.state.D), params(oracle.D))
    assert same(params(session.state.G), params(oracle.G))
    assert same(params(session.state.ema), params(oracle.ema))


def test_a_network_setting_rebuilds_from_the_seed(session):
    session.control({"action": "step"})
    session.control({"action": "set", "values": {"generator.hidden": [8]}})
    assert session.state.step == 0
    assert [p.shape for p in session.state.G.parameters()][0] == (8, 2)


@pytest.mark.parametrize(
    "message, expected",
    [
        ({"action": "set", "values": {"g_optimizer.lr": -1}}, "'g_optimizer.lr' in the lab"),
        (
            {"action": "set", "values": {"k": 0}},
            "'k' in the lab's settings: expected a number greater",
        ),
        ({"action": "set", "values": {"g_loss": "fly"}}, "'objective' in the lab's settings"),
        (
            {"action": "set", "values": {"g_loss": "hinge", "objective": "minimax"}},
            "g_loss 'hinge' and objective 'minimax' disagree",
        ),
        (
            {"action": "set", "values": {"objective": "hinge", "regularizers.weight_clip": 0.01}},
            "regularizers.weight_clip keeps a Wasserstein critic Lipschitz",
        ),
        ({"action": "set", "values": {"ema.beta": 1.0}}, "'ema.beta' in the lab's settings"),
        ({"action": "set", "values": {"lr": 0.1}}, "unknown setting 'lr'"),
        ({"action": "set", "values": {"dataset": "moons"}}, "unknown dataset 'moons'"),
        ({"action": "set", "values": {"m": 10**6}}, "more than the lab allows"),
        ({"action": "draw", "points": [[0.0, 0.0]] * 10**6}, f"at most {MAX_POINTS}"),
        ({"action": "draw", "points": [[9.0, 0.0]]}, "must lie in [-2.0, 2.0]"),
        ({"action": "draw", "points": [[0.0, "x"]]}, "invalid points.0.1"),
        ({"action": "draw", "points": []}, "invalid points"),
        ({"action": "fly"}, "unknown action 'fly'"),
        ('{"action": "play"', "malformed JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        ({"action": "save", "path": ""}, "invalid path"),
        ({"action": "pick", "label": 0}, "this session is unconditional"),
    ],
)
def test_bad_input_gets_one_line_and_changes_nothing(session, message, expected):
    before = session.cfg
    with pytest.raises(GanlabError) as e:
        session.control(message)
    text = str(e.value)
    assert expected in text and "\n" not in text and "Traceback" not in text
    assert session.cfg == before
    session.control({"action": "step"})  # and the session keeps working
    assert session.state.step == 1


def test_config_errors_are_ganlabs_own(session):
    with pytest.raises(ConfigError, match=r"greater than 0, got -1; fix it in the panel$"):
        session.control({"action": "set", "values": {"d_optimizer.lr": -1}})


def test_drawn_points_become_p_data(session):
    session.control({"action": "draw", "points": [[0.0, 0.0], [1.0, 1.0]]})
    assert session.dataset == "drawn"
    expected = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(session.dist.centres, expected)
    session.control({"action": "step"})
    session.control({"action": "draw", "points": [[-1.0, 1.0]]})  # a new drawing: same G and D
    assert session.state.step == 1
    x = session.state.data.sample(500)
    # every example lies around the one drawn point (std 0.06: 6 std is 0.36)
    assert float((x - torch.tensor([-1.0, 1.0])).norm(dim=1).max()) < 0.36


# ---------------------------------------------------------------------------------------------
# Frames


def test_2d_frame(session):
    f = json.loads(session.frame_text())
    assert f["dim"] == 2 and len(f["heatmap"]) == frames.HEATMAP_CELLS**2
    assert all(0 <= v <= 1 for v in f["heatmap"] + f["dstar"])
    assert len(f["fake"]) == PREVIEW_POINTS and len(f["arrows"]) == frames.ARROWS
    assert len(f["manifold"]["points"]) == frames.MANIFOLD_LINES**2
    assert f["stats"]["modes"] == 8 and 0 <= f["stats"]["jsd"] <= math.log(2) + 1e-9
    # an unconditional run: no classes, so no picker on the page (issue 17)
    assert not {"classes", "picked", "real_y", "fake_y", "d_map"} & set(f)
    assert f["settings"]["conditional.kind"] == "none" and "label_agreement" not in f["stats"]


def test_packed_d_and_live_settings(session):
    """PacGAN packing rebuilds D for packs of 2 (D's heatmap scores a pack of copies of x);
    label smoothing and learning rates apply to the running session."""
    session.control({"action": "set", "values": {"discriminator.pack": 2}})
    assert session.state.D.pack == 2
    session.control({"action": "step"})
    session.control({"action": "set", "values": {"label_smoothing": 0.1, "d_optimizer.lr": 0.01}})
    assert session.state.step == 1 and session.cfg.label_smoothing == 0.1
    session.control({"action": "step_d"})
    assert session.state.opt_d.param_groups[0]["lr"] == pytest.approx(0.01)
    f = session.frame()
    assert all(0 <= v <= 1 for v in f["heatmap"]) and len(f["arrows"]) == frames.ARROWS
    with pytest.raises(ConfigError, match="pack=2 must divide the minibatch m=63"):
        session.control({"action": "set", "values": {"m": 63}})


def test_1d_frame_is_figure_1():
    s = LabSession("line")
    f = s.frame()
    assert f["dim"] == 1
    n = frames.CURVE_POINTS
    assert len(f["x"]) == len(f["d"]) == len(f["p_data"]) == len(f["p_g"]) == len(f["dstar"]) == n
    # D* = p_data / (p_data + p_g), Proposition 1, on the curves sent
    for p, q, d in zip(f["p_data"], f["p_g"], f["dstar"], strict=True):
        if p + q > 1e-3:
            assert d == pytest.approx(p / (p + q), abs=2e-4)  # values are rounded to 4 digits


def test_binned_kernel_density_is_the_kernel_estimate():
    """Oracle: the direct sum 1/N sum_i N(x; x_i, h^2 I). Binning moves each sample by at most
    half a cell (w/2); with h = 2w the estimate changes by ~ (w/2)/h ~ 25% of the gradient
    term at worst, so 2% of the peak density bounds the difference."""
    g = torch.Generator().manual_seed(0)
    view = frames.View(2, -2.0, 2.0)
    cells = 50
    h = 2 * view.span / cells
    x = torch.randn(3000, 2, generator=g, dtype=torch.float64) * 0.5
    fast = frames.kernel_density(x, view, cells, h)
    grid = frames.grid_points(view, cells)
    direct = torch.exp(-(torch.cdist(grid, x) ** 2) / (2 * h * h)).mean(1) / (2 * math.pi * h * h)
    assert float((fast - direct).abs().max()) < 0.02 * float(direct.max())
    # it integrates to ~1 over the view (mass beyond 4 std of N(0, 0.5^2 + h^2) is < 1e-3)
    assert float(fast.sum()) * (view.span / cells) ** 2 == pytest.approx(1.0, abs=0.01)


def test_divergences_against_closed_forms():
    p = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64)
    q = torch.tensor([0.0, 0.0, 0.5, 0.5], dtype=torch.float64)
    assert frames.divergences(p, p)["jsd"] == pytest.approx(0.0, abs=1e-9)
    assert frames.divergences(p, q)["jsd"] == pytest.approx(math.log(2), abs=1e-9)
    r = torch.tensor([0.25, 0.75], dtype=torch.float64)
    u = torch.tensor([0.5, 0.5], dtype=torch.float64)
    kl = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert frames.divergences(r, u)["kl"] == pytest.approx(kl, abs=1e-9)
    # no sample of G in the view: its mass is all "outside", disjoint from p: JSD = log 2
    d = frames.divergences(p, torch.zeros(4, dtype=torch.float64))
    assert d["jsd"] == pytest.approx(math.log(2), abs=1e-9) and math.isfinite(d["kl"])
    # half of G's mass outside: m = (p + q) / 2 by hand
    half = frames.divergences(p, torch.tensor([0.25, 0.25, 0.0, 0.0], dtype=torch.float64))
    jsd = 0.5 * math.log(0.5 / 0.375) + 0.5 * (0.5 * math.log(0.25 / 0.375) + 0.5 * math.log(2))
    assert half["jsd"] == pytest.approx(jsd, abs=1e-9)


def test_gradient_arrows_vanish_with_the_minimax_loss():
    """Section 3: with D confident (D(G(z)) ~ 0), dL/da is -D for the minimax loss and D - 1 for
    the non-saturating one: the arrows' gradients differ by the factor D / (1 - D)."""
    D = torch.nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[10.0, 0.0]]))
        D.bias.fill_(-10.0)  # logit -10 at x = 0: D ~ 4.5e-5
    D_flat = _Squeeze(D)
    x = torch.zeros(4, 2)
    minimax = frames.generator_gradient(x, D_flat, objective("minimax"), 1)
    nonsat = frames.generator_gradient(x, D_flat, objective("nonsaturating"), 1)
    d = torch.sigmoid(torch.tensor(-10.0))
    torch.testing.assert_close(minimax, nonsat * d / (1 - d))
    torch.testing.assert_close(nonsat[:, 0], torch.full((4,), 10.0 * (1 - d)))


def test_gradient_arrows_follow_the_objectives_g_loss():
    """For a linear critic f(x) = w.x + b: hinge's and Wasserstein's -dL_G/dx = w at every point
    (L_G = -sum f); relativistic's is sigmoid(f(x_r) - f(x)) w, x_r the real point paired with x
    (L_G = sum softplus(-(f(x) - f(x_r)))), the real points cycled over the samples."""
    D = torch.nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[2.0, -1.0]]))
        D.bias.fill_(0.5)
    D_flat, w = _Squeeze(D), torch.tensor([2.0, -1.0])
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    for name in ("hinge", "wasserstein"):
        torch.testing.assert_close(frames.generator_gradient(x, D_flat, objective(name), 1),
                                   w.expand(4, 2))  # fmt: skip
    real = torch.tensor([[1.0, 1.0], [0.0, -2.0]])
    paired = real[[0, 1, 0, 1]]
    f = lambda t: t @ w + 0.5  # noqa: E731
    expected = torch.sigmoid(f(paired) - f(x))[:, None] * w
    got = frames.generator_gradient(x, D_flat, objective("relativistic"), 1, real)
    torch.testing.assert_close(got, expected)


def _shift_d_output(D: torch.nn.Module, by: float) -> None:
    last = [m for m in D.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias.add_(by)


@pytest.mark.parametrize("name", ["hinge", "wasserstein", "f_pearson"])
def test_a_critic_map_shows_raw_values_on_its_own_scale(session, name):
    """D's output shifted by +3 puts a critic's whole map above 1, where no probability goes:
    the frame sends D's raw output (rounded to 3 decimals) with d_range its min and max; a 2014
    objective's frame of the same D sends sigmoid of it, in [0, 1]."""
    _shift_d_output(session.state.D, 3.0)
    cells = frames.grid_points(session.view, frames.HEATMAP_CELLS)
    with torch.no_grad():
        raw = session.state.D(cells.float()).double()
    f = session.frame()
    assert f["d_output"] == "probability" and f["d_range"] == [0.0, 1.0]
    torch.testing.assert_close(torch.tensor(f["heatmap"]).double(), torch.sigmoid(raw),
                               rtol=0, atol=6e-4)  # fmt: skip
    session.control({"action": "set", "values": {"objective": name}})
    f = session.frame()
    heat = torch.tensor(f["heatmap"]).double()
    assert f["d_output"] == "critic" and float(heat.min()) > 1.0
    torch.testing.assert_close(heat, raw, rtol=0, atol=6e-4)  # 3 decimals: 5e-4, float32
    assert f["d_range"] == pytest.approx([float(raw.min()), float(raw.max())], abs=1e-4)
    assert (
        f["dstar_label"] != frames.DSTAR_2014 and f"not the optimum of {name}" in (f["dstar_label"])
    )
    assert all(0 <= v <= 1 for v in f["dstar"])  # D* is still the 2014 ratio, labelled so


def test_d_star_is_the_2014_optimum_by_its_label():
    s = LabSession("line")
    f = s.frame()
    assert f["d_output"] == "probability" and f["dstar_label"] == frames.DSTAR_2014
    assert all(0 <= v <= 1 for v in f["d"])
    s.control({"action": "set", "values": {"objective": "least_squares"}})
    s.control({"action": "step"})
    f = s.frame()
    assert f["d_output"] == "critic" and "2014 game's D*" in f["dstar_label"]
    lo, hi = f["d_range"]
    assert lo == pytest.approx(min(f["d"]), abs=1e-4) and hi == pytest.approx(max(f["d"]), abs=1e-4)
    # the charts read a critic's mean raw output, never a sigmoid of it
    assert "d_fake" not in s.last and "critic_fake" in s.last


def test_with_ema_on_the_samples_come_from_the_average(session, tmp_path):
    session.control({"action": "set", "values": {"g_optimizer.lr": 0.1}})  # G moves visibly
    session.control({"action": "step"})
    reply = session.control({"action": "set", "values": {"ema.beta": 0.9}})
    assert "ema.beta=0.9 (training continues from step 1)" in reply["message"]
    assert same(params(session.state.ema), params(session.state.G))  # starts at today's G
    for _ in range(5):
        session.control({"action": "step"})
    f = session.frame()
    with torch.no_grad():
        ema = session.state.ema(session.density_z)[:PREVIEW_POINTS].double()
        g = session.state.G(session.density_z)[:PREVIEW_POINTS].double()
    fake = torch.tensor(f["fake"]).double()
    assert f["sampler"] == "G_ema"
    torch.testing.assert_close(fake, ema, rtol=0, atol=6e-4)  # 3 decimals
    assert float((fake - g).abs().max()) > 1e-2  # and G's own samples are elsewhere
    # saved and loaded with its average; off again, samples come from G
    session.control({"action": "save", "path": str(tmp_path / "e")})
    other = LabSession("line")
    other.control({"action": "load", "path": str(tmp_path / "e")})
    assert same(params(other.state.ema), params(session.state.ema))
    session.control({"action": "set", "values": {"ema.beta": 0}})
    assert session.state.ema is None and session.frame()["sampler"] == "G"


def test_wasserstein_gets_its_lipschitz_method(session):
    """The config adds WGAN-GP's lambda = 10 to a Wasserstein critic with no method; the lab
    says so, and keeps it when the page sets it to 0 without weight clipping."""
    reply = session.control({"action": "set", "values": {"objective": "wasserstein"}})
    assert "objective=wasserstein, regularizers.gradient_penalty=10.0" in reply["message"]
    reply = session.control({"action": "set", "values": {"regularizers.gradient_penalty": 0}})
    assert reply["message"].startswith("settings unchanged; regularizers.gradient_penalty stays 10")
    session.control({"action": "set", "values": {"regularizers.weight_clip": 0.05}})
    session.control({"action": "set", "values": {"regularizers.gradient_penalty": 0}})
    session.control({"action": "step"})
    assert session.cfg.regularizers.gradient_penalty == 0 and session.state.step == 1
    clip = float(torch.tensor(0.05))  # 0.05 in float32, as clamp_ sees it
    assert max(float(p.detach().abs().max()) for p in session.state.D.parameters()) == clip


class _Squeeze(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)[:, 0]


# ---------------------------------------------------------------------------------------------
# Save and load: a ganlab run directory


def test_save_writes_a_run_directory_ganlab_reads(session, tmp_path):
    for _ in range(3):
        session.control({"action": "step"})
    out = tmp_path / "lab-run"
    session.control({"action": "save", "path": str(out)})
    run = load_run(out)
    assert run.step == 3
    assert same(params(run.generator), params(session.state.G))
    assert run.sample(10).shape == (10, 2)
    with pytest.raises(RunDirError, match="already exists"):
        session.control({"action": "save", "path": str(out)})
    resumed = ganlab.resume(out, steps=5, report=False)  # `ganlab resume` continues it
    assert resumed.step == 5


def test_load_restores_the_session(session, tmp_path):
    session.control({"action": "set", "values": {"g_loss": "minimax"}})
    for _ in range(2):
        session.control({"action": "step"})
    session.control({"action": "save", "path": str(tmp_path / "r")})
    other = LabSession("line")
    other.control({"action": "load", "path": str(tmp_path / "r")})
    assert other.dataset == "ring" and other.state.step == 2 and other.cfg.g_loss == "minimax"
    assert (other.d_updates, other.g_updates) == (session.d_updates, session.g_updates)
    assert same(params(other.state.G), params(session.state.G))
    # the next iteration is the one the saved session would have made
    other.control({"action": "step"})
    session.control({"action": "step"})
    assert same(params(other.state.G), params(session.state.G))


def test_drawn_session_saves_and_loads(session, tmp_path):
    session.control({"action": "draw", "points": [[0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]]})
    session.control({"action": "step"})
    session.control({"action": "save", "path": str(tmp_path / "d")})
    assert load_run(tmp_path / "d").sample(5).shape == (5, 2)
    assert ganlab.resume(tmp_path / "d", steps=2, report=False).step == 2  # on data.npy
    other = LabSession("ring")
    other.control({"action": "load", "path": str(tmp_path / "d")})
    assert other.dataset == "drawn" and other.state.step == 2  # where the resume left it
    torch.testing.assert_close(other.drawn, session.drawn)


def test_a_trained_run_loads_and_keeps_its_own_config(session, tmp_path):
    """A `ganlab train` run (the ring8 preset: std 0.01, decaying learning rates) in the lab: a
    live change from the panel leaves the settings the panel does not show alone."""
    run = ganlab.train("ring8", tmp_path / "t", overrides=["steps=2"], report=False)
    session.control({"action": "load", "path": str(run.path)})
    assert session.state.step == 2 and session.cfg.data.std == 0.01
    session.control({"action": "set", "values": {"g_loss": "minimax"}})
    assert session.cfg.data.std == 0.01 and session.cfg.g_optimizer.lr_decay_factor == 1.0004
    session.control({"action": "step"})
    assert session.state.step == 3


def test_load_errors(session, tmp_path):
    with pytest.raises(RunDirError, match="not a ganlab run directory"):
        session.control({"action": "load", "path": str(tmp_path / "nothing")})


# ---------------------------------------------------------------------------------------------
# The default ring shows section 3: minimax starves G, non-saturating recovers


@pytest.mark.slow
def test_ring_minimax_starves_and_nonsaturating_recovers():
    """The lab's ring defaults (G: SGD with momentum, D: Adam, k = 2), seed 0 as the page
    starts. Measured: after 300 minimax iterations mean D(G(z)) = 3.5e-5 and G's gradient norm
    7e-4 (both still falling); then 7-8 of 8 modes at non-saturating iterations 100, 200 and
    300 (8 of 8 at every 250th up to 1,500 after 500 minimax ones). Bounds: 1e-2, 0.05, 6."""
    s = LabSession("ring")
    s.control({"action": "set", "values": {"g_loss": "minimax"}})
    for _ in range(300):
        s.control({"action": "step"})
    assert s.last["d_fake"] < 1e-2 and s.last["g_grad"] < 0.05
    assert s.frame()["stats"]["modes_covered"] == 0
    s.control({"action": "set", "values": {"g_loss": "nonsaturating"}})
    for _ in range(300):
        s.control({"action": "step"})
    assert s.frame()["stats"]["modes_covered"] >= 6
    assert s.last["d_fake"] > 0.05


# ---------------------------------------------------------------------------------------------
# The HTTP and WebSocket API


@pytest.fixture
def client():
    from fastapi.testclient import TestClient

    from ganlab.lab.server import create_app

    s = LabSession("ring")
    s.control({"action": "set", "values": SMALL})
    with TestClient(create_app(s)) as c:
        yield c


def test_page_and_script_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "ganlab lab" in page.text and "/lab.js" in page.text
    assert "WebSocket" in client.get("/lab.js").text


def test_control_api(client):
    r = client.post("/api/control", content=b'{"action": "step_g"}')
    assert r.status_code == 200 and r.json()["ok"]
    assert json.loads(client.get("/api/frame").text)["step"] == 1


@pytest.mark.parametrize(
    "body, expected",
    [
        (b"{not json", "malformed JSON"),
        (b'{"action": "set", "values": {"g_optimizer.lr": -1}}', "greater than 0"),
        (b'{"action": "set", "values": {"k": 0}}', "'k'"),
        (b"\xff\xfe", "malformed JSON"),
        (b"", "malformed JSON"),
        (
            b'{"action": "set", "values": {"objective": "hinge", "regularizers.weight_clip": 0.1}}',
            "objective 'hinge' needs no clipping",
        ),
    ],
)
def test_bad_requests_get_400_and_one_line(client, body, expected):
    r = client.post("/api/control", content=body)
    assert r.status_code == 400
    assert expected in r.json()["error"] and "\n" not in r.json()["error"]
    assert client.post("/api/control", content=b'{"action": "step"}').status_code == 200


def test_every_tab_gets_the_same_frames(client):
    with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
        client.post("/api/control", content=b'{"action": "step_g"}')
        fa = json.loads(a.receive_text())
        fb = json.loads(b.receive_text())
        # a frame after the update reaches both
        while fa["step"] < 1:
            fa = json.loads(a.receive_text())
        while fb["step"] < 1:
            fb = json.loads(b.receive_text())
        assert fa["step"] == fb["step"] == 1
        assert fa["settings"] == fb["settings"]


def test_loopback_check():
    from ganlab.lab.server import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_cli_warns_off_loopback_and_refuses_a_busy_port(capsys):
    from ganlab.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["lab", "--host", "0.0.0.0", "--port", str(port), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("ganlab: warning: --host 0.0.0.0 is not a loopback address")
    assert err[-1].startswith("ganlab: error: cannot listen on 0.0.0.0:") and len(err) == 2
    assert main(["lab", "--port", "70000", "--no-browser"]) == 2
    assert capsys.readouterr().err == (
        "ganlab: error: --port must be in 0..65535, got 70000; e.g. --port 8000\n"
    )


# ---------------------------------------------------------------------------------------------
# The page in headless Chromium


@pytest.fixture(scope="module")
def server():
    """The lab served by uvicorn on a free loopback port, in a thread."""
    s = LabSession("ring")
    s.control({"action": "set", "values": SMALL})
    with served_lab(s) as url:
        yield url, s


@pytest.fixture(scope="module")
def browser():
    yield from chromium_browser()


@pytest.fixture
def page(browser, server):
    url, session = server
    with session.lock:
        session.playing = False
    session.control({"action": "set", "values": {"dataset": "ring"}})
    session.control({"action": "set", "values": SMALL})
    pg = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(url)
    pg.wait_for_function("window.lab && window.lab.frames >= 2", timeout=30_000)
    pg.errors = errors
    yield pg
    pg.close()


def step_of(pg) -> int:
    return int(pg.inner_text("#step"))


def test_page_loads_without_console_errors(page):
    page.screenshot(path=str(artifacts() / "lab-loaded.png"))
    assert page.errors == []
    assert page.inner_text("#status") == "live"
    assert page.inner_text("#error") == ""


def test_play_advances_the_step_and_changes_the_heatmap(page):
    before = page.evaluate("document.getElementById('main').toDataURL()")
    start = step_of(page)
    page.click("#play")
    page.wait_for_function(
        f"Number(document.getElementById('step').textContent) > {start + 20}", timeout=60_000
    )
    page.click("#play")  # pause
    page.wait_for_function("window.lab.frame && !window.lab.frame.playing", timeout=10_000)
    page.wait_for_timeout(300)  # a frame after the pause
    after = page.evaluate("document.getElementById('main').toDataURL()")
    page.screenshot(path=str(artifacts() / "lab-after-play.png"))
    assert step_of(page) > start + 20
    assert after != before
    assert page.errors == []


def test_changing_the_loss_applies(page, server):
    page.select_option("#objective", "minimax")
    page.wait_for_function("window.lab.frame.settings.objective === 'minimax'", timeout=10_000)
    assert "objective=minimax" in page.inner_text("#notice")
    assert server[1].cfg.objective == "minimax"
    assert "JSD" in page.inner_text("#minimises")
    page.screenshot(path=str(artifacts() / "lab-minimax.png"))


def test_a_critic_objective_and_the_average_show_on_the_page(page, server):
    assert len(page.locator("#objective option").all()) == len(OBJECTIVES)
    page.select_option("#objective", "hinge")
    page.fill("#r1", "1")
    page.press("#r1", "Enter")
    page.fill("#ema-beta", "0.9")
    page.press("#ema-beta", "Enter")
    page.wait_for_function(
        "window.lab.frame.d_output === 'critic' && window.lab.frame.sampler === 'G_ema' && "
        "window.lab.frame.settings['regularizers.r1'] === 1",
        timeout=10_000,
    )
    page.click("#step-iter")
    page.wait_for_timeout(300)
    legend = page.inner_text("#legend")
    assert "critic value" in legend and "moving average" in legend
    assert "not the optimum of hinge" in page.inner_text("#dstar-label")
    assert page.inner_text("#d-means-label") == "mean critic value on x / on G(z)"
    page.screenshot(path=str(artifacts() / "lab-hinge-ema.png"))
    assert page.errors == []
    server[1].control(
        {
            "action": "set",
            "values": {"objective": "nonsaturating", "regularizers.r1": 0, "ema.beta": 0},
        }
    )


def test_step_buttons_make_exactly_one_update(page):
    start, d0 = step_of(page), int(page.inner_text("#d-updates"))
    page.click("#step-g")
    page.wait_for_function(f"window.lab.frame.step === {start + 1}", timeout=10_000)
    page.click("#step-d")
    page.wait_for_function(f"window.lab.frame.d_updates === {d0 + 1}", timeout=10_000)
    page.wait_for_timeout(500)  # nothing more happens
    assert step_of(page) == start + 1
    assert int(page.inner_text("#d-updates")) == d0 + 1


def test_drawing_points_on_the_page_changes_the_data(page, server):
    page.check("#draw-mode")
    box = page.locator("#main").bounding_box()
    for fx, fy in ((0.25, 0.25), (0.75, 0.25), (0.5, 0.75)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.wait_for_function(
        "window.lab.frame.settings.dataset === 'drawn' && window.lab.frame.real.length === 3",
        timeout=10_000,
    )
    page.uncheck("#draw-mode")
    page.screenshot(path=str(artifacts() / "lab-drawn.png"))
    centres = server[1].dist.centres
    # the canvas shows [-2, 2]^2: a click at 25% across and 25% down is (-1, 1)
    torch.testing.assert_close(
        centres, torch.tensor([[-1.0, 1.0], [1.0, 1.0], [0.0, -1.0]]).double(), atol=0.02, rtol=0
    )


def test_bad_input_shows_a_message_on_the_page(page):
    page.fill("#g-lr", "-1")
    page.press("#g-lr", "Enter")
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    text = page.inner_text("#error")
    assert "g_optimizer.lr" in text and "greater than 0" in text
    assert page.locator("#error").is_visible()
    page.screenshot(path=str(artifacts() / "lab-bad-input.png"))
    page.click("#step-g")  # the server goes on
    page.wait_for_function("document.getElementById('error').textContent === ''")


def test_1d_view_draws(page):
    page.select_option("#dataset", "line")
    page.wait_for_function("window.lab.frame.dim === 1", timeout=10_000)
    page.click("#step-iter")
    page.wait_for_function("window.lab.frame.step === 1", timeout=10_000)
    page.screenshot(path=str(artifacts() / "lab-line.png"))
    assert page.errors == []
