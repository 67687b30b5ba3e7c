"""Tests of `model.bargaining.nash_fee`, the Nash bargain over a licence fee (MODEL.md §9).

Checks, against hand-computed values and closed forms:

* with d_m = d_p = C_p = 0 the fee is F* = b · G_m;
* the general fee F* = (1 − b)(C_p + d_p) + b(G_m − d_m), and that it maximises the Nash
  product (F − floor)^b (ceiling − F)^(1−b);
* agreement iff G_m − d_m ≥ C_p + d_p, and the fee lies between floor and ceiling;
* the regime's fee cap binds, and blocks the deal where it leaves the platform below its floor;
* fees are never negative (the docstring's rule for F* < 0).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.bargaining import Bargain, nash_fee


def _bargain(gain, cost=0.0, d_maker=0.0, d_platform=0.0, power=0.5, cap=math.inf) -> Bargain:
    return nash_fee(
        maker_gain=gain,
        platform_cost=cost,
        maker_disagreement=d_maker,
        platform_disagreement=d_platform,
        platform_power=power,
        fee_cap=cap,
    )


@pytest.mark.parametrize("power", [0.0, 0.25, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("gain", [1.0, 10.0, 123.4])
def test_fee_is_power_times_gain_when_costs_and_threats_are_zero(gain, power):
    """Closed form of MODEL.md §9: d_m = d_p = C_p = 0 gives F* = b · G_m."""
    bargain = _bargain(gain, power=power)
    assert bargain.agreed
    assert bargain.fee == pytest.approx(power * gain)


def test_general_fee_matches_hand_computation():
    """G=10, C=2, d_m=3, d_p=−1, b=0.3: floor 1, ceiling 7, F* = 0.7·1 + 0.3·7 = 2.8."""
    bargain = _bargain(10.0, cost=2.0, d_maker=3.0, d_platform=-1.0, power=0.3)
    assert bargain.agreed
    assert bargain.fee == pytest.approx(2.8)


@pytest.mark.parametrize("power", [0.2, 0.5, 0.8])
def test_fee_maximises_the_nash_product(power):
    """F* is the argmax of (F − floor)^b (ceiling − F)^(1 − b) over [floor, ceiling]."""
    gain, cost, d_maker, d_platform = 12.0, 3.0, 2.0, 1.0
    floor, ceiling = cost + d_platform, gain - d_maker
    grid = np.linspace(floor, ceiling, 100_001)[1:-1]
    log_product = power * np.log(grid - floor) + (1 - power) * np.log(ceiling - grid)
    best = grid[np.argmax(log_product)]
    step = grid[1] - grid[0]
    bargain = _bargain(gain, cost=cost, d_maker=d_maker, d_platform=d_platform, power=power)
    assert bargain.fee == pytest.approx(best, abs=2 * step)


@pytest.mark.parametrize(
    ("gain", "cost", "d_maker", "d_platform", "agreed"),
    [
        (10.0, 4.0, 0.0, 0.0, True),  # surplus 6
        (10.0, 4.0, 6.0, 0.0, True),  # ceiling 4 = floor 4: just agree
        (10.0, 4.0, 6.5, 0.0, False),  # ceiling 3.5 < floor 4
        (10.0, 4.0, 0.0, 6.5, False),  # floor 10.5 > ceiling 10
        (10.0, 12.0, 0.0, -3.0, True),  # the maker's taking threat lowers the floor to 9
        (3.0, 4.0, 0.0, 0.0, False),  # sharing destroys value
    ],
)
def test_agreement_iff_maker_surplus_covers_platform_floor(gain, cost, d_maker, d_platform, agreed):
    """Agreement iff G_m − d_m ≥ C_p + d_p; no deal means no fee."""
    bargain = _bargain(gain, cost=cost, d_maker=d_maker, d_platform=d_platform)
    assert bargain.agreed is agreed
    if not agreed:
        assert bargain.fee == 0.0


def test_fee_at_the_boundary_equals_floor_and_ceiling():
    """Where the ceiling equals the floor the only fee both accept is that value."""
    bargain = _bargain(10.0, cost=4.0, d_maker=6.0, power=0.9)
    assert bargain.fee == pytest.approx(4.0)


def test_fee_lies_between_floor_and_ceiling_and_is_never_negative():
    """Over many random bargains: an agreed fee is in [max(floor, 0), ceiling]; else no deal."""
    rng = np.random.default_rng(20170801)
    n = 2_000
    gains = rng.uniform(-5, 20, n)
    costs = rng.uniform(-5, 10, n)
    d_makers = rng.uniform(-5, 10, n)
    d_platforms = rng.uniform(-10, 5, n)
    powers = rng.uniform(0, 1, n)
    n_agreed = 0
    for gain, cost, d_m, d_p, b in zip(gains, costs, d_makers, d_platforms, powers, strict=True):
        floor, ceiling = cost + d_p, gain - d_m
        bargain = _bargain(gain, cost=cost, d_maker=d_m, d_platform=d_p, power=b)
        assert bargain.fee >= 0.0
        if bargain.agreed:
            n_agreed += 1
            assert max(floor, 0.0) - 1e-12 <= bargain.fee <= ceiling + 1e-12
        else:
            assert bargain.fee == 0.0
            assert ceiling < floor or ceiling < 0.0
    assert 0 < n_agreed < n  # both branches were exercised


def test_negative_nash_fee_becomes_zero_when_the_maker_still_gains():
    """floor −6, ceiling 2, b = 0.5: F* = −2 < 0, so the fee is 0 and they agree."""
    bargain = _bargain(2.0, cost=0.0, d_platform=-6.0)
    assert bargain.agreed
    assert bargain.fee == 0.0


def test_no_deal_when_both_floor_and_ceiling_are_negative():
    """floor −6, ceiling −1: even a zero fee leaves the maker worse off than disagreeing."""
    bargain = _bargain(2.0, cost=0.0, d_maker=3.0, d_platform=-6.0)
    assert not bargain.agreed
    assert bargain.fee == 0.0


def test_cap_binds_when_it_lies_between_floor_and_nash_fee():
    """floor 4, ceiling 10, b = 0.5: F* = 7; a cap of 5 (≥ floor) gives a deal at 5."""
    uncapped = _bargain(10.0, cost=4.0)
    capped = _bargain(10.0, cost=4.0, cap=5.0)
    assert uncapped.fee == pytest.approx(7.0)
    assert capped.agreed
    assert capped.fee == pytest.approx(5.0)


def test_cap_above_nash_fee_does_not_bind():
    """A cap above F* leaves the bargain unchanged."""
    assert _bargain(10.0, cost=4.0, cap=8.0).fee == pytest.approx(7.0)


def test_cap_below_platform_floor_blocks_the_deal():
    """A cap of 3 below the platform's floor of 4 leaves it worse off than no deal: no deal."""
    bargain = _bargain(10.0, cost=4.0, cap=3.0)
    assert not bargain.agreed
    assert bargain.fee == 0.0


def test_zero_cap_allows_a_free_licence_when_the_platform_gains_anyway():
    """With a negative floor (the maker would take anyway) a cap of 0 still yields a deal at 0."""
    bargain = _bargain(10.0, cost=1.0, d_platform=-3.0, cap=0.0)
    assert bargain.agreed
    assert bargain.fee == 0.0
