"""The GAN doctor: each detector on curves and samples whose answer is known, the findings of a
training run (warned once, stored, heading its pages), `ganlab doctor` on old and new runs,
and the lab's live view."""

import json
import math

import numpy as np
import pytest
import torch
from doctor_rows import rows

from ganlab.cli import main
from ganlab.config import load_config
from ganlab.doctor import KINDS, Doctor, Finding
from ganlab.doctor.curves import columns, cycling
from ganlab.doctor.doctor import game_facts
from ganlab.doctor.samples import memorisation_ratio, spread_ratio, unseen_distance
from ganlab.lab.findings import live_findings


def diagnose_rows(cfg, r):
    doctor = Doctor(cfg)
    doctor.rows = r
    doctor.curve_findings()
    return {f.kind: f for f in doctor.findings}


# ---------------------------------------------------------------------------------------------
# The vocabulary and the JSON form


def test_a_finding_has_exactly_the_issue_s_keys_and_kinds():
    # the issue's six, issue 20's run that ended before its budget was enough, and samples
    # that do not fit the data at the run's end
    assert KINDS == ("g_saturation", "d_overpowers", "mode_collapse", "oscillation",
                     "divergence", "memorisation", "unfinished", "poor_fit")  # fmt: skip
    doc = Finding("divergence", 7, {"value": float("nan"), "x": 1.23456789}, "lower lrs").to_dict()
    assert set(doc) == {"kind", "step", "evidence", "advice"}
    assert doc["evidence"] == {"value": "nan", "x": 1.235}  # JSON has no NaN; 4 digits
    json.dumps(doc, allow_nan=False)
    with pytest.raises(ValueError, match="unknown finding kind"):
        Finding("sadness", 1)


def test_game_facts_probe_each_objective_s_loss():
    """chance = D's loss at the best constant output, floor = at perfect separation: BCE
    2 log 2 and 0; least squares (a, b) = (-1, 1): 1 and 0; hinge 2 and 0; Wasserstein has
    no floor. Grid spacing 0.25 on [-10, 10] finds each constant optimum exactly (0)."""
    facts = {o: game_facts(load_config("ring8", [f"objective={o}"]))
             for o in ("nonsaturating", "least_squares", "hinge", "wasserstein")}  # fmt: skip
    assert facts["nonsaturating"].chance_loss == pytest.approx(2 * math.log(2), abs=1e-9)
    assert facts["nonsaturating"].floor_loss == pytest.approx(0, abs=1e-9)
    assert facts["least_squares"].chance_loss == pytest.approx(1.0)
    assert facts["hinge"].chance_loss == pytest.approx(2.0)
    assert facts["hinge"].floor_loss == pytest.approx(0.0)
    assert facts["wasserstein"].floor_loss is None


# ---------------------------------------------------------------------------------------------
# Curve detectors


def test_saturation_is_found_at_its_first_step_for_minimax_only():
    cfg = load_config("gauss1d", ["objective=minimax", "steps=1000"])
    r = rows(range(10, 1001, 10), d_real=0.999,
             d_fake=lambda s: 0.3 if s < 200 else 1e-4,
             g_grad_norm=lambda s: 0.3 if s < 200 else 1e-4)  # fmt: skip
    found = diagnose_rows(cfg, r)
    assert set(found) == {"g_saturation"}  # a winning D under minimax *is* saturation
    assert found["g_saturation"].step == 200
    assert "--set objective=nonsaturating" in found["g_saturation"].advice
    # the same curves under the non-saturating loss: D wins outright, G is not starving
    found = diagnose_rows(load_config("gauss1d", ["steps=1000"]), r)
    assert set(found) == {"d_overpowers"} and found["d_overpowers"].step == 200


def test_an_early_win_of_d_is_not_an_overpowering_d():
    """D wins outright for 10% of the run (gauss1d's healthy start), then the game is even."""
    cfg = load_config("gauss1d", ["steps=2000"])
    r = rows(range(10, 2001, 10), d_real=lambda s: 0.999 if s < 200 else 0.5,
             d_fake=lambda s: 0.003 if s < 200 else 0.45)  # fmt: skip
    assert diagnose_rows(cfg, r) == {}


def test_an_overpowering_critic_is_judged_by_its_loss_against_chance_and_floor():
    cfg = load_config("ring8", ["objective=least_squares", "steps=1000"])
    r = rows(range(10, 1001, 10), d_real=1.0, d_fake=-1.0,
             d_loss=lambda s: 1.0 if s < 300 else 0.01)  # fmt: skip
    found = diagnose_rows(cfg, r)
    assert found["d_overpowers"].step == 300
    assert found["d_overpowers"].evidence["d_loss_chance"] == pytest.approx(1.0)


def test_oscillation_is_a_cycle_not_noise():
    cfg = load_config("gauss1d", ["steps=4000"])
    rng = np.random.default_rng(0)
    cycle = rows(range(20, 4001, 20), d_fake=lambda s: 0.45 + 0.3 * math.sin(2 * math.pi * s / 400)
                 + 0.02 * rng.standard_normal())  # fmt: skip
    found = diagnose_rows(cfg, cycle)
    assert (
        set(found) == {"oscillation"} and found["oscillation"].step == 420
    )  # row 20 of 200: past the first tenth
    assert found["oscillation"].evidence["period_steps"] == pytest.approx(400, rel=0.15)
    noise = rows(range(20, 4001, 20), d_fake=lambda s: 0.45 + 0.1 * rng.standard_normal(),
                 d_loss=lambda s: 1.3 + 0.3 * rng.standard_normal())  # fmt: skip
    assert diagnose_rows(cfg, noise) == {}


def test_cycling_reads_the_period_of_a_sine():
    t = np.arange(200)
    trough, peak, period = cycling(np.sin(2 * np.pi * t / 40) + 0.01 * t)  # trend removed
    assert trough < -0.8 and peak > 0.6 and period == 40


def test_a_non_finite_loss_is_a_divergence_at_its_row():
    cfg = load_config("gauss1d")
    r = rows(range(10, 201, 10), g_loss=lambda s: float("inf") if s >= 150 else 0.7)
    found = diagnose_rows(cfg, r)
    assert found["divergence"].step == 150 and "g_optimizer.lr=" in found["divergence"].advice


def test_a_blown_up_loss_or_an_infinite_gradient_is_a_divergence_without_a_nan():
    # a ring8 run at learning rate 1 logged D's loss at 6.4e5 (BCE: logits of ~1e5) and never
    # a NaN; healthy runs stay within 10x of log 4, far under LOSS_BLOWUP x log 4 (1.4e4)
    cfg = load_config("ring8")
    r = rows(range(10, 201, 10), d_loss=lambda s: 6.4e5 if s >= 120 else 1.3)
    found = diagnose_rows(cfg, r)["divergence"]
    assert found.step == 120 and "blew up to 6.4e+05" in found.advice
    assert "d_optimizer.lr=" in found.advice
    r = rows(range(10, 201, 10), g_grad_norm=lambda s: float("inf") if s >= 60 else 1.0)
    assert diagnose_rows(cfg, r)["divergence"].step == 60
    noisy = rows(range(10, 201, 10), d_loss=lambda s: 1.3 + (s % 30) / 3)  # up to 10.9
    assert "divergence" not in diagnose_rows(cfg, noisy)


def test_columns_read_csv_strings():
    c = columns([{"step": "10", "d_loss": "nan"}, {"step": "20", "d_loss": "0.5"}])
    assert c["step"].tolist() == [10, 20] and math.isnan(c["d_loss"][0])


# ---------------------------------------------------------------------------------------------
# Sample detectors


def test_spread_ratio_is_one_for_the_same_law_and_zero_for_a_point():
    """500 vs 500 draws of one law: the medians of NN distances agree within ~15% (measured
    0.9-1.1 over seeds); 1-D points far from 0 (4 +- 0.5) keep their small distances."""
    g = torch.Generator().manual_seed(0)
    real, fake = (
        4 + 0.5 * torch.randn(500, 1, generator=g),
        4 + 0.5 * torch.randn(500, 1, generator=g),
    )
    assert spread_ratio(fake, real) == pytest.approx(1.0, abs=0.25)
    assert spread_ratio(torch.full((500, 1), 4.0), real) == 0.0
    imgs = torch.rand(500, 1, 8, 8, generator=g)
    assert spread_ratio(torch.rand(500, 1, 8, 8, generator=g), imgs) == pytest.approx(1, abs=0.1)


def test_memorisation_ratio_tells_copies_from_new_draws():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(2000, 2, generator=g)
    unseen = unseen_distance(train)
    copies = train[torch.randint(0, 2000, (500,), generator=g)]
    assert memorisation_ratio(copies, train, unseen)["ratio"] == 0.0
    fresh = torch.randn(500, 2, generator=g)
    # fresh draws vs leave-one-out distances of the training set: the same law (measured 1.0)
    assert memorisation_ratio(fresh, train, unseen)["ratio"] == pytest.approx(1.0, abs=0.25)


def test_doctor_finds_memorisation_and_collapse_from_sample_checks():
    cfg = load_config("ring8", ["steps=1000"])
    g = torch.Generator().manual_seed(0)
    train = torch.randn(1000, 2, generator=g)
    real = torch.randn(500, 2, generator=g)
    doctor = Doctor(cfg)
    assert doctor.check_samples(100, torch.randn(500, 2, generator=g), real, train=train) == []
    copies = train[:500] + 1e-4 * torch.randn(500, 2, generator=g)
    (found,) = doctor.check_samples(300, copies, real, train=train)
    assert found.kind == "memorisation" and found.step == 300
    point = torch.zeros(500, 2) + 0.1
    assert doctor.check_samples(600, point, real, train=train) == []  # one check may be chance
    (found,) = doctor.check_samples(700, point, real, train=train)
    assert found.kind == "mode_collapse" and found.step == 600
    assert found.evidence["spread_ratio"] < 0.01


def test_mode_collapse_on_a_mixture_needs_samples_on_the_modes():
    """Few modes while almost no sample lies on any (G still travelling) is not collapse."""
    from ganlab.doctor.doctor import game_facts
    from ganlab.doctor.samples import coverage_collapse

    cfg = load_config("ring8", ["steps=1000"])
    facts = game_facts(cfg)
    early = [{"step": 500, "modes_covered": 3, "modes": 8, "high_quality": 0.002}]
    assert coverage_collapse(early, facts, cfg) is None
    seen = early + [{"step": 600, "modes_covered": 8, "modes": 8, "high_quality": 0.8},
                    {"step": 700, "modes_covered": 5, "modes": 8, "high_quality": 0.8}]  # fmt: skip
    assert coverage_collapse(seen, facts, cfg) is None  # one low count: G between modes?
    seen.append({"step": 800, "modes_covered": 6, "modes": 8, "high_quality": 0.8})
    found = coverage_collapse(seen, facts, cfg)
    assert found.step == 700 and found.evidence["best_before"] == 8
    assert "discriminator.pack=2" in found.advice


def test_samples_on_one_point_off_every_mode_are_a_collapse():
    """The coverage check waits for samples on the modes; a G that put every sample on one
    point away from the ring never gets there, and its spread (0) says what it is."""
    cfg = load_config("ring8", ["steps=1000"])
    real = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    none = {"modes_covered": 0, "modes": 8, "high_quality": 0.0}
    point = torch.zeros(500, 2) + 3.0
    doctor = Doctor(cfg)
    assert doctor.check_samples(600, point, real, coverage=none) == []  # one check: chance
    (found,) = doctor.check_samples(700, point, real, coverage=none)
    assert found.kind == "mode_collapse" and found.step == 600
    assert found.evidence["spread_ratio"] < 0.01 and found.evidence["modes_covered"] == 0
    # samples scattered off the modes are not a collapse (G still travelling, or worse)
    wide, doctor = 3.0 * torch.randn(500, 2), Doctor(cfg)
    for step in (600, 700, 800):
        assert doctor.check_samples(step, wide, real, coverage=none) == []
    # once samples lie on the modes, the modes decide: a tight but healthy G is not judged
    landed, doctor = {"modes_covered": 8, "modes": 8, "high_quality": 0.9}, Doctor(cfg)
    for step in (600, 700, 800):
        assert doctor.check_samples(step, point, real, coverage=landed) == []


def test_recall_rising_with_samples_off_the_data_is_not_unfinished():
    from ganlab.doctor.samples import unfinished

    cfg = load_config("points")
    rising = fit_rows([0.2, 0.3, 0.4, 0.5, 0.7, 0.8, 0.95, 1.0], cfg.steps)
    assert unfinished(rising, game_facts(cfg), cfg) is not None
    scattered = [{**r, "precision": 0.008} for r in rising]  # a ring8 run at m = 2
    assert unfinished(scattered, game_facts(cfg), cfg) is None


def test_the_text_names_the_run_and_what_a_short_run_was_not_judged_on(tmp_path):
    from ganlab.runs.diagnosis import findings_text

    cfg = load_config("points")
    found = Finding("unfinished", 900, {}, "train on: `ganlab resume RUN --steps 2000`")
    assert f"`ganlab resume {tmp_path} --steps 2000`" in findings_text([found], tmp_path)
    short = findings_text([], tmp_path, last_step=300)
    assert "mode collapse is not judged before step 500" in short and "step 300" in short
    assert "not judged" not in findings_text([], tmp_path, last_step=cfg.steps)


# ---------------------------------------------------------------------------------------------
# A training run, `ganlab doctor`, the pages


WARNED = {}  # the doctor's warning lines of each fixture run


@pytest.fixture(scope="module")
def starving(tmp_path_factory):
    """gauss1d under the minimax loss: mean D(G(z)) < 1e-3 from step ~50 (gallery: 40-80)."""
    import warnings

    out = tmp_path_factory.mktemp("doctor") / "minimax"
    from ganlab.runs import train

    with warnings.catch_warnings(record=True) as caught:  # the CLI prints these as one line each
        warnings.simplefilter("always")
        train("gauss1d", out, overrides=["steps=600", "objective=minimax", "log_every=10"])
    WARNED[out] = [str(w.message) for w in caught if "doctor:" in str(w.message)]
    return out


def test_a_run_warns_once_stores_findings_and_heads_its_pages(starving):
    # one line per finding, however many rows and sample checks saw it again afterwards
    warned = WARNED[starving]
    assert len(warned) == 1 and warned[0].startswith("doctor: g_saturation")
    doc = json.loads((starving / "findings.json").read_text())
    (finding,) = [f for f in doc["findings"] if f["kind"] == "g_saturation"]
    assert 20 <= finding["step"] <= 200
    assert "g_saturation" in (starving / "index.html").read_text()
    assert main(["report", str(starving)]) == 0
    assert "Doctor: what went wrong" in (starving / "report.html").read_text()


def test_a_point_mass_g_still_gets_its_figure_1_view(starving, tmp_path):
    """A G collapsed to one point has no KDE (singular covariance): p_g is drawn one grid cell
    wide instead of the report failing (found by the gallery's rollback run)."""
    from ganlab.data import distribution_of
    from ganlab.report.run_report import save_discriminator_view
    from ganlab.runs import load_run

    run = load_run(starving)
    path = save_discriminator_view(
        run, distribution_of(run.config.data), torch.full((1000, 1), 3.0), tmp_path / "v.png"
    )
    assert path.stat().st_size > 0


def test_doctor_command_json_and_text(starving, capsys):
    capsys.readouterr()
    assert main(["doctor", str(starving), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in doc["findings"]] == ["g_saturation"]
    assert main(["doctor", str(starving)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("g_saturation from step") and "advice:" in out


def test_doctor_reads_a_run_made_before_it(starving, tmp_path, capsys):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(starving, old)
    (old / "findings.json").unlink()  # as a run of an earlier ganlab has none
    capsys.readouterr()
    assert main(["doctor", str(old), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in doc["findings"]] == ["g_saturation"]


def test_doctor_drops_a_stored_unfinished_that_saturation_explains(starving, tmp_path, capsys):
    """A run trained before unfinished gave way to the finding that says why stored both
    (gauss1d minimax, seed 1: g_saturation at 80, unfinished at 2,000); "train on" is not the
    cure for a starving G, so `ganlab doctor` reports saturation alone."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(starving, old)
    doc = json.loads((old / "findings.json").read_text())
    stale = Finding("unfinished", 600, {"recall_before": 0.2}, "train on: `ganlab resume RUN`")
    doc["findings"].append(stale.to_dict())
    (old / "findings.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["doctor", str(old), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in doc["findings"]] == ["g_saturation"]


def test_a_healthy_run_has_an_empty_list(tmp_path, capsys):
    out = tmp_path / "ns"
    assert main(["train", "gauss1d", "--out", str(out), "--quiet", "--set", "steps=600",
                 "--set", "log_every=10"]) == 0  # fmt: skip
    assert json.loads((out / "findings.json").read_text()) == {"findings": []}
    capsys.readouterr()
    assert main(["doctor", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"findings": []}
    assert "No finding" in (out / "index.html").read_text()


def test_doctor_bad_input_is_one_line(tmp_path, capsys):
    capsys.readouterr()
    assert main(["doctor", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err


def test_divergence_is_stored_with_its_step(tmp_path, capsys):
    out = tmp_path / "nan"
    code = main(["train", "gauss1d", "--out", str(out), "--quiet", "--set", "steps=300",
                 "--set", "g_optimizer.name=sgd", "--set", "g_optimizer.lr=1e30",
                 "--set", "d_optimizer.name=sgd", "--set", "d_optimizer.lr=1e30"])  # fmt: skip
    assert code == 2 and "diverged at step" in capsys.readouterr().err
    (finding,) = json.loads((out / "findings.json").read_text())["findings"]
    assert finding["kind"] == "divergence" and finding["step"] >= 1


def test_a_resume_drops_what_was_found_past_its_checkpoint(tmp_path, capsys):
    # diverged at step 14 (rates of 0.5), last checkpoint 10; rates lowered by hand, resumed:
    # the divergence belonged to steps now trained again, and the doctor no longer reports it
    out = tmp_path / "nan"
    sgd = ["--set", "g_optimizer.name=sgd", "--set", "d_optimizer.name=sgd"]
    code = main(["train", "ring8", "--out", str(out), "--quiet", "--set", "steps=100",
                 "--set", "g_optimizer.lr=0.5", "--set", "d_optimizer.lr=0.5",
                 "--set", "checkpoint_every=5", *sgd])  # fmt: skip
    assert code == 2 and "diverged at step" in capsys.readouterr().err
    (finding,) = json.loads((out / "findings.json").read_text())["findings"]
    assert finding["kind"] == "divergence" and finding["step"] > 10
    config = out / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.5", "lr: 0.05"))
    assert main(["resume", str(out), "--steps", "40", "--quiet"]) == 0
    assert json.loads((out / "findings.json").read_text()) == {"findings": []}


def test_doctor_of_a_run_on_a_tensor_checks_its_curves_and_says_what_it_did_not(tmp_path, capsys):
    import ganlab

    x = torch.randn(3000, 3, generator=torch.Generator().manual_seed(0))
    out = tmp_path / "t"
    ganlab.train("points", out, overrides=["steps=200", "threads=1"], data=x, report=False)
    capsys.readouterr()
    assert main(["doctor", str(out)]) == 0
    captured = capsys.readouterr()
    assert "nothing wrong" in captured.out and "data=x" in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert isinstance(ganlab.diagnose(out, data=x), list)  # with the tensor: samples checked


def test_a_line_training_did_not_write_in_metrics_csv_is_skipped(starving, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(starving, bad)
    with open(bad / "metrics.csv", "a") as f:
        f.write("garbage,,,\n")
    assert main(["doctor", str(bad), "--json"]) == 0
    kinds = [f["kind"] for f in json.loads(capsys.readouterr().out)["findings"]]
    assert kinds == ["g_saturation"]
    assert main(["report", str(bad)]) == 0


def test_doctor_off_writes_no_findings(tmp_path):
    out = tmp_path / "off"
    assert main(["train", "gauss1d", "--out", str(out), "--quiet", "--set", "steps=100",
                 "--set", "doctor=false"]) == 0  # fmt: skip
    assert not (out / "findings.json").exists()


# ---------------------------------------------------------------------------------------------
# The lab: findings that hold now


def test_live_findings_follow_the_newest_rows():
    cfg = load_config("ring8", ["objective=minimax"])
    steps = list(range(1, 41))
    starving = {"step": steps, "d_loss": [0.01] * 40, "g_loss": [-0.001] * 40,
                "d_real": [0.999] * 40, "d_fake": [0.3] * 10 + [1e-4] * 30,
                "g_grad": [0.5] * 10 + [1e-4] * 30}  # fmt: skip
    (found,) = live_findings(cfg, starving, {})
    assert found["kind"] == "g_saturation" and found["step"] == 11
    cured = {k: v + v[:10] if k != "step" else list(range(1, 51)) for k, v in starving.items()}
    assert live_findings(cfg, cured, {}) == []  # the newest rows are healthy again


# ---------------------------------------------------------------------------------------------
# A run that ended before its budget was enough (issue 20: "says so rather than stopping early")


def fit_rows(recalls, steps):
    every = steps // len(recalls)
    return [
        {"step": every * (i + 1), "precision": 0.95, "recall": r} for i, r in enumerate(recalls)
    ]


def test_unfinished_only_when_still_rising_at_the_end():
    from ganlab.doctor.samples import UNFINISHED_GAIN, unfinished

    cfg = load_config("points")
    facts = game_facts(cfg)
    rising = fit_rows([0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.94], cfg.steps)
    found = unfinished(rising, facts, cfg)
    assert found is not None and found.kind == "unfinished" and found.step == cfg.steps
    assert f"--steps {2 * cfg.steps}" in found.advice
    assert found.evidence["recall_at_end"] - found.evidence["recall_before"] > UNFINISHED_GAIN
    # converged: the checks wander by the sampling noise of 500 against 500 (~0.01-0.02)
    flat = fit_rows([0.5, 0.8, 0.93, 0.95, 0.94, 0.96, 0.95, 0.96], cfg.steps)
    assert unfinished(flat, facts, cfg) is None
    assert unfinished(rising[:-1], facts, cfg) is None  # not at the run's end: not judged yet


def test_samples_still_widening_toward_the_data_at_the_end_are_unfinished():
    """Sample checks whose spread still grows toward the data's when the budget runs out (as a
    run stopped early): k-NN recall is still climbing, and the doctor says to go on."""
    from ganlab.doctor.samples import fit_scores

    real = torch.randn(500, 2, generator=torch.Generator().manual_seed(99))
    doctor = Doctor(load_config("points", ["steps=800"]))
    # G's samples widening toward the data over the run: recall rises from ~0.3 to ~0.9
    for i, spread in enumerate([0.2, 0.3, 0.4, 0.5, 0.65, 0.8, 0.9, 0.95]):
        fake = spread * torch.randn(500, 2, generator=torch.Generator().manual_seed(i))
        doctor.fit.append({"step": 100 * (i + 1), **fit_scores(fake, real)})
    kinds = [f.kind for f in doctor.sample_findings()]
    assert kinds == ["unfinished"], (kinds, doctor.fit)
