"""The six stylised facts of MODEL.md §8 on version 2, one test each, at a small size.

Each test runs the default scenario (`tencent_huawei_2017`, default calibration) under the
conditions its fact names, `REPS` replications with seeds from `SeedSequence(ROOT_SEED)` (a root
other than those behind docs/validation.md, so these are fresh replications), and asserts a
direction with a margin taken from the replication noise: a 95% t-interval over replications,
paired by seed between conditions, must lie wholly on the asserted side (a claim that a share is
positive is checked in every replication instead). The verdicts and their reasons are in
docs/validation.md (scripts/validation.py). Where a fact does not hold there, the test asserts
the documented behaviour, so it fails when the model's behaviour changes and the write-up needs
redoing.

All simulations run once per module, two at a time, in a module-scoped fixture.
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

pytestmark = pytest.mark.slow

N_USERS = 4000
MONTHS = 36
WINDOW = 12  # months averaged at the end of each run
REPS = 8
ROOT_SEED = 20_211_101  # PIPL in force; not a root of docs/validation.md
SEEDS = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(ROOT_SEED).spawn(REPS)]

SHARING = tuple(r for r in REGIMES if r != "ban")
LEAKAGES = (0.1, 0.6)
DEGREES = (1.0, 4.0, 20.0)
CONDITIONS: dict[str, tuple[str, dict[str, float | str]]] = {
    **{regime: (regime, {}) for regime in REGIMES},
    "leakage=0.1": ("informed_consent", {"leakage": 0.1}),
    "leakage=0.6": ("informed_consent", {"leakage": 0.6}),
    "leakage=0.1,wtp": ("informed_consent", {"leakage": 0.1, "privacy_valuation_basis": "wtp"}),
    "degree=1": ("click_through", {"mean_degree": 1.0}),
    "degree=4": ("click_through", {"mean_degree": 4.0}),
}


def degree(deg: float) -> str:
    return "click_through" if deg == 20.0 else f"degree={deg:g}"


# --- one run ---------------------------------------------------------------------------------


def _month(market: DataMarket) -> dict[str, float]:
    """What the facts need from the month just played, beyond the §7 metrics."""
    users, holders, month = market.users, market.holders, market.month
    consent_device = users.consented[np.arange(users.n), holders.maker(0) + users.device]
    return dict(
        maker_flow_share=float((month.data_quality > 0).mean()),
        maker_reach_share=float(users.holds[:, holders.makers].any(axis=1).mean()),
        theta_ratio=float(users.theta[consent_device].mean() / users.theta.mean())
        if consent_device.any()
        else math.nan,
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


def test_fact1_consent_follows_the_interface_but_click_through_is_at_the_edge(runs: Runs) -> None:
    """Documented verdict: does not hold, narrowly. Informed consent is at least 20 points
    below click-through (Nouwens et al.'s reject-button swing is 22–23), but click-through
    acceptance sits at the 0.9 edge of "near-universal" (0.896 in docs/validation.md), as the
    calibration, which fits it, also leaves it."""
    click = runs.ci("click_through", "consent_rate")
    drop = runs.paired("informed_consent", "click_through", "consent_rate")
    assert drop.high <= -0.2, drop
    assert abs(click.mean - 0.9) < 0.03, f"click-through acceptance left the 0.9 edge: {click}"


def test_fact2_oversharing_grows_with_leakage_at_the_revealed_valuation(runs: Runs) -> None:
    """At the default basis, `oversharing_share` > 0 under informed consent at every λ and grows
    with λ, and so does its externality part (`externality_oversharing_loss`)."""
    for lam in LEAKAGES:
        share = runs.values(f"leakage={lam:g}", "oversharing_share")
        assert (share > 0).all(), (lam, share)
    for key in ("oversharing_share", "externality_oversharing_loss"):
        growth = runs.paired("leakage=0.6", "leakage=0.1", key)
        assert growth.low > 0, (key, growth)


def test_fact2_at_the_wtp_valuation_informed_consent_undershares(runs: Runs) -> None:
    """Documented beside the verdict: at `privacy_valuation_basis` = wtp the first best wants
    more maker data than informed consent delivers, so at λ = 0.1 the loss is under-sharing."""
    under = runs.values("leakage=0.1,wtp", "undersharing_loss")
    over = runs.values("leakage=0.1,wtp", "oversharing_loss")
    assert (under > over).all(), (under, over)
    # The basis changes how harm is counted, not what users or firms do.
    assert np.array_equal(
        runs.values("leakage=0.1,wtp", "consent_rate"), runs.values("leakage=0.1", "consent_rate")
    )


def test_fact3_exposure_without_consent_grows_with_degree(runs: Runs) -> None:
    """Under click-through users are exposed to holders they never consented to, and more so
    with more contacts (at the default degree 20 the share is near saturation); the continuous
    `unconsented_harm` grows with degree too."""
    for deg in DEGREES:
        share = runs.values(degree(deg), "exposed_without_consent_share")
        assert (share > 0).all(), (deg, share)
    for low, high in itertools.pairwise(DEGREES):
        for key in ("exposed_without_consent_share", "unconsented_harm"):
            rise = runs.paired(degree(high), degree(low), key)
            assert rise.low > 0, (key, low, high, rise)


def test_fact4_the_ban_is_not_below_the_best_sharing_regime_at_revealed(runs: Runs) -> None:
    """Documented verdict: does not hold at the default (revealed) basis. With privacy harm at
    the θ behind decisions, the ban is not significantly below the best sharing regime, and it is
    far above the regimes that share most (click-through, platform control)."""
    best = max(SHARING, key=lambda r: runs.ci(r, "total_welfare").mean)
    gap = runs.paired("ban", best, "total_welfare")
    assert gap.high >= 0, f"the ban is now below {best}: {gap}; redo the write-up"
    for regime in ("click_through", "platform_control"):
        above = runs.paired("ban", regime, "total_welfare")
        assert above.low > 0, (regime, above)


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
