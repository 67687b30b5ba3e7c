"""Tests of the makers' device prices (`model.markets`: `bertrand_prices`, `device_costs`,
`set_device_prices`; MODEL.md §10 "Prices", §11 "Device prices").

Checks:

* the first-order conditions hold at the computed prices: the mixed-logit one
  p − c̃ = s / (σ · mean P(1 − P)) for heterogeneous users, the simple one p − c̃ = 1 / (σ (1 − s))
  for identical users, and the closed form p = c + M / (σ (M − 1)) for M symmetric makers;
* a higher cost raises the maker's price and lowers its share; in a market, a higher access fee
  per shared user raises the maker's c̃ by the fee times its shared share, and its price;
* a fixed compliance cost does not reach c̃ or prices;
* `device_costs` equals its numpy expressions; the bounds (one maker, σ = 0) give the ceiling;
* `sensitivity_from_margin` inverts the first-order condition;
* in a running market: money is conserved with makers' own prices, users pay their maker's
  price, `mean_device_price` is the user-weighted mean of the prices, and each maker's price is
  in the firms' output;
* setting the removed `device_price` is refused, naming what replaces it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from model import DataMarket, MarketScenario
from model.markets import (
    PRICE_SAMPLE_USERS,
    bertrand_prices,
    device_costs,
    device_utility,
    logit_probabilities,
    price_sample,
    set_device_prices,
)
from model.negotiation import pair_economics
from model.parameters import sensitivity_from_margin


def _mixed_logit_markup(value: np.ndarray, prices: np.ndarray, sensitivity: float) -> np.ndarray:
    """s / (−∂s/∂p) at `prices`, from the users' own choice probabilities."""
    probs = logit_probabilities(value - prices[None, :], sensitivity)
    return probs.mean(axis=0) / (sensitivity * (probs * (1 - probs)).mean(axis=0))


# --- the pricing rule alone ------------------------------------------------------------------


@pytest.mark.parametrize("sensitivity", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mixed_logit_first_order_condition_holds(seed, sensitivity):
    rng = np.random.default_rng(seed)
    n_makers = 5
    # Users who differ a lot (the value spread is several times 1/σ), makers who differ too;
    # every device worth far more than its cost, so that the ceiling does not bind.
    value = 20 + rng.normal(0, 2, n_makers) + rng.normal(0, 1.5, (4_000, n_makers))
    cost = 3 + rng.random(n_makers)
    result = bertrand_prices(value, cost, sensitivity)
    assert result.converged
    assert (result.prices < value.mean(axis=0)).all()
    np.testing.assert_allclose(result.markups, result.prices - cost)
    np.testing.assert_allclose(
        result.markups, _mixed_logit_markup(value, result.prices, sensitivity), rtol=1e-9
    )
    # Heterogeneity matters here: the simple form at the same shares gives other markups.
    simple = 1 / (sensitivity * (1 - result.shares))
    assert np.abs(result.markups - simple).max() > 1e-3


@pytest.mark.parametrize("sensitivity", [0.5, 1.0, 2.0])
def test_identical_users_satisfy_the_simple_form(sensitivity):
    value = np.tile([11.0, 10.0, 10.5, 9.0], (3, 1))  # every user alike
    cost = np.array([3.0, 3.5, 3.2, 2.0])
    result = bertrand_prices(value, cost, sensitivity)
    assert result.converged
    np.testing.assert_allclose(result.markups, 1 / (sensitivity * (1 - result.shares)), rtol=1e-9)
    # The shares are the logit's at those prices.
    utility = sensitivity * (value[0] - result.prices)
    np.testing.assert_allclose(result.shares, np.exp(utility) / np.exp(utility).sum())


@pytest.mark.parametrize("n_makers", [2, 3, 5, 10])
@pytest.mark.parametrize("sensitivity", [0.25, 1.0, 4.0])
def test_symmetric_makers_and_identical_users_give_the_closed_form(n_makers, sensitivity):
    """p = c + M / (σ (M − 1)): the symmetric logit-Bertrand equilibrium."""
    cost = 4.0
    result = bertrand_prices(np.full((7, n_makers), 12.0), np.full(n_makers, cost), sensitivity)
    assert result.converged
    expected = cost + n_makers / (sensitivity * (n_makers - 1))
    np.testing.assert_allclose(result.prices, expected, rtol=1e-10)
    np.testing.assert_allclose(result.shares, 1 / n_makers)
    # The defaults' order of magnitude: σ = 1, a fifth of the market each, markup 1.25.
    if n_makers == 5 and sensitivity == 1.0:
        np.testing.assert_allclose(result.markups, 1.25)


def test_a_higher_cost_raises_the_price_and_lowers_the_share():
    rng = np.random.default_rng(4)
    value = 10 + rng.normal(0, 1, (2_000, 4))
    cost = np.array([3.0, 3.0, 3.0, 3.0])
    before = bertrand_prices(value, cost, 1.0)
    dearer = cost.copy()
    dearer[2] += 0.5  # e.g. a fee of 0.5 per user of its devices
    after = bertrand_prices(value, dearer, 1.0)
    assert after.prices[2] > before.prices[2]
    assert after.shares[2] < before.shares[2]
    # Partial pass-through: the price rises by less than the cost; the markup falls.
    assert after.prices[2] - before.prices[2] < 0.5
    assert after.markups[2] < before.markups[2]
    # Prices are strategic complements: the rivals' rise too, a little.
    others = [0, 1, 3]
    assert (after.prices[others] > before.prices[others]).all()


def test_one_maker_or_no_price_sensitivity_charges_the_ceiling():
    """No finite best response without an outside good: the price is the mean value."""
    value = np.array([[11.0], [13.0], [12.0]])
    lone = bertrand_prices(value, np.array([4.0]), 1.0)
    np.testing.assert_allclose(lone.prices, [12.0])
    np.testing.assert_allclose(lone.shares, [1.0])
    value = np.array([[11.0, 9.0], [13.0, 8.0]])
    blind = bertrand_prices(value, np.array([4.0, 10.0]), 0.0)
    np.testing.assert_allclose(blind.prices, [12.0, 10.0])  # at least c̃
    # Never below 0, even where c̃ is.
    cheap = bertrand_prices(np.full((2, 2), 10.0), np.array([-5.0, -5.0]), 1.0)
    np.testing.assert_allclose(cheap.prices, [0.0, 0.0])


def test_sensitivity_from_margin_inverts_the_first_order_condition():
    assert sensitivity_from_margin(1.25, 0.2) == pytest.approx(1.0)
    for n_makers, sensitivity in ((2, 0.3), (5, 1.0), (8, 2.5)):
        result = bertrand_prices(np.full((1, n_makers), 20.0), np.ones(n_makers), sensitivity)
        got = sensitivity_from_margin(float(result.markups[0]), float(result.shares[0]))
        assert got == pytest.approx(sensitivity, rel=1e-9)
    for markup, share in ((0.0, 0.2), (-1.0, 0.2), (1.0, 1.0), (1.0, -0.1)):
        with pytest.raises(ValueError):
            sensitivity_from_margin(markup, share)


def test_price_sample_is_everyone_or_an_even_spread():
    np.testing.assert_array_equal(price_sample(3_000), np.arange(3_000))
    sample = price_sample(1_000_003)
    assert PRICE_SAMPLE_USERS // 2 < sample.size <= PRICE_SAMPLE_USERS
    assert (np.diff(sample) == sample[1] - sample[0]).all()


# --- prices in a market ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def licensed_market() -> DataMarket:
    """Click-through, six months in: some pairs licensed at a fee."""
    market = DataMarket(regime="click_through", n_users=4_000, rng=3)
    market.run_for(6)
    assert (market.licensed & (market.fee > 0)).any()
    return market


def test_market_prices_satisfy_the_first_order_condition(licensed_market):
    market = licensed_market
    result = set_device_prices(market)  # at the state the month left (phase 5 priced before)
    assert result.converged
    prices = np.array([maker.price for maker in market.makers])
    cost = np.array([maker.effective_cost for maker in market.makers])
    value = device_utility(market, price_sample(market.users.n), np.zeros(prices.size))
    np.testing.assert_allclose(
        prices - cost, _mixed_logit_markup(value, prices, market.p.choice_sensitivity), rtol=1e-8
    )
    np.testing.assert_allclose([maker.markup for maker in market.makers], prices - cost, rtol=1e-12)
    assert len(set(prices)) > 1  # makers differ, and so do their prices


def test_device_costs_equal_numpy(licensed_market):
    market = licensed_market
    p, users, month = market.p, market.users, market.month
    costs = device_costs(market)
    for m, maker in enumerate(market.makers):
        mine = users.device == m
        count = max(mine.sum(), 1)
        fees = sum(
            market.fee[q, m] * (mine & users.member[:, q] & month.licensed_users).sum()
            for q in range(len(market.platforms))
            if market.licensed[q, m]
        )
        assert costs.access_fees[m] == pytest.approx(fees / count, rel=1e-12)
        held = (mine & users.holds[:, market.holders.maker(m)]).sum()
        assert costs.security[m] == pytest.approx(p.security_maker * held / count, rel=1e-12)
        personal = month.data_quality[mine].mean()
        gamma = p.generic_service_share
        service = p.service_revenue_rate * maker.quality * (gamma + (1 - gamma) * personal)
        assert costs.service_revenue[m] == pytest.approx(service, rel=1e-12)
    assert (costs.unit == p.device_unit_cost).all()
    assert (costs.trust_fees == 0).all() and (costs.consent_payments == 0).all()
    expected = (
        costs.unit
        + costs.access_fees
        + costs.trust_fees
        + costs.consent_payments
        + costs.security
        - costs.service_revenue
    )
    np.testing.assert_array_equal(costs.effective, expected)


def test_a_higher_access_fee_raises_that_makers_cost_and_price(licensed_market):
    market = licensed_market
    q, m = np.argwhere(market.licensed & (market.fee > 0))[0]
    users = market.users
    shared = (users.device == m) & users.member[:, q] & market.month.licensed_users
    share_shared = shared.sum() / (users.device == m).sum()
    assert share_shared > 0
    before_cost = device_costs(market).effective
    before = set_device_prices(market)
    saved = market.fee.copy()
    try:
        market.fee[q, m] += 1.0  # one CNY more per shared user
        after_cost = device_costs(market).effective
        after = set_device_prices(market)
    finally:
        market.fee[:] = saved
        set_device_prices(market)
    assert after_cost[m] - before_cost[m] == pytest.approx(share_shared, rel=1e-12)
    others = np.arange(len(market.makers)) != m
    np.testing.assert_array_equal(after_cost[others], before_cost[others])
    assert after.prices[m] > before.prices[m]
    assert after.shares[m] < before.shares[m]


def test_a_fixed_compliance_cost_does_not_reach_prices(licensed_market):
    market = licensed_market
    regime = market.regime
    cost = device_costs(market).effective
    before = set_device_prices(market)
    try:
        market.regime = dataclasses.replace(regime, compliance_cost=regime.compliance_cost + 500)
        dearer = device_costs(market).effective
        after = set_device_prices(market)
    finally:
        market.regime = regime
        set_device_prices(market)
    np.testing.assert_array_equal(dearer, cost)
    # The same equilibrium (the fixed point restarts from the last prices: within tolerance).
    np.testing.assert_allclose(after.prices, before.prices, rtol=0, atol=1e-9)


@pytest.mark.parametrize("regime", ["click_through", "informed_consent", "data_trust"])
def test_users_pay_their_makers_price_and_money_is_conserved(regime):
    market = DataMarket(regime=regime, n_users=3_000, rng=5)
    for _ in range(8):
        market.step()
        ledger = market.ledger
        gross = sum(abs(amount) for amount in ledger.balance.values())
        assert abs(ledger.imbalance()) <= 1e-9 * gross
        paid = {}
        for payer, payee, amount, what in ledger.entries:
            if what == "device":
                assert payer == "users"
                paid[payee] = paid.get(payee, 0.0) + amount
        counts = np.bincount(market.users.device, minlength=len(market.makers))
        for m, maker in enumerate(market.makers):
            assert paid.get(str(maker.unique_id), 0.0) == pytest.approx(maker.price * counts[m])
        # mean_device_price: the makers' prices weighted by their device users.
        shares = np.array([maker.market_share for maker in market.makers])
        prices = np.array([maker.price for maker in market.makers])
        assert market.metrics["mean_device_price"] == pytest.approx(prices @ shares, rel=1e-12)
        assert prices.min() <= market.metrics["mean_device_price"] <= prices.max()


def test_each_makers_price_is_in_the_firms_output():
    market = DataMarket(n_users=1_000, rng=2)
    market.run_for(3)
    agents = market.datacollector.get_agent_vars_dataframe().reset_index()
    makers = agents[agents["kind"] == "maker"]
    last = makers[makers["Step"] == makers["Step"].max()].set_index("AgentID")["price"]
    for maker in market.makers:
        assert last[maker.unique_id] == maker.price
    assert (makers["price"] > 0).all()
    others = agents[agents["kind"] != "maker"]
    assert others["price"].isna().all()


def test_setting_device_price_is_refused_naming_the_replacement():
    with pytest.raises(ValueError) as caught:
        DataMarket(n_users=100, device_price=5.0)
    message = str(caught.value)
    for word in ("device_price", "removed", "device_unit_cost", "choice_sensitivity"):
        assert word in message
    assert "unknown parameter" not in message
    # Also in a scenario built by hand (a Mesa Scenario keeps any keyword it is given).
    with pytest.raises(ValueError, match=r"device_price.*removed.*device_unit_cost"):
        DataMarket(MarketScenario(n_users=100, device_price=5.0))


def test_sales_loss_is_the_makers_own_margin(licensed_market):
    """A degraded app loses the maker the switchers' whole contribution, p_m − c̃_m."""
    market = licensed_market
    p = market.p
    switching = 1 - np.exp(-p.choice_sensitivity * p.degradation_cost)
    losses = []
    for m, maker in enumerate(market.makers):
        economics = pair_economics(market, 0, m)
        assert economics.sales_loss == pytest.approx(switching * maker.markup, rel=1e-12)
        losses.append(economics.sales_loss)
    assert len(set(losses)) > 1
