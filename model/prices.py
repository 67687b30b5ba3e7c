"""Prices for data: what a buyer pays a user for her consent, and what a broker pays for a record.

Both follow MODEL.md §11. The price of data is low because of the seller: a buyer pays a user no
more than it takes to make her accept, and what it takes is her marginal harm, which is small
once her contacts have already revealed her (Acemoglu et al. 2022). So the payment is the buyer's
optimum against users' reservation values, never a value scaled down by hand:

    r[i,h] = β[i] θ[i] ρ_h (1 − ē[i,h]) − (1 − γ) v[i] q_m · (data value)   (what i must be paid)
    p_h(ē) = argmax_p Σ_i P(i accepts | p) · (MV_h − p)       (h sees ē[i,h], not θ[i])

where ē[i,h] is what h already learns of i through her contacts (her exposure to h before her own
data flows). Readers compare gain + payment (+ the feature a bundled refusal costs) with the
cost, with logistic noise; non-readers respond only to a salient payment, which raises the
log-odds of their click by `payment_salience` per money unit. Under a bundled click-through,
where refusal costs the service, nearly everyone accepts for nothing and the optimum is ~0.

A broker's buying price for a record is what the record adds to its resale revenue over
`broker_horizon` months, net of the expected fine where the trade is unlawful:

    b[i,k] = H · w · (1/(n_i + 1) − ē[i,k] / max(n_i, 1)) − P(audit) · (w + penalty)

A broker earns w per month for everything it knows of a user, shared among the n_i brokers that
hold her record (nonrival data resold by several brokers fetches less each, Ichihashi 2021); what
it already knows through leaks (ē) it does not pay for again. Where trade is unlawful an audit
next month confiscates the gain and adds a per-record penalty (PIPL Art. 66), so the fine bites
at the margin, not only as a share of turnover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Points on [0, MV] at which a buyer evaluates its expected profit from a payment.
PAYMENT_GRID = 41
#: Golden-section steps that refine the best grid point (each shrinks the bracket by 0.618).
REFINE_STEPS = 24
#: Exposure bins a buyer prices by: equal-width bins of what it already learns through contacts.
EXPOSURE_BINS = 8
#: Users per bin whose acceptance a buyer averages when it sets a payment (a stride of its users).
PRICING_SAMPLE = 2_000


def logistic_cdf(x: np.ndarray) -> np.ndarray:
    """Λ(x) = 1 / (1 + e^(−x)), elementwise, without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def nonreader_acceptance(p_click: float, salience: float, payment: np.ndarray) -> np.ndarray:
    """A non-reader's chance of accepting: her click rate, its log-odds raised by `salience` per
    money unit of a salient payment (Athey, Catalini & Tucker 2017: a small gift moves it)."""
    payment = np.asarray(payment, dtype=float)
    if p_click <= 0.0 or p_click >= 1.0 or salience == 0.0:
        return np.broadcast_to(np.clip(p_click, 0.0, 1.0), payment.shape).astype(float)
    return logistic_cdf(math.log(p_click / (1.0 - p_click)) + salience * payment)


@dataclass(frozen=True)
class Askers:
    """What a buyer knows of the users it asks, for pricing: per user, the chance she reads, her
    perceived net gain before any payment (gain + refusal loss − cost, money per month) and the
    exposure bin she falls in (what the buyer sees of her)."""

    read_probability: np.ndarray
    net_gain: np.ndarray
    bins: np.ndarray


def acceptance(
    askers: Askers,
    payment: np.ndarray,
    *,
    noise: float,
    p_click: float,
    salience: float,
) -> np.ndarray:
    """(len(payment), N): each asker's chance of accepting at each payment."""
    payment = np.asarray(payment, dtype=float)[:, None]
    margin = askers.net_gain[None, :] + payment
    reader = logistic_cdf(margin / noise) if noise > 0 else (margin > 0).astype(float)
    clicker = nonreader_acceptance(p_click, salience, payment)
    read = askers.read_probability[None, :]
    return read * reader + (1.0 - read) * clicker


def best_payment(
    askers: Askers,
    marginal_value: float,
    *,
    noise: float,
    p_click: float,
    salience: float,
    grid: int = PAYMENT_GRID,
) -> float:
    """The payment per month that maximises E[accept] · (MV − p) over these askers (one bin).

    p is searched on `grid` points of [0, MV]; a buyer whose data is worth nothing (MV ≤ 0) pays
    nothing.
    """
    if marginal_value <= 0 or askers.net_gain.size == 0:
        return 0.0

    def profit(payments: np.ndarray) -> np.ndarray:
        accepted = acceptance(askers, payments, noise=noise, p_click=p_click, salience=salience)
        return accepted.mean(axis=1) * (marginal_value - payments)

    payments = np.linspace(0.0, marginal_value, grid)
    best = int(np.argmax(profit(payments)))
    if best == 0 and profit(payments[:2])[1] <= profit(payments[:1])[0]:
        return 0.0  # paying nothing beats the smallest step: a corner
    # Refine between the best point's neighbours (golden section; the profit is unimodal there).
    low, high = payments[max(best - 1, 0)], payments[min(best + 1, grid - 1)]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(REFINE_STEPS):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        pa, pb = profit(np.array([a, b]))
        if pa >= pb:
            high = b
        else:
            low = a
    return float(0.5 * (low + high))


def exposure_bin(leaked: np.ndarray, leakage: float, bins: int = EXPOSURE_BINS) -> np.ndarray:
    """The bin of each user's exposure through contacts, ē in [0, λ] (equal widths; one bin when
    λ = 0)."""
    if leakage <= 0:
        return np.zeros(np.shape(leaked), dtype=np.int64)
    scaled = np.asarray(leaked, dtype=float) / leakage * bins
    return np.clip(scaled.astype(np.int64), 0, bins - 1)


def payment_schedule(
    askers: Askers,
    marginal_value: float,
    *,
    noise: float,
    p_click: float,
    salience: float,
    bins: int = EXPOSURE_BINS,
    sample: int = PRICING_SAMPLE,
) -> np.ndarray:
    """(bins,): a buyer's payment for each exposure bin, each the best against that bin's askers
    (a stride of at most `sample` of them; a bin with no askers gets the payment of the nearest
    bin below it that has some, or 0)."""
    schedule = np.zeros(bins)
    last = 0.0
    for b in range(bins):
        rows = np.flatnonzero(askers.bins == b)
        if rows.size == 0:
            schedule[b] = last
            continue
        rows = rows[:: max(1, rows.size // sample)]
        chosen = Askers(askers.read_probability[rows], askers.net_gain[rows], askers.bins[rows])
        last = best_payment(chosen, marginal_value, noise=noise, p_click=p_click, salience=salience)
        schedule[b] = last
    return schedule


def broker_price(
    leaked: np.ndarray,
    other_holders: np.ndarray,
    *,
    resale: float,
    horizon: float,
    legal: bool,
    audit_probability: float,
    penalty: float,
) -> np.ndarray:
    """b[i,k] per record (money, once): the record's addition to broker k's resale revenue over
    `horizon` months, less the expected fine where the trade is unlawful (see the module).

    Args:
        leaked: ē[i,k], what k already knows of each user through contacts, in [0, 1].
        other_holders: n_i, the brokers other than k that hold her record.
        resale: w, money per month for full knowledge of one user held by one broker.
        horizon: months over which the broker expects to resell the record.
        legal: the trade is legal (or tolerated).
        audit_probability: the chance an audit next month finds an unlawful purchase.
        penalty: the per-record penalty of an unlawful trade.
    """
    n = np.asarray(other_holders, dtype=float)
    added = resale * (1.0 / (n + 1.0) - np.asarray(leaked, dtype=float) / np.maximum(n, 1.0))
    value = horizon * added
    if not legal:
        value = value - audit_probability * (resale + penalty)
    return np.maximum(value, 0.0)


def seller_cost(
    price: np.ndarray, *, legal: bool, audit_probability: float, penalty: float
) -> np.ndarray:
    """A seller's expected cost of selling a record at `price`: none where legal; where unlawful,
    an audit next month confiscates the proceeds and adds the per-record penalty."""
    price = np.asarray(price, dtype=float)
    if legal:
        return np.zeros_like(price)
    return audit_probability * (price + penalty)
