"""Tests of the compiled passes of phases 2 and 5 (`model.markets`, `model.population`,
`model.negotiation`): each gives, bit for bit, what the plain numpy it replaced gives.

Checks, on random inputs of several sizes and 1 to 9 platforms:

* `kernels.column_counts` equals ``flags.sum(axis=0)``, and `update_quality`'s reach equals
  ``member.mean(axis=0)``;
* `_device_totals` equals ``np.bincount`` without and with weights;
* `_record_membership` equals ``holds[:, :P] |= member; consented[:, :P] = member``;
* `PlatformTerms.utility` equals the (N, P) numpy expression of `platform_utility`, and
  `device_utility` equals its numpy expression;
* `revise_platforms`, given the utility array or its `PlatformTerms`, leaves the memberships the
  plain numpy revision leaves, with the same random draws (and the generator in the same state);
* `users_per_pair` equals the per-pair masked sums of `pair_economics`, and `pair_economics`
  given the month's shared figures equals `pair_economics` working them out.
"""

from __future__ import annotations

import numpy as np
import pytest

from model import DataMarket
from model.kernels import column_counts
from model.markets import (
    _device_totals,
    _record_membership,
    device_utility,
    platform_terms,
    platform_utility,
    update_quality,
)
from model.negotiation import pair_economics, users_per_pair
from model.population import PlatformTerms, revise_platforms, service_quality

SIZES = [1, 7, 1_000, 25_003]


@pytest.mark.parametrize("k", [1, 2, 9, 14])
@pytest.mark.parametrize("n", SIZES)
def test_column_counts_equal_numpy(n, k):
    flags = np.random.default_rng(n + k).random((n, k)) < 0.4
    got = column_counts(flags)
    assert got.dtype == flags.sum(axis=0).dtype
    np.testing.assert_array_equal(got, flags.sum(axis=0))
    np.testing.assert_array_equal(got / n, flags.mean(axis=0))  # update_quality's reach


@pytest.mark.parametrize("n", SIZES)
def test_device_totals_equal_bincount(n):
    rng = np.random.default_rng(n)
    device = rng.integers(0, 5, n).astype(np.int32)
    weights = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 7, n)
    counts, sums = _device_totals(device, weights, 7)
    np.testing.assert_array_equal(counts, np.bincount(device, minlength=7))
    np.testing.assert_array_equal(sums, np.bincount(device, weights=weights, minlength=7))


@pytest.mark.parametrize("n_platforms", [1, 2, 5])
@pytest.mark.parametrize("n", SIZES)
def test_record_membership_equals_numpy(n, n_platforms):
    rng = np.random.default_rng(n * 10 + n_platforms)
    member = rng.random((n, n_platforms)) < 0.5
    holds = rng.random((n, n_platforms + 6)) < 0.5
    consented = rng.random((n, n_platforms + 6)) < 0.5
    expected_holds, expected_consented = holds.copy(), consented.copy()
    expected_holds[:, :n_platforms] |= member
    expected_consented[:, :n_platforms] = member
    _record_membership(holds, consented, member, 0)
    np.testing.assert_array_equal(holds, expected_holds)
    np.testing.assert_array_equal(consented, expected_consented)


class _Users:
    """The user columns the platform choice reads."""

    def __init__(self, rng: np.random.Generator, n: int, n_platforms: int) -> None:
        self.n = n
        self.value = rng.lognormal(0.0, 1.0, n)
        self.theta = rng.lognormal(0.0, 1.5, n)
        self.device = rng.integers(0, 5, n).astype(np.int32)
        self.member = rng.random((n, n_platforms)) < 0.6


def _terms(rng: np.random.Generator, n: int, n_platforms: int) -> PlatformTerms:
    return PlatformTerms(
        base=rng.standard_normal(n_platforms) * 3.0,
        quality=rng.random(n_platforms) + 0.5,
        network_value=6.3,
        contact_share=rng.random((n, n_platforms + 2))[:, 2:],  # a slice, as phase 4 leaves
        degradation_cost=1.3,
        blocked=rng.random((n_platforms, 5)) < 0.4,
        misuse=0.15,
    )


def _plain_utility(terms: PlatformTerms, users: _Users) -> np.ndarray:
    """`platform_utility` as numpy computed it before the compiled pass."""
    degraded = terms.blocked[:, users.device].T
    own_harm = users.theta * terms.misuse
    return (
        terms.base[None, :]
        + users.value[:, None] * terms.quality[None, :]
        + terms.network_value * terms.contact_share
        - terms.degradation_cost * degraded
        - own_harm[:, None]
    )


@pytest.mark.parametrize("n_platforms", [1, 2, 9])
@pytest.mark.parametrize("n", SIZES)
def test_platform_terms_utility_equals_numpy(n, n_platforms):
    rng = np.random.default_rng(n * 10 + n_platforms)
    users = _Users(rng, n, n_platforms)
    terms = _terms(rng, n, n_platforms)
    np.testing.assert_array_equal(terms.utility(users), _plain_utility(terms, users))


@pytest.mark.parametrize("given", ["array", "terms"])
@pytest.mark.parametrize("n_platforms", [1, 2, 9])
@pytest.mark.parametrize("n", SIZES)
def test_revise_platforms_equals_the_plain_revision(n, n_platforms, given):
    rng = np.random.default_rng(n * 10 + n_platforms)
    users = _Users(rng, n, n_platforms)
    terms = _terms(rng, n, n_platforms)
    utility = _plain_utility(terms, users)
    rate, noise = 0.3, 2.0
    # The plain revision, as written before the compiled pass.
    expected = users.member.copy()
    plain_rng = np.random.default_rng(7)
    revising = plain_rng.random(utility.shape) < rate
    taste = plain_rng.logistic(0.0, noise, utility.shape)
    expected[revising] = (utility + taste > 0)[revising]
    assert (expected != users.member).any() or n < 100  # the test revises something

    compiled_rng = np.random.default_rng(7)
    revise_platforms(
        compiled_rng,
        users,
        platform_utility=utility if given == "array" else terms,
        revision_rate=rate,
        noise=noise,
    )
    np.testing.assert_array_equal(users.member, expected)
    assert compiled_rng.random() == plain_rng.random()  # the same draws were taken


@pytest.fixture(scope="module")
def market() -> DataMarket:
    """A market a few months in, with blocked pairs, trust members and varied data quality."""
    market = DataMarket(regime="data_trust", n_users=4_000, rng=5, n_platforms=3)
    market.run_for(4)
    market.blocked[0, :3] = True
    market.blocked[2, 4] = True
    return market


def test_model_platform_utility_equals_numpy(market):
    p, users = market.p, market.users
    contact_share = market.month.contact_share
    base = np.full(len(market.platforms), p.platform_base_value - p.platform_use_cost)
    base[0] += p.dominant_platform_advantage
    quality = np.array([platform.quality for platform in market.platforms])
    degraded = market.blocked[:, users.device].T
    own_harm = users.theta * p.misuse_platform
    expected = (
        base[None, :]
        + users.value[:, None] * quality[None, :]
        + p.network_value * contact_share
        - p.degradation_cost * degraded
        - own_harm[:, None]
    )
    np.testing.assert_array_equal(platform_utility(market, contact_share), expected)
    terms = platform_terms(market, contact_share)
    np.testing.assert_array_equal(terms.utility(users), expected)


def test_device_utility_equals_numpy(market):
    p, users = market.p, market.users
    rows = np.flatnonzero(np.random.default_rng(1).random(users.n) < 0.2)
    quality = np.array([maker.quality for maker in market.makers])
    data_quality = market.month.data_quality
    counts = np.bincount(users.device, minlength=len(market.makers)).astype(float)
    personalised = np.bincount(users.device, weights=data_quality, minlength=len(market.makers))
    expected_share = personalised / np.maximum(counts, 1.0)
    # The privacy reputation weighs the records a maker holds, whatever their age: harm does
    # not decay with age (the value side, `data_share`, does).
    holding = np.array([maker.held_share for maker in market.makers])
    service = (
        users.value[rows, None]
        * quality[None, :]
        * (p.generic_service_share + (1 - p.generic_service_share) * expected_share[None, :])
    )
    degraded = users.member[rows].astype(float) @ market.blocked.astype(float)
    reputation = (
        p.privacy_reputation_weight * p.misuse_maker * users.theta[rows, None] * holding[None, :]
    )
    prices = np.array([maker.price for maker in market.makers])  # each maker's own price
    assert np.ptp(prices) > 0  # they differ, so a shared price would not pass
    expected = (
        p.device_base_value + service - prices[None, :] - p.degradation_cost * degraded - reputation
    )
    np.testing.assert_array_equal(device_utility(market, rows), expected)


def test_update_quality_reach_equals_the_mean(market):
    update_quality(market)
    p = market.p
    reach = market.users.member.mean(axis=0)
    for index, platform in enumerate(market.platforms):
        expected = float(
            service_quality(reach[index], p.quality_base, p.quality_gain, p.platform_data_scale)
        )
        assert platform.quality == expected


def test_users_per_pair_equals_the_masked_sums(market):
    users = market.users
    assert users.trust_member.any() and not users.trust_member.all()
    got = users_per_pair(market)
    for p in range(len(market.platforms)):
        for m in range(len(market.makers)):
            on_pair = users.member[:, p] & (users.device == m) & ~users.trust_member
            assert got[p, m] == on_pair.sum()


def test_pair_economics_with_shared_figures_equals_without():
    """negotiate's once-a-month figures give each pair the economics it works out alone."""
    # Little misuse, so that the liability leaves the maker a value (it is floored at 0).
    market = DataMarket(regime="recipient_liability", n_users=3_000, rng=6, misuse_maker=0.002)
    market.run_for(3)
    pair_users = users_per_pair(market)
    mean_theta = float(market.users.theta.mean())
    for p in range(len(market.platforms)):
        for m in range(len(market.makers)):
            alone = pair_economics(market, p, m)
            assert alone.maker_value > 0 and alone.users > 0
            assert pair_economics(market, p, m, pair_users, mean_theta) == alone
