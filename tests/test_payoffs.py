"""Tests of phase 7's compiled pass (`model.payoffs`): it gives, bit for bit, what the plain
numpy it replaced gives.

Checks:

* `_pairwise_row` equals ``np.sum`` of a 1-D array and of a row along axis 1, for every length
  from 0 to 128, negative zeros included;
* `_settle_users` equals the plain expressions (utility, personalisation gain, bincounts with and
  without weights, column counts, per-platform engagement terms) on random inputs of several
  sizes, 1 to 12 platforms (both summation paths), blocked pairs, zero data quality;
* `_settle_users` gives the same on one thread (one block) as on three threads over many
  blocks, and over uneven blocks with empty ones among them;
* `_compensation` and `_add_where` equal their numpy expressions;
* the whole `settle` equals `plain_settle` (the code before, kept here) month by month in
  regimes that use every branch (licences, recipient liability, the trust): each user's
  utility, harm and gain, every firm's books, and the ledger, compared with ``==``.
"""

from __future__ import annotations

import numpy as np
import pytest

import model.market
from model import DataMarket, kernels
from model.flows import holder_misuse, privacy_harm
from model.payoffs import (
    PAIRWISE_BLOCK,
    USERS,
    _add_where,
    _compensation,
    _degradation_loss,
    _pairwise_row,
    _settle_users,
)


def _random_floats(rng: np.random.Generator, shape) -> np.ndarray:
    """Floats over many magnitudes and both signs, with some exact and negative zeros."""
    values = rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 7, shape)
    values[rng.random(shape) < 0.05] = 0.0
    values[rng.random(shape) < 0.05] = -0.0
    return values


@pytest.mark.parametrize("n", range(PAIRWISE_BLOCK + 1))
def test_pairwise_row_equals_numpy_sum(n):
    rng = np.random.default_rng(n)
    values = _random_floats(rng, n)
    got = 0.0 + _pairwise_row(values, n)
    assert np.array_equal(np.array(got), np.array(values.sum()))
    assert np.signbit(got) == np.signbit(values.sum())
    # The same row inside a 2-D array, summed along axis 1 (as `settle` sums per platform).
    rows = _random_floats(rng, (50, n))
    rows[0] = -0.0  # an all-negative-zero row sums to +0.0 in numpy
    expected = rows.sum(axis=1)
    got_rows = np.array([0.0 + _pairwise_row(np.ascontiguousarray(row), n) for row in rows])
    np.testing.assert_array_equal(got_rows, expected)
    assert (np.signbit(got_rows) == np.signbit(expected)).all()


def _plain_user_pass(inputs: dict) -> dict:
    """The numpy of `settle` before its compiled pass, on the kernel's inputs."""
    a = inputs
    device, member, data_quality = a["device"], a["member"], a["data_quality"]
    n_makers = a["maker_quality"].size
    degraded = a["blocked"][:, device].T
    platform_value = (
        member
        * (
            a["base"][None, :]
            + a["value"][:, None] * a["platform_quality"][None, :]
            + a["network_value"] * a["contact_share"]
            - a["degradation_cost"] * degraded
        )
    ).sum(axis=1)
    dev_quality = a["maker_quality"][device]
    gss = a["generic_share"]
    service = a["value"] * dev_quality * (gss + (1 - gss) * data_quality)
    utility = (
        platform_value
        + a["device_base_value"]
        + service
        - a["harm"]
        - a["breach_harm"]
        - a["reading_time_cost"] * a["reads"]
    )
    utility -= a["device_price"][device]  # each user pays her maker's price
    # Advertising is lost on a member whose maker holds her data (or uses it via the trust).
    n_platforms = member.shape[1]
    rival = (data_quality > 0) | a["holds"][np.arange(device.size), n_platforms + device]
    engaged = np.array(
        [
            member[:, p]
            * (1.0 - a["engagement_loss"] * degraded[:, p])
            * (1.0 - a["rivalry_loss"] * rival)
            for p in range(member.shape[1])
        ]
    ).reshape(member.shape[1], -1)
    return {
        "utility": utility,
        "personalisation_gain": (1 - gss) * a["value"] * dev_quality * data_quality,
        "device_users": np.bincount(device, minlength=n_makers),
        "personalised": np.bincount(
            device, weights=gss + (1 - gss) * data_quality, minlength=n_makers
        ),
        "held_by": a["holds"].sum(axis=0),
        "members": member.sum(axis=0),
        "engaged": engaged,
        "shared_by": np.array(
            [
                np.bincount(device[member[:, p] & a["licensed_users"]], minlength=n_makers)
                for p in range(member.shape[1])
            ]
        ).reshape(member.shape[1], n_makers),
        "trust_by_device": np.array(
            [(a["trust_member"] & (device == m)).sum() for m in range(n_makers)]
        ),
    }


def _random_inputs(rng: np.random.Generator, n: int, n_platforms: int) -> dict:
    n_makers, n_holders = 5, n_platforms + 8
    data_quality = rng.random(n)
    data_quality[rng.random(n) < 0.4] = 0.0
    generic = 0.37  # not a power of two: 1 − generic is inexact, products round
    return dict(
        device=rng.integers(0, n_makers, n).astype(np.int32),
        member=rng.random((n, n_platforms)) < 0.6,
        holds=rng.random((n, n_holders)) < 0.4,
        value=rng.lognormal(0.0, 1.0, n),
        # A column slice of a wider array, as phase 4 leaves it.
        contact_share=rng.random((n, n_platforms + 3))[:, 3:],
        data_quality=data_quality,
        harm=_random_floats(rng, n),
        breach_harm=np.where(rng.random(n) < 0.1, rng.random(n), 0.0),
        reads=rng.integers(0, 3, n).astype(float),
        licensed_users=rng.random(n) < 0.3,
        trust_member=rng.random(n) < 0.2,
        blocked=rng.random((n_platforms, n_makers)) < 0.3,
        base=_random_floats(rng, n_platforms),
        platform_quality=rng.random(n_platforms) + 0.5,
        maker_quality=rng.random(n_makers) + 0.5,
        network_value=6.0,
        degradation_cost=1.3,
        generic_share=generic,
        personal_share=1 - generic,
        device_base_value=10.0,
        reading_time_cost=0.05,
        device_price=4.5 + rng.random(n_makers),  # one price per maker
        engagement_loss=0.3,
        rivalry_loss=0.15,
    )


@pytest.mark.parametrize("n_platforms", [1, 2, 3, 7, 8, 9, 12])
@pytest.mark.parametrize("n", [1, 17, 1_000, 30_001])
def test_user_pass_equals_the_plain_expressions(n, n_platforms):
    inputs = _random_inputs(np.random.default_rng(n * 100 + n_platforms), n, n_platforms)
    names = (
        "utility",
        "personalisation_gain",
        "device_users",
        "personalised",
        "held_by",
        "members",
        "engaged",
        "shared_by",
        "trust_by_device",
    )
    got = dict(zip(names, _settle_users(**inputs), strict=True))
    expected = _plain_user_pass(inputs)
    for name in names:
        assert got[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
        assert (np.signbit(got[name]) == np.signbit(expected[name])).all(), name
    for p in range(n_platforms):  # numpy sums the engagement terms, pairwise, as before
        assert got["engaged"][p].sum() == expected["engaged"][p].sum()


@pytest.mark.parametrize("n_platforms", [2, 9])
def test_user_pass_is_the_same_on_any_threads_and_split(n_platforms, monkeypatch, restore_threads):
    n = 5_001
    inputs = _random_inputs(np.random.default_rng(n_platforms), n, n_platforms)
    kernels.set_threads(1)
    expected = _settle_users(**inputs)
    kernels.set_threads(3)
    monkeypatch.setattr(kernels, "MIN_BLOCK_WORK", 100)  # 12 blocks of 416-417 users
    many_blocks = _settle_users(**inputs)
    uneven = np.array([0, 0, 1, 1_000, 1_000, 4_999, n, n])
    split = _settle_users(**inputs, bounds=uneven)
    for got in (many_blocks, split):
        for a, b in zip(got, expected, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
            assert (np.signbit(a) == np.signbit(b)).all()


@pytest.mark.parametrize("n", [1, 999, 20_000])
def test_compensation_equals_numpy(n):
    rng = np.random.default_rng(n)
    theta = rng.lognormal(0.0, 1.0, n)
    exposure = rng.random((n, 10))
    columns = np.array([2, 3, 4, 5, 6, 7, 8], dtype=np.int64)
    misuse = rng.random(columns.size)
    breached = rng.random(columns.size) < 0.5
    utility = _random_floats(rng, n)
    expected_utility = utility.copy()
    expected = []
    for k, col in enumerate(columns):
        owed = theta * misuse[k] * exposure[:, col]
        if breached[k]:
            owed = owed + 2.5 * theta * exposure[:, col]
        expected_utility += owed
        expected.append(owed)
    owed = _compensation(theta, exposure, columns, misuse, breached, 2.5, utility)
    np.testing.assert_array_equal(owed, np.array(expected))
    np.testing.assert_array_equal(utility, expected_utility)
    for k in range(columns.size):
        assert owed[k].sum() == expected[k].sum()


def test_add_where_equals_numpy():
    rng = np.random.default_rng(3)
    values = _random_floats(rng, 5_000)
    flags = rng.random(5_000) < 0.5
    expected = values + np.where(flags, 0.37, 0.0)
    _add_where(values, flags, 0.37)
    np.testing.assert_array_equal(values, expected)
    assert (np.signbit(values) == np.signbit(expected)).all()


def _books(market: DataMarket) -> list:
    """Everything `settle` writes: per-user arrays, firms' accounts, the ledger."""
    month = market.month
    firms = [
        (
            firm.unique_id,
            firm.revenue,
            firm.costs,
            firm.profit,
            firm.market_share,
            firm.fees_paid,
            firm.fees_received,
            firm.purchases,
            firm.sales_received,
            firm.liability_paid,
            getattr(firm, "dividend", None),
            getattr(firm, "members", None),
        )
        for firm in market.firms
    ]
    ledger = sorted((str(key), value) for key, value in market.ledger.balance.items())
    arrays = [month.utility, month.harm, month.personalisation_gain]
    return [firms, ledger, market.ledger.entries, arrays]


@pytest.mark.parametrize(
    "params",
    [
        dict(regime="click_through", rng=1, generic_service_share=0.37),
        dict(regime="recipient_liability", rng=2, breach_base_hazard=0.3),
        dict(regime="data_trust", rng=3),
        dict(regime="portability", rng=4, n_platforms=9),
    ],
)
def test_settle_equals_the_plain_settle(monkeypatch, params):
    """Two identical markets, one settled by `settle`, the other by `plain_settle`: every
    month, the same users' figures and the same books, bit for bit."""
    compiled = DataMarket(n_users=3_000, **params)
    plain = DataMarket(n_users=3_000, **params)
    for _ in range(8):
        compiled.step()
        with monkeypatch.context() as patch:
            patch.setattr(model.market, "settle", plain_settle)
            plain.step()
        got, expected = _books(compiled), _books(plain)
        assert got[:3] == expected[:3]
        for a, b in zip(got[3], expected[3], strict=True):
            np.testing.assert_array_equal(a, b)
        assert compiled.metrics == plain.metrics or all(
            a == b or (a != a and b != b)
            for a, b in zip(compiled.metrics.values(), plain.metrics.values(), strict=True)
        )


# --- the reference: `settle` before its compiled pass ----------------------------------------


def plain_settle(model: DataMarket) -> None:
    """`settle` as it was written before its compiled pass: the reference (numpy only)."""
    p, regime, users, month, holders = (
        model.p,
        model.regime,
        model.users,
        model.month,
        model.holders,
    )
    n = users.n
    ledger = model.ledger
    data_quality = month.data_quality
    quality = np.array([maker.quality for maker in model.makers])
    dev_quality = quality[users.device]
    misuse = holder_misuse(model)
    compliance = regime.compliance_cost * n / p.market_size  # per data-sharing relationship
    full_quality = p.quality_base + p.quality_gain

    # Users: platforms, device service, harm, reading time.
    base = np.full(len(model.platforms), p.platform_base_value - p.platform_use_cost)
    base[0] += p.dominant_platform_advantage
    platform_quality = np.array([platform.quality for platform in model.platforms])
    degraded = model.blocked[:, users.device].T  # (N, P)
    member = users.member
    platform_value = (
        member
        * (
            base[None, :]
            + users.value[:, None] * platform_quality[None, :]
            + p.network_value * month.contact_share
            - p.degradation_cost * degraded
        )
    ).sum(axis=1)
    service = (
        users.value
        * dev_quality
        * (p.generic_service_share + (1 - p.generic_service_share) * data_quality)
    )
    harm = privacy_harm(users.harm_theta, model.exposure, misuse)
    month.harm = harm
    month.personalisation_gain = (
        (1 - p.generic_service_share) * users.value * dev_quality * data_quality
    )
    utility = (
        platform_value
        + p.device_base_value
        + service
        - harm
        - month.breach_harm
        - p.reading_time_cost * month.reads
    )

    # Makers pay users for their consent while it stands and their data flows to them.
    rows = np.arange(n)
    flowing = users.consented[rows, holders.maker(0) + users.device] & (data_quality > 0)
    paid = np.where(flowing, users.payment, 0.0)
    payments = np.bincount(users.device, weights=paid, minlength=len(model.makers))
    month.data_payments = float(payments.sum())
    month.paid_consents = int(flowing.sum())
    for m, maker in enumerate(model.makers):
        ledger.transfer(maker, USERS, float(payments[m]), "data payment")

    # Devices: users pay their maker; makers produce.
    device_users = np.bincount(users.device, minlength=len(model.makers))
    personalised = np.bincount(
        users.device,
        weights=p.generic_service_share + (1 - p.generic_service_share) * data_quality,
        minlength=len(model.makers),
    )
    # Each user pays her maker's price this month (set in phase 5).
    utility -= np.array([maker.price for maker in model.makers])[users.device]
    utility += paid  # `settle`'s order: the device price first, then the payment for consent
    held_by = users.holds.sum(axis=0)  # records each holder has, counted in one pass
    for m, maker in enumerate(model.makers):
        ledger.transfer(USERS, maker, maker.price * device_users[m], "device")
        maker.revenue += p.service_revenue_rate * maker.quality * personalised[m]
        held = held_by[holders.maker(m)]
        maker.costs += p.device_unit_cost * device_users[m] + p.security_maker * held
        maker.market_share = device_users[m] / n

    # Platforms: advertising, degraded apps, licence fees and liability.
    rival = (data_quality > 0) | users.holds[rows, holders.maker(0) + users.device]
    shares = member.sum(axis=0) / max(member.sum(), 1)
    engaged = np.zeros((len(model.platforms), n))
    for index, platform in enumerate(model.platforms):
        on = member[:, index]
        engagement = 1.0 - p.degradation_engagement_loss * degraded[:, index]
        engaged[index] = on * engagement * (1.0 - p.ad_rivalry_loss * rival)
        ads = p.ad_revenue_per_user * platform.quality / full_quality * engaged[index].sum()
        platform.revenue += ads
        platform.costs += p.security_platform * held_by[index]
        platform.market_share = float(shares[index])
        # Users of this platform reached through a licence, by their device's maker.
        shared_by = np.bincount(
            users.device[on & month.licensed_users], minlength=len(model.makers)
        )
        for m, maker in enumerate(model.makers):
            if not model.licensed[index, m]:
                continue
            shared = int(shared_by[m])
            platform.costs += p.licence_liability * shared
            month.licence_cost += p.licence_liability * shared
            ledger.transfer(maker, platform, model.fee[index, m] * shared, "access fee")
    relationships = (model.licensed | model.taking).sum(axis=0)
    if model.trust is not None:
        relationships = relationships + model.trust.licensed
    for m, maker in enumerate(model.makers):
        maker.costs += compliance * relationships[m]
    month.compliance_paid = float(compliance * relationships.sum())
    month.reading_cost = float(p.reading_time_cost * month.reads.sum())
    month.degradation_loss = _degradation_loss(model, engaged)

    # Recipient liability: every recipient of platform data (makers, brokers) compensates the
    # harm its holdings cause, breaches included.
    if regime.recipient_liability:
        recipients = [(holders.maker(m), maker) for m, maker in enumerate(model.makers)]
        recipients += [(holders.broker(k), broker) for k, broker in enumerate(model.brokers)]
        for col, firm in recipients:
            owed = users.harm_theta * misuse[col] * model.exposure[:, col]
            if month.breached[col]:
                owed = owed + p.breach_harm_multiplier * users.harm_theta * model.exposure[:, col]
            utility += owed
            ledger.transfer(firm, USERS, float(owed.sum()), "compensation")

    # Brokers resell what they know of each user, shared among the brokers holding her record.
    sharing = np.maximum(users.holds[:, holders.brokers].sum(axis=1), 1)
    for k, broker in enumerate(model.brokers):
        held = held_by[holders.broker(k)]
        broker.revenue += p.broker_resale_value * float(
            (model.exposure[:, holders.broker(k)] / sharing).sum()
        )
        broker.costs += p.security_broker * held
        broker.market_share = held / n

    # The trust collects fees for its members and pays them out as a dividend.
    if model.trust is not None:
        trust = model.trust
        members = users.trust_member
        trust.members = int(members.sum())
        for m, maker in enumerate(model.makers):
            if trust.licensed[m]:
                count = int((members & (users.device == m)).sum())
                ledger.transfer(maker, trust, trust.fee_per_member[m] * count, "trust fee")
        running = p.trust_running_cost * trust.members + p.security_trust * trust.members
        trust.costs += running
        month.trust_cost = running
        pot = max(trust.fees_received - trust.costs, 0.0)
        trust.dividend = pot / trust.members if trust.members else 0.0
        utility += np.where(members, trust.dividend, 0.0)
        ledger.transfer(trust, USERS, pot, "dividend")
        trust.market_share = trust.members / n

    month.utility = utility
    for firm in model.firms:
        firm.close_books()
