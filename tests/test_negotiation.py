"""Tests of `model.negotiation.pair_outcome`: one platform–maker pair under given strategies.

Every case is a hand-built `PairEconomics` whose outcome is worked out by hand from MODEL.md §9
(Nash bargaining with the disagreement point "the maker takes where it may, the platform blocks
where it chose to and may"):

* no third-party access → no licence and no taking, whatever the strategies;
* maker strategy "none" → nothing flows;
* platform "open" → a licence at fee 0;
* `may_block` False → never blocked;
* a Nash licence by hand; the maker's taking threat lowering the fee; a taking threat that
  removes every deal (the pair ends up taking); blocking with taking, and blocking that hits
  nobody because the maker does not take; the fee cap; a pair in dispute (`at_table` False),
  where nobody bargains and the taker keeps taking.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from model.agents import BLOCK, LICENSE, NONE, OPEN, TAKE
from model.negotiation import PairEconomics, PairOutcome, pair_outcome

PLATFORM_STRATEGIES = (OPEN, LICENSE, BLOCK)
MAKER_STRATEGIES = (NONE, LICENSE, TAKE)

# 100 users on the pair, all consenting; per user: the maker values the data at 1, the platform
# loses 0.3 of ad revenue and bears 0.2 of liability when it licenses. Taken data is worth 0.8.
BASE = PairEconomics(
    users=100.0,
    licence_consent=1.0,
    take_consent=1.0,
    maker_value=1.0,
    platform_loss=0.3,
    licence_liability=0.2,
    take_quality=0.8,
    block_effectiveness=0.5,
    block_cost=0.2,
    sales_loss=0.1,
    fixed_cost=0.0,
    fee_cap=math.inf,
    power=0.5,
    access=True,
    may_take=True,
    may_block=True,
)


def _economics(**changes) -> PairEconomics:
    return dataclasses.replace(BASE, **changes)


def _all_strategies():
    return itertools.product(PLATFORM_STRATEGIES, MAKER_STRATEGIES)


@pytest.mark.parametrize(("platform", "maker"), list(_all_strategies()))
def test_no_access_means_no_licence_no_taking_no_block(platform, maker):
    """A ban: nothing flows under any strategy pair, and nobody degrades an app over nothing."""
    outcome = pair_outcome(_economics(access=False), platform, maker)
    assert outcome == PairOutcome(0.0, 0.0, False, 0.0, False, False)


@pytest.mark.parametrize("platform", [OPEN, LICENSE, BLOCK])
def test_maker_wanting_nothing_gets_nothing(platform):
    """Maker strategy "none": no licence even from an open platform, no taking, no block,
    zero payoffs."""
    outcome = pair_outcome(BASE, platform, NONE)
    assert outcome == PairOutcome(0.0, 0.0, False, 0.0, False, False)


@pytest.mark.parametrize("maker", [LICENSE, TAKE])
def test_open_platform_licenses_at_zero_fee(maker):
    """ "open": licensed at fee 0; the platform bears loss + liability on 100 shared users
    (−50), the maker gains 1 per user (+100)."""
    outcome = pair_outcome(BASE, OPEN, maker)
    assert outcome.licensed
    assert outcome.fee == 0.0
    assert not outcome.taking
    assert not outcome.blocked
    assert outcome.platform_payoff == pytest.approx(-50.0)
    assert outcome.maker_payoff == pytest.approx(100.0)


@pytest.mark.parametrize("at_table", [True, False])
@pytest.mark.parametrize(("platform", "maker"), list(_all_strategies()))
def test_platform_that_may_not_block_never_blocks(platform, maker, at_table):
    """`may_block` False: no strategy pair ends blocked, and a "block" stance is a "license"."""
    economics = _economics(may_block=False, take_quality=1.0)  # taking stops every deal here
    outcome = pair_outcome(economics, platform, maker, at_table=at_table)
    assert not outcome.blocked
    if platform == BLOCK:
        assert outcome == pair_outcome(economics, LICENSE, maker, at_table=at_table)


def test_licence_by_nash_bargaining_by_hand():
    """Both at the table, no threats: 90 users shared (consent 0.9), fixed cost 10.

    G_m = 1·90 − 10 = 80, C_p = (0.3 + 0.1)·90 = 36, d = 0: F* = 0.5·36 + 0.5·80 = 58,
    i.e. 58/90 per shared user; payoffs 58 − 36 = 22 and 80 − 58 = 22.
    """
    economics = _economics(licence_consent=0.9, licence_liability=0.1, fixed_cost=10.0)
    outcome = pair_outcome(economics, LICENSE, LICENSE)
    assert outcome.licensed
    assert not outcome.taking
    assert outcome.fee == pytest.approx(58 / 90)
    assert outcome.platform_payoff == pytest.approx(22.0)
    assert outcome.maker_payoff == pytest.approx(22.0)


def test_taking_threat_lowers_the_fee_by_hand():
    """No liability, taken data worth half: with the taking threat the maker's disagreement
    payoff is 1·0.5·100 = 50 and the platform's −0.3·0.5·100 = −15.

    floor = 30 − 15 = 15, ceiling = 100 − 50 = 50: F* = 32.5 (0.325 per user), against
    F* = 0.5·30 + 0.5·100 = 65 when the maker only wants a licence.
    """
    economics = _economics(licence_liability=0.0, take_quality=0.5)
    with_threat = pair_outcome(economics, LICENSE, TAKE)
    without = pair_outcome(economics, LICENSE, LICENSE)
    assert with_threat.licensed and without.licensed
    assert with_threat.fee == pytest.approx(0.325)
    assert without.fee == pytest.approx(0.65)
    assert with_threat.maker_payoff == pytest.approx(100 - 32.5)
    assert with_threat.platform_payoff == pytest.approx(32.5 - 30)


def test_taking_threat_removes_every_deal_by_hand():
    """Taking worth 0.8 of licensed data, liability 0.2 per shared user:

    d_m = 1·0.8·100 = 80, d_p = −0.3·0.8·100 = −24; floor = 50 − 24 = 26 > ceiling = 100 − 80
    = 20: no fee both accept. The maker takes: payoffs −24 (platform) and 80 (maker).
    """
    outcome = pair_outcome(BASE, LICENSE, TAKE)
    assert not outcome.licensed
    assert outcome.taking
    assert not outcome.blocked
    assert outcome.fee == 0.0
    assert outcome.platform_payoff == pytest.approx(-24.0)
    assert outcome.maker_payoff == pytest.approx(80.0)


def test_same_pair_licenses_when_the_maker_may_not_take():
    """The economics above without the taking option: floor 50, ceiling 100, F* = 75."""
    for economics, maker in ((BASE, LICENSE), (_economics(may_take=False), TAKE)):
        outcome = pair_outcome(economics, LICENSE, maker)
        assert outcome.licensed
        assert not outcome.taking
        assert outcome.fee == pytest.approx(0.75)
        assert outcome.platform_payoff == pytest.approx(25.0)
        assert outcome.maker_payoff == pytest.approx(25.0)


def test_blocking_against_taking_by_hand():
    """Block vs take: blocking halves the taken value (0.8 → 0.4) and costs both sides.

    d_m = 1·0.4·100 − 0.1·100 = 30; d_p = −0.2·100 − 0.3·0.4·100 = −32;
    floor = 50 − 32 = 18, ceiling = 100 − 30 = 70: F* = 44; payoffs 44 − 50 and 100 − 44.
    """
    outcome = pair_outcome(BASE, BLOCK, TAKE)
    assert outcome.licensed
    assert not outcome.blocked  # a deal ends the block
    assert outcome.fee == pytest.approx(0.44)
    assert outcome.platform_payoff == pytest.approx(-6.0)
    assert outcome.maker_payoff == pytest.approx(56.0)


def test_block_and_take_without_a_deal_by_hand():
    """Block vs take with liability 0.8: d_m = 40 − 10 = 30, d_p = −20 − 12 = −32;
    floor = (0.3 + 0.8)·100 − 32 = 78 > ceiling = 70: no deal. The platform degrades its app
    while the maker takes: payoffs −32 and 30."""
    outcome = pair_outcome(_economics(licence_liability=0.8), BLOCK, TAKE)
    assert not outcome.licensed
    assert outcome.taking
    assert outcome.blocked
    assert outcome.platform_payoff == pytest.approx(-32.0)
    assert outcome.maker_payoff == pytest.approx(30.0)


def test_blocking_a_maker_that_only_wants_a_licence_changes_nothing():
    """Blocking hits only a maker that takes: against "license" the bargain is the plain one
    (floor 50, ceiling 100, F* = 75), and a failed bargain leaves nobody blocked."""
    outcome = pair_outcome(BASE, BLOCK, LICENSE)
    assert outcome == pair_outcome(BASE, LICENSE, LICENSE)
    assert outcome.licensed
    assert outcome.fee == pytest.approx(0.75)
    failed = pair_outcome(_economics(fee_cap=0.4), BLOCK, LICENSE)
    assert failed == PairOutcome(0.0, 0.0, False, 0.0, False, False)


def test_in_a_dispute_there_is_no_bargain_and_the_taker_keeps_taking():
    """`at_table` False: taken data worth half (d_m = 50, d_p = −15) would give a licence at
    the table, but in a dispute the maker takes: payoffs −15 and 50."""
    economics = _economics(licence_liability=0.0, take_quality=0.5)
    outcome = pair_outcome(economics, LICENSE, TAKE, at_table=False)
    assert not outcome.licensed
    assert outcome.taking
    assert not outcome.blocked
    assert outcome.platform_payoff == pytest.approx(-15.0)
    assert outcome.maker_payoff == pytest.approx(50.0)


def test_in_a_dispute_the_taker_takes_even_at_a_loss_and_is_blocked():
    """`at_table` False, block vs take, fixed cost 90: taking pays 40 − 10 − 90 = −60 but the
    maker keeps taking; the platform bears −20 − 12 = −32 and the pair is blocked."""
    outcome = pair_outcome(_economics(fixed_cost=90.0), BLOCK, TAKE, at_table=False)
    assert outcome.taking
    assert outcome.blocked
    assert not outcome.licensed
    assert outcome.maker_payoff == pytest.approx(-60.0)
    assert outcome.platform_payoff == pytest.approx(-32.0)


def test_maker_does_not_take_when_taking_does_not_pay():
    """A fixed cost of 90 above the taken value of 80: the maker would rather not take, so the
    threat is empty; the licence bargain is then G = 10, C = 50: no deal, nothing flows."""
    outcome = pair_outcome(_economics(fixed_cost=90.0), LICENSE, TAKE)
    assert not outcome.licensed
    assert not outcome.taking
    assert (outcome.platform_payoff, outcome.maker_payoff) == (0.0, 0.0)


def test_fee_cap_binds_or_blocks_the_licence():
    """Licence-only bargain of the base pair: floor 50, ceiling 100, F* = 75 (0.75 per user).

    A cap of 0.6 per user (60 ≥ floor) binds: fee 0.6. A cap of 0.4 (40 < floor): no deal.
    """
    capped = pair_outcome(_economics(fee_cap=0.6), LICENSE, LICENSE)
    assert capped.licensed
    assert capped.fee == pytest.approx(0.6)
    assert capped.platform_payoff == pytest.approx(60 - 50)
    assert capped.maker_payoff == pytest.approx(100 - 60)
    blocked = pair_outcome(_economics(fee_cap=0.4), LICENSE, LICENSE)
    assert not blocked.licensed
    assert blocked.fee == 0.0
    assert (blocked.platform_payoff, blocked.maker_payoff) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("economics", "platform", "maker", "platform_threat", "maker_threat"),
    [
        (BASE, LICENSE, LICENSE, 0.0, 0.0),
        (BASE, BLOCK, LICENSE, 0.0, 0.0),
        (BASE, BLOCK, TAKE, -32.0, 30.0),  # as in test_blocking_against_taking_by_hand
        (_economics(licence_liability=0.0, take_quality=0.5), LICENSE, TAKE, -15.0, 50.0),
        (_economics(licence_liability=0.0), LICENSE, TAKE, -24.0, 80.0),
    ],
)
def test_licence_leaves_both_at_least_their_disagreement_payoffs(
    economics, platform, maker, platform_threat, maker_threat
):
    """Individual rationality: each side's licence payoff is at least its disagreement payoff,
    worked out by hand (take: value·quality·consenting users − block losses; the platform loses
    its rivalry share on what is taken, plus its blocking cost)."""
    outcome = pair_outcome(economics, platform, maker)
    assert outcome.licensed
    assert outcome.platform_payoff >= platform_threat - 1e-9
    assert outcome.maker_payoff >= maker_threat - 1e-9
