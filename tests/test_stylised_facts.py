"""The six stylised facts of MODEL.md §8, one test each, at a moderate size.

Each test runs the default scenario (`tencent_huawei_2017`, default calibration) under the
conditions its fact names, `REPS` replications with seeds from `SeedSequence(ROOT_SEED)` (a root
other than the one behind docs/validation.md, so these are fresh replications), and asserts a
direction with a margin taken from the replication noise: a 95% t-interval over replications,
paired by seed between conditions, must lie wholly on the asserted side (a claim that a share is
positive is checked in every replication instead). The verdicts and their reasons are in
docs/validation.md (scripts/validation.py). Where a fact does not hold there, the test asserts
the documented behaviour, so it fails when the model's behaviour changes and the write-up needs
redoing.

All simulations run once per session, two at a time, in a module-scoped fixture.
"""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pytest
from scipy import stats

from experiments.runner import worker_pool
from model import REGIMES, DataMarket
from model.flows import inference_r2
from model.planner import contact_harm

pytestmark = pytest.mark.slow

N_USERS = 20_000
MONTHS = 48
WINDOW = 12  # months averaged at the end of each run
REPS = 5
ROOT_SEED = 20_211_101  # PIPL in force; not the root of docs/validation.md
SEEDS = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(ROOT_SEED).spawn(REPS)]

SHARING = tuple(r for r in REGIMES if r != "ban")
LEAKAGES = (0.1, 0.3, 0.6)
DEGREES = (1.0, 4.0, 20.0)
CONDITIONS: dict[str, tuple[str, dict[str, float]]] = {
    **{regime: (regime, {}) for regime in REGIMES},
    "leakage=0.1": ("informed_consent", {"leakage": 0.1}),
    "leakage=0.6": ("informed_consent", {"leakage": 0.6}),
    "degree=1": ("click_through", {"mean_degree": 1.0}),
    "degree=4": ("click_through", {"mean_degree": 4.0}),
}


def leakage(lam: float) -> str:
    return "informed_consent" if lam == 0.3 else f"leakage={lam:g}"


def degree(deg: float) -> str:
    return "click_through" if deg == 20.0 else f"degree={deg:g}"


# --- one run ---------------------------------------------------------------------------------


def _month(market: DataMarket) -> dict[str, float]:
    """What the facts need from the month just played, beyond the §7 metrics."""
    users, holders, month, p = market.users, market.holders, market.month, market.p
    rows = np.arange(users.n)
    consent_device = users.consented[rows, holders.maker(0) + users.device]
    # The two parts of a realised maker flow's social cost (MODEL.md §9, as the planner metric
    # takes them): the user's own harm at her exposure before the flow, and her contacts' harm.
    own = contacts = 0.0
    flows = 0
    for m in range(len(market.makers)):
        col = holders.maker(m)
        actual = (month.flow_device == m) & users.member.any(axis=1) & (month.data_quality > 0)
        before = inference_r2(market.contact_count[:, col], p.leakage)
        own += float((users.theta * p.misuse_maker * (1 - before))[actual].sum())
        counts = market.contact_count[:, col]
        harm = contact_harm(
            users.graph, users.theta, users.holds[:, col], counts, p.misuse_maker, p.leakage
        )
        contacts += float(harm[actual].sum())
        flows += int(actual.sum())
    return dict(
        maker_flow_share=float((month.data_quality > 0).mean()),
        maker_reach_share=float(users.holds[:, holders.makers].any(axis=1).mean()),
        theta_ratio=float(users.theta[consent_device].mean() / users.theta.mean())
        if consent_device.any()
        else math.nan,
        own_cost_per_flow=own / flows if flows else math.nan,
        contact_cost_per_flow=contacts / flows if flows else math.nan,
    )


def _run(job: tuple[str, int]) -> dict[str, float]:
    name, seed = job
    regime, params = CONDITIONS[name]
    market = DataMarket(regime=regime, n_users=N_USERS, rng=seed, **params)
    market.run_for(MONTHS - WINDOW)
    months = []
    for _ in range(WINDOW):
        market.run_for(1)
        months.append(_month(market))
    frame = market.datacollector.get_model_vars_dataframe().tail(WINDOW)
    out = {key: float(frame[key].mean()) for key in frame.columns}
    for key in months[0]:
        column = np.array([m[key] for m in months])
        finite = column[np.isfinite(column)]
        out[key] = float(finite.mean()) if finite.size else math.nan
    return out


# --- replication statistics ------------------------------------------------------------------


class Interval:
    """Mean over replications and its 95% t-interval."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.mean = float(values.mean())
        half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
        self.low, self.high = self.mean - half, self.mean + half

    def __repr__(self) -> str:
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}] from {self.values.round(4)}"


class Runs:
    def __init__(self, table: dict[tuple[str, int], dict[str, float]]) -> None:
        self.table = table

    def values(self, condition: str, key: str) -> np.ndarray:
        return np.array([self.table[condition, r][key] for r in range(REPS)])

    def ci(self, condition: str, key: str) -> Interval:
        return Interval(self.values(condition, key))

    def paired(self, a: str, b: str, key: str) -> Interval:
        """a − b, replication by replication (same seeds)."""
        return Interval(self.values(a, key) - self.values(b, key))


@pytest.fixture(scope="module")
def runs() -> Runs:
    keys = [(name, r) for name in CONDITIONS for r in range(REPS)]
    jobs = [(name, SEEDS[r]) for name, r in keys]
    workers = min(2, os.cpu_count() or 1)
    # Never a fork of this (multi-threaded) process, one thread a worker: as the runner's pools.
    with worker_pool(workers) as pool:
        outputs = list(pool.map(_run, jobs))  # in the order of `keys`
    return Runs(dict(zip(keys, outputs, strict=True)))


# --- the facts -------------------------------------------------------------------------------


def test_fact1_consent_follows_the_interface(runs: Runs) -> None:
    """Near-universal (≥ 0.9) under click-through; at least 20 points lower under informed
    consent (Nouwens et al.'s reject-button swing is 22–23 points)."""
    click = runs.ci("click_through", "consent_rate")
    drop = runs.paired("informed_consent", "click_through", "consent_rate")
    assert click.low >= 0.9, click
    assert drop.high <= -0.2, drop


def test_fact2_oversharing_positive_but_not_growing_with_leakage(runs: Runs) -> None:
    """Documented verdict: does NOT hold. `oversharing_share` > 0 under informed consent at
    every λ > 0 (users' own consent mistakes), but it does not grow with λ: for a maker flow, the
    contacts' harm that rises with λ is offset by the user's own marginal harm, which falls with
    λ because the maker already knows her through her contacts, and both are small beside the
    flow's benefit."""
    for lam in LEAKAGES:
        share = runs.values(leakage(lam), "oversharing_share")
        assert (share > 0).all(), (lam, share)
    growth = runs.paired(leakage(0.6), leakage(0.1), "oversharing_share")
    assert growth.low <= 0, f"oversharing now grows with λ: {growth}; redo the write-up"
    own = runs.paired(leakage(0.6), leakage(0.1), "own_cost_per_flow")
    contacts = runs.paired(leakage(0.6), leakage(0.1), "contact_cost_per_flow")
    assert own.high < 0, own
    assert contacts.low > 0, contacts


def test_fact3_exposure_without_consent_grows_with_degree(runs: Runs) -> None:
    """Under click-through users are exposed to holders they never consented to, and more so
    with more contacts (at the default degree 20 the share is near saturation)."""
    for deg in DEGREES:
        share = runs.values(degree(deg), "exposed_without_consent_share")
        assert (share > 0).all(), (deg, share)
    for low, high in itertools.pairwise(DEGREES):
        rise = runs.paired(degree(high), degree(low), "exposed_without_consent_share")
        assert rise.low > 0, (low, high, rise)


def test_fact4_ban_below_the_best_sharing_regime(runs: Runs) -> None:
    """Total welfare under the ban is below that of the best regime that allows sharing."""
    best = max(SHARING, key=lambda r: runs.ci(r, "total_welfare").mean)
    gap = runs.paired("ban", best, "total_welfare")
    assert gap.high < 0, (best, gap)


def test_fact5_informed_consent_cuts_flows_and_raises_concentration(runs: Runs) -> None:
    """Informed consent (vs click-through) lowers the share of users whose data makers use this
    month and the share whose data any maker holds, and raises the device makers' HHI."""
    for key in ("maker_flow_share", "maker_reach_share"):
        change = runs.paired("informed_consent", "click_through", key)
        assert change.high < 0, (key, change)
    hhi = runs.paired("informed_consent", "click_through", "device_hhi")
    assert hhi.low > 0, hhi


def test_fact6_consenters_have_lower_privacy_cost(runs: Runs) -> None:
    """Under informed consent, users consenting to their device maker have a lower mean θ than
    the population."""
    ratio = runs.ci("informed_consent", "theta_ratio")
    assert ratio.high < 1, ratio
