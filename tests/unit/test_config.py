"""`CurriculumConfig`: every validation error, YAML loading and the round trip."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from curriculum.config import ConfigError, CurriculumConfig
from curriculum.schedules import SCHEDULES

EXAMPLE_CONFIGS = sorted((Path(__file__).resolve().parents[2] / "examples" / "configs").glob("*.yaml"))


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------- defaults


def test_defaults_match_documentation():
    config = CurriculumConfig()
    assert config.signal == "loss"
    assert config.group_column is None and config.prior_column is None
    assert config.ema == 0.5
    assert (config.schedule, config.start, config.end) == ("linear", 0.3, 0.6)
    assert config.degree == 2.0 and config.milestones == [0.5] and config.rate == 5.0
    assert config.budget_samples is None
    assert (config.kernel, config.width, config.uniform_mix) == ("laplace", 0.25, 0.1)
    assert config.refresh_every_steps is None  # 10, or a thousandth of an epoch on large data (core)
    assert config.samples_per_epoch is None and config.seed is None
    assert config.target(0.5) == pytest.approx(0.45)
    assert config.share_scores == "none" and config.replacement is False
    assert (config.duplicate_key, config.duplicate_alpha) == ("prompt", 1.0)
    assert (config.task_balance, config.task_signal) == (None, "progress")
    assert config.noise_filter == "none"


def test_milestones_default_is_not_shared_between_instances():
    a, b = CurriculumConfig(), CurriculumConfig()
    a.milestones.append(0.9)
    assert b.milestones == [0.5]


def test_accepted_values_are_coerced():
    config = CurriculumConfig(ema=0, start=1, width="0.25", refresh_every_steps=20.0, milestones=(0.25, "0.75"))
    assert config.ema == 0.0 and isinstance(config.ema, float)
    assert config.start == 1.0 and isinstance(config.start, float)
    assert config.width == 0.25
    assert config.refresh_every_steps == 20 and type(config.refresh_every_steps) is int
    assert config.milestones == [0.25, 0.75] and isinstance(config.milestones, list)


# ---------------------------------------------------------------------------------------------------- unknown keys


def test_unknown_key_with_did_you_mean_hint():
    with pytest.raises(ConfigError, match=r"unknown curriculum key\(s\) 'emaa' \(did you mean 'ema'\?\)") as info:
        CurriculumConfig.from_dict({"emaa": 0.3})
    # The message lists what is allowed.
    assert "allowed keys are" in str(info.value)
    for f in dataclasses.fields(CurriculumConfig):
        assert repr(f.name) in str(info.value)


def test_unknown_keys_all_named_hint_only_when_close():
    with pytest.raises(ConfigError) as info:
        CurriculumConfig.from_dict({"shedule": "linear", "zzzzz": 1, "ema": 0.2})
    message = str(info.value)
    assert "'shedule' (did you mean 'schedule'?)" in message
    assert "'zzzzz'" in message
    assert "'zzzzz' (did you mean" not in message
    assert "'ema'" in message.split("allowed keys are")[1]


def test_from_dict_rejects_non_mapping():
    with pytest.raises(ConfigError, match=r"should be a mapping of keys to values, but got \[1, 2\]"):
        CurriculumConfig.from_dict([1, 2])


def test_from_dict_accepts_known_keys():
    config = CurriculumConfig.from_dict({"schedule": "cosine", "group_column": "task", "seed": 3})
    assert (config.schedule, config.group_column, config.seed) == ("cosine", "task", 3)


# ---------------------------------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    "key, value, pattern",
    [
        # str for float
        ("ema", "high", r"ema should be a number, but got ema='high'"),
        ("width", "wide", r"width should be a number, but got width='wide'"),
        ("start", "", r"start should be a number, but got start=''"),
        # bool / non-finite / container for float
        ("ema", True, r"ema should be a finite number, but got ema=True"),
        ("rate", False, r"rate should be a finite number, but got rate=False"),
        ("start", float("nan"), r"start should be a finite number, but got start=nan"),
        ("degree", float("inf"), r"degree should be a finite number, but got degree=inf"),
        ("degree", "inf", r"degree should be a finite number, but got degree=inf"),
        ("width", [0.1], r"width should be a finite number, but got width=\[0\.1\]"),
        # bool / float / str for int
        ("refresh_every_steps", True, r"refresh_every_steps should be an integer, but got refresh_every_steps=True"),
        ("seed", False, r"seed should be an integer, but got seed=False"),
        ("refresh_every_steps", 2.5, r"refresh_every_steps should be an integer, but got refresh_every_steps=2\.5"),
        ("budget_samples", 1000.5, r"budget_samples should be an integer, but got budget_samples=1000\.5"),
        ("samples_per_epoch", "6x4", r"samples_per_epoch should be an integer, but got samples_per_epoch='6x4'"),
        ("budget_samples", "1.5e0", r"budget_samples should be an integer, but got budget_samples='1\.5e0'"),
        # non-str / empty str for str
        ("signal", 3, r"signal should be a non-empty string, but got signal=3"),
        ("group_column", "", r"group_column should be a non-empty string, but got group_column=''"),
        ("prior_column", ["a"], r"prior_column should be a non-empty string, but got prior_column=\['a'\]"),
        # None for a non-optional field
        ("signal", None, r"signal should be a string, but got signal=None"),
        ("ema", None, r"ema should be a number, but got ema=None"),
        ("refresh_every_steps", "ten", r"refresh_every_steps should be an integer, but got refresh_every_steps='ten'"),
        # list items not numbers / not a list
        ("milestones", ["a"], r"milestones should be a list of numbers, but got milestones=\['a'\]"),
        ("milestones", [0.2, None], r"milestones should be a list of numbers, but got milestones=\[0\.2, None\]"),
        ("milestones", [True], r"milestones should be a list of numbers, but got milestones=\[True\]"),
        ("milestones", [[0.5]], r"milestones should be a list of numbers, but got milestones=\[\[0\.5\]\]"),
        ("milestones", 0.5, r"milestones should be a list of numbers, but got milestones=0\.5"),
        ("milestones", "0.5", r"milestones should be a list of numbers, but got milestones='0\.5'"),
    ],
)
def test_wrong_type(key, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        CurriculumConfig(**{key: value})


# ---------------------------------------------------------------------------------------------------- ranges


OUT_OF_RANGE = [
    ("replay_max_age", 0, r"replay_max_age should be >= 1, but got replay_max_age=0"),
    ("ema", -0.1, r"ema should be >= 0\.0, but got ema=-0\.1"),
    ("ema", 1.0, r"ema should be < 1\.0, but got ema=1\.0"),
    ("ema", 1.5, r"ema should be < 1\.0, but got ema=1\.5"),
    ("start", -0.01, r"start should be >= 0\.0, but got start=-0\.01"),
    ("start", 1.01, r"start should be <= 1\.0, but got start=1\.01"),
    ("end", -1, r"end should be >= 0\.0, but got end=-1\.0"),
    ("end", 2, r"end should be <= 1\.0, but got end=2\.0"),
    ("degree", 0, r"degree should be > 0\.0, but got degree=0\.0"),
    ("degree", -2.0, r"degree should be > 0\.0, but got degree=-2\.0"),
    ("rate", 0.0, r"rate should be > 0\.0, but got rate=0\.0"),
    ("width", 0.0, r"width should be > 0\.0, but got width=0\.0"),
    ("width", -0.5, r"width should be > 0\.0, but got width=-0\.5"),
    ("uniform_mix", -0.1, r"uniform_mix should be >= 0\.0, but got uniform_mix=-0\.1"),
    ("uniform_mix", 1.1, r"uniform_mix should be <= 1\.0, but got uniform_mix=1\.1"),
    ("budget_samples", 0, r"budget_samples should be >= 1, but got budget_samples=0"),
    ("refresh_every_steps", 0, r"refresh_every_steps should be >= 1, but got refresh_every_steps=0"),
    ("samples_per_epoch", -4, r"samples_per_epoch should be >= 1, but got samples_per_epoch=-4"),
    ("seed", -1, r"seed should be >= 0, but got seed=-1"),
    ("replay_share", 1.0, r"replay_share should be < 1\.0, but got replay_share=1\.0"),
    ("replay_share", -0.1, r"replay_share should be >= 0\.0, but got replay_share=-0\.1"),
    ("replay_buffer_size", 0, r"replay_buffer_size should be >= 1, but got replay_buffer_size=0"),
    ("replay_threshold", 1.5, r"replay_threshold should be <= 1\.0, but got replay_threshold=1\.5"),
    ("task_gamma", -1, r"task_gamma should be >= 0\.0, but got task_gamma=-1\.0"),
    ("task_min_share", 1.0, r"task_min_share should be < 1\.0, but got task_min_share=1\.0"),
    ("near_duplicate_threshold", 0.0, r"near_duplicate_threshold should be > 0\.0, but got near_duplicate_threshold=0\.0"),
    ("duplicate_alpha", 1.5, r"duplicate_alpha should be <= 1\.0, but got duplicate_alpha=1\.5"),
    ("duplicate_alpha", -0.5, r"duplicate_alpha should be >= 0\.0, but got duplicate_alpha=-0\.5"),
    ("revisit_penalty", -1.0, r"revisit_penalty should be >= 0\.0, but got revisit_penalty=-1\.0"),
    ("noise_min_visits", 0, r"noise_min_visits should be >= 1, but got noise_min_visits=0"),
    ("share_scores", "copies", r"share_scores should be one of \['none', 'duplicates', 'near_duplicates'\]"),
]


@pytest.mark.parametrize("key, value, pattern", OUT_OF_RANGE)
def test_out_of_range(key, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        CurriculumConfig(**{key: value})


@pytest.mark.parametrize(
    "key, value",
    [
        ("ema", 0.0),
        ("ema", 0.999),
        ("start", 0.0),
        ("start", 1.0),
        ("end", 0.0),
        ("end", 1.0),
        ("degree", 1e-6),
        ("rate", 1e-6),
        ("width", 1e-6),
        ("uniform_mix", 0.0),
        ("budget_samples", 1),
        ("refresh_every_steps", 1),
        ("samples_per_epoch", 1),
        ("seed", 0),
    ],
)
def test_range_boundaries_accepted(key, value):
    assert getattr(CurriculumConfig(**{key: value}), key) == value


def test_every_bounded_field_is_covered_by_range_tests():
    bounded = {
        f.name
        for f in dataclasses.fields(CurriculumConfig)
        if {"min", "max", "min_exclusive", "max_exclusive"} & set(f.metadata)
    }
    assert {"ema", "start", "width", "seed"} <= bounded  # the bounds are read from the fields' metadata
    assert bounded - {key for key, _, _ in OUT_OF_RANGE} == set(), "add an out-of-range case for these fields"


@pytest.mark.parametrize(
    "values, pattern",
    [
        ({"task_balance": True}, r"task_balance=True needs group_column .* but group_column=None"),
        ({"signal": "rho"}, r"signal='rho' needs reference_column"),
        ({"reference_column": "ref"}, r"reference_column='ref' is only used with signal='rho', but signal='loss'"),
        ({"task_balance": "yes"}, r"task_balance should be true or false, but got task_balance='yes'"),
        ({"replay_value": "gain"}, r"replay_value should be one of \['loss', 'near_target', 'learnability'\]"),
        ({"budget_unit": "steps"}, r"budget_unit should be one of \['samples', 'unique_rows'\], but got budget_unit='steps'"),
    ],
)
def test_strategy_combinations(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        CurriculumConfig(**values)


# ---------------------------------------------------------------------------------------------------- choices


@pytest.mark.parametrize(
    "key, value, allowed",
    [
        ("signal", "perplexity", ["loss", "confidence", "learnability", "rho", "pass_rate"]),
        ("schedule", "quadratic", list(SCHEDULES)),
        ("kernel", "box", ["laplace", "gaussian"]),
        ("signal", "Loss", ["loss", "confidence", "learnability", "rho", "pass_rate"]),
    ],
)
def test_bad_choice(key, value, allowed):
    pattern = re.escape(f"{key} should be one of {allowed}, but got {key}={value!r}")
    with pytest.raises(ConfigError, match=pattern):
        CurriculumConfig(**{key: value})


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_choice_accepted(name):
    kwargs = {"uniform_mix": 1.0} if name == "constant" else {}
    assert CurriculumConfig(schedule=name, **kwargs).schedule == name


# ---------------------------------------------------------------------------------------------------- combinations


@pytest.mark.parametrize(
    "milestones",
    [[0.5, 0.5], [0.6, 0.4], [0.0, 0.5], [0.5, 1.0], [-0.1], [1.5], [0.2, 0.8, 0.7], [float("nan")]],
)
def test_milestones_not_increasing_or_outside_open_interval(milestones):
    pattern = r"milestones should be strictly increasing progress values in \(0, 1\), but got milestones=\["
    with pytest.raises(ConfigError, match=pattern) as info:
        CurriculumConfig(schedule="step", milestones=milestones)
    assert str([float(m) for m in milestones]) in str(info.value)


def test_step_schedule_needs_a_milestone():
    with pytest.raises(ConfigError, match=r"schedule='step' needs at least one milestone, but got milestones=\[\]"):
        CurriculumConfig(schedule="step", milestones=[])
    # Other schedules do not use milestones.
    assert CurriculumConfig(schedule="linear", milestones=[]).milestones == []


@pytest.mark.parametrize("schedule", sorted(set(SCHEDULES) - {"constant"}))
def test_uniform_mix_one_needs_constant_schedule(schedule):
    pattern = (
        rf"uniform_mix=1\.0 makes sampling uniform, so schedule='{schedule}' would have no effect; "
        r"use uniform_mix < 1\.0 or schedule='constant'"
    )
    with pytest.raises(ConfigError, match=pattern):
        CurriculumConfig(schedule=schedule, uniform_mix=1.0)


def test_uniform_mix_one_with_constant_schedule_is_allowed():
    config = CurriculumConfig(schedule="constant", uniform_mix=1)
    assert config.uniform_mix == 1.0


def test_group_column_equal_to_prior_column():
    with pytest.raises(
        ConfigError, match=r"group_column and prior_column should name different columns, but both are 'task'"
    ):
        CurriculumConfig(group_column="task", prior_column="task")
    config = CurriculumConfig(group_column="task", prior_column="score")
    assert (config.group_column, config.prior_column) == ("task", "score")


# ---------------------------------------------------------------------------------------------------- YAML


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    # PyYAML (YAML 1.1) reads `1e-4` as the string "1e-4"; float fields accept it.
    text = "ema: 1e-4\nwidth: 5e-2\nrate: 1E1\nmilestones: [2.5e-1, 7.5e-1]\nschedule: step\n"
    assert yaml.safe_load(text)["ema"] == "1e-4"
    config = CurriculumConfig.from_yaml(write(tmp_path, text))
    assert config.ema == pytest.approx(1e-4) and isinstance(config.ema, float)
    assert config.width == pytest.approx(0.05)
    assert config.rate == pytest.approx(10.0)
    assert config.milestones == [0.25, 0.75]


def test_yaml_top_level_keys(tmp_path):
    config = CurriculumConfig.from_yaml(write(tmp_path, "schedule: cosine\nstart: 0.1\nend: 0.9\ngroup_column: task\n"))
    assert (config.schedule, config.start, config.end, config.group_column) == ("cosine", 0.1, 0.9, "task")


def test_yaml_curriculum_section(tmp_path):
    text = "curriculum:\n  schedule: root\n  degree: 3\n  kernel: gaussian\n  seed: 7\n"
    config = CurriculumConfig.from_yaml(write(tmp_path, text))
    assert (config.schedule, config.degree, config.kernel, config.seed) == ("root", 3.0, "gaussian", 7)


def test_yaml_empty_curriculum_section_gives_defaults(tmp_path):
    assert CurriculumConfig.from_yaml(write(tmp_path, "curriculum:\n")) == CurriculumConfig()


def test_yaml_curriculum_key_beside_the_curriculum_section_is_refused(tmp_path):
    path = write(tmp_path, "curriculum:\n  ema: 0.3\nema: 0.2\nmax_steps: 10\n")
    with pytest.raises(ConfigError, match=r"\['ema'\] sit beside the `curriculum:` section, outside it"):
        CurriculumConfig.from_yaml(path)
    training = write(tmp_path, "curriculum:\n  ema: 0.3\nmax_steps: 10\nseed: 1\n")  # training keys: left alone
    assert CurriculumConfig.from_yaml(training).ema == 0.3


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_yaml_empty_file_gives_defaults(tmp_path, text):
    assert CurriculumConfig.from_yaml(write(tmp_path, text)) == CurriculumConfig()


@pytest.mark.parametrize("text", ["ema: [0.1\n", "schedule: linear\n  start: 0.2\n: x\n", "a: b: c\n", "key: 'unterminated\n"])
def test_yaml_invalid_syntax_names_file(tmp_path, text):
    path = write(tmp_path, text, "broken.yaml")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: not valid YAML: "):
        CurriculumConfig.from_yaml(path)


def test_yaml_not_a_mapping_names_file(tmp_path):
    path = write(tmp_path, "- ema\n- 0.5\n", "list.yaml")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: a curriculum config should be a mapping"):
        CurriculumConfig.from_yaml(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("emma: 0.3\n", "unknown curriculum key(s) 'emma' (did you mean 'ema'?)"),
        ("ema: 1.0\n", "ema should be < 1.0, but got ema=1.0"),
        ("width: narrow\n", "width should be a number, but got width='narrow'"),
        ("kernel: box\n", "kernel should be one of ['laplace', 'gaussian'], but got kernel='box'"),
        ("schedule: step\nmilestones: [0.7, 0.3]\n", "milestones should be strictly increasing"),
        ("curriculum:\n  seed: -3\n", "seed should be >= 0, but got seed=-3"),
        ("group_column: t\nprior_column: t\n", "both are 't'"),
    ],
)
def test_yaml_errors_name_the_file(tmp_path, text, message):
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: .*{re.escape(message)}"):
        CurriculumConfig.from_yaml(path)


def test_yaml_error_names_file_given_as_str(tmp_path):
    path = str(write(tmp_path, "sed: 1\n", "as_str.yaml"))
    with pytest.raises(ConfigError, match=rf"^{re.escape(path)}: unknown curriculum key\(s\) 'sed'"):
        CurriculumConfig.from_yaml(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("schedule: linear\nwidth: 0.2\nschedule: cosine\n", "the key 'schedule' is given twice (line 1 and line 3)"),
        ("curriculum:\n  ema: 0.3\n  ema: 0.4\n", "the key 'ema' is given twice (line 2 and line 3)"),
        ("{width: 0.2, width: 0.3}\n", "the key 'width' is given twice (line 1 and line 1)"),
    ],
)
def test_yaml_duplicate_key_names_key_and_lines(tmp_path, text, message):
    path = write(tmp_path, text, "twice.yaml")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: {re.escape(message)}; YAML would keep only"):
        CurriculumConfig.from_yaml(path)


def test_yaml_merge_key_may_be_overridden():
    # A key merged in from an anchor (`<<`) and then set explicitly is not a duplicate.
    from curriculum.fields import UniqueKeyLoader

    text = "defaults: &d {width: 0.2, ema: 0.3}\ncurriculum:\n  <<: *d\n  width: 0.3\n"
    assert yaml.load(text, Loader=UniqueKeyLoader)["curriculum"] == {"width": 0.3, "ema": 0.3}


def test_yaml_non_utf8_file_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("# café\nema: 0.3\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: "):
        CurriculumConfig.from_yaml(path)


@pytest.mark.parametrize("key", [1, None, True], ids=["int", "none", "bool"])
def test_non_string_key_is_rejected(key):
    with pytest.raises(ConfigError, match=rf"keys should be names, but got the key\(s\) \[{re.escape(repr(key))}\]"):
        CurriculumConfig.from_dict({key: 0.5})


@pytest.mark.parametrize("value, expected", [("1e6", 1_000_000), (np.int64(7), 7), (20.0, 20)])
def test_integer_fields_accept_integral_numbers(value, expected):
    config = CurriculumConfig(budget_samples=value)
    assert config.budget_samples == expected and type(config.budget_samples) is int


def test_float_fields_accept_numpy_scalars():
    config = CurriculumConfig(width=np.float32(0.25))
    assert config.width == 0.25 and type(config.width) is float


def test_yaml_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        CurriculumConfig.from_yaml(tmp_path / "missing.yaml")


# ---------------------------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize(
    "config",
    [
        CurriculumConfig(),
        CurriculumConfig(
            signal="learnability",
            group_column="task",
            prior_column="score",
            ema=1e-5,
            schedule="step",
            start=0.05,
            end=0.95,
            milestones=[0.1, 0.4, 0.9],
            budget_samples=123456,
            kernel="gaussian",
            width=2.5e-3,
            uniform_mix=0.0,
            refresh_every_steps=1,
            samples_per_epoch=1000,
            seed=42,
        ),
        CurriculumConfig(schedule="constant", uniform_mix=1.0, start=0.0, end=1.0),
        CurriculumConfig(schedule="exponential", rate=1e-3, degree=7.0),
    ],
    ids=["defaults", "everything", "uniform", "exponential"],
)
def test_to_yaml_from_yaml_round_trip(tmp_path, config):
    text = config.to_yaml()
    loaded = CurriculumConfig.from_yaml(write(tmp_path, text))
    assert loaded == config
    assert loaded.to_dict() == config.to_dict()
    assert list(yaml.safe_load(text)) == [f.name for f in dataclasses.fields(CurriculumConfig)]


def test_to_dict_round_trip():
    config = CurriculumConfig(schedule="root", degree=3.0, seed=1)
    assert CurriculumConfig.from_dict(config.to_dict()) == config


# ---------------------------------------------------------------------------------------------------- examples


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=[p.name for p in EXAMPLE_CONFIGS])
def test_example_configs_load(path):
    config = CurriculumConfig.from_yaml(path)
    assert isinstance(config, CurriculumConfig)
    assert CurriculumConfig.from_dict(config.to_dict()) == config
    assert 0.0 <= config.target(0.0) <= 1.0 and 0.0 <= config.target(1.0) <= 1.0
