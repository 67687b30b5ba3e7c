"""One run of an experiment: what it is (`RunSpec`) and how it is played (`run_one`).

Everything an executor ships to a worker is a `RunSpec` (small, picklable, self-contained), and
everything it ships back is a `RunOutput`. A run depends only on its spec, so it gives the same
result serially, in a local process pool or on a Dask cluster.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from model import METRICS, DataMarket, Regime

MEASURE = re.compile(r"^(final|mean_last_(\d+))$")
#: The key of a run's summary (and the column of runs.parquet) holding the social graph's mean
#: degree as built, a little below the mean_degree asked (`DataMarket.realised_mean_degree`).
REALISED_MEAN_DEGREE = "realised_mean_degree"


@dataclass(frozen=True)
class RunSpec:
    """One run: a policy (regime) × an uncertainty sample × a replication.

    Attributes:
        run_id: the run's index k in the experiment's run list (0-based, stable).
        policy: the policy's name (a regime preset name, or the name given to a custom one).
        regime: the resolved regime (levers overridden where the policy says so).
        replication: 0-based replication number.
        sample: 0-based index of the uncertainty sample (0 when nothing is varied).
        seed: the run's seed, a function of the experiment file and (sample, replication) only.
        scenario: the scenario preset the run starts from.
        fixed: model parameters the experiment sets for every run.
        sampled: model parameters this run's uncertainty sample sets.
        steps: months to simulate.
        measure: how a run is summarised: ``final`` or ``mean_last_K``.
    """

    run_id: int
    policy: str
    regime: Regime
    replication: int
    sample: int
    seed: int
    scenario: str
    fixed: dict[str, Any] = field(default_factory=dict)
    sampled: dict[str, Any] = field(default_factory=dict)
    steps: int = 120
    measure: str = "mean_last_12"


@dataclass
class RunOutput:
    """What a finished run returns: its summary, its monthly metrics and its firms' records."""

    spec: RunSpec
    summary: dict[str, float]  # metric → value by the spec's measure; REALISED_MEAN_DEGREE
    timeseries: pd.DataFrame  # run_id, step, every metric
    firms: pd.DataFrame  # run_id, step, agent_id, kind, profit, market_share, strategy, ...
    seconds: float


def summarise(timeseries: pd.DataFrame, measure: str) -> dict[str, float]:
    """Each metric over a run, by `measure`: its final value or its mean over the last K months.

    A month in which a metric is missing (NaN: `consent_rate` in a month without consent
    requests, `model.MISSING`) is left out of the mean over the months; a run whose measured
    months all miss it gets NaN (not 0), which the summary counts as ``n_missing``.

    Raises:
        ValueError: `measure` is neither ``final`` nor ``mean_last_K`` with K ≥ 1.
    """
    match = MEASURE.match(measure)
    if match is None or (match.group(2) is not None and int(match.group(2)) < 1):
        raise ValueError(f"measure {measure!r}: allowed are 'final' or 'mean_last_K' with K >= 1")
    window = 1 if match.group(2) is None else int(match.group(2))
    tail = timeseries[list(METRICS)].tail(window)
    return {name: float(tail[name].mean(skipna=True)) for name in METRICS}


def run_one(spec: RunSpec) -> RunOutput:
    """Play one run from its spec and collect what it produced."""
    started = time.perf_counter()
    market = DataMarket(
        spec.scenario, regime=spec.regime, rng=spec.seed, **{**spec.fixed, **spec.sampled}
    )
    market.run_for(spec.steps)
    timeseries = market.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    timeseries.insert(0, "step", range(1, len(timeseries) + 1))
    timeseries.insert(0, "run_id", spec.run_id)
    firms = market.datacollector.get_agent_vars_dataframe().reset_index()
    firms = firms.rename(columns={"Step": "step", "Time": "step", "AgentID": "agent_id"})
    firms.insert(0, "run_id", spec.run_id)
    firms = firms[firms["kind"] != "regulator"].reset_index(drop=True)
    firms["step"] = firms["step"].astype(int)
    summary = summarise(timeseries, spec.measure)
    summary[REALISED_MEAN_DEGREE] = market.realised_mean_degree
    return RunOutput(
        spec=spec,
        summary=summary,
        timeseries=timeseries,
        firms=firms,
        seconds=time.perf_counter() - started,
    )
