"""Tests of `experiments.design`: the run list, its seeds and the samplers.

Checks:

* every shipped experiment file compiles, with (samples × policies × replications) runs;
* run order: run_id is the index, the sample varies slowest, then the replication, then the
  policy; each run carries its policy's regime (levers applied, named as the policy), schedule,
  the fixed parameters and its sample's values;
* seeds follow the documented rule (a SeedSequence of the experiment seed keyed by
  (sample, replication)): the same when the file is loaded twice, different across replications
  and samples, shared by the policies of a (sample, replication), and unchanged when the policies
  are reordered or one is added;
* samplers: the number of samples of each method (lhs: N; sobol: N · (D + 2); morris:
  N · (D + 1); grid: the product of the value counts), every value within its bounds, the
  defining property of each design (one point per stratum in LHS; one parameter moved per
  Morris step; the full product for a grid), integer parameters as ints, and the same design from
  the same seed;
* `describe` is plain JSON and agrees with `design_matrix` and `compile_runs`.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from experiments.config import Experiment, load_experiment
from experiments.design import compile_runs, describe, design_matrix, run_seed
from model import REGIMES
from model.parameters import PARAMETER_INDEX

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SHIPPED = ("tencent_huawei_2017", "externality", "regime_switch", "sensitivity")

HEADER = """
[experiment]
name = "design"
steps = 24
replications = {replications}
seed = {seed}

[scenario]
preset = "baseline"
n_users = 500
"""


def experiment_file(
    tmp_path: Path,
    *,
    policies: tuple[str, ...] = ("click_through", "informed_consent", "ban"),
    uncertainties: str = "",
    replications: int = 3,
    seed: int = 11,
    extra_policy: str = "",
    name: str = "experiment.toml",
) -> Experiment:
    """A small experiment: the given regime presets, optional [uncertainties] body."""
    text = HEADER.format(replications=replications, seed=seed)
    text += "".join(f'\n[[policies]]\nregime = "{regime}"\n' for regime in policies)
    if extra_policy:
        text += f"\n[[policies]]\n{extra_policy}\n"
    if uncertainties:
        text += f"\n[uncertainties]\n{uncertainties}\n"
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_experiment(path)


LHS = 'method = "lhs"\nsamples = 6\nleakage = [0.1, 0.6]\nmean_degree = [5.0, 50.0]'


# --- shipped files


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_file_compiles(name):
    experiment = load_experiment(EXPERIMENTS / f"{name}.toml")
    runs = compile_runs(experiment)
    n_samples = design_matrix(experiment)[2].shape[0]
    assert len(runs) == n_samples * len(experiment.policies) * experiment.replications
    assert [run.run_id for run in runs] == list(range(len(runs)))
    assert {run.policy for run in runs} == {policy.name for policy in experiment.policies}
    assert all(run.steps == experiment.steps and run.measure == experiment.measure for run in runs)


def test_shipped_sensitivity_values_stay_within_the_file_bounds():
    experiment = load_experiment(EXPERIMENTS / "sensitivity.toml")
    bounds = experiment.uncertainties.parameters
    for run in compile_runs(experiment):
        for name, value in run.sampled.items():
            low, high = bounds[name]
            assert low <= value <= high, f"run {run.run_id}: {name}={value}"


def test_regime_switch_runs_carry_their_schedule():
    experiment = load_experiment(EXPERIMENTS / "regime_switch.toml")
    for run in compile_runs(experiment):
        policy = next(p for p in experiment.policies if p.name == run.policy)
        assert run.fixed.get("regime_schedule", {}) == policy.regime_schedule()
        assert run.regime.name == run.policy


# --- run order and content


def test_run_order_sample_then_replication_then_policy(tmp_path):
    experiment = experiment_file(tmp_path, uncertainties=LHS, replications=2)
    runs = compile_runs(experiment)
    names = [policy.name for policy in experiment.policies]
    expected = [
        (sample, replication, policy)
        for sample in range(6)
        for replication in range(2)
        for policy in names
    ]
    assert [(run.sample, run.replication, run.policy) for run in runs] == expected
    assert [run.run_id for run in runs] == list(range(len(expected)))


def test_runs_carry_regime_levers_fixed_and_sampled_values(tmp_path):
    experiment = experiment_file(
        tmp_path,
        policies=("click_through",),
        extra_policy='name = "free_realtime"\nregime = "portability"\n'
        'levers = { access_fee_cap = 0.0, portability = "realtime" }\n'
        'schedule = { 12 = "data_trust" }',
        uncertainties=LHS,
    )
    runs = compile_runs(experiment)
    custom = [run for run in runs if run.policy == "free_realtime"]
    assert custom and all(run.regime.name == "free_realtime" for run in custom)
    assert all(run.regime.portability == "realtime" for run in custom)
    assert all(run.regime.access_fee_cap == 0.0 for run in custom)
    assert all(run.regime.data_trust == REGIMES["portability"].data_trust for run in custom)
    assert all(run.fixed["regime_schedule"] == {12: "data_trust"} for run in custom)
    plain = [run for run in runs if run.policy == "click_through"]
    assert all(run.regime == REGIMES["click_through"] for run in plain)
    assert all("regime_schedule" not in run.fixed for run in plain)
    assert all(run.fixed["n_users"] == 500 and run.scenario == "baseline" for run in runs)
    names, _, matrix = design_matrix(experiment)
    for run in runs:
        assert run.sampled == dict(zip(names, matrix[run.sample].tolist(), strict=True))


def test_without_uncertainties_there_is_one_sample(tmp_path):
    experiment = experiment_file(tmp_path, replications=4)
    runs = compile_runs(experiment)
    assert len(runs) == 3 * 4
    assert {run.sample for run in runs} == {0}
    assert all(run.sampled == {} for run in runs)
    names, bounds, matrix = design_matrix(experiment)
    assert (names, bounds, matrix.shape) == ([], [], (1, 0))


# --- seeds


def test_seed_follows_the_documented_rule(tmp_path):
    """SeedSequence(seed, spawn_key=(sample, replication)), its first 64-bit word halved."""
    experiment = experiment_file(tmp_path, uncertainties=LHS, seed=2024)
    for run in compile_runs(experiment):
        sequence = np.random.SeedSequence(2024, spawn_key=(run.sample, run.replication))
        word = int(sequence.generate_state(1, dtype=np.uint64)[0])
        assert run.seed == word // 2
        assert 0 <= run.seed < 2**63


def test_seeds_are_the_same_when_the_file_is_loaded_twice(tmp_path):
    first = compile_runs(experiment_file(tmp_path, uncertainties=LHS, name="a.toml"))
    second = compile_runs(experiment_file(tmp_path, uncertainties=LHS, name="b.toml"))
    assert [run.seed for run in first] == [run.seed for run in second]


def test_seeds_differ_across_replications_and_samples(tmp_path):
    runs = compile_runs(experiment_file(tmp_path, uncertainties=LHS, replications=4))
    by_cell = {(run.sample, run.replication): run.seed for run in runs}
    assert len(by_cell) == 6 * 4
    assert len(set(by_cell.values())) == len(by_cell)


def test_policies_share_the_seed_of_a_sample_and_replication(tmp_path):
    runs = compile_runs(experiment_file(tmp_path, uncertainties=LHS))
    seeds: dict[tuple[int, int], set[int]] = {}
    for run in runs:
        seeds.setdefault((run.sample, run.replication), set()).add(run.seed)
    assert all(len(shared) == 1 for shared in seeds.values())


def test_policy_order_and_added_policies_leave_seeds_alone(tmp_path):
    forward = experiment_file(tmp_path, uncertainties=LHS, name="a.toml")
    backward = experiment_file(
        tmp_path,
        policies=("ban", "informed_consent", "click_through"),
        uncertainties=LHS,
        name="b.toml",
    )
    more = experiment_file(tmp_path, uncertainties=LHS, extra_policy='regime = "data_trust"')

    def seeds(experiment: Experiment) -> dict[tuple[int, int, str], int]:
        return {(r.sample, r.replication, r.policy): r.seed for r in compile_runs(experiment)}

    assert seeds(forward) == seeds(backward)
    with_more = seeds(more)
    assert all(with_more[key] == seed for key, seed in seeds(forward).items())
    # The run ids do move: the order of policies is part of the run order.
    assert [r.policy for r in compile_runs(forward)] != [r.policy for r in compile_runs(backward)]


def test_experiment_seed_changes_every_run_seed(tmp_path):
    first = compile_runs(experiment_file(tmp_path, seed=1, name="a.toml"))
    second = compile_runs(experiment_file(tmp_path, seed=2, name="b.toml"))
    assert all(a.seed != b.seed for a, b in zip(first, second, strict=True))


def test_run_seed_is_a_function_of_its_arguments_only():
    assert run_seed(5, 1, 2) == run_seed(5, 1, 2)
    assert len({run_seed(5, 1, 2), run_seed(5, 2, 1), run_seed(6, 1, 2)}) == 3


# --- samplers


def _within(matrix: np.ndarray, bounds: list[list[float]]) -> bool:
    low = np.array([b[0] for b in bounds])
    high = np.array([b[1] for b in bounds])
    return bool(((matrix >= low) & (matrix <= high)).all())


def test_lhs_has_one_point_per_stratum(tmp_path):
    experiment = experiment_file(tmp_path, uncertainties=LHS, replications=2)
    names, bounds, matrix = design_matrix(experiment)
    assert names == ["leakage", "mean_degree"]
    assert bounds == [[0.1, 0.6], [5.0, 50.0]]
    assert matrix.shape == (6, 2)
    assert _within(matrix, bounds)
    for column, (low, high) in enumerate(bounds):
        strata = np.floor((matrix[:, column] - low) / (high - low) * 6).clip(0, 5)
        assert sorted(strata.astype(int).tolist()) == list(range(6))
    assert len(compile_runs(experiment)) == 6 * 3 * 2


def test_sobol_has_n_times_d_plus_2_samples(tmp_path):
    body = (
        'method = "sobol"\nsamples = 8\nleakage = [0.1, 0.6]\nmean_degree = [5.0, 50.0]\n'
        "attention_mean = [0.05, 0.5]"
    )
    experiment = experiment_file(tmp_path, uncertainties=body, replications=1)
    _, bounds, matrix = design_matrix(experiment)
    assert matrix.shape == (8 * (3 + 2), 3)
    assert _within(matrix, bounds)
    # Saltelli blocks: A, then A with column j from B (j = 0..D-1), then B.
    for block in matrix.reshape(8, 5, 3):
        a, b = block[0], block[-1]
        for j in range(3):
            expected = a.copy()
            expected[j] = b[j]
            assert np.array_equal(block[1 + j], expected)
    assert len(compile_runs(experiment)) == 8 * 5 * 3


def test_morris_moves_one_parameter_per_step(tmp_path):
    body = (
        'method = "morris"\nsamples = 5\nleakage = [0.1, 0.6]\nmean_degree = [5.0, 50.0]\n'
        "attention_mean = [0.05, 0.5]"
    )
    experiment = experiment_file(tmp_path, uncertainties=body, replications=2)
    _, bounds, matrix = design_matrix(experiment)
    assert matrix.shape == (5 * (3 + 1), 3)
    assert _within(matrix, bounds)
    for trajectory in matrix.reshape(5, 4, 3):
        moved = [
            np.flatnonzero(~np.isclose(step, previous))
            for previous, step in itertools.pairwise(trajectory)
        ]
        assert all(len(columns) == 1 for columns in moved)
        # Along a trajectory each parameter moves exactly once.
        assert sorted(int(columns[0]) for columns in moved) == [0, 1, 2]
    assert len(compile_runs(experiment)) == 5 * 4 * 3 * 2


def test_grid_is_the_full_product(tmp_path):
    body = (
        'method = "grid"\nleakage = { values = [0.0, 0.3, 0.6] }\n'
        "mean_degree = { values = [5.0, 20.0] }\n"
        'privacy_cost_distribution = { values = ["lognormal", "bimodal"] }'
    )
    experiment = experiment_file(tmp_path, uncertainties=body, replications=2)
    runs = compile_runs(experiment)
    product = set(itertools.product([0.0, 0.3, 0.6], [5.0, 20.0], ["lognormal", "bimodal"]))
    cells = {
        (r.sampled["leakage"], r.sampled["mean_degree"], r.sampled["privacy_cost_distribution"])
        for r in runs
    }
    assert cells == product
    assert len(runs) == len(product) * 3 * 2
    assert len({run.sample for run in runs}) == len(product)


def test_integer_parameters_are_sampled_as_ints_within_bounds(tmp_path):
    body = 'method = "lhs"\nsamples = 9\nn_brokers = [0, 6]\nreask_interval = [1, 12]'
    runs = compile_runs(experiment_file(tmp_path, uncertainties=body))
    assert PARAMETER_INDEX["n_brokers"].kind is int  # the premise of this test
    assert PARAMETER_INDEX["reask_interval"].kind is int
    for run in runs:
        assert type(run.sampled["n_brokers"]) is int
        assert type(run.sampled["reask_interval"]) is int
        assert 0 <= run.sampled["n_brokers"] <= 6
        assert 1 <= run.sampled["reask_interval"] <= 12
    # Rounding keeps the design: nine LHS points spread over 0..6 reach both ends' strata.
    assert min(run.sampled["n_brokers"] for run in runs) <= 1
    assert max(run.sampled["n_brokers"] for run in runs) >= 5


def test_integer_grid_values_are_ints(tmp_path):
    body = 'method = "grid"\nn_makers = { values = [2, 3] }\nleakage = { values = [0.1] }'
    runs = compile_runs(experiment_file(tmp_path, uncertainties=body))
    assert {run.sampled["n_makers"] for run in runs} == {2, 3}
    assert all(type(run.sampled["n_makers"]) is int for run in runs)
    assert all(type(run.sampled["leakage"]) is float for run in runs)


@pytest.mark.parametrize("method", ["lhs", "sobol", "morris"])
def test_same_seed_same_design_other_seed_other_design(tmp_path, method):
    body = LHS.replace('"lhs"', f'"{method}"').replace("samples = 6", "samples = 4")
    same_a = design_matrix(experiment_file(tmp_path, uncertainties=body, seed=3, name="a.toml"))
    same_b = design_matrix(experiment_file(tmp_path, uncertainties=body, seed=3, name="b.toml"))
    other = design_matrix(experiment_file(tmp_path, uncertainties=body, seed=4, name="c.toml"))
    assert np.array_equal(same_a[2], same_b[2])
    assert not np.array_equal(same_a[2], other[2])


# --- describe


@pytest.mark.parametrize(
    "body",
    [
        "",
        LHS,
        'method = "grid"\nleakage = { values = [0.0, 0.3] }\nopening_dispute = { values = [true, '
        "false] }",
        LHS.replace('"lhs"', '"morris"'),
    ],
    ids=["none", "lhs", "grid", "morris"],
)
def test_describe_is_json_and_agrees_with_the_design(tmp_path, body):
    experiment = experiment_file(tmp_path, uncertainties=body)
    description = describe(experiment)
    assert json.loads(json.dumps(description, allow_nan=False)) == description
    names, bounds, matrix = design_matrix(experiment)
    assert description["names"] == names
    assert description["n_samples"] == len(description["matrix"]) == matrix.shape[0]
    assert description["n_runs"] == len(compile_runs(experiment))
    if description["method"] == "grid":
        assert description["values"] == dict(zip(names, bounds, strict=True))
    else:
        assert description["bounds"] == bounds
        assert np.array_equal(
            np.asarray(description["matrix"], dtype=float).reshape(matrix.shape), matrix
        )
