"""The experimental design: from an `Experiment` to its sample matrix and its list of runs.

Runs are (uncertainty sample × policy × replication), numbered in this fixed order::

    run_id = (sample * replications + replication) * n_policies + policy

that is, the sample varies slowest, then the replication, then the policy (in the file's
order). A prefix of the run list therefore holds whole sets of policies that share a seed, so a
sweep stopped early still has paired comparisons.

Seeds: the run for (sample s, replication r) gets
``SeedSequence(experiment.seed, spawn_key=(s, r))``, turned into a 63-bit integer. Every policy
of a (sample, replication) shares that seed — common random numbers, so policies are compared on
the same simulated population and shocks — and a run's seed depends only on the experiment's
seed and its (sample, replication), never on the number or order of policies, the worker that
plays it, or which runs came before.

Samplers: ``grid`` is the cartesian product of the values (last parameter fastest); ``lhs`` is
`scipy.stats.qmc.LatinHypercube` with ``samples`` points; ``sobol`` is SALib's Saltelli design
(``SALib.sample.sobol``, base N = ``samples``, first and total order only: N · (D + 2) points);
``morris`` is SALib's Morris design (``samples`` trajectories, 4 levels: N · (D + 1) points).
The random draws of lhs, sobol and morris come from the experiment's seed. Values of integer
parameters are rounded to the nearest whole number in the runs; `design_matrix` gives the matrix
as sampled (what SALib's analysers expect).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from SALib.sample import morris as morris_sampler
from SALib.sample import sobol as sobol_sampler
from scipy.stats import qmc

from experiments.config import Experiment
from experiments.spec import RunSpec
from model.parameters import PARAMETER_INDEX

MORRIS_LEVELS = 4  # SALib's default grid of levels for Morris trajectories
# One word, so it can never equal the two-word spawn keys (sample, replication) of run seeds.
_SAMPLER_KEY = (0,)


def run_seed(seed: int, sample: int, replication: int) -> int:
    """The seed of every run of (sample, replication), from a SeedSequence.

    Returns:
        A non-negative 63-bit integer (64 random bits with the lowest dropped), so that it fits
        a signed 64-bit column in the results.
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(sample, replication))
    return int(sequence.generate_state(1, dtype=np.uint64)[0]) >> 1


def _sampler_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=_SAMPLER_KEY))


def design_matrix(experiment: Experiment) -> tuple[list[str], list[Any], np.ndarray]:
    """The uncertainty samples as a matrix, one row per sample in sample order.

    Args:
        experiment: a validated experiment.

    Returns:
        ``(names, bounds, X)``: the varied parameters (the file's order); for lhs, sobol and
        morris their ``[low, high]`` ranges, for grid their lists of values; and X with one row
        per sample and one column per name. X is as sampled (integer parameters not yet rounded;
        grid values as given, so X has dtype object when a value is not a number). Without
        [uncertainties], the names and bounds are empty and X has one row and no columns.
    """
    table = experiment.uncertainties
    if table is None:
        return [], [], np.empty((1, 0))
    names = table.names()
    if table.method == "grid":
        values = [table.parameters[name]["values"] for name in names]
        rows = [list(row) for row in itertools.product(*values)]
        numeric = all(
            isinstance(v, int | float) and not isinstance(v, bool) for row in rows for v in row
        )
        if numeric:
            return names, values, np.array(rows, dtype=float).reshape(len(rows), len(names))
        matrix = np.empty((len(rows), len(names)), dtype=object)  # cell by cell: values may be
        for i, row in enumerate(rows):  # tuples (maker_shares), which numpy would unpack
            for j, value in enumerate(row):
                matrix[i, j] = value
        return names, values, matrix
    bounds = [list(table.parameters[name]) for name in names]
    rng = _sampler_rng(experiment.seed)
    problem = {"num_vars": len(names), "names": names, "bounds": bounds}
    if table.method == "lhs":
        unit = qmc.LatinHypercube(d=len(names), rng=rng).random(table.samples)
        matrix = qmc.scale(unit, [b[0] for b in bounds], [b[1] for b in bounds])
    elif table.method == "sobol":
        matrix = sobol_sampler.sample(problem, table.samples, calc_second_order=False, seed=rng)
    else:
        matrix = morris_sampler.sample(problem, table.samples, num_levels=MORRIS_LEVELS, seed=rng)
    # Scaling can overshoot a bound by a rounding error; the model refuses values out of range.
    matrix = np.clip(matrix, [b[0] for b in bounds], [b[1] for b in bounds])
    return names, bounds, matrix


def _as_run_value(name: str, value: Any) -> Any:
    """A sampled value as the model takes it: a Python scalar, integer parameters rounded."""
    if isinstance(value, np.generic):
        value = value.item()
    if PARAMETER_INDEX[name].kind is int and isinstance(value, float):
        return round(value)  # half to even, within the bounds as they are whole numbers
    return value


def samples(experiment: Experiment) -> list[dict[str, Any]]:
    """The parameter values of each uncertainty sample, as the runs receive them.

    Returns:
        One dict per sample (name → value), in sample order; ``[{}]`` without [uncertainties].
    """
    names, _, matrix = design_matrix(experiment)
    return [
        {name: _as_run_value(name, value) for name, value in zip(names, row, strict=True)}
        for row in matrix
    ]


def compile_runs(experiment: Experiment) -> list[RunSpec]:
    """Every run of the experiment, in run order (see the module docstring); run_id = index.

    Args:
        experiment: a validated experiment.

    Returns:
        One RunSpec per (sample, replication, policy). A policy's regime is its preset with its
        levers overridden, named as the policy; a policy's schedule travels in the run's `fixed`
        parameters as ``regime_schedule``.
    """
    regimes = [policy.to_regime() for policy in experiment.policies]
    fixed = experiment.scenario.parameters
    runs: list[RunSpec] = []
    for sample, sampled in enumerate(samples(experiment)):
        for replication in range(experiment.replications):
            seed = run_seed(experiment.seed, sample, replication)
            for policy, regime in zip(experiment.policies, regimes, strict=True):
                schedule = policy.regime_schedule()
                runs.append(
                    RunSpec(
                        run_id=len(runs),
                        policy=policy.name,
                        regime=regime,
                        replication=replication,
                        sample=sample,
                        seed=seed,
                        scenario=experiment.scenario.preset,
                        fixed={**fixed, **({"regime_schedule": schedule} if schedule else {})},
                        sampled=dict(sampled),
                        steps=experiment.steps,
                        measure=experiment.measure,
                    )
                )
    return runs


def describe(experiment: Experiment) -> dict[str, Any]:
    """The design in plain JSON-able form, for the manifest.

    Returns:
        ``method`` (None without [uncertainties]), ``samples`` (the file's setting), ``names``,
        ``bounds`` (``[low, high]`` per name, in order; lhs, sobol, morris, and ``[]`` without
        uncertainties) or ``values`` (name → list; grid), ``integers`` (names whose values
        are rounded in the runs), ``n_samples``, ``n_policies``, ``replications``, ``n_runs`` and
        ``matrix`` (the design matrix as sampled, one list per sample).
    """
    table = experiment.uncertainties
    names, bounds, matrix = design_matrix(experiment)
    method = None if table is None else table.method
    description: dict[str, Any] = {
        "method": method,
        "samples": None if table is None else table.samples,
        "names": names,
    }
    if method == "grid":
        description["values"] = {name: list(v) for name, v in zip(names, bounds, strict=True)}
    else:
        description["bounds"] = [list(bound) for bound in bounds]
    n_samples = matrix.shape[0]
    description.update(
        integers=[name for name in names if PARAMETER_INDEX[name].kind is int],
        n_samples=n_samples,
        n_policies=len(experiment.policies),
        replications=experiment.replications,
        n_runs=n_samples * len(experiment.policies) * experiment.replications,
        matrix=[[_plain(value) for value in row] for row in matrix],
    )
    return description


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return list(value) if isinstance(value, tuple) else value


__all__ = ["compile_runs", "describe", "design_matrix", "run_seed", "samples"]
