"""Prices for data (`model.prices`, MODEL.md §11): what a buyer pays for consent, what a broker
pays for a record, and that the market's payments reach the ledger.

The payment tests follow the referee's list: the price falls with what leaks through contacts
even when leaked information is worth nothing to the buyer (its marginal value is held fixed);
it does not fall when harm ignores prior exposure; it is about zero under a bundled
click-through, where refusal costs the service.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from model import DataMarket
from model.prices import (
    Askers,
    best_payment,
    broker_price,
    exposure_bin,
    logistic_cdf,
    nonreader_acceptance,
    payment_schedule,
    seller_cost,
)

N = 4_000
NOISE = 2.166  # the calibrated consent_noise
SALIENCE = 0.076


def _askers(
    leak: float,
    *,
    read: float = 1.0,
    harm_ignores_exposure: bool = False,
    bundled_loss: float = 0.0,
    seed: int = 0,
) -> Askers:
    """Readers' perceived net gains before payment at a given leaked exposure, from lognormal
    values and privacy costs on the model's scales (CNY a month)."""
    rng = np.random.default_rng(seed)
    theta = 69.3 * np.exp(0.5 * rng.standard_normal(N))  # the calibrated θ
    gain = 0.5 * 16.8 * np.exp(0.5 * rng.standard_normal(N)) * 1.5
    increment = 1.0 if harm_ignores_exposure else 1.0 - leak
    net = gain + bundled_loss - 0.7 * theta * 0.4 * increment
    return Askers(np.full(N, read), net, np.zeros(N, dtype=np.int64))


def _price(askers: Askers, value: float, click: float = 0.734) -> float:
    return best_payment(askers, value, noise=NOISE, p_click=click, salience=SALIENCE)


def test_the_payment_falls_with_leaked_exposure_though_the_buyer_values_the_data_the_same():
    value = 20.0  # the buyer's marginal value does not depend on the leak
    prices = [_price(_askers(leak), value) for leak in (0.0, 0.1, 0.2, 0.3)]
    assert all(a > b for a, b in itertools.pairwise(prices)), prices
    assert prices[0] > 0


def test_no_fall_when_harm_ignores_prior_exposure():
    value = 20.0
    prices = [_price(_askers(leak, harm_ignores_exposure=True), value) for leak in (0.0, 0.3)]
    assert prices[0] == pytest.approx(prices[1], abs=1e-6)


def test_the_payment_is_about_zero_under_a_bundled_click_through():
    # Refusal costs the feature (L), non-readers click 90%: nearly everyone accepts for nothing.
    bundled = _askers(0.2, read=0.3, bundled_loss=8.4 * 10)
    assert _price(bundled, 40.0, click=0.962) < 0.5
    # The same buyer, where refusing costs nothing and everyone reads, pays a real price.
    unbundled = _askers(0.2, read=1.0)
    assert _price(unbundled, 40.0, click=0.734) > 2.0


def test_a_buyer_whose_data_is_worth_nothing_pays_nothing():
    assert _price(_askers(0.0), 0.0) == 0.0
    assert _price(_askers(0.0), -3.0) == 0.0


def test_best_payment_maximises_expected_profit_on_a_fine_grid():
    askers = _askers(0.1)
    value = 30.0
    chosen = _price(askers, value)
    grid = np.linspace(0, value, 3001)
    from model.prices import acceptance

    profit = acceptance(askers, grid, noise=NOISE, p_click=0.626, salience=SALIENCE).mean(axis=1)
    profit *= value - grid
    best = float(profit.max())
    at_choice = float(
        acceptance(askers, np.array([chosen]), noise=NOISE, p_click=0.626, salience=SALIENCE).mean()
        * (value - chosen)
    )
    assert at_choice >= best - 1e-3 * abs(best)


def test_nonreaders_respond_to_a_salient_payment_in_log_odds():
    p = nonreader_acceptance(0.94, 0.076, np.array([0.0, 15.0]))
    assert p[0] == pytest.approx(0.94)
    # Athey, Catalini & Tucker's 94% → 98% for a gift of about 15 CNY.
    assert p[1] == pytest.approx(0.98, abs=0.002)
    assert nonreader_acceptance(1.0, 0.076, np.array([5.0]))[0] == 1.0


def test_logistic_cdf_is_the_logistic_distribution():
    x = np.array([-50.0, -1.0, 0.0, 2.0, 50.0])
    assert np.allclose(logistic_cdf(x), 1 / (1 + np.exp(-x)))


def test_exposure_bins_split_zero_to_lambda():
    bins = exposure_bin(np.array([0.0, 0.0374, 0.0376, 0.299, 0.3, 0.5]), 0.3, bins=8)
    assert bins.tolist() == [0, 0, 1, 7, 7, 7]
    assert exposure_bin(np.array([0.0, 0.2]), 0.0).tolist() == [0, 0]


def test_payment_schedule_prices_each_bin_on_its_own_askers():
    low = _askers(0.0)
    high = _askers(0.3, seed=1)
    both = Askers(
        np.concatenate([low.read_probability, high.read_probability]),
        np.concatenate([low.net_gain, high.net_gain]),
        np.concatenate([np.zeros(N, dtype=np.int64), np.full(N, 7)]),
    )
    schedule = payment_schedule(both, 20.0, noise=NOISE, p_click=0.626, salience=SALIENCE, sample=N)
    assert schedule[0] == pytest.approx(_price(low, 20.0), rel=0.05)
    assert schedule[7] == pytest.approx(_price(high, 20.0), rel=0.05)
    assert schedule[0] > schedule[7]
    assert np.all(schedule[1:7] == schedule[0])  # empty bins take the nearest bin below


def test_broker_price_is_what_the_record_adds_over_the_horizon():
    leaked = np.array([0.0, 0.25, 0.0, 0.25])
    others = np.array([0, 0, 1, 1])
    price = broker_price(
        leaked, others, resale=0.25, horizon=12, legal=True, audit_probability=0.1, penalty=20
    )
    expected = 12 * 0.25 * np.array([1.0, 0.75, 0.5, 0.25])
    assert np.allclose(price, expected)


def test_an_unlawful_trade_nets_out_confiscation_and_penalty_and_can_stop():
    leaked, others = np.array([0.0]), np.array([0])
    legal = broker_price(
        leaked, others, resale=0.25, horizon=12, legal=True, audit_probability=0.1, penalty=20
    )
    unlawful = broker_price(
        leaked, others, resale=0.25, horizon=12, legal=False, audit_probability=0.1, penalty=20
    )
    assert unlawful[0] == pytest.approx(legal[0] - 0.1 * (0.25 + 20))
    # The seller then expects to lose more than the broker pays: no sale.
    cost = seller_cost(unlawful, legal=False, audit_probability=0.1, penalty=20)
    assert cost[0] > unlawful[0]
    assert seller_cost(legal, legal=True, audit_probability=0.1, penalty=20)[0] == 0.0


# --- in the market ----------------------------------------------------------------------------


def test_payments_reach_users_and_the_ledger_balances():
    market = DataMarket(regime="informed_consent", n_users=2_000, rng=3)
    market.run_for(12)
    frame = market.datacollector.get_model_vars_dataframe()
    assert abs(market.ledger.imbalance()) < 1e-6
    paid = sum(maker.data_payments for maker in market.makers)
    consents = market.month.paid_consents
    price = frame["mean_data_price"].iloc[-1]
    if consents:
        assert price == pytest.approx(paid / consents)
    else:
        assert math.isnan(price)


def test_broker_sales_under_an_illegal_regime_are_fined_with_confiscation():
    # With the trade unlawful, the penalty per record and an audit every month, no seller sells.
    from model import get_regime

    strict = get_regime("informed_consent").replace(audit_probability=1.0, record_penalty=20.0)
    market = DataMarket(regime=strict, n_users=2_000, rng=5)
    market.run_for(6)
    frame = market.datacollector.get_model_vars_dataframe()
    assert frame["broker_reach_share"].max() == 0.0
    lax = get_regime("informed_consent").replace(audit_probability=0.0, record_penalty=0.0)
    market = DataMarket(regime=lax, n_users=2_000, rng=5)
    market.run_for(6)
    assert market.datacollector.get_model_vars_dataframe()["broker_reach_share"].iloc[-1] > 0


def test_the_compiled_sales_are_the_prices_decision_record_by_record():
    # `model.flows._sell_records` against `broker_price` and `seller_cost` in numpy.
    from model.flows import _sell_records

    rng = np.random.default_rng(9)
    n, seller, broker, first, last = 2_000, 0, 3, 2, 4
    holds = rng.random((n, 5)) < 0.4
    trust = rng.random(n) < 0.1
    exposure = np.where(holds, 1.0, rng.uniform(0, 0.3, (n, 5)))
    draws = rng.random(n)
    for legal, audit, penalty, liability in (
        (True, 0.0, 0.0, 0.0),
        (False, 0.1, 20.0, 0.0),
        (False, 0.02, 1.0, 0.5),
    ):
        others = holds[:, first:last].sum(axis=1) - holds[:, broker]
        price = broker_price(
            exposure[:, broker],
            others,
            resale=0.25,
            horizon=12,
            legal=legal,
            audit_probability=audit,
            penalty=penalty,
        )
        price = np.maximum(price - liability, 0.0) if liability else price
        cost = seller_cost(price, legal=legal, audit_probability=audit, penalty=penalty)
        offered = holds[:, seller] & ~holds[:, broker] & ~trust & (draws < 0.3)
        sells = offered & (price > 0) & (price > cost)
        after = holds.copy()
        refreshed = np.full((n, 5), 3, dtype=np.uint16)
        count, paid = _sell_records(
            after,
            refreshed,
            7,
            seller,
            broker,
            first,
            last,
            trust,
            exposure,
            draws,
            0.3,
            0.25,
            12.0,
            liability,
            audit,
            penalty,
        )
        assert count == sells.sum()
        assert paid == pytest.approx(price[sells].sum())
        assert np.array_equal(after[:, broker], holds[:, broker] | sells)
        # A record sold is fresh in the month of the sale; nothing else is restamped.
        assert (refreshed[sells, broker] == 7).all()
        assert (refreshed[~sells, broker] == 3).all()
        assert (np.delete(refreshed, broker, axis=1) == 3).all()
