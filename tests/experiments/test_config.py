"""Tests of `experiments.config`: the experiment file's schema, its errors and its fingerprint.

Checks:

* every experiment file shipped in `experiments/` loads, with the issue's keys;
* each kind of bad input, one at a time — a missing, unreadable, non-UTF-8 or malformed file, an
  unknown key or table, a wrong type, a value out of range, an unknown scenario, regime, lever or
  parameter, a bad schedule or design — raises `ConfigError` whose message starts with the file,
  names the field path, the bad value and what is allowed (taken from the model's catalogue);
* defaults: a policy is named after its regime, results go to ``results/<name>``;
* the fingerprint is stable, ignores [execution] and [output], and changes with anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.config import ConfigError, Experiment, load_experiment
from model import LEVERS, REGIMES, SCENARIOS
from model.parameters import PARAMETER_INDEX
from model.regimes import PORTABILITY_MODES

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SHIPPED = ("tencent_huawei_2017", "externality", "regime_switch", "sensitivity")

EXPERIMENT = 'name = "small"\nsteps = 24\nreplications = 2\nseed = 7\nmeasure = "final"'
SCENARIO = 'preset = "baseline"\nn_users = 500'
POLICIES = ('regime = "click_through"', 'regime = "informed_consent"')
LHS = 'method = "lhs"\nsamples = 4\nleakage = [0.0, 0.6]'


def toml(
    experiment: str | None = EXPERIMENT,
    scenario: str | None = SCENARIO,
    policies: tuple[str, ...] = POLICIES,
    uncertainties: str | None = None,
    execution: str | None = None,
    output: str | None = None,
    extra: str = "",
) -> str:
    """An experiment file from the bodies of its tables (None leaves a table out)."""
    parts = []
    for table, body in (("experiment", experiment), ("scenario", scenario)):
        if body is not None:
            parts.append(f"[{table}]\n{body}")
    parts += [f"[[policies]]\n{body}" for body in policies]
    for table, body in (
        ("uncertainties", uncertainties),
        ("execution", execution),
        ("output", output),
    ):
        if body is not None:
            parts.append(f"[{table}]\n{body}")
    return "\n\n".join([*parts, extra]) + "\n"


def write(tmp_path: Path, text: str, name: str = "experiment.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, name: str = "experiment.toml") -> Experiment:
    return load_experiment(write(tmp_path, text, name))


def refused(tmp_path: Path, text: str) -> tuple[Path, str]:
    """Load `text` from a file, expecting a ConfigError; return the path and the message."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    return path, str(caught.value)


# --- the shipped files


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_file_loads(name):
    experiment = load_experiment(EXPERIMENTS / f"{name}.toml")
    assert experiment.name == name
    assert experiment.scenario.preset in SCENARIOS
    assert experiment.policies, "a shipped file compares at least one policy"
    assert experiment.replications >= 1
    assert experiment.output.dir == f"results/{name}"


def test_main_job_compares_every_regime_preset_from_the_dispute():
    """The issue: every regime from the dispute's starting point, at least 10 replications."""
    experiment = load_experiment(EXPERIMENTS / "tencent_huawei_2017.toml")
    assert {policy.regime for policy in experiment.policies} == set(REGIMES)
    assert experiment.scenario.preset == "tencent_huawei_2017"
    assert experiment.replications >= 10


def test_regime_switch_starts_in_click_through_and_switches_after_three_years():
    experiment = load_experiment(EXPERIMENTS / "regime_switch.toml")
    assert all(policy.regime == "click_through" for policy in experiment.policies)
    switched_to = {
        regime for policy in experiment.policies for regime in policy.regime_schedule().values()
    }
    assert switched_to == set(REGIMES) - {"click_through"}
    # The model applies a month's switch at the start of that month: 36 months of click-through.
    months = {month for policy in experiment.policies for month in policy.regime_schedule()}
    assert months == {37}


def test_externality_is_a_leakage_by_degree_grid_under_three_regimes():
    experiment = load_experiment(EXPERIMENTS / "externality.toml")
    assert [policy.regime for policy in experiment.policies] == [
        "click_through",
        "informed_consent",
        "data_trust",
    ]
    assert experiment.uncertainties.method == "grid"
    assert experiment.uncertainties.names() == ["leakage", "mean_degree"]


def test_sensitivity_is_sobol_or_morris():
    experiment = load_experiment(EXPERIMENTS / "sensitivity.toml")
    assert experiment.uncertainties.method in ("sobol", "morris")
    assert len(experiment.uncertainties.names()) >= 5


def test_issue_example_loads(tmp_path):
    """The experiment file printed in issue 3, with its custom regime."""
    text = toml(
        experiment='name = "tencent_huawei_2017"\nsteps = 120\nreplications = 10\n'
        'seed = 20170803\nmeasure = "mean_last_12"',
        scenario='preset = "tencent_huawei_2017"\nn_users = 20000',
        policies=(
            'regime = "click_through"',
            'regime = "informed_consent"',
            'name = "portability_free_realtime"\nregime = "portability"\n'
            'levers = { access_fee_cap = 0.0, portability = "realtime" }',
        ),
        uncertainties='method = "lhs"\nsamples = 16\nleakage = [0.0, 0.6]\nmean_degree = [5, 50]',
        execution='backend = "local"\nworkers = 2',
        output='dir = "results/tencent_huawei_2017"',
    )
    experiment = load_text(tmp_path, text)
    regime = experiment.policies[2].to_regime()
    assert regime.name == "portability_free_realtime"
    assert regime.portability == "realtime"
    assert regime.access_fee_cap == 0.0
    # Levers not overridden keep the preset's values.
    assert regime.consent_standard == REGIMES["portability"].consent_standard


# --- defaults


def test_defaults(tmp_path):
    text = toml(experiment='name = "small"\nsteps = 24\nreplications = 2\nseed = 7', scenario=None)
    experiment = load_text(tmp_path, text)
    assert [policy.name for policy in experiment.policies] == ["click_through", "informed_consent"]
    assert experiment.output.dir == "results/small"
    assert experiment.measure == "final"
    assert experiment.scenario.parameters == {}
    assert experiment.execution.backend == "local"
    assert experiment.execution.workers >= 1
    assert experiment.uncertainties is None


def test_resolved_is_plain_json_with_the_defaults(tmp_path):
    text = toml(
        policies=('regime = "portability"\nlevers = { access_fee_cap = inf }',),
        uncertainties=LHS,
    )
    resolved = load_text(tmp_path, text).resolved()
    decoded = json.loads(json.dumps(resolved, allow_nan=False))
    assert decoded == resolved
    assert resolved["policies"][0]["name"] == "portability"
    assert resolved["output"]["dir"] == "results/small"
    assert resolved["scenario"] == {"preset": "baseline", "n_users": 500}
    assert resolved["uncertainties"]["leakage"] == [0.0, 0.6]


# --- bad input, one kind at a time


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "no such file" in message


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_experiment(tmp_path)
    assert str(caught.value).startswith(str(tmp_path))
    assert "folder" in str(caught.value)


def test_unreadable_file(tmp_path, monkeypatch):
    """Permission bits do not stop root, so the denial is simulated at the read."""
    path = write(tmp_path, toml())

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "Permission denied" in message


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(toml(experiment=EXPERIMENT.replace("small", "caf\xe9")).encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    assert str(caught.value).startswith(str(path))
    assert "UTF-8" in str(caught.value)


def test_toml_syntax_error_gives_the_line(tmp_path):
    text = toml(experiment=EXPERIMENT.replace("steps = 24", "steps = = 24"))
    bad_line = text.splitlines().index("steps = = 24") + 1
    path, message = refused(tmp_path, text)
    assert message.startswith(str(path))
    assert "TOML" in message
    assert f"line {bad_line}" in message


def _allowed_parameter(name: str) -> str:
    return PARAMETER_INDEX[name].allowed()


# (label, file text, field path, the bad value as it appears, what is allowed)
BAD_INPUT = [
    (
        "unknown key",
        toml(experiment=EXPERIMENT + '\ncolour = "red"'),
        "experiment.colour",
        "red",
        ["name", "steps", "replications", "seed", "measure"],
    ),
    (
        "unknown table",
        toml(extra="[reports]\nformat = 1"),
        "reports",
        "format",
        ["experiment", "scenario", "policies", "uncertainties", "execution", "output"],
    ),
    (
        "misspelt key",
        toml(experiment=EXPERIMENT.replace("replications", "replicatons")),
        "experiment.replicatons",
        "replicatons",
        ["replications"],
    ),
    (
        "wrong type",
        toml(experiment=EXPERIMENT.replace("steps = 24", 'steps = "24"')),
        "experiment.steps",
        '"24"',
        ["whole number"],
    ),
    (
        "fractional steps",
        toml(experiment=EXPERIMENT.replace("steps = 24", "steps = 2.5")),
        "experiment.steps",
        "2.5",
        ["whole number"],
    ),
    (
        "steps out of range",
        toml(experiment=EXPERIMENT.replace("steps = 24", "steps = 0")),
        "experiment.steps",
        "0",
        [">= 1"],
    ),
    (
        "replications out of range",
        toml(experiment=EXPERIMENT.replace("replications = 2", "replications = -3")),
        "experiment.replications",
        "-3",
        [">= 1"],
    ),
    (
        "negative seed",
        toml(experiment=EXPERIMENT.replace("seed = 7", "seed = -7")),
        "experiment.seed",
        "-7",
        [">= 0"],
    ),
    (
        "measure window longer than the run",
        toml(experiment=EXPERIMENT.replace('"final"', '"mean_last_30"')),
        "experiment.measure",
        "mean_last_30",
        ["final", "mean_last_K", "24"],
    ),
    (
        "unknown measure",
        toml(experiment=EXPERIMENT.replace('"final"', '"median"')),
        "experiment.measure",
        "median",
        ["final", "mean_last_K"],
    ),
    (
        "experiment name unusable as a folder",
        toml(experiment=EXPERIMENT.replace('"small"', '"my/run"')),
        "experiment.name",
        "my/run",
        ["letters, digits"],
    ),
    (
        "missing [experiment]",
        toml(experiment=None),
        "experiment",
        "[experiment]",
        ["name", "steps", "replications", "seed"],
    ),
    (
        "missing required key",
        toml(experiment=EXPERIMENT.replace("seed = 7", "")),
        "experiment.seed",
        "missing",
        ["whole number >= 0"],
    ),
    (
        "unknown scenario preset",
        toml(scenario='preset = "wechat_2017"'),
        "scenario.preset",
        "wechat_2017",
        list(SCENARIOS),
    ),
    (
        "unknown parameter",
        toml(scenario=SCENARIO + "\nleakge = 0.2"),
        "scenario.leakge",
        "leakge",
        ["leakage", "mean_degree", "n_users"],
    ),
    (
        "parameter out of range",
        toml(scenario=SCENARIO + "\nleakage = 1.5"),
        "scenario.leakage",
        "1.5",
        [_allowed_parameter("leakage")],
    ),
    (
        "parameter of the wrong type",
        toml(scenario=SCENARIO.replace("n_users = 500", 'n_users = "many"')),
        "scenario.n_users",
        "many",
        [_allowed_parameter("n_users")],
    ),
    (
        "parameter choice",
        toml(scenario=SCENARIO + '\nprivacy_cost_distribution = "uniform"'),
        "scenario.privacy_cost_distribution",
        "uniform",
        list(PARAMETER_INDEX["privacy_cost_distribution"].choices),
    ),
    (
        "parameters that do not fit together",
        toml(scenario=SCENARIO + "\nn_makers = 3\nmaker_shares = [0.5, 0.5]"),
        "scenario.maker_shares",
        "0.5",
        ["one share per maker"],
    ),
    (
        "lever set as a parameter",
        toml(scenario=SCENARIO + '\nportability = "realtime"'),
        "scenario.portability",
        "portability",
        ["[[policies]]", "levers"],
    ),
    (
        "regime set in the scenario",
        toml(scenario=SCENARIO + '\nregime = "ban"'),
        "scenario.regime",
        "regime",
        ["[[policies]]"],
    ),
    (
        "unknown regime",
        toml(policies=(POLICIES[0], 'regime = "gdpr"')),
        "policies[1].regime",
        "gdpr",
        list(REGIMES),
    ),
    (
        "unknown lever",
        toml(
            policies=(POLICIES[0], 'regime = "portability"\nlevers = { portabilty = "realtime" }')
        ),
        "policies[1].levers.portabilty",
        "portabilty",
        list(LEVERS),
    ),
    (
        "bad lever value",
        toml(
            policies=(POLICIES[0], 'regime = "portability"\nlevers = { portability = "instant" }')
        ),
        "policies[1].levers.portability",
        "instant",
        list(PORTABILITY_MODES),
    ),
    (
        "lever of the wrong type",
        toml(policies=(POLICIES[0], 'regime = "portability"\nlevers = { data_trust = "yes" }')),
        "policies[1].levers.data_trust",
        "yes",
        ["true or false"],
    ),
    (
        "lever out of range",
        toml(policies=(POLICIES[0], 'regime = "portability"\nlevers = { fine_rate = 1.5 }')),
        "policies[1].levers.fine_rate",
        "1.5",
        ["[0, 1]"],
    ),
    (
        "parameter set as a lever",
        toml(policies=(POLICIES[0], 'regime = "portability"\nlevers = { leakage = 0.1 }')),
        "policies[1].levers.leakage",
        "leakage",
        ["[scenario]", *LEVERS],
    ),
    (
        "unknown policy key",
        toml(policies=(POLICIES[0], 'regime = "ban"\nlevels = { fine_rate = 0.1 }')),
        "policies[1].levels",
        "levels",
        ["regime", "name", "levers", "schedule"],
    ),
    (
        "two policies with one name",
        toml(policies=(POLICIES[0], 'regime = "click_through"')),
        "policies[1].name",
        "click_through",
        ["name = "],
    ),
    (
        "no policies",
        toml(policies=()),
        "policies",
        "[[policies]]",
        list(REGIMES),
    ),
    (
        "schedule month not a month",
        toml(policies=('regime = "click_through"\nschedule = { 0 = "ban" }',)),
        "policies[0].schedule.0",
        "0",
        ["whole numbers >= 1"],
    ),
    (
        "schedule to an unknown regime",
        toml(policies=('regime = "click_through"\nschedule = { 12 = "bann" }',)),
        "policies[0].schedule.12",
        "bann",
        list(REGIMES),
    ),
    (
        "schedule after the last month",
        toml(policies=('regime = "click_through"\nschedule = { 100 = "ban" }',)),
        "policies[0].schedule.100",
        "100",
        ["from 1 to 24"],
    ),
    (
        "unknown method",
        toml(uncertainties=LHS.replace('"lhs"', '"random"')),
        "uncertainties.method",
        "random",
        ["grid", "lhs", "sobol", "morris"],
    ),
    (
        "samples missing",
        toml(uncertainties=LHS.replace("samples = 4", "")),
        "uncertainties.samples",
        "samples",
        [">= 1"],
    ),
    (
        "samples for a grid",
        toml(uncertainties='method = "grid"\nsamples = 4\nleakage = { values = [0.1] }'),
        "uncertainties.samples",
        "samples = 4",
        ["lhs", "sobol", "morris"],
    ),
    (
        "sobol base not a power of 2",
        toml(uncertainties=LHS.replace('"lhs"', '"sobol"').replace("4", "12")),
        "uncertainties.samples",
        "12",
        ["power of 2"],
    ),
    (
        "range beyond the parameter's bounds",
        toml(uncertainties=LHS.replace("0.6]", "1.6]")),
        "uncertainties.leakage[1]",
        "1.6",
        [_allowed_parameter("leakage")],
    ),
    (
        "empty range",
        toml(uncertainties=LHS.replace("[0.0, 0.6]", "[0.6, 0.1]")),
        "uncertainties.leakage",
        "[0.6, 0.1]",
        ["low bound must be below the high bound"],
    ),
    (
        "range that is not a pair",
        toml(uncertainties=LHS.replace("[0.0, 0.6]", "[0.0, 0.3, 0.6]")),
        "uncertainties.leakage",
        "[0.0, 0.3, 0.6]",
        ["[low, high]"],
    ),
    (
        "grid given a range",
        toml(uncertainties='method = "grid"\nleakage = [0.0, 0.6]'),
        "uncertainties.leakage",
        "[0.0, 0.6]",
        ["values = [...]"],
    ),
    (
        "grid value out of range",
        toml(uncertainties='method = "grid"\nleakage = { values = [0.1, 2.5] }'),
        "uncertainties.leakage.values[1]",
        "2.5",
        [_allowed_parameter("leakage")],
    ),
    (
        "integer parameter with a fractional bound",
        toml(uncertainties=LHS.replace("leakage = [0.0, 0.6]", "n_makers = [1.5, 4]")),
        "uncertainties.n_makers[0]",
        "1.5",
        [_allowed_parameter("n_makers")],
    ),
    (
        "a choice sampled from a range",
        toml(
            uncertainties=LHS.replace(
                "leakage = [0.0, 0.6]", 'privacy_cost_distribution = ["lognormal", "bimodal"]'
            )
        ),
        "uncertainties.privacy_cost_distribution",
        "lognormal",
        ["grid", "values"],
    ),
    (
        "grid cell whose values clash",
        toml(
            uncertainties='method = "grid"\nmaker_shares = { values = [[1.0, 1.0]] }\n'
            "n_makers = { values = [2, 3] }"
        ),
        "uncertainties.maker_shares",
        "n_makers = 3",
        ["one share per maker"],
    ),
    (
        # Makers set their own prices now (docs/ODD.md §S6): what to set instead is named.
        "removed parameter",
        toml(scenario=SCENARIO + "\ndevice_price = 5.0"),
        "scenario.device_price",
        "device_price",
        ["removed", "device_unit_cost", "choice_sensitivity"],
    ),
    (
        "removed uncertain parameter",
        toml(uncertainties=LHS.replace("leakage", "device_price")),
        "uncertainties.device_price",
        "device_price",
        ["removed", "device_unit_cost", "choice_sensitivity"],
    ),
    (
        "unknown uncertain parameter",
        toml(uncertainties=LHS.replace("leakage", "leak")),
        "uncertainties.leak",
        "leak",
        ["leakage"],
    ),
    (
        "fixed and varied",
        toml(scenario=SCENARIO + "\nleakage = 0.2", uncertainties=LHS),
        "uncertainties.leakage",
        "0.2",
        ["[scenario]", "[uncertainties]"],
    ),
    (
        "no uncertain parameter",
        toml(uncertainties='method = "lhs"\nsamples = 4'),
        "uncertainties",
        "lhs",
        ["leakage = [0.0, 0.6]"],
    ),
    (
        "unknown backend",
        toml(execution='backend = "ray"'),
        "execution.backend",
        "ray",
        ["local", "dask"],
    ),
    (
        "no workers",
        toml(execution="workers = 0"),
        "execution.workers",
        "0",
        [">= 1"],
    ),
    (
        "scheduler without its protocol",
        toml(execution='backend = "dask"\nscheduler = "127.0.0.1:8786"'),
        "execution.scheduler",
        "127.0.0.1:8786",
        ["tcp://host:port"],
    ),
    (
        "scheduler with the local backend",
        toml(execution='scheduler = "tcp://127.0.0.1:8786"'),
        "execution.scheduler",
        "tcp://127.0.0.1:8786",
        ["backend = 'dask'"],
    ),
    (
        "output folder of the wrong type",
        toml(output="dir = 5"),
        "output.dir",
        "5",
        ["folder path"],
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "value", "allowed"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_names_file_field_value_and_what_is_allowed(
    tmp_path, text, field, value, allowed
):
    path, message = refused(tmp_path, text)
    first = message.splitlines()[0]
    assert first.startswith(f"{path}: {field}: "), first
    assert value in first, f"the bad value {value!r} is not named: {first}"
    for word in allowed:
        assert word in first, f"{word!r} (allowed) is not named: {first}"
    assert "pydantic" not in message and "http" not in message


def test_one_problem_is_one_line(tmp_path):
    _, message = refused(tmp_path, toml(experiment=EXPERIMENT.replace("steps = 24", "steps = 0")))
    assert "\n" not in message


def test_config_error_is_a_value_error_with_the_field(tmp_path):
    path = write(tmp_path, toml(policies=(POLICIES[0], 'regime = "gdpr"')))
    with pytest.raises(ValueError) as caught:
        load_experiment(path)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.source == str(path)
    assert caught.value.field == "policies[1].regime"


def test_good_values_of_each_kind_are_accepted(tmp_path):
    """The counterpart of the refusals: the same fields with allowed values load."""
    text = toml(
        experiment=EXPERIMENT.replace('"final"', '"mean_last_24"'),
        scenario=SCENARIO + "\nn_makers = 2\nmaker_shares = [0.5, 0.5]\nleakage = 1",
        policies=(
            'regime = "click_through"\nschedule = { 24 = "ban" }',
            'regime = "portability"\nlevers = { portability = "realtime", fine_rate = 1 }',
        ),
        uncertainties='method = "grid"\nmean_degree = { values = [5, 10] }\n'
        'privacy_cost_distribution = { values = ["lognormal", "bimodal"] }\n'
        "n_brokers = { values = [0, 3] }",
        execution='backend = "dask"\nscheduler = "tcp://127.0.0.1:8786"\nworkers = 1',
    )
    experiment = load_text(tmp_path, text)
    assert experiment.scenario.parameters["leakage"] == 1.0
    assert isinstance(experiment.scenario.parameters["leakage"], float)
    assert experiment.policies[0].regime_schedule() == {24: "ban"}
    assert experiment.policies[1].to_regime().fine_rate == 1.0


def test_grid_cells_are_checked_together_not_value_by_value(tmp_path):
    """Two shares fit two makers, though not the preset's five: the cell is what counts."""
    text = toml(
        uncertainties='method = "grid"\nmaker_shares = { values = [[1.0, 1.0]] }\n'
        "n_makers = { values = [2] }"
    )
    experiment = load_text(tmp_path, text)
    assert experiment.uncertainties.parameters["n_makers"] == {"values": [2]}


# --- overrides from the command line


def test_overrides_change_execution_and_output_only(tmp_path):
    experiment = load_text(tmp_path, toml())
    changed = experiment.with_overrides(
        out=tmp_path / "elsewhere", workers=3, scheduler="tcp://10.0.0.1:8786"
    )
    assert changed.execution.workers == 3
    assert changed.execution.backend == "dask"
    assert changed.execution.scheduler == "tcp://10.0.0.1:8786"
    assert changed.output.dir == str(tmp_path / "elsewhere")
    assert changed.fingerprint() == experiment.fingerprint()
    assert changed.source == experiment.source


def test_bad_override_names_the_field(tmp_path):
    experiment = load_text(tmp_path, toml())
    with pytest.raises(ConfigError) as caught:
        experiment.with_overrides(scheduler="localhost")
    assert caught.value.field == "execution.scheduler"
    assert "localhost" in str(caught.value)


# --- the fingerprint


BASE_FINGERPRINTED = dict(
    experiment=EXPERIMENT,
    scenario=SCENARIO,
    policies=POLICIES,
    uncertainties='method = "lhs"\nsamples = 4\nleakage = [0.0, 0.6]\nmean_degree = [5.0, 50.0]',
)


def test_fingerprint_is_stable(tmp_path):
    first = load_text(tmp_path, toml(**BASE_FINGERPRINTED), "a.toml")
    second = load_text(tmp_path, toml(**BASE_FINGERPRINTED), "b.toml")
    assert first.fingerprint() == second.fingerprint()
    assert len(first.fingerprint()) == 64
    int(first.fingerprint(), 16)  # hexadecimal


def test_fingerprint_ignores_key_order_within_a_table_and_number_spelling(tmp_path):
    base = dict(BASE_FINGERPRINTED, scenario=SCENARIO + "\nattention_mean = 0.3\nn_brokers = 1")
    reordered = dict(
        BASE_FINGERPRINTED,
        experiment='measure = "final"\nseed = 7\nreplications = 2\nsteps = 24\nname = "small"',
        scenario='n_brokers = 1\nattention_mean = 0.3\nn_users = 500\npreset = "baseline"',
        policies=(POLICIES[0], POLICIES[1] + "\nlevers = { fine_rate = 0, audit_probability = 1 }"),
        uncertainties='leakage = [0, 0.6]\nsamples = 4\nmethod = "lhs"\nmean_degree = [5, 50]',
    )
    base["policies"] = (
        POLICIES[0],
        POLICIES[1] + "\nlevers = { audit_probability = 1.0, fine_rate = 0.0 }",
    )
    assert (
        load_text(tmp_path, toml(**reordered), "a.toml").fingerprint()
        == load_text(tmp_path, toml(**base), "b.toml").fingerprint()
    )


def test_fingerprint_ignores_execution_and_output(tmp_path):
    plain = load_text(tmp_path, toml(**BASE_FINGERPRINTED), "a.toml")
    elsewhere = load_text(
        tmp_path,
        toml(
            **BASE_FINGERPRINTED,
            execution='backend = "dask"\nworkers = 7\nscheduler = "tcp://10.1.2.3:8786"',
            output='dir = "/somewhere/else"',
        ),
        "b.toml",
    )
    assert elsewhere.fingerprint() == plain.fingerprint()


FINGERPRINT_CHANGES = {
    "name": ("experiment", EXPERIMENT.replace('"small"', '"other"')),
    "steps": ("experiment", EXPERIMENT.replace("steps = 24", "steps = 25")),
    "replications": ("experiment", EXPERIMENT.replace("replications = 2", "replications = 3")),
    "seed": ("experiment", EXPERIMENT.replace("seed = 7", "seed = 8")),
    "measure": ("experiment", EXPERIMENT.replace('"final"', '"mean_last_12"')),
    "preset": ("scenario", SCENARIO.replace("baseline", "tencent_huawei_2017")),
    "a fixed parameter": ("scenario", SCENARIO.replace("500", "501")),
    "an added parameter": ("scenario", SCENARIO + "\nattention_mean = 0.3"),
    "policy order": ("policies", (POLICIES[1], POLICIES[0])),
    "an added policy": ("policies", (*POLICIES, 'regime = "ban"')),
    "a policy's name": ("policies", (POLICIES[0], POLICIES[1] + '\nname = "ic"')),
    "a lever": ("policies", (POLICIES[0], POLICIES[1] + "\nlevers = { fine_rate = 0.2 }")),
    "a schedule": ("policies", (POLICIES[0], POLICIES[1] + '\nschedule = { 12 = "ban" }')),
    "method": (
        "uncertainties",
        'method = "sobol"\nsamples = 4\nleakage = [0.0, 0.6]\nmean_degree = [5.0, 50.0]',
    ),
    "samples": (
        "uncertainties",
        'method = "lhs"\nsamples = 5\nleakage = [0.0, 0.6]\nmean_degree = [5.0, 50.0]',
    ),
    "a bound": (
        "uncertainties",
        'method = "lhs"\nsamples = 4\nleakage = [0.0, 0.5]\nmean_degree = [5.0, 50.0]',
    ),
    "the order of varied parameters": (
        "uncertainties",
        'method = "lhs"\nsamples = 4\nmean_degree = [5.0, 50.0]\nleakage = [0.0, 0.6]',
    ),
    "no uncertainties": ("uncertainties", None),
}


@pytest.mark.parametrize("change", list(FINGERPRINT_CHANGES))
def test_fingerprint_changes_with_anything_else(tmp_path, change):
    table, body = FINGERPRINT_CHANGES[change]
    changed = load_text(tmp_path, toml(**{**BASE_FINGERPRINTED, table: body}), "a.toml")
    base = load_text(tmp_path, toml(**BASE_FINGERPRINTED), "b.toml")
    assert changed.fingerprint() != base.fingerprint()
