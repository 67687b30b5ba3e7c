"""Exposure that depends on degree, and privacy metrics that can move (issue 15, MODEL.md §11).

Checks:

* R²(k; λ) = kλ²/(1 + (k − 1)λ) (`model.flows.inference_r2`) against closed forms: 0 for k = 0
  and for λ = 0, λ² for k = 1, 1 for λ = 1 and k ≥ 1, λ as k → ∞; rising and concave in k;
  equal to the R² of the best linear prediction of one equicorrelated Gaussian variable from k
  others, computed with numpy's linear algebra (c' Σ⁻¹ c) and by least squares on draws;
* exposure stays in [0, 1] in every regime, and through contacts alone at most λ_h;
* the exceedance curve of unconsented exposure is 1 at t < 0 (for exposed users), falls with
  t, is 0 at t = 1 and equals `exposed_without_consent_share` at `exposure_threshold`;
* `consent_rate` is NaN in exactly the months without consent requests (every month under
  `platform_control`, where nobody asks, and under `ban`) and a share in [0, 1] otherwise;
* directions fixed before running (MODEL.md §10–§11): under `informed_consent` in the default
  scenario, `mean_unconsented_exposure` and `exposed_without_consent_share` rise with leakage
  (λ 0.1 → 0.6) and with mean degree (5 → 30); `exposed_without_consent_share` is below 0.99
  (not saturated) under every regime. Each at 3,000 users, 36 months, the mean of the last 12
  months of each of `REPS` seeds, a direction asserted when the 95% t-interval of the paired
  (same seed) difference, or of the mean, lies wholly on its side.

The saturation check does not hold with the default λ = 0.3 and threshold 0.05: one contact's
data already gives R²(1; 0.3) = 0.09 > 0.05, so a user counts as soon as one third party she has
no consent with holds one of her contacts. Measured here (mean [95% interval] of the 5 seeds):
platform_control 1.0000 [1.0000, 1.0000], click_through 1.0000 [1.0000, 1.0000],
informed_consent 0.9976 [0.9942, 1.0009], portability 0.9954 [0.9898, 1.0010], data_trust
0.9948 [0.9865, 1.0031], ban 0.6666 [0.6412, 0.6919], recipient_liability 0.8100 [0.7517,
0.8684]. It is marked as an expected failure (strict), so that it fails the day it holds.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy import stats

from experiments.runner import worker_pool
from model import REGIMES, DataMarket
from model.flows import holder_leakage, inference_r2
from model.metrics import unconsented_exceedance, unconsented_exposure

LAMBDAS = (0.0, 0.05, 0.1, 0.3, 0.6, 0.9, 1.0)


# --- R²(k; λ) --------------------------------------------------------------------------------


def equicorrelated_r2(k: int, lam: float) -> float:
    """R² of predicting X_0 from X_1 … X_k, all unit variance, every pair correlated λ:
    c' Σ⁻¹ c with Σ the k × k correlation matrix of the predictors and c = (λ, …, λ)."""
    sigma = np.full((k, k), lam) + (1 - lam) * np.eye(k)
    c = np.full(k, lam)
    return float(c @ np.linalg.solve(sigma, c))


def test_r2_without_contacts_or_leakage_is_zero():
    for lam in LAMBDAS:
        assert inference_r2(0, lam) == 0.0
    np.testing.assert_array_equal(inference_r2(np.arange(50), 0.0), 0.0)


def test_r2_of_one_contact_is_the_squared_correlation():
    for lam in LAMBDAS:
        assert inference_r2(1, lam) == pytest.approx(lam**2, rel=1e-15, abs=0)


def test_r2_with_perfect_correlation_is_one_from_any_contact():
    np.testing.assert_array_equal(inference_r2(np.arange(1, 200), 1.0), 1.0)


@pytest.mark.parametrize("lam", [0.05, 0.3, 0.6, 0.9])
def test_r2_tends_to_leakage_from_below(lam):
    """R²(k) = λ − λ(1 − λ)/(1 + (k − 1)λ): below λ, within λ(1 − λ)/(kλ) of it."""
    for k in (10, 1_000, 10**6, 10**9):
        value = float(inference_r2(k, lam))
        assert value < lam
        assert lam - value == pytest.approx(lam * (1 - lam) / (1 + (k - 1) * lam), rel=1e-6)


@pytest.mark.parametrize("lam", [0.05, 0.3, 0.6, 0.9])
def test_r2_rises_and_is_concave_in_the_number_of_contacts(lam):
    """Each contact reveals something, and less than the one before (submodular leakage)."""
    values = inference_r2(np.arange(0, 2_000), lam)
    gains = np.diff(values)
    assert np.all(gains > 0)
    assert np.all(np.diff(gains) < 0)
    assert np.all((values >= 0) & (values <= lam))


@pytest.mark.parametrize(
    ("k", "lam"), [(1, 0.3), (2, 0.3), (5, 0.1), (20, 0.3), (7, 0.6), (50, 0.9)]
)
def test_r2_is_that_of_an_equicorrelated_gaussian(k, lam):
    assert float(inference_r2(k, lam)) == pytest.approx(equicorrelated_r2(k, lam), rel=1e-10)


def test_r2_is_what_least_squares_recovers_from_draws():
    """300,000 draws of an equicorrelated Gaussian (one common factor): the sample R² of X_0 on
    X_1 … X_5 is within 4 of its standard errors (about 2 · R² (1 − R²) / √n) of R²(5; 0.3)."""
    rng = np.random.default_rng(15)
    k, lam, n = 5, 0.3, 300_000
    common = rng.standard_normal((n, 1))
    draws = math.sqrt(lam) * common + math.sqrt(1 - lam) * rng.standard_normal((n, k + 1))
    y, x = draws[:, 0], np.column_stack([np.ones(n), draws[:, 1:]])
    fitted = x @ np.linalg.lstsq(x, y, rcond=None)[0]
    sample = 1 - np.var(y - fitted) / np.var(y)
    want = float(inference_r2(k, lam))
    assert abs(sample - want) < 4 * 2 * want * (1 - want) / math.sqrt(n)


def test_r2_broadcasts_over_counts_and_holders():
    counts = np.array([[0, 1, 2], [3, 0, 1]])
    leakage = np.array([0.2, 0.5, 1.0])
    got = inference_r2(counts, leakage[None, :])
    want = [[inference_r2(c, lam) for c, lam in zip(row, leakage, strict=True)] for row in counts]
    np.testing.assert_array_equal(got, np.array(want, dtype=float))


# --- on markets --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(REGIMES))
def played(request) -> tuple[DataMarket, list[int]]:
    """Each regime for 14 months at 2,000 users, with the consent requests of every month."""
    market = DataMarket(regime=request.param, n_users=2_000, rng=7)
    requests = []
    for _ in range(14):
        market.step()
        requests.append(market.month.requests)
    return market, requests


def test_exposure_stays_in_the_unit_interval(played):
    market, _ = played
    e = market.exposure
    assert e.min() >= 0.0 and e.max() <= 1.0
    # Phase 4's exposure: platforms gain new members' data in phase 5, the others keep theirs.
    first = market.holders.platforms.stop
    holds = market.users.holds[:, first:]
    np.testing.assert_array_equal(e[:, first:][holds], 1.0)
    through_contacts = np.where(holds, 0.0, e[:, first:])
    assert np.all(through_contacts <= holder_leakage(market)[None, first:])


def test_unconsented_metrics_are_bounded_by_their_totals(played):
    market, _ = played
    metrics = market.metrics
    assert 0.0 <= metrics["mean_unconsented_exposure"] <= metrics["mean_exposure"]
    assert 0.0 <= metrics["unconsented_harm"] <= metrics["privacy_harm"]
    share = metrics["exposed_without_consent_share"]
    assert share == pytest.approx(float((unconsented_exposure(market) > 0.05).mean()), abs=0)


def test_exceedance_curve(played):
    market, _ = played
    exposure = unconsented_exposure(market)
    thresholds = np.linspace(0.0, 1.0, 101)
    curve = unconsented_exceedance(market, thresholds)
    assert curve.shape == thresholds.shape
    assert np.all(np.diff(curve) <= 0)
    assert curve[-1] == 0.0  # nobody's exposure exceeds 1
    assert unconsented_exceedance(market, -1e-9) == float((exposure > -1e-9).mean()) == 1.0
    for t in (0.0, 0.05, 0.2, 0.5):
        assert unconsented_exceedance(market, t) == float((exposure > t).mean())
    at_threshold = unconsented_exceedance(market, market.p.exposure_threshold)
    assert at_threshold == market.metrics["exposed_without_consent_share"]


def test_consent_rate_is_missing_exactly_in_months_without_requests(played):
    market, requests = played
    rates = market.datacollector.get_model_vars_dataframe()["consent_rate"].to_numpy()
    asked = np.array(requests) > 0
    assert np.all(np.isnan(rates[~asked]))
    assert np.all((rates[asked] >= 0) & (rates[asked] <= 1))
    regime = market.regime
    if regime.consent_standard == "platform_terms" or not regime.third_party_access:
        assert not asked.any(), regime  # nobody asks under platform_control or a ban
        assert np.isnan(rates).all()
    elif regime.consent_standard == "click_through" and not regime.recipient_liability:
        assert asked.all(), (regime, requests)  # someone is asked every month


# --- directions, at 3,000 users × 36 months ------------------------------------------------

N_USERS = 3_000
MONTHS = 36
WINDOW = 12
REPS = 5
SEEDS = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(20_260_115).spawn(REPS)]
CONDITIONS: dict[str, tuple[str, dict[str, float]]] = {
    **{regime: (regime, {}) for regime in REGIMES},
    "leakage=0.1": ("informed_consent", {"leakage": 0.1}),
    "leakage=0.6": ("informed_consent", {"leakage": 0.6}),
    "degree=5": ("informed_consent", {"mean_degree": 5.0}),
    "degree=30": ("informed_consent", {"mean_degree": 30.0}),
}
MEASURED = ("mean_unconsented_exposure", "exposed_without_consent_share", "unconsented_harm")


def _run(job: tuple[str, int]) -> dict[str, float]:
    name, seed = job
    regime, params = CONDITIONS[name]
    market = DataMarket(regime=regime, n_users=N_USERS, rng=seed, **params)
    market.run_for(MONTHS)
    tail = market.datacollector.get_model_vars_dataframe().tail(WINDOW)
    return {key: float(tail[key].mean()) for key in MEASURED}


class Interval:
    """Mean over replications and its 95% t-interval."""

    def __init__(self, values) -> None:
        self.values = np.asarray(values, dtype=float)
        self.mean = float(self.values.mean())
        sd = self.values.std(ddof=1)
        half = stats.t.ppf(0.975, self.values.size - 1) * sd / math.sqrt(self.values.size)
        self.low, self.high = self.mean - half, self.mean + half

    def __repr__(self) -> str:
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}] from {self.values.round(4)}"


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, int], dict[str, float]]:
    keys = [(name, r) for name in CONDITIONS for r in range(REPS)]
    with worker_pool(min(2, os.cpu_count() or 1)) as pool:
        outputs = list(pool.map(_run, [(name, SEEDS[r]) for name, r in keys]))
    return dict(zip(keys, outputs, strict=True))


def _values(runs, condition: str, key: str) -> np.ndarray:
    return np.array([runs[condition, r][key] for r in range(REPS)])


def _rise(runs, low: str, high: str, key: str) -> Interval:
    return Interval(_values(runs, high, key) - _values(runs, low, key))


@pytest.mark.slow
@pytest.mark.parametrize("key", ["mean_unconsented_exposure", "exposed_without_consent_share"])
def test_unconsented_exposure_rises_with_leakage(runs, key):
    rise = _rise(runs, "leakage=0.1", "leakage=0.6", key)
    assert rise.low > 0, (key, rise)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["mean_unconsented_exposure", "exposed_without_consent_share"])
def test_unconsented_exposure_rises_with_mean_degree(runs, key):
    rise = _rise(runs, "degree=5", "degree=30", key)
    assert rise.low > 0, (key, rise)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="saturated at λ = 0.3, threshold 0.05: one contact's data gives R²(1; 0.3) = 0.09 "
    "> 0.05; five regimes at 0.995-1.000 (numbers in the module docstring)",
)
def test_exposed_without_consent_share_is_not_saturated_under_any_regime(runs):
    shares = {r: Interval(_values(runs, r, "exposed_without_consent_share")) for r in REGIMES}
    saturated = {r: share for r, share in shares.items() if not share.high < 0.99}
    assert not saturated, saturated
