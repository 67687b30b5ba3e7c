"""Sensitivity indices of the outcomes to the uncertainties (SALib), for sobol and morris designs.

For each policy and each metric, the metric (summarised by the experiment's `measure`) is
averaged over the replications of each uncertainty sample, giving one output per row of the
design's sample matrix, in sample order; SALib turns those outputs into indices:

- Sobol (`SALib.analyze.sobol`, first and total order only): S1 is the share of the metric's
  variance across the samples that a parameter explains alone, ST the share it explains with
  its interactions; both with 95% bootstrap half-widths (S1_conf, ST_conf).
- Morris (`SALib.analyze.morris`): mu_star is the mean absolute elementary effect, the change
  of the metric (in its own unit) when the parameter moves across its whole range, with its 95%
  bootstrap half-width (mu_star_conf); mu is the signed mean and sigma the spread of the
  effects (non-linearity or interactions).

A sample none of whose replications succeeded leaves the analysis of its policy undefined: its
indices are NaN (see `incomplete_samples`). So does a sample none of whose successful
replications has a value of the metric (`consent_rate` with no consent requests in the months
measured, `model.MISSING`): that metric's indices are NaN for that policy (`valueless_samples`);
a sample where some replications have a value takes the mean of those.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from SALib.analyze import morris, sobol

from model import HEADLINE

METHODS = ("sobol", "morris")
SOBOL_COLUMNS = ("S1", "S1_conf", "ST", "ST_conf")
MORRIS_COLUMNS = ("mu_star", "mu_star_conf", "mu", "sigma")
DEFAULT_MORRIS_LEVELS = 4  # SALib's default for `morris.sample`


def _problem(design: dict) -> dict:
    names = list(design["names"])
    bounds = [list(map(float, bound)) for bound in design["bounds"]]
    if len(bounds) != len(names):
        raise ValueError(f"design has {len(names)} names but {len(bounds)} bounds")
    return {"num_vars": len(names), "names": names, "bounds": bounds}


def sample_outputs(runs: pd.DataFrame, n_samples: int, metric: str) -> pd.DataFrame:
    """Per policy, the metric averaged over successful replications of each sample.

    Returns:
        A table with one row per sample index 0 … n_samples − 1 (in that order) and one column
        per policy; NaN where a sample has no successful run.
    """
    ok = runs[runs["status"] == "ok"]
    means = ok.groupby(["sample", "policy"], sort=False)[metric].mean().unstack("policy")
    policies = list(dict.fromkeys(runs.sort_values("run_id")["policy"]))
    return means.reindex(index=range(n_samples), columns=policies)


def incomplete_samples(runs: pd.DataFrame, design: dict) -> dict[str, int]:
    """Per policy, how many samples of the design have no successful run."""
    n_samples = len(design["matrix"])
    outputs = sample_outputs(runs.assign(_one=1.0), n_samples, "_one")
    return {policy: int(outputs[policy].isna().sum()) for policy in outputs.columns}


def valueless_samples(runs: pd.DataFrame, design: dict, metric: str) -> dict[str, int]:
    """Per policy, how many samples have successful runs but no value of `metric` in any of
    them (e.g. no consent requests): the samples that leave its indices undefined."""
    n_samples = len(design["matrix"])
    ran = sample_outputs(runs.assign(_one=1.0), n_samples, "_one").notna()
    valued = sample_outputs(runs, n_samples, metric).notna()
    return {policy: int((ran[policy] & ~valued[policy]).sum()) for policy in ran.columns}


def _analyse(method: str, problem: dict, X: np.ndarray, Y: np.ndarray, **options) -> dict:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # A metric that does not vary across samples has no variance to share out.
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "sobol":
            result = sobol.analyze(problem, Y, calc_second_order=False, **options)
            return {column: result[column] for column in SOBOL_COLUMNS}
        result = morris.analyze(problem, X, Y, **options)
        return {column: np.asarray(result[column], dtype=float) for column in MORRIS_COLUMNS}


def sensitivity_indices(
    runs: pd.DataFrame,
    design: dict,
    metrics: Sequence[str] = HEADLINE,
    *,
    num_resamples: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """Sobol or Morris indices of each metric to each uncertainty, per policy.

    Args:
        runs: one row per run, as in `runs.parquet` (`run_id`, `policy`, `sample`, `status` and
            the metric columns).
        design: the manifest's `design`: `method` ("sobol" or "morris"), `names`, `bounds`
            and `matrix` (the sample matrix, one row per sample index). A Morris design may
            give `num_levels` (default 4, as SALib samples).
        metrics: the metrics to analyse (default: the headline metrics).
        num_resamples: bootstrap resamples for the confidence half-widths.
        seed: the bootstrap's seed, so that a folder always gives the same table.

    Returns:
        A tidy table: `policy`, `metric`, `parameter`, then S1, S1_conf, ST, ST_conf (sobol)
        or mu_star, mu_star_conf, mu, sigma (morris); one row per policy × metric × parameter.

    Raises:
        ValueError: the design is not sobol or morris, or its matrix does not fit the method.
    """
    method = (design or {}).get("method")
    if method not in METHODS:
        raise ValueError(f"sensitivity indices need a sobol or morris design, not {method!r}")
    problem = _problem(design)
    X = np.asarray(design["matrix"], dtype=float)
    n_vars = problem["num_vars"]
    if X.ndim != 2 or X.shape[1] != n_vars:
        raise ValueError(f"design matrix is {X.shape}, expected (samples, {n_vars})")
    n_samples = X.shape[0]
    block = n_vars + 2 if method == "sobol" else n_vars + 1
    if n_samples == 0 or n_samples % block:
        layout = "N·(D + 2) (first-order Saltelli)" if method == "sobol" else "r·(D + 1)"
        raise ValueError(f"{method} design has {n_samples} samples, not a multiple {layout}")
    options: dict = {"num_resamples": num_resamples, "conf_level": 0.95, "seed": seed}
    if method == "morris":
        options["num_levels"] = int(design.get("num_levels", DEFAULT_MORRIS_LEVELS))
    columns = SOBOL_COLUMNS if method == "sobol" else MORRIS_COLUMNS
    metrics = [metric for metric in metrics if metric in runs.columns]
    rows = []
    for metric in metrics:
        outputs = sample_outputs(runs, n_samples, metric)
        for policy in outputs.columns:
            Y = outputs[policy].to_numpy(dtype=float)
            if np.isnan(Y).any():
                indices = {column: np.full(n_vars, np.nan) for column in columns}
            else:
                indices = _analyse(method, problem, X, Y, **options)
            for i, parameter in enumerate(problem["names"]):
                row = {"policy": policy, "metric": metric, "parameter": parameter}
                row.update({column: float(indices[column][i]) for column in columns})
                rows.append(row)
    return pd.DataFrame(rows, columns=["policy", "metric", "parameter", *columns])
