"""Tests of `model.retention`: the age of holdings, retention and erasure (MODEL.md §10, §11).

Checks:

* on a hand-made population of four users: a record's age is the months since its last refresh,
  a live flow resets it and a record no flow feeds keeps ageing; the compiled passes equal
  plain numpy expressions of their rules on random populations;
* value decays with age as (1 − δ)^a, while the exposure of a held record stays 1: in a run,
  every user whose device maker holds her data gets x = v0 · (1 − δ)^a, and is exposed to it
  fully whatever its age; the makers' data stocks are the decayed sums;
* `retention_months = 3`: no record a broker bought is held when older than 3 months (without
  the limit, older ones are), while a live licence's record stays for as long as it flows;
* erasure on leaving: under informed consent a user who replaced her device by another maker's
  is no longer held by her old maker the next month; under click-through she still is;
* erasure on request lowers broker reach (informed consent with legal broker trade, against the
  same regime without the erasure right, paired seeds), and does not reach brokers holding data
  where broker trade is illegal;
* a regime switch changes retention from the month it takes effect;
* the levers' checks, their presets, and experiment files that set them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.config import ConfigError, load_experiment
from model import DataMarket, get_regime
from model.regimes import REGIMES, RETENTION_MONTHS
from model.retention import (
    MONTHS,
    expire,
    holding_ages,
    refresh_device_data,
    refresh_where,
    retention_limit,
    stamp,
    tally,
    value_share,
    value_table,
)

# --- a hand-made population: one platform, two makers, one broker, the trust's column --------
#
# columns: 0 platform, 1 maker 0, 2 maker 1, 3 broker, 4 trust
P, M0, M1, B, T = 0, 1, 2, 3, 4
MAKER_START, BROKER_START, BROKER_STOP = 1, 3, 4


def _hand_population():
    holds = np.zeros((4, 5), dtype=bool)
    refreshed = np.zeros((4, 5), dtype=np.uint16)
    # user 0: a member, on maker 0's device, licensed each month (refreshed last month);
    # user 1: a member on maker 1's device, whose licence ended at month 2; a broker bought her
    #         record at month 1;
    # user 2: left the platform at month 3, on maker 0's device, no maker record;
    # user 3: a member on maker 1's device; maker 0 still holds her data from month 1.
    holds[0, [P, M0]] = True
    refreshed[0, [P, M0]] = 4
    holds[1, [P, M1, B]] = True
    refreshed[1, [P, M1, B]] = [4, 2, 1]
    holds[2, P] = True
    refreshed[2, P] = 3
    holds[3, [P, M0]] = True
    refreshed[3, [P, M0]] = [4, 1]
    member = np.array([[True], [True], [False], [True]])
    device = np.array([0, 1, 0, 1], dtype=np.int32)
    return holds, refreshed, member, device


def _expire(
    holds, refreshed, member, device, month, limit, erase=False, asks=None, legal=True, live=None
):
    n = holds.shape[0]
    return expire(
        holds,
        refreshed,
        member,
        np.zeros(n, dtype=bool),
        device,
        np.zeros_like(holds),
        np.full(n, -1, dtype=np.int32),
        np.zeros(n, dtype=bool) if asks is None else asks,
        np.zeros(n, dtype=bool) if live is None else live,
        MAKER_START,
        BROKER_START,
        BROKER_STOP,
        -1,
        month,
        limit,
        erase,
        legal,
    )


def test_age_counts_months_since_the_last_refresh_and_a_live_flow_resets_it():
    """Month 5: the ages are 5 − refreshed; user 0's licence flows again (age 0), user 1's
    maker record, with no flow, is a month older than it was in month 4."""
    holds, refreshed, member, device = _hand_population()
    stock, held, age_total, records = tally(
        holds, refreshed, np.zeros(4, bool), MAKER_START, BROKER_START, -1, 4, np.ones(5)
    )
    # Month 4, makers' and brokers' records: user 0 M0 age 0, user 1 M1 age 2 and B age 3,
    # user 3 M0 age 3.
    assert (age_total, records) == (0 + 2 + 3 + 3, 4)
    assert held.tolist() == [2, 1]
    table = value_table(0.1, 5)
    quality = np.array([1.0, 0.0, 0.0, 0.0])  # only user 0 has a live flow in month 5
    record_value = np.ones((4, 2), dtype=np.float32)
    cols = MAKER_START + device
    x = refresh_device_data(
        holds, refreshed, record_value, member, device, cols, quality, 1, False, 5, table
    )
    assert refreshed[0, M0] == 5, "a live flow refreshes its record"
    assert refreshed[1, M1] == 2, "a record no flow feeds is not refreshed"
    stock, held, age_total, records = tally(
        holds, refreshed, np.zeros(4, bool), MAKER_START, BROKER_START, -1, 5, table
    )
    assert (age_total, records) == (0 + 3 + 4 + 4, 4), "each unfed record is a month older"
    # The platform's records of its members are refreshed by their use; the leaver's is not.
    assert refreshed[[0, 1, 3], P].tolist() == [5, 5, 5]
    assert refreshed[2, P] == 3
    np.testing.assert_allclose(x, [1.0, 0.9**3, 0.0, 0.0])
    # Maker 0 holds user 0 (fresh) and user 3 (age 4); maker 1 user 1 (age 3).
    np.testing.assert_allclose(stock, [1.0 + 0.9**4, 0.9**3])


def test_retention_deletes_only_what_is_older_than_the_limit():
    """Month 5, limit 3: user 1's broker record (age 4) and user 3's record at maker 0 (age 4)
    go; user 1's maker record (age 3) stays, so do live and younger records; a limit of 4
    keeps everything; unlimited (−1) too."""
    for limit, gone in ((3, {(1, B), (3, M0)}), (4, set()), (-1, set())):
        holds, refreshed, member, device = _hand_population()
        before = {tuple(ix) for ix in np.argwhere(holds)}
        _expire(holds, refreshed, member, device, 5, limit)
        after = {tuple(ix) for ix in np.argwhere(holds)}
        assert before - after == gone, f"limit {limit}"


def test_a_record_a_flow_feeds_this_month_is_kept_whatever_its_age():
    """User 3's record at maker 0 (age 4, limit 3) stays if a flow reaches maker 0 for her this
    month (she is back on its device): the flow refreshes it rather than losing it."""
    holds, refreshed, member, device = _hand_population()
    device[3] = 0
    _expire(holds, refreshed, member, device, 5, 3, live=np.array([1.0, 0, 0, 1.0]) > 0)
    assert holds[3, M0]
    assert not holds[1, B]


def test_an_unlawful_broker_keeps_its_records_whatever_their_age():
    """Where broker trade is illegal the broker is out of reach of the storage limit."""
    holds, refreshed, member, device = _hand_population()
    _expire(holds, refreshed, member, device, 5, 1, legal=False)
    assert holds[1, B]
    assert not holds[1, M1], "lawful holders keep to the limit"


def test_erasure_on_leaving_and_on_request():
    """With the erasure right, month 5, no retention limit: the platform user 2 left deletes
    her data, maker 0 deletes user 3's (she uses maker 1's device); a request by user 1
    reaches the lawful broker; without a request the broker keeps her record."""
    holds, refreshed, member, device = _hand_population()
    requests = _expire(holds, refreshed, member, device, 5, -1, erase=True)
    assert requests == 0
    assert not holds[2, P] and not holds[3, M0]
    assert holds[1, B] and holds[0, M0] and holds[1, M1] and holds[3, P]
    asks = np.array([False, True, False, False])
    assert _expire(holds, refreshed, member, device, 5, -1, erase=True, asks=asks) == 1
    assert not holds[1, B]
    # An unlawful broker is out of reach of a request.
    holds, refreshed, member, device = _hand_population()
    assert _expire(holds, refreshed, member, device, 5, -1, True, asks, legal=False) == 0
    assert holds[1, B]


def test_a_deleted_ported_record_clears_the_port():
    """A snapshot ported to maker 0 that erasure deletes is no longer the user's port."""
    holds, refreshed, member, device = _hand_population()
    ported_to = np.array([-1, -1, -1, 0], dtype=np.int32)  # user 3 ported to maker 0
    n = holds.shape[0]
    flags = (member, np.zeros(n, bool), device, np.zeros_like(holds), ported_to, np.zeros(n, bool))
    flags += (np.zeros(n, bool),)  # no live flow
    expire(holds, refreshed, *flags, MAKER_START, BROKER_START, BROKER_STOP, -1, 5, -1, True, True)
    assert ported_to.tolist() == [-1, -1, -1, -1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_passes_equal_numpy(seed):
    """`expire`, `refresh_device_data` and `tally` on random populations equal plain numpy
    expressions of their rules (2 platforms, 3 makers, 2 brokers, a trust)."""
    rng = np.random.default_rng(seed)
    n, n_p, n_m, n_b = 500, 2, 3, 2
    k = n_p + n_m + n_b + 1
    mk, bk, trust = n_p, n_p + n_m, k - 1
    month, limit = 30, 6
    holds = rng.random((n, k)) < 0.5
    refreshed = rng.integers(0, month + 1, (n, k)).astype(np.uint16)
    member = rng.random((n, n_p)) < 0.7
    trust_member = rng.random(n) < 0.3
    device = rng.integers(0, n_m, n).astype(np.int32)
    consented = rng.random((n, k)) < 0.3
    ported_to = np.where(rng.random(n) < 0.3, device, -1).astype(np.int32)
    asks = rng.random(n) < 0.2
    fed = rng.random(n) < 0.4  # a flow reaches her device maker this month
    for erase in (False, True):
        for legal in (False, True):
            h, r, pt = holds.copy(), refreshed.copy(), ported_to.copy()
            flags = (member, trust_member, device, consented, pt, asks, fed)
            expire(h, r, *flags, mk, bk, k - 1, trust, month, limit, erase, legal)
            old = holds & (holding_ages(refreshed, month) > limit)
            live = np.zeros_like(holds)
            live[:, :n_p] = member
            live[:, trust] = trust_member
            live[np.arange(n), mk + device] |= fed
            lawful = np.ones(k, dtype=bool)
            lawful[bk : k - 1] = legal
            drop = old & ~live & lawful
            if erase:
                drop[:, :n_p] |= holds[:, :n_p] & ~member
                others = np.arange(n_m)[None, :] != device[:, None]
                drop[:, mk:bk] |= holds[:, mk:bk] & others
                brokers = slice(bk, k - 1)
                drop[:, brokers] |= (
                    holds[:, brokers] & legal & asks[:, None] & ~consented[:, brokers]
                )
            np.testing.assert_array_equal(h, holds & ~drop)
            expect = (ported_to >= 0) & drop[np.arange(n), mk + np.maximum(ported_to, 0)]
            np.testing.assert_array_equal(pt, np.where(expect, -1, ported_to))
    # refresh_device_data
    table = value_table(0.1, month)
    record_value = rng.random((n, n_m)).astype(np.float32)
    quality = np.where(rng.random(n) < 0.5, rng.choice([1.0, 0.8, 0.4], n), 0.0)
    col = mk + device
    for minimise in (False, True):
        h, r, v = holds.copy(), refreshed.copy(), record_value.copy()
        x = refresh_device_data(h, r, v, member, device, col, quality, mk, minimise, month, table)
        rows = np.arange(n)
        held = holds[rows, col]
        age = holding_ages(refreshed[rows, col], month)
        old = np.where(held, record_value[rows, device] * 0.9**age, 0)
        live = quality > 0
        value = np.maximum(quality, old)
        np.testing.assert_allclose(x, np.where(live, value, 0.0 if minimise else old), rtol=1e-12)
        np.testing.assert_array_equal(r[rows, col], np.where(live, month, refreshed[rows, col]))
        # A platform's records of its members are refreshed: their use is a live flow.
        np.testing.assert_array_equal(r[:, :n_p], np.where(member, month, refreshed[:, :n_p]))
        np.testing.assert_allclose(v[rows, device], np.where(live, value, v[rows, device]))
        if minimise:  # each maker keeps only its device users' records it uses this month
            keep = live[:, None] & (np.arange(n_m)[None, :] == device[:, None])
            np.testing.assert_array_equal(h[:, mk:bk], keep)
        else:
            np.testing.assert_array_equal(h[rows, col], held | live)
    # tally
    r = refreshed.copy()
    stock, held, age_total, records = tally(holds, r, trust_member, mk, bk, trust, month, table)
    expect_r = refreshed.copy()
    expect_r[:, trust] = np.where(trust_member, month, refreshed[:, trust])
    np.testing.assert_array_equal(r, expect_r)
    ages = holding_ages(expect_r, month)
    np.testing.assert_allclose(stock, (holds[:, mk:bk] * 0.9 ** ages[:, mk:bk]).sum(axis=0))
    np.testing.assert_array_equal(held, holds[:, mk:bk].sum(axis=0))
    assert age_total == int((ages[:, mk:] * holds[:, mk:]).sum())
    assert records == int(holds[:, mk:].sum())


def test_ages_are_counted_modulo_two_to_the_sixteen():
    """`refreshed` keeps 16 bits: a record refreshed in month 65,530 is 10 months old in month
    65,540 (stamped 4), and a limit of 6 months deletes it, one of 12 does not."""
    month, then = MONTHS + 4, MONTHS - 6
    assert stamp(month) == 4 and stamp(then) == MONTHS - 6
    refreshed = np.full((1, 5), stamp(then), dtype=np.uint16)
    assert holding_ages(refreshed, month).tolist() == [[10] * 5]
    for limit, kept in ((6, False), (12, True)):
        holds = np.zeros((1, 5), dtype=bool)
        holds[0, B] = True
        member, device = np.zeros((1, 1), dtype=bool), np.zeros(1, dtype=np.int32)
        _expire(holds, refreshed.copy(), member, device, month, limit)
        assert holds[0, B] == kept, limit
    table = value_table(0.1, month)
    stock, _, age_total, records = tally(
        np.ones((1, 5), dtype=bool), refreshed.copy(), np.zeros(1, bool), 1, 3, -1, month, table
    )
    np.testing.assert_allclose(stock, [0.9**10, 0.9**10])
    assert (age_total, records) == (40, 4)
    fresh = refreshed.copy()
    refresh_where(fresh, B, np.array([True]), month)
    assert fresh[0, B] == 4 and fresh[0, M0] == MONTHS - 6


def test_value_share_and_limits():
    assert value_share(0, 0.1) == 1.0
    np.testing.assert_allclose(value_share(np.arange(4), 0.1), 0.9 ** np.arange(4))
    np.testing.assert_allclose(value_table(0.25, 3), [1, 0.75, 0.5625, 0.421875])
    assert retention_limit(math.inf) == -1 and retention_limit(12.0) == 12


# --- in a run ----------------------------------------------------------------------------------


def _ages(model: DataMarket) -> np.ndarray:
    return holding_ages(model.users.refreshed, model.steps)


def test_value_decays_with_age_while_exposure_does_not():
    """Every user whose device maker holds her data is personalised with x = v0 · (1 − δ)^a
    and exposed to that maker fully (e = 1), at any age; the makers' data stocks are the
    decayed sums and their held shares the plain counts."""
    model = DataMarket(n_users=3_000, rng=3, regime="click_through")
    seen_old = 0
    for _ in range(24):
        model.step()
        users, holders = model.users, model.holders
        device = model.month.flow_device  # her device when the month's data flowed
        col = holders.maker(0) + device
        rows = np.flatnonzero(users.holds[np.arange(users.n), col])
        age = _ages(model)[rows, col[rows]]
        seen_old += int((age >= 2).sum())
        expected = users.record_value[rows, device[rows]] * 0.9**age
        np.testing.assert_allclose(model.data_quality[rows], expected, rtol=1e-6)
        np.testing.assert_array_equal(model.exposure[rows, col[rows]], 1.0)
        maker_cols = users.holds[:, holders.makers]
        maker_ages = _ages(model)[:, holders.makers]
        stock = (maker_cols * 0.9**maker_ages).sum(axis=0) / users.n
        np.testing.assert_allclose([m.data_share for m in model.makers], stock, rtol=1e-12)
        held = maker_cols.sum(axis=0) / users.n
        np.testing.assert_allclose([m.held_share for m in model.makers], held, rtol=1e-12)
    assert seen_old > 100, "the run has records two months old or more"


def _broker_ages(model: DataMarket) -> np.ndarray:
    brokers = model.holders.brokers
    return _ages(model)[:, brokers][model.users.holds[:, brokers]]


def test_retention_ends_bought_records_but_not_a_live_licence():
    """With `retention_months` = 3 no broker record is held at an age above 3, while, in the
    same regime without a limit, brokers hold older ones; a user licensed month after month
    keeps her device maker's record, refreshed (age 0), for longer than the limit."""
    limited = get_regime("click_through").replace(retention_months=3)
    oldest = {}
    for name, regime in (("limited", limited), ("unlimited", "click_through")):
        model = DataMarket("baseline", n_users=2_000, rng=5, regime=regime)
        streak = np.zeros(model.users.n, dtype=np.int64)  # months licensed in a row
        oldest[name] = 0
        longest = 0
        for _ in range(18):
            model.step()
            ages = _broker_ages(model)
            oldest[name] = max(oldest[name], int(ages.max()) if ages.size else 0)
            licensed = model.month.licensed_users
            streak = np.where(licensed, streak + 1, 0)
            rows = np.flatnonzero(licensed)
            col = model.holders.maker(0) + model.month.flow_device[rows]
            assert model.users.holds[rows, col].all(), f"{name}: a live licence lost its record"
            assert (_ages(model)[rows, col] == 0).all(), f"{name}: a live record not refreshed"
            longest = max(longest, int(streak.max()))
        assert longest > 3 + 1, f"{name}: no licence outlived the limit ({longest} months)"
    assert oldest["limited"] <= 3
    assert oldest["unlimited"] > 3


def test_erasure_on_leaving_a_maker():
    """A user who replaced her device by another maker's: under informed consent her old maker
    no longer holds her data the next month; under click-through it still does."""
    for regime, erased in (("informed_consent", True), ("click_through", False)):
        model = DataMarket(n_users=3_000, rng=11, regime=regime)
        switchers = 0
        for _ in range(24):
            model.step()
            users, holders = model.users, model.holders
            old = model.month.flow_device  # the device when the month's data flowed
            moved = np.flatnonzero(old != users.device)
            old_col = holders.maker(0) + old[moved]
            held = moved[users.holds[moved, old_col]]
            model.step()
            still = model.users.holds[held, holders.maker(0) + old[held]]
            switchers += held.size
            if erased:
                assert not still.any(), f"{regime}: an old maker kept a leaver's data"
            else:
                assert still.all(), f"{regime}: an old maker deleted a leaver's data"
        assert switchers > 20, f"{regime}: users who left a maker holding their data"


def _mean_broker_reach(regime, seed: int, **params) -> float:
    model = DataMarket(n_users=3_000, rng=seed, regime=regime, **params)
    reach = []
    for _ in range(36):
        model.step()
        if model.steps > 12:
            reach.append(model.metrics["broker_reach_share"])
    return float(np.mean(reach))


def test_erasure_on_request_lowers_broker_reach():
    """Informed consent with legal broker trade: with the erasure right brokers reach fewer
    users (months 13–36) than without it, seed by seed (a strong uptake, to see the mechanism,
    not its size at the default)."""
    legal = get_regime("informed_consent").replace(broker_trade_legal=True)
    without = legal.replace(erasure_right=False)
    for seed in (1, 2, 3):
        with_right = _mean_broker_reach(legal, seed, erasure_uptake=0.5)
        without_right = _mean_broker_reach(without, seed, erasure_uptake=0.5)
        assert with_right < without_right, (seed, with_right, without_right)


def test_requests_alone_lower_broker_reach():
    """The same regime, with the erasure right: requests (a strong uptake) against none; the
    comparison above also carries erasure on leaving (makers that delete leavers' data have
    fewer records to sell)."""
    legal = get_regime("informed_consent").replace(broker_trade_legal=True)
    for seed in (1, 2, 3):
        asking = _mean_broker_reach(legal, seed, erasure_uptake=0.5)
        silent = _mean_broker_reach(legal, seed, erasure_uptake=0.0)
        assert asking < silent, (seed, asking, silent)


def test_erasure_requests_do_not_reach_unlawful_brokers():
    """Informed consent, where broker trade is illegal, without fines, penalties or audits (so
    that sellers do trade): no request deletes a broker's record, even when every user asks."""
    unfined = get_regime("informed_consent").replace(
        fine_rate=0.0, record_penalty=0.0, audit_probability=0.0
    )
    model = DataMarket(n_users=2_000, rng=4, regime=unfined, erasure_uptake=1.0)
    reach = 0
    for _ in range(24):
        held_before = model.users.holds[:, model.holders.brokers].copy()
        model.step()
        assert model.month.erasure_requests == 0
        assert model.users.holds[:, model.holders.brokers][held_before].all()
        reach = max(reach, model.metrics["broker_reach_share"])
    assert reach > 0, "brokers bought records unlawfully"


@pytest.mark.parametrize("by", ["schedule", "set_regime"])
def test_a_regime_switch_changes_retention_from_the_month_it_takes_effect(by):
    """Click-through without a limit for five months, then with a limit of 2 months: broker
    records older than 2 months exist at the end of month 5 and none from month 6 on."""
    limited = get_regime("click_through").replace(name="limited", retention_months=2)
    schedule = {6: limited} if by == "schedule" else {}
    model = DataMarket(n_users=2_000, rng=9, regime="click_through", regime_schedule=schedule)
    model.run_for(5)
    assert _broker_ages(model).max() > 2
    if by == "set_regime":
        model.set_regime(limited)
    for _ in range(4):
        model.step()
        assert _broker_ages(model).max() <= 2, f"month {model.steps}"


# --- the levers ---------------------------------------------------------------------------------


def test_lever_presets():
    """Unlimited retention and no erasure where firms own the data or users click through; a
    finite period and the erasure right in the PIPL/GDPR-style presets."""
    for name in ("platform_control", "click_through", "recipient_liability"):
        assert REGIMES[name].retention_months == math.inf
        assert not REGIMES[name].erasure_right
    for name in ("informed_consent", "portability", "data_trust", "ban"):
        assert REGIMES[name].retention_months == RETENTION_MONTHS
        assert REGIMES[name].erasure_right


@pytest.mark.parametrize("value", [0, 0.5, 2.5, -1, math.nan, True, "12"])
def test_retention_months_refuses_what_is_not_a_whole_number_of_months(value):
    with pytest.raises(ValueError, match=r"retention_months.*whole number of months >= 1"):
        get_regime("click_through").replace(retention_months=value)


def test_retention_months_accepts_whole_numbers_and_inf():
    for value in (1, 12, 36.0, math.inf):
        assert get_regime("click_through").replace(retention_months=value).retention_months == value


def test_erasure_right_must_be_a_boolean():
    with pytest.raises(ValueError, match=r"erasure_right.*true or false"):
        get_regime("click_through").replace(erasure_right="yes")


def test_experiment_files_accept_the_new_levers(tmp_path):
    path = tmp_path / "experiment.toml"
    path.write_text(
        '[experiment]\nname = "small"\nsteps = 12\nreplications = 1\nseed = 1\n\n'
        '[[policies]]\nname = "short"\nregime = "click_through"\n'
        "levers = { retention_months = 6, erasure_right = true }\n\n"
        '[[policies]]\nname = "forever"\nregime = "informed_consent"\n'
        "levers = { retention_months = inf }\n",
        encoding="utf-8",
    )
    short, forever = (policy.to_regime() for policy in load_experiment(path).policies)
    assert short.retention_months == 6.0 and short.erasure_right
    assert forever.retention_months == math.inf and forever.erasure_right


def test_experiment_files_refuse_a_bad_retention(tmp_path):
    path = tmp_path / "experiment.toml"
    path.write_text(
        '[experiment]\nname = "small"\nsteps = 12\nreplications = 1\nseed = 1\n\n'
        '[[policies]]\nregime = "click_through"\nlevers = { retention_months = 2.5 }\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "policies[0].levers.retention_months" in message
    assert "whole number of months >= 1" in message
