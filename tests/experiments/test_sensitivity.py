"""Sensitivity indices on a model whose answer is known: Y = 3·x1 + 0·x2.

Only x1 moves Y, so x1 explains all of its variance (S1 = ST = 1, x2's indices 0) and, with
Morris, every elementary effect of x1 is 3 per unit, i.e. 3 × (x1's range) over its range.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from experiments.sensitivity import incomplete_samples, sensitivity_indices, valueless_samples

NAMES = ["x1", "x2"]
BOUNDS = [[0.0, 2.0], [0.0, 1.0]]
PROBLEM = {"num_vars": 2, "names": NAMES, "bounds": BOUNDS}
NOISE = 3.0  # ± per replication: it cancels in the mean over replications, and only there


def _design(method: str) -> dict:
    if method == "sobol":
        X = sobol_sample.sample(PROBLEM, 256, calc_second_order=False, seed=11)
    else:
        X = morris_sample.sample(PROBLEM, 30, num_levels=4, seed=11)
    return {"method": method, "names": NAMES, "bounds": BOUNDS, "matrix": X.tolist()}


def _runs(design: dict) -> pd.DataFrame:
    """Two policies over every sample, two replications each, plus a failed run per sample.

    Policy "x1_matters" has Y = 3·x1 + 0·x2, policy "x2_matters" Y = 0·x1 + 3·x2. The
    replications add +NOISE and −NOISE; the failed run carries a wild value.
    """
    rows = []
    for sample, (x1, x2) in enumerate(design["matrix"]):
        for policy, y in (("x1_matters", 3 * x1 + 0 * x2), ("x2_matters", 0 * x1 + 3 * x2)):
            for replication, (status, value) in enumerate(
                (("ok", y + NOISE), ("ok", y - NOISE), ("failed", 1e6 * (sample % 7)))
            ):
                rows.append(
                    {
                        "policy": policy,
                        "sample": sample,
                        "replication": replication,
                        "status": status,
                        "x1": x1,
                        "x2": x2,
                        "total_welfare": value,
                    }
                )
    runs = pd.DataFrame(rows)
    runs.insert(0, "run_id", range(len(runs)))
    # Rows as they might come off a parallel sweep: the analysis must put them in sample order.
    return runs.sample(frac=1.0, random_state=3).reset_index(drop=True)


def _index(table: pd.DataFrame, policy: str, parameter: str) -> pd.Series:
    rows = table[(table["policy"] == policy) & (table["parameter"] == parameter)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_sobol_ranks_the_parameter_that_moves_the_output_first():
    design = _design("sobol")
    table = sensitivity_indices(_runs(design), design, ["total_welfare"])
    assert list(table.columns) == [
        "policy",
        "metric",
        "parameter",
        "S1",
        "S1_conf",
        "ST",
        "ST_conf",
    ]
    assert len(table) == 2 * 2  # policies × parameters
    x1, x2 = _index(table, "x1_matters", "x1"), _index(table, "x1_matters", "x2")
    assert x1["S1"] > 0.9 and x1["ST"] > 0.9
    assert abs(x2["S1"]) < 0.05 and abs(x2["ST"]) < 0.05
    assert x1["S1"] > x2["S1"] + 0.85
    # The other policy's output depends on x2 only: the ranking is per policy.
    assert _index(table, "x2_matters", "x2")["ST"] > 0.9
    assert abs(_index(table, "x2_matters", "x1")["ST"]) < 0.05


def test_morris_gives_the_known_elementary_effects():
    design = _design("morris")
    table = sensitivity_indices(_runs(design), design, ["total_welfare"])
    assert {"mu_star", "mu_star_conf", "sigma"} <= set(table.columns)
    x1, x2 = _index(table, "x1_matters", "x1"), _index(table, "x1_matters", "x2")
    # 3 per unit of x1 over x1's range of 2: an effect of 6, the same on every trajectory.
    assert x1["mu_star"] == pytest.approx(6.0)
    assert x1["sigma"] == pytest.approx(0.0, abs=1e-9)
    assert x2["mu_star"] == pytest.approx(0.0, abs=1e-9)
    # 3 per unit of x2 over x2's range of 1.
    assert _index(table, "x2_matters", "x2")["mu_star"] == pytest.approx(3.0)
    assert _index(table, "x2_matters", "x1")["mu_star"] == pytest.approx(0.0, abs=1e-9)


def test_a_sample_without_a_successful_run_leaves_only_its_policy_undefined():
    design = _design("morris")
    runs = _runs(design)
    lost = (runs["policy"] == "x1_matters") & (runs["sample"] == 4)
    runs.loc[lost, "status"] = "failed"
    assert incomplete_samples(runs, design) == {"x1_matters": 1, "x2_matters": 0}
    table = sensitivity_indices(runs, design, ["total_welfare"])
    assert math.isnan(_index(table, "x1_matters", "x1")["mu_star"])
    assert _index(table, "x2_matters", "x2")["mu_star"] == pytest.approx(3.0)


def test_a_metric_missing_in_a_sample_leaves_its_indices_undefined_and_is_counted():
    """consent_rate is NaN in a run without consent requests: a sample whose successful runs
    all lack it has no output, so the policy's indices are NaN, and `valueless_samples` counts
    it; a sample where one replication has a value takes that value."""
    design = _design("morris")
    runs = _runs(design)
    runs["consent_rate"] = runs["total_welfare"]
    x1 = runs["policy"] == "x1_matters"
    runs.loc[x1 & (runs["sample"] == 4), "consent_rate"] = np.nan  # every replication
    runs.loc[~x1 & (runs["replication"] == 0), "consent_rate"] = np.nan  # one of two
    assert valueless_samples(runs, design, "consent_rate") == {"x1_matters": 1, "x2_matters": 0}
    assert valueless_samples(runs, design, "total_welfare") == {"x1_matters": 0, "x2_matters": 0}
    table = sensitivity_indices(runs, design, ["consent_rate"])
    assert math.isnan(_index(table, "x1_matters", "x1")["mu_star"])
    assert _index(table, "x2_matters", "x2")["mu_star"] == pytest.approx(3.0)


def test_designs_that_do_not_fit_are_refused():
    design = _design("sobol")
    runs = _runs(design)
    with pytest.raises(ValueError, match="sobol or morris"):
        sensitivity_indices(runs, {**design, "method": "lhs"})
    with pytest.raises(ValueError, match="multiple"):
        sensitivity_indices(runs, {**design, "matrix": design["matrix"][:-1]})
    with pytest.raises(ValueError, match="bounds"):
        sensitivity_indices(runs, {**design, "bounds": BOUNDS[:1]})
    assert np.isfinite(sensitivity_indices(runs, design, ["total_welfare"])["S1"]).all()
