"""Config: presets, defaults from the paper, validation and overrides."""

import pytest

from ganlab.config import (
    LOG_ROWS,
    RUNTIME_KEYS,
    Config,
    describe_fields,
    dump_config,
    load_config,
    preset_names,
)
from ganlab.errors import ConfigError


def test_required_presets_ship_and_validate():
    assert {"gauss1d", "ring8", "grid25"} <= set(preset_names())
    for name in preset_names():
        cfg = load_config(name)
        assert load_config(None).model_validate(cfg.model_dump()) == cfg


def test_defaults_are_the_papers_algorithm():
    cfg = Config()
    assert cfg.k == 1 and cfg.m == 100
    assert cfg.d_optimizer.name == "sgd" and cfg.d_optimizer.momentum == 0.5
    assert cfg.noise.kind == "uniform" and cfg.noise.dim == 100
    assert cfg.generator.hidden == [1200, 1200] and cfg.discriminator.kind == "maxout"


def test_every_field_has_a_description():
    rows = describe_fields()
    assert len(rows) > 40
    assert all(description for _, _, description in rows)


def test_the_keys_a_resume_may_change_are_marked_on_their_fields():
    # `ganlab resume --set` accepts these and refuses the rest; `presets --fields` says which
    assert set(RUNTIME_KEYS) == {
        "threads", "compile", "gemm", "log_every", "sample_every", "checkpoint_every",
        "keep_checkpoints", "tensorboard", "doctor", "on_nan",
    }  # fmt: skip
    rows = {key: description for key, _, description in describe_fields()}
    assert rows["threads"].endswith("(ganlab resume --set may change it)")
    assert "resume" not in rows["m"] and "resume" not in rows["g_optimizer.lr"]


def test_overrides_parse_yaml_values():
    cfg = load_config(
        "ring8",
        ["steps=200", "generator.hidden=[8, 8]", "g_loss=minimax", "d_optimizer.betas=[0.9, 0.99]"],
    )
    assert cfg.steps == 200 and cfg.generator.hidden == [8, 8] and cfg.g_loss == "minimax"
    assert cfg.d_optimizer.betas == (0.9, 0.99)


def test_a_section_set_whole_replaces_it():
    # documented: keys it does not name take their defaults (the lab's datasets rely on it),
    # so a recipe's Adam becomes the default SGD where the section names only lr
    cfg = load_config("ring8", ["g_optimizer={lr: 0.001}"])
    assert cfg.g_optimizer.name == "sgd" and cfg.g_optimizer.lr == 0.001


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config("grid25", ["seed=7"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["k=0"], r"'k'.*greater than or equal to 1.*got 0"),
        (["m=-3"], r"'m'"),
        (["g_optimizer.lr=-1"], r"'g_optimizer.lr'.*greater than 0"),
        (["g_loss=wgan"], r"'objective'.*'minimax', 'nonsaturating', .* or 'f_js', got 'wgan'"),
        (["d_optimizer.name=adagrad"], r"'d_optimizer.name'.*'sgd', 'adam' or 'rmsprop'"),
        (["generator.kind=resnet"], r"'generator.kind'"),
        (["steps=abc"], r"'steps'.*valid integer.*'abc'"),
        (["generator.hiden=[8]"], r"unknown config key 'generator.hiden'.*'generator.hidden'"),
        (["stpes=3"], r"unknown config key 'stpes'.*did you mean 'steps'"),
        (["d_optimizer.betas=[0.5, 1.5]"], r"betas must lie in \[0, 1\)"),
        (["data.kind=array"], r"needs data.path"),
        (["steps"], r"--set expects KEY=VALUE"),
    ],
)
def test_invalid_values_are_one_line_errors(overrides, match):
    with pytest.raises(ConfigError, match=match) as info:
        load_config("ring8", overrides)
    assert "\n" not in str(info.value)


def test_unknown_preset_suggests_the_nearest():
    with pytest.raises(ConfigError, match="did you mean 'ring8'"):
        load_config("ring9")


@pytest.mark.parametrize(
    ("source", "overrides", "expected"),
    [
        # a short run of a preset logs LOG_ROWS rows: paper-mnist's 500 would give one row
        ("paper-mnist", ["steps=300"], 300 // LOG_ROWS),
        ("ring8", ["steps=200"], 4),
        (None, ["steps=30"], 1),  # fewer steps than rows: every step
        # a full-length preset run logs as the preset says
        ("paper-mnist", [], 500),
        ("ring8", [], 50),
        # a value the user sets is kept, however few rows it gives
        ("paper-mnist", ["steps=300", "log_every=500"], 500),
    ],
)
def test_log_every_of_a_preset_adapts_to_short_runs(source, overrides, expected):
    assert load_config(source, overrides).log_every == expected


def test_log_every_of_a_users_file_is_kept(tmp_path):
    (tmp_path / "mine.yaml").write_text("steps: 300\nlog_every: 500\n")
    assert load_config(tmp_path / "mine.yaml").log_every == 500
