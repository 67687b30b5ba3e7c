"""Nash bargaining over an access fee, and the payoffs firms expect from each strategy.

MODEL.md §9: with platform bargaining power b, the fee is
    F* = (1 − b) · (C_p + d_p) + b · (G_m − d_m),   agreement iff G_m − d_m ≥ C_p + d_p,
capped by the regime's `access_fee_cap` (no deal where the cap leaves the platform below its
disagreement payoff). A licence fee is never negative: where F* < 0 (the platform would rather pay
than have its data taken) the fee is 0 if the maker still gains, and there is no deal otherwise.
All money here is CNY per month for the whole pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bargain:
    """The outcome of one Nash bargain: whether they agree, and at what fee (CNY per month)."""

    agreed: bool
    fee: float


def nash_fee(
    *,
    maker_gain: float,
    platform_cost: float,
    maker_disagreement: float,
    platform_disagreement: float,
    platform_power: float,
    fee_cap: float = math.inf,
) -> Bargain:
    """The Nash bargaining solution over a licence fee.

    Args:
        maker_gain: G_m, the maker's monthly gain from the platform's data.
        platform_cost: C_p, the platform's monthly loss from sharing (rivalry, liability).
        maker_disagreement: d_m, what the maker gets without a deal (e.g. taking with consent).
        platform_disagreement: d_p, what the platform gets without a deal relative to no sharing
            (negative when the maker takes anyway or blocking costs it).
        platform_power: b in [0, 1].
        fee_cap: the regime's highest fee (inf = none).
    """
    floor = platform_cost + platform_disagreement  # the least fee the platform accepts
    ceiling = maker_gain - maker_disagreement  # the most fee the maker pays
    if ceiling < floor:
        return Bargain(False, 0.0)
    fee = (1.0 - platform_power) * floor + platform_power * ceiling
    if fee < 0.0:
        if ceiling < 0.0:
            return Bargain(False, 0.0)
        fee = 0.0
    if fee > fee_cap:
        if fee_cap < floor:
            return Bargain(False, 0.0)
        fee = fee_cap
    return Bargain(True, fee)
