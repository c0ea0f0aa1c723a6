"""Theory items on real training runs: Figure 1, saturation, mode collapse (quick variants)."""

import importlib

import numpy as np
import pytest
import torch
from no_drawing import matplotlib_unimportable
from PIL import Image

from ganlab.theory.figure1 import (
    FIGURE1_PANEL_STEPS,
    compute_figure1,
    describe_figure1,
    figure1_config,
    plot_figure1,
)
from ganlab.theory.mode_collapse import compute_mode_collapse, describe_mode_collapse
from ganlab.theory.saturation import (
    CONFIDENT_D,
    SATURATION_HEAD_START_K,
    compute_saturation,
    confident_window,
    describe_saturation,
    generator_loss_curves,
    saturation_configs,
)
from ganlab.theory.snapshots import Recorder, grad_norm, train_recorded


@pytest.fixture(scope="module")
def figure1():
    """The quick Figure 1 run, computed once with matplotlib unimportable (compute draws
    nothing); the claim tests read it, the drawing tests draw it."""
    with matplotlib_unimportable():
        return compute_figure1(quick=True)


@pytest.fixture(scope="module")
def saturation():
    with matplotlib_unimportable():
        return compute_saturation(quick=True)


@pytest.fixture(scope="module")
def mode_collapse():
    with matplotlib_unimportable():
        return compute_mode_collapse(quick=True)


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recorder_sees_the_head_start_then_k_equals_one():
    # D's Adam counts its own steps: after iteration 1 it has taken the head start's k steps,
    # then one more per iteration. G's gradient is still present after each step.
    def probe(state, stats):
        adam = state.opt_d.state.get(next(state.D.parameters()), {})
        return int(adam.get("step", 0)), grad_norm(state.G)

    recorder = Recorder(probe, {1, 3, 5})
    train_recorded(saturation_configs("nonsaturating", steps=5), recorder, record_start=True)
    assert recorder.steps == [0, 1, 3, 5]
    k = SATURATION_HEAD_START_K
    assert [v[0] for v in recorder.values] == [0, k, k + 2, k + 4]
    assert recorder.values[0][1] == 0.0  # before training no gradient exists
    assert all(v[1] > 0 for v in recorder.values[1:])


def test_generator_loss_curves_match_closed_forms():
    d = torch.tensor([1e-6, 1e-3, 0.1, 0.5, 0.9, 0.999], dtype=torch.float64)
    c = generator_loss_curves(d)
    # Independent oracle: the losses written in D rather than in the logit, and their
    # derivatives in a = logit(D) by hand (dD/da = D (1 - D)). Both sides are a few float64
    # operations on numbers of size <= 1e3, so they agree to ~1e-13; rtol 1e-10 leaves margin.
    expected = {
        "minimax": (torch.log1p(-d), -d),
        "nonsaturating": (-torch.log(d), d - 1),
        "maximum_likelihood": (-d / (1 - d), -d / (1 - d)),
    }
    for name, (loss, dloss_da) in expected.items():
        torch.testing.assert_close(c[name]["loss"], loss, rtol=1e-10, atol=0)
        torch.testing.assert_close(c[name]["dloss_da"], dloss_da, rtol=1e-10, atol=0)


def test_saturation_limits_as_d_rejects_samples():
    # D(G(z)) -> 0, as when D rejects G's samples with confidence (section 3).
    c = generator_loss_curves(torch.tensor([1e-8, 0.5], dtype=torch.float64))
    minimax, nonsat, ml = (
        c[n]["dloss_da"] for n in ("minimax", "nonsaturating", "maximum_likelihood")
    )
    # Minimax and maximum likelihood vanish like D itself (1e-8 here; 1e-7 is 10x that);
    # non-saturating tends to -1, off by D = 1e-8.
    assert abs(minimax[0].item()) < 1e-7 and abs(ml[0].item()) < 1e-7
    assert abs(nonsat[0].item() + 1) < 1e-7
    # Away from the limit none of them is small: at D = 1/2 each has |dL/da| >= 1/2.
    assert min(abs(minimax[1].item()), abs(nonsat[1].item()), abs(ml[1].item())) >= 0.5


def test_confident_window_ends_at_the_first_confident_step():
    mask = confident_window(np.array([0.001, 0.05, 0.3, 0.01]), threshold=0.1)
    assert mask.tolist() == [True, True, False, False]


def test_figure1_ends_with_d_one_half_and_panels_in_order(figure1):
    with matplotlib_unimportable():
        n = describe_figure1(figure1).numbers
    steps = n["panel_steps"]
    assert steps == list(FIGURE1_PANEL_STEPS) and steps == sorted(steps)
    assert steps[-1] == figure1_config().steps  # panel (d) is the end of the run
    # Theorem 1: at p_g = p_data, D* = 1/2. On the data's central region (mean +- 1 std) the
    # preset's final D was measured over seeds 0-9 (fused Adam, since the third session): max
    # |D - 1/2| from 0.033 to 0.138 (seed 0, the worst), mean D 0.40-0.55. 0.15 holds every
    # seed measured; a D that had not reached 1/2 (as in panel (b), D ~ 1 on the data) is off
    # by ~0.5.
    assert n["final_max_abs_D_minus_half_central"] <= 0.15
    # p_g ~ p_data: the preset's measured worst over seeds 0-9 is |mean error| 0.04 and
    # |std error| 0.05 (benchmarks/README.md); 0.1 allows for seed-0 frame-to-frame wobble.
    assert n["abs_mean_error"] <= 0.1 and n["abs_std_error"] <= 0.1
    # What each panel's caption says holds: (a) G far from the data (> 2 data stds), D ~ D*
    # there; (b) G on the data's mean (within half a std) but much narrower than it; (c) wider
    # than in (b); (d) D back near D*: over seeds 0-9 the final mean |D - D*| on the central
    # region was 0.017-0.100 (seed 0 the worst: its D oscillates around 1/2 and ends at 0.40);
    # 0.12 holds them all, while panel (b)'s lagging D is off by ~0.3.
    a, b, c, d = n["panels"]
    assert [p["step"] for p in n["panels"]] == steps
    assert abs(a["generated_mean"] - 4.0) > 2 * 0.5
    assert a["mean_abs_D_minus_D_star_central"] < 0.05
    assert abs(b["generated_mean"] - 4.0) < 0.25 and b["generated_std"] < 0.5 * 0.5
    assert c["generated_std"] > 1.5 * b["generated_std"]
    assert d["mean_abs_D_minus_D_star_central"] < 0.12


def test_figure1_draws_its_panels_and_the_whole_run(figure1, tmp_path):
    png, gif = (tmp_path / f for f in plot_figure1(figure1, tmp_path))
    assert _is_png(png)
    # One GIF frame per recorded frame step: every 200 of the 2,000 steps when quick, and 0.
    assert figure1.frames == list(range(0, 2001, 200))
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == len(figure1.frames)


def test_minimax_generator_is_starved_while_d_is_confident(saturation):
    with matplotlib_unimportable():
        n = describe_saturation(saturation).numbers
    # The window: the first steps, while even the non-saturating run has mean D(G(z)) < 0.1
    # (measured over seeds 0-4: 2-3 steps).
    assert n["window_steps"] >= 2
    assert max(n["d_fake_window_mean"].values()) < CONFIDENT_D
    # Per sample, dL/da is -D for minimax and D - 1 for non-saturating: at D(G(z)) <= 0.1 their
    # ratio is <= 1/9. The two runs' da/dtheta differ after step 1 and D varies over samples,
    # so the test asks for 1/5, the brief's bar; measured over seeds 0-4: 3e-4 to 8e-4, as the
    # head start leaves D(G(z)) ~ 0.001.
    assert n["minimax_over_nonsaturating_window"] < 1 / 5
    # Starved: at the end of the quick run (60 steps) the minimax G is still rejected (mean
    # D(G(z)) over the last 10 steps, seeds 0-4: 3e-4 to 5e-4), the non-saturating one is near
    # the equilibrium's 1/2 (0.48-0.56). 0.01 and 0.1 sit an order of magnitude from both.
    assert n["d_fake_last10_mean"]["minimax"] < 0.01
    assert n["d_fake_last10_mean"]["nonsaturating"] > 0.1


def test_collapsing_setting_covers_fewer_modes_than_the_preset(mode_collapse):
    with matplotlib_unimportable():
        n = describe_mode_collapse(mode_collapse).numbers
    half = len(n["steps"]) // 2
    # Thresholds from the quick setting (1,000 steps) over seeds 0-4: the collapsing run
    # covered at most 1 mode at any check; the preset covered 7-8 at step 1,000 and 4-8
    # over the second half. 2 and 6 leave a mode of margin on each side.
    assert max(n["modes_covered_collapsing"][half:]) <= 2
    assert n["final_modes_covering"] >= 6
    assert n["final_modes_covering"] - n["final_modes_collapsing"] >= 5


@pytest.mark.parametrize("name", ["figure1", "saturation", "mode_collapse"])
def test_run_is_compute_plot_describe(request, tmp_path, monkeypatch, name):
    module = importlib.import_module(f"ganlab.theory.{name}")
    computed = request.getfixturevalue(name)
    # run_<item> composes the three parts; given compute's result it must plot and describe it.
    monkeypatch.setattr(module, f"compute_{name}", lambda quick: computed)
    result = getattr(module, f"run_{name}")(tmp_path, quick=True)
    assert list(result) == ["name", "title", "equation", "claim", "figures", "numbers"]
    text = getattr(module, f"describe_{name}")(computed)
    assert result == text.item_result(result["figures"]) and result["name"] == name
    assert result["figures"] and all((tmp_path / f).stat().st_size > 0 for f in result["figures"])
    assert all(_is_png(tmp_path / f) for f in result["figures"] if f.endswith(".png"))
