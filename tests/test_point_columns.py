"""Columns of points that need care: positive right-skewed ones learned on a log scale
(data.log_columns), whole numbers rounded in the samples (data.integer_columns)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import ganlab
from ganlab.config import load_config
from ganlab.data.inspect import inspect_path, skewed_columns
from ganlab.errors import ConfigError, DataError
from ganlab.models.standardized import StandardizedDiscriminator, StandardizedGenerator
from ganlab.runs.recipes import plan_run


def _table(n: int = 2000, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    income = np.exp(r.normal(10, 1.0, n))  # log-normal: skewness ~6
    age = np.clip(r.normal(40, 12, n), 18, 90).round()  # whole numbers, not skewed
    waiting = r.exponential(3.0, n)  # skewness 2, -1.1 after the log: stays linear
    score = r.normal(0, 1, n)  # reaches below 0: stays linear
    return np.c_[income, age, waiting, score]


def test_skewed_positive_columns_are_found_and_others_are_not():
    assert skewed_columns(_table()) == (0,)
    x = _table()
    x[0, 0] = 0.0  # log needs every value > 0
    assert skewed_columns(x) == ()


def test_the_recipe_takes_logs_and_rounds_whole_numbers(tmp_path):
    path = tmp_path / "people.csv"
    np.savetxt(path, _table(), delimiter=",", header="income,age,waiting,score", comments="")
    summary = inspect_path(path)
    assert summary.log_columns == (0,) and summary.integer_columns == (1,)
    plan = plan_run(path)
    assert plan.config.data.log_columns == [0] and plan.config.data.integer_columns == [1]
    assert "'income' on a log scale, 'age' in whole numbers" in plan.line


def test_log_scale_wrappers_invert_and_penalise_in_standardised_units():
    torch.manual_seed(0)
    net_g, net_d = nn.Linear(3, 2), nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    G = StandardizedGenerator(net_g, (2,), log_coords=(0,))
    D = StandardizedDiscriminator(net_d, (2,), log_coords=(0,))
    for m in (G, D):
        m.set_moments_(torch.tensor([10.0, 40.0]), torch.tensor([1.0, 12.0]))
    x = G(torch.randn(64, 3))
    assert (x[:, 0] > 0).all()  # exp on the log coordinate: always positive
    # D sees what G's net made: T(G_data(z)) standardised is G's raw output (float32 round trip)
    z = torch.randn(64, 3)
    torch.testing.assert_close(D.standardise(G(z)), net_g(z), atol=1e-4, rtol=1e-4)
    # grad_u D = input_scale(x) * grad_x D_data: the penalties' units (autograd both ways)
    x = x.detach().requires_grad_(True)
    (grad_x,) = torch.autograd.grad(D(x).sum(), x)
    u = D.standardise(x).detach().requires_grad_(True)
    (grad_u,) = torch.autograd.grad(net_d(u).sum(), u)
    # float32 through log and exp: agreement to 1e-4 relative
    torch.testing.assert_close(D.input_scale(x) * grad_x, grad_u, rtol=1e-4, atol=1e-6)


def test_bad_column_settings_are_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="data.log_columns .* set data.standardize=true"):
        load_config("points", ["data.standardize=false", "data.log_columns=[0]"])
    with pytest.raises(ConfigError, match="give distinct 0-based column numbers"):
        load_config("points", ["data.integer_columns=[1,1]"])
    path = tmp_path / "p.csv"
    np.savetxt(path, np.c_[np.linspace(-1, 1, 300), np.linspace(1, 2, 300)], delimiter=",")
    over = ["steps=2", "data.log_columns=[0]", "compile=false"]
    with pytest.raises(DataError, match="column 0 holds -1, and log needs values > 0"):
        ganlab.train("points", tmp_path / "r", overrides=[*over, f"data.path={path}",
                                                          "data.kind=csv"])  # fmt: skip
    over[1] = "data.integer_columns=[5]"
    with pytest.raises(DataError, match="names column 5, but the examples have shape"):
        ganlab.train("points", tmp_path / "r2", overrides=[*over, f"data.path={path}",
                                                           "data.kind=csv"])  # fmt: skip


def test_a_skewed_table_trains_to_positive_values_and_whole_ages(tmp_path):
    path = tmp_path / "people.csv"
    np.savetxt(path, _table()[:, :2], delimiter=",", header="income,age", comments="")
    run = ganlab.train(path, tmp_path / "run", overrides=["steps=300", "compile=false"])
    x = run.sample(2000)
    assert (x[:, 0] > 0).all() and torch.equal(x[:, 1], x[:, 1].round())
    # the samples' median income within a factor 2 of the data's (~22,000) after 300 steps
    assert 11_000 < float(x[:, 0].median()) < 44_000


def test_a_label_column_the_user_names_is_left_out_before_columns_are_counted(tmp_path):
    # the class in the middle, in whole numbers: naming it must not shift the other columns
    x = _table(300)
    kind = np.arange(300) % 3
    path = tmp_path / "k.csv"
    np.savetxt(path, np.c_[x[:, 0], kind, x[:, 1]], delimiter=",", header="income,kind,age",
               comments="")  # fmt: skip
    plan = plan_run(path, ["data.label_column=kind", "conditional.kind=concat"])
    data = plan.config.data
    assert (data.label_column, data.log_columns, data.integer_columns) == ("kind", [0], [1])
    assert "3 classes in column 'kind' conditioned on" in plan.line
