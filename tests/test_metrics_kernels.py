"""Tests of the compiled passes of `model.metrics`: each gives, bit for bit, what the plain numpy
expressions it replaces give.

Checks:

* `_user_pass` equals the metrics' numpy expressions (third-party mask, standing and informed
  consents, overall exposure, unconsented exposure and its count above the threshold,
  unconsented harm summed holder by holder, regretted consents through BLAS's matrix product,
  broker reach, platform memberships, devices, total harm) on random inputs of several sizes
  and holder layouts, with and without a trust, with and without breach harm;
* `_user_pass` gives the same on one thread (one block) as on three threads
  over many blocks, and over uneven blocks with empty ones among them;
* a regretted-consent comparison too close to call (harm equal to benefit, several terms) is
  left undecided, never guessed, and `compute_metrics` then falls back on the plain expression;
* `compute_metrics` equals `reference_metrics`, the plain numpy computation it replaced, on
  markets of several regimes (a trust among them) and holder layouts (no broker among them); the
  planner's metrics are tested in tests/test_planner.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from model import DataMarket, kernels, metrics
from model.flows import holder_misuse, overall_exposure
from model.kernels import any_per_row
from model.metrics import (
    _BROKER_REACH,
    _CONSENTING,
    _EXPOSED,
    _INFORMED,
    _REGRETTED,
    _STANDING,
    _TRUST_MEMBERS,
    _UNDECIDED,
    _bytes,
    _hhi,
    _user_pass,
    compute_metrics,
    third_party_mask,
)
from model.planner import month_planner_gap
from model.retention import holding_ages

# (platforms, makers, brokers)
LAYOUTS = [(2, 5, 2), (1, 1, 0), (3, 2, 4), (1, 4, 1)]


def random_users(
    rng: np.random.Generator, n: int, layout: tuple[int, int, int], trust: bool, breach: bool
) -> dict:
    """Inputs of `_user_pass` shaped like the model's: exposures with exact 0s and 1s, platform
    consents equal to memberships, informed consents among the consents."""
    n_platforms, n_makers, n_brokers = layout
    k = n_platforms + n_makers + n_brokers + 1
    e = rng.random((n, k))
    e[rng.random((n, k)) < 0.3] = 0.0
    e[rng.random((n, k)) < 0.1] = 1.0
    member = rng.random((n, n_platforms)) < 0.6
    consented = rng.random((n, k)) < 0.4
    consented[:, :n_platforms] = member
    misuse = np.concatenate(
        [
            np.full(n_platforms, 0.2),
            rng.choice([0.0, 0.35, 0.5], n_makers),
            np.full(n_brokers, 1.0),
            [0.3],
        ]
    )
    theta = np.exp(rng.standard_normal(n))
    gain = rng.random(n) * 2.0
    gain[::7] = 0.0
    harm = rng.random(n)
    breach_harm = np.where(rng.random(n) < 0.2, rng.random(n), 0.0) if breach else np.zeros(n)
    return dict(
        exposure=e,
        consented=consented,
        informed=consented & (rng.random((n, k)) < 0.5),
        holds=rng.random((n, k)) < 0.3,
        member=member,
        device=rng.integers(0, n_makers, n).astype(np.int32),
        trust_member=(rng.random(n) < 0.3) if trust else np.zeros(n, dtype=bool),
        theta=theta,
        misuse=misuse,
        gain=gain,
        has_trust=trust,
        dividend=0.37 if trust else 0.0,
        harm=harm,
        breach_harm=breach_harm,
        broker_start=n_platforms + n_makers,
        broker_stop=n_platforms + n_makers + n_brokers,
        n_makers=n_makers,
        threshold=0.05,
    )


def user_pass(u: dict) -> tuple[np.ndarray, ...]:
    """`_user_pass` on `random_users`' inputs, flags as bytes as `compute_metrics` passes them."""
    flags = ("consented", "informed", "holds", "member", "trust_member")
    return _user_pass(*(_bytes(v) if k in flags else v for k, v in u.items()))


def reference_unconsented(
    e: np.ndarray, unconsented: np.ndarray, theta: np.ndarray, misuse: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(unconsented exposure, unconsented harm) per user: 1 − Π (1 − e) over the user's
    unconsented third parties, and θ · Σ ρ e over them, added holder by holder from 0.0."""
    exposed = 1 - np.prod(np.where(unconsented, 1 - e, 1), axis=1)
    total = np.zeros(e.shape[0])
    for h in range(e.shape[1]):
        total = total + np.where(unconsented[:, h], e[:, h] * misuse[h], 0.0)
    return exposed, theta * total


def reference_regret(u: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(regretted, consenting, harm from consented third parties): the plain expressions."""
    n_platforms = u["member"].shape[1]
    third = np.ones(u["exposure"].shape, dtype=bool)
    third[:, :n_platforms] = ~u["member"]
    third_party_consent = u["consented"] & third
    consenting = any_per_row(third_party_consent)
    harm = u["theta"] * ((u["exposure"] * third_party_consent) @ u["misuse"])
    benefit = u["gain"]
    if u["has_trust"]:
        benefit = benefit + np.where(u["trust_member"], u["dividend"], 0.0)
    return consenting & (harm > benefit), consenting, harm


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n", [1, 9, 1_000, 30_000])
@pytest.mark.parametrize("trust", [False, True])
def test_user_pass_equals_the_numpy_expressions(layout, n, trust):
    rng = np.random.default_rng(n + 10 * sum(layout) + trust)
    u = random_users(rng, n, layout, trust, breach=n % 2 == 0)
    overall, total_harm, unconsented, unconsented_harm, counts, members, devices = user_pass(u)

    n_platforms = layout[0]
    e, consented = u["exposure"], u["consented"]
    third = np.ones(e.shape, dtype=bool)
    third[:, :n_platforms] = ~u["member"]
    third_party_consent = consented & third
    np.testing.assert_array_equal(overall, overall_exposure(e, third))
    np.testing.assert_array_equal(overall, 1 - np.prod(np.where(third, 1 - e, 1), axis=1))
    np.testing.assert_array_equal(total_harm, u["harm"] + u["breach_harm"])
    assert counts[_STANDING] == np.count_nonzero(third_party_consent)
    assert counts[_INFORMED] == np.count_nonzero(u["informed"] & third_party_consent)
    regretted, consenting, _ = reference_regret(u)
    assert counts[_CONSENTING] == np.count_nonzero(consenting)
    assert counts[_UNDECIDED] == 0
    assert counts[_REGRETTED] == np.count_nonzero(regretted)
    want_exposure, want_harm = reference_unconsented(e, third & ~consented, u["theta"], u["misuse"])
    np.testing.assert_array_equal(unconsented, want_exposure)
    np.testing.assert_array_equal(unconsented, overall_exposure(e, third & ~consented))
    np.testing.assert_array_equal(unconsented_harm, want_harm)
    assert counts[_EXPOSED] == np.count_nonzero(want_exposure > u["threshold"])
    if n >= 1_000:  # a real threshold: some users on each side of it
        assert 0 < counts[_EXPOSED] < n
    broker_columns = slice(u["broker_start"], u["broker_stop"])
    assert counts[_BROKER_REACH] == np.count_nonzero(any_per_row(u["holds"][:, broker_columns]))
    assert counts[_TRUST_MEMBERS] == np.count_nonzero(u["trust_member"])
    np.testing.assert_array_equal(members, u["member"].sum(axis=0))
    np.testing.assert_array_equal(devices, np.bincount(u["device"], minlength=layout[1]))


def uneven_blocks(n: int) -> np.ndarray:
    """Block bounds over n ≥ 2 rows: uneven blocks, empty ones among them."""
    return np.array([0, 0, 1, n // 3, n // 3, n - 1, n, n])


@pytest.mark.parametrize("trust", [False, True])
def test_user_pass_is_the_same_on_any_threads_and_split(trust, monkeypatch, restore_threads):
    u = random_users(np.random.default_rng(3), 5_001, (2, 5, 2), trust, breach=True)
    kernels.set_threads(1)
    expected = user_pass(u)
    kernels.set_threads(3)
    monkeypatch.setattr(kernels, "MIN_BLOCK_WORK", 100)  # 12 blocks of 416-417 users
    many_blocks = user_pass(u)
    split = user_pass(dict(u, bounds=uneven_blocks(5_001)))
    for got in (many_blocks, split):
        for a, b in zip(got, expected, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_user_pass_leaves_ties_undecided():
    """Harm equal to benefit: with several terms the order of summation could tip it, so the
    pass must not decide; with one term every order gives the same harm, so it decides."""
    rng = np.random.default_rng(5)
    u = random_users(rng, 20_000, (2, 5, 2), trust=False, breach=True)
    _, consenting, harm = reference_regret(u)
    third = np.ones(u["exposure"].shape, dtype=bool)
    third[:, :2] = ~u["member"]
    terms = np.count_nonzero(u["exposure"] * (u["consented"] & third) * u["misuse"], axis=1)
    several = np.flatnonzero(consenting & (terms >= 2))[:50]
    single = np.flatnonzero(consenting & (terms == 1))[:50]
    assert several.size == 50 and single.size == 50
    u["gain"][several] = harm[several]
    u["gain"][single] = harm[single]
    regretted, _, _ = reference_regret(u)
    counts = user_pass(u)[4]
    assert counts[_UNDECIDED] == several.size
    assert counts[_REGRETTED] == np.count_nonzero(regretted)  # ties are not regretted


# --- On markets --------------------------------------------------------------------------------

#: name → (DataMarket keywords, months played at least); a market with a trust plays on until
#: some flows go through it (the trust licenses makers after 20 to 40 months, `market`).
MARKETS = {
    "click_through": (dict(regime="click_through"), 6),
    # 1 − γ = 0.5 multiplies exactly, which would hide a change in the order of the benefit's
    # products: here it does not.
    "click_through_generic_0.3": (dict(regime="click_through", generic_service_share=0.3), 6),
    "data_trust": (dict(regime="data_trust"), 26),
    "portability_three_platforms": (
        dict(regime="portability", n_platforms=3, n_makers=2, n_brokers=4, maker_shares=()),
        6,
    ),
    "recipient_liability_one_maker": (
        dict(regime="recipient_liability", n_platforms=1, n_makers=1, n_brokers=0, maker_shares=()),
        6,
    ),
    "ban": (dict(regime="ban"), 6),
    "trust_no_broker": (dict(regime="data_trust", n_brokers=0), 24),
}


@pytest.fixture(scope="module", params=list(MARKETS))
def market(request) -> DataMarket:
    params, months = MARKETS[request.param]
    model = DataMarket(n_users=4_000, rng=31, **params)
    model.run_for(months)
    while model.trust is not None and model.steps < 60 and not _flows_via_trust(model):
        model.step()
    return model


def _flows_via_trust(model: DataMarket) -> bool:
    """Some member's device maker has a trust licence this month."""
    return bool((model.users.trust_member & model.trust.licensed[model.month.flow_device]).any())


def reference_metrics(model: DataMarket) -> dict[str, float]:
    """`compute_metrics` as plain numpy expressions (the code before the compiled passes)."""
    users, month, holders = model.users, model.month, model.holders
    n = users.n
    third = third_party_mask(model)
    e = model.exposure
    per_user = 1.0 / n
    platform_profit = sum(f.profit for f in model.platforms) * per_user
    maker_profit = sum(f.profit for f in model.makers) * per_user
    broker_profit = sum(f.profit for f in model.brokers) * per_user
    trust_profit = model.trust.profit * per_user if model.trust is not None else 0.0
    consumer_surplus = float(month.utility.mean())
    third_party_consent = users.consented & third
    standing = np.count_nonzero(third_party_consent)
    informed = np.count_nonzero(users.informed & third_party_consent)
    consenting = any_per_row(third_party_consent)
    consented_harm = users.harm_theta * ((e * third_party_consent) @ holder_misuse(model))
    benefit = month.personalisation_gain
    if model.trust is not None:
        benefit = benefit + np.where(users.trust_member, model.trust.dividend, 0.0)
    regretted = consenting & (consented_harm > benefit)
    unconsented, unconsented_harm = reference_unconsented(
        e, third & ~users.consented, users.harm_theta, holder_misuse(model)
    )
    licensed = model.licensed
    fees = model.fee[licensed]
    third_party_records = np.zeros_like(users.holds)  # makers', brokers' and the trust's
    third_party_records[:, holders.makers.start :] = users.holds[:, holders.makers.start :]
    return dict(
        consumer_surplus=consumer_surplus,
        privacy_harm=float((month.harm + month.breach_harm).mean()),
        platform_profit=platform_profit,
        maker_profit=maker_profit,
        broker_profit=broker_profit,
        total_welfare=consumer_surplus
        + platform_profit
        + maker_profit
        + broker_profit
        + trust_profit
        + month.fines * per_user,
        consent_rate=month.accepted / month.requests if month.requests else math.nan,
        informed_consent_share=informed / standing if standing else 0.0,
        regretted_consent_share=float(regretted.sum() / consenting.sum())
        if consenting.any()
        else 0.0,
        mean_exposure=float(overall_exposure(e, third).mean()),
        exposed_without_consent_share=float((unconsented > model.p.exposure_threshold).mean()),
        mean_unconsented_exposure=float(unconsented.mean()),
        unconsented_harm=float(unconsented_harm.mean()),
        broker_reach_share=float(any_per_row(users.holds[:, holders.brokers]).mean())
        if model.brokers
        else 0.0,
        breaches=float(month.breaches),
        licensed_pairs=float(licensed.sum()),
        blocked_pairs=float(model.blocked.sum()),
        taking_pairs=float(model.taking.sum()),
        open_disputes=float((model.dispute_filed >= 0).sum()),
        mean_access_fee=float(fees.mean()) if fees.size else 0.0,
        mean_data_price=month.data_payments / month.paid_consents
        if month.paid_consents
        else math.nan,
        # Each maker's price times its device users, summed over makers, per user.
        mean_device_price=float(
            np.array([maker.price for maker in model.makers])
            @ np.bincount(users.device, minlength=len(model.makers))
        )
        / n,
        device_hhi=_hhi(np.bincount(users.device, minlength=len(model.makers)).astype(float)),
        platform_hhi=_hhi(users.member.sum(axis=0).astype(float)),
        mean_ai_quality=float(np.mean([maker.quality for maker in model.makers])),
        port_share=month.ports / n,
        withdrawal_share=month.withdrawals / n,
        trust_member_share=float(users.trust_member.mean()),
        complaints_resolved=float(month.resolved),
        settlements=float(month.settlements),
        mean_holding_age=float(
            holding_ages(users.refreshed, model.steps)[third_party_records].mean()
        )
        if third_party_records.any()
        else 0.0,
    )


PLANNER_METRICS = (
    "oversharing_share",
    "undersharing_share",
    "welfare_gap",
    "oversharing_loss",
    "undersharing_loss",
    "externality_oversharing_loss",
    "conflict_loss",
    "transaction_loss",
)


def without_planner(metrics_of_month: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics_of_month.items() if k not in PLANNER_METRICS}


def same_metrics(got: dict[str, float], want: dict[str, float]) -> bool:
    """Equal, a NaN (a month without consent requests) equal to a NaN."""
    return got.keys() == want.keys() and all(
        got[k] == want[k] or (math.isnan(got[k]) and math.isnan(want[k])) for k in got
    )


def test_compute_metrics_equals_the_numpy_expressions(market):
    got = compute_metrics(market)
    assert same_metrics(without_planner(got), reference_metrics(market))
    # The planner's metrics are its own function's (warm-started from this month's d*).
    assert got["welfare_gap"] == pytest.approx(month_planner_gap(market).welfare_gap)


def test_compute_metrics_decides_ties_as_numpy_does(monkeypatch):
    """Benefits set to the very harm BLAS computes: the compiled pass cannot tell which side its
    own sum falls on, so the metric comes from the plain expression, and is the same."""
    model = DataMarket(n_users=4_000, rng=8, regime="data_trust")
    model.run_for(26)
    users = model.users
    third_party_consent = users.consented & third_party_mask(model)
    harm = users.harm_theta * ((model.exposure * third_party_consent) @ holder_misuse(model))
    several = np.count_nonzero(third_party_consent & (model.exposure > 0), axis=1) >= 2
    assert several.any()
    users.trust_member[several] = False  # benefit = personalisation gain, exactly
    model.month.personalisation_gain[several] = harm[several]
    calls = []
    plain = metrics.regretted_consents
    monkeypatch.setattr(metrics, "regretted_consents", lambda m: calls.append(m) or plain(m))
    assert same_metrics(without_planner(compute_metrics(model)), reference_metrics(model))
    assert len(calls) == 1
