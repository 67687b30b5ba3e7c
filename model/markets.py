"""Phase 5: the product markets — AI-service quality, device prices, replacement, platform use.

Each maker sets its device price, the logit-Bertrand best response to this month's costs
(`set_device_prices`). Users whose device is due then choose a maker by multinomial logit over
the device's service value, its price, how well their platforms work on it (blocking hurts
here) and its privacy reputation. Platform use has network effects: the share of one's contacts
on the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numba
import numpy as np

from model.kernels import column_counts
from model.population import (
    PlatformTerms,
    contacts_on_platforms,
    replace_devices,
    revise_platforms,
    service_quality,
)

if TYPE_CHECKING:
    from model.market import DataMarket


def update_quality(model: DataMarket) -> None:
    """q = q0 + a(1 − exp(−D/D0)) for makers (D: share of all users whose data each can use,
    pooled across users) and platforms (D: share of all users who are members; own scale)."""
    p = model.p
    for maker in model.makers:
        maker.quality = float(
            service_quality(maker.data_share, p.quality_base, p.quality_gain, p.quality_data_scale)
        )
    # = member.mean(axis=0): a float sum of 0s and 1s is the exact count, divided by N.
    reach = column_counts(model.users.member) / model.users.n
    for index, platform in enumerate(model.platforms):
        platform.quality = float(
            service_quality(reach[index], p.quality_base, p.quality_gain, p.platform_data_scale)
        )


def device_utility(
    model: DataMarket,
    rows: np.ndarray | None = None,
    prices: np.ndarray | None = None,
    expected: np.ndarray | None = None,
) -> np.ndarray:
    """(N, M) money-metric utility of each maker's device for each user, CNY per month.

    With `rows` (user indices), only those users' rows: the same values, for a fraction of the
    work (only the month's buyers choose a device). `prices` (M,), CNY per month, default each
    maker's current `price`; with zeros, the value of each device before its price. `expected`
    (M,), x̄_m below, saves working it out again where it is at hand (`DeviceCosts`).
    """
    p, users = model.p, model.users
    rows = slice(None) if rows is None else rows
    if prices is None:
        prices = np.array([maker.price for maker in model.makers])
    quality = np.array([maker.quality for maker in model.makers])
    data_quality = model.month.data_quality
    if expected is None:
        # Buyers expect the share of a maker's current users it personalises for.
        counts, personalised = _device_totals(users.device, data_quality, len(model.makers))
        counts = counts.astype(float)
        expected = personalised / np.maximum(counts, 1.0)
    holding = np.array([maker.held_share for maker in model.makers])  # harm: age does not cut it
    service = (
        users.value[rows, None]
        * quality[None, :]
        * (p.generic_service_share + (1 - p.generic_service_share) * expected[None, :])
    )
    degraded = users.member[rows].astype(float) @ model.blocked.astype(float)  # (N, M)
    reputation = (
        p.privacy_reputation_weight * p.misuse_maker * users.theta[rows, None] * holding[None, :]
    )
    return (
        p.device_base_value + service - prices[None, :] - p.degradation_cost * degraded - reputation
    )


# --- device prices (MODEL.md §10 "Prices", §11 "Device prices") -------------------------------

#: Users whose choice probabilities a maker's pricing averages over: every user up to this many,
#: else every k-th user, about this many. Users are drawn independently of their index, so the
#: spaced sample is a random one, and the same users every month (no sampling noise from month
#: to month). A numerical setting, not economics: it bounds the work to a few (S, M) passes a
#: month. At the defaults the sample's shares differ from the population's by well under 0.01.
PRICE_SAMPLE_USERS = 10_000
#: The fixed point stops when no price moves by more than this, CNY per month.
PRICE_TOLERANCE = 1e-10
#: ... or after this many iterations (a maker with nearly every user converges slowly, at the
#: rate E[P²]/E[P] of its buyers' choice probabilities; prices are then near the ceiling).
PRICE_MAX_ITERATIONS = 1_000


class BertrandPrices(NamedTuple):
    """The makers' prices in the Bertrand–Nash equilibrium of the device market, and at them:

    prices, markups (price − effective cost c̃) and the shares the logit predicts among the
    sampled users, each (M,), CNY per month or share; how many iterations the fixed point took
    and whether it met `PRICE_TOLERANCE`.
    """

    prices: np.ndarray
    markups: np.ndarray
    shares: np.ndarray
    iterations: int
    converged: bool


def logit_probabilities(utility: np.ndarray, sensitivity: float) -> np.ndarray:
    """(S, M) multinomial-logit choice probabilities exp(σ u) / Σ exp(σ u) of each row."""
    scaled = sensitivity * utility
    scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True)


def bertrand_prices(
    value: np.ndarray, cost: np.ndarray, sensitivity: float, start: np.ndarray | None = None
) -> BertrandPrices:
    """Each maker's price in the Bertrand–Nash equilibrium of a (mixed) logit device market.

    `value` (S, M): each sampled user's money-metric utility of each maker's device before its
    price (CNY per month); `cost` (M,): each maker's effective marginal cost c̃ of one more device
    user (CNY per month, `device_costs`); σ = `sensitivity`. Buyer i picks maker m with
    P[i,m] = exp(σ (value[i,m] − p_m)) / Σ_k exp(σ (value[i,k] − p_k)); s_m = mean_i P[i,m].
    Single-product makers maximise (p_m − c̃_m) s_m(p), whose first-order condition with
    ∂s_m/∂p_m = −σ mean_i P[i,m] (1 − P[i,m]) is the mixed-logit one

        p_m − c̃_m = s_m / (σ · mean_i P[i,m] (1 − P[i,m]))

    which, where users are alike, is the simple form p_m − c̃_m = 1 / (σ (1 − s_m)). It is
    solved for all makers at once by the ζ fixed point of Morrow & Skerlos (2011),
    p_m ← c̃_m + 1/σ + (mean_i P[i,m]² / s_m) (p_m − c̃_m), whose fixed point is the condition
    above. It has no general convergence proof but converges reliably for logit demand (its own
    derivative is 0 at the solution where users are alike); `converged` says whether it did.
    It starts from `start` (M,), e.g. last month's prices, or from c̃ + 1/σ.

    Bounds (MODEL.md has no outside good, so demand need not be elastic enough for a finite
    price): a price is at least 0, and at most the mean of the sampled users' value of the
    device (or c̃, if higher): above it the average user would be better off without a
    smartphone. The ceiling binds only where the markup would be unbounded — one maker, σ = 0
    (choice ignores prices) — or nearly so; there the first-order condition does not hold.

    Raises:
        ValueError: `value` has no rows, or its columns do not match `cost`.
    """
    value = np.asarray(value, dtype=float)
    cost = np.asarray(cost, dtype=float)
    if value.ndim != 2 or value.shape[0] == 0 or value.shape[1] != cost.size:
        raise ValueError(
            f"value must be (users, makers) with at least one user and {cost.size} makers, "
            f"got shape {value.shape}"
        )
    ceiling = np.maximum(np.maximum(value.mean(axis=0), cost), 0.0)
    if sensitivity <= 0:
        # Choice ignores prices (uniform, `logit_choice`): each maker charges the ceiling.
        shares = np.full(cost.size, 1.0 / cost.size)
        return BertrandPrices(ceiling, ceiling - cost, shares, 0, True)
    first = cost + 1.0 / sensitivity if start is None else np.asarray(start, dtype=float)
    prices, shares, iterations, converged = _zeta_fixed_point(
        value,
        cost,
        ceiling,
        np.minimum(np.maximum(first, 0.0), ceiling),
        float(sensitivity),
        PRICE_TOLERANCE,
        PRICE_MAX_ITERATIONS,
    )
    return BertrandPrices(prices, prices - cost, shares, iterations, converged)


@numba.njit(cache=True, nogil=True)
def _zeta_fixed_point(value, cost, ceiling, start, sensitivity, tolerance, max_iterations):
    """The fixed point of `bertrand_prices`, compiled: (prices, shares at them, iterations,
    whether the tolerance was met).

    Each iteration needs P[i,m] at the current prices. exp(σ(v − p)) factors into
    exp(σ(v[i,m] − max_k v[i,k])) · exp(−σ(p_m − min_k p_k)): the first, computed once, and M
    exponentials an iteration; both factors are at most 1 (no overflow). Where a row's terms
    all underflow (a very large σ), that row is computed directly, shifted by its own maximum.
    """
    n, n_makers = value.shape
    scaled = np.empty((n, n_makers))
    for i in range(n):
        top = value[i, 0]
        for m in range(1, n_makers):
            top = max(top, value[i, m])
        for m in range(n_makers):
            scaled[i, m] = np.exp(sensitivity * (value[i, m] - top))
    prices = start.copy()
    shares = np.zeros(n_makers)
    squares = np.zeros(n_makers)
    weights = np.empty(n_makers)
    terms = np.empty(n_makers)
    iterations = 0
    converged = False
    while True:
        # Shares and mean squared probabilities at the current prices.
        cheapest = prices.min()
        for m in range(n_makers):
            weights[m] = np.exp(-sensitivity * (prices[m] - cheapest))
        shares[:] = 0.0
        squares[:] = 0.0
        for i in range(n):
            total = 0.0
            for m in range(n_makers):
                terms[m] = scaled[i, m] * weights[m]
                total += terms[m]
            if not total > 0.0:
                best = -np.inf
                for m in range(n_makers):
                    best = max(best, sensitivity * (value[i, m] - prices[m]))
                total = 0.0
                for m in range(n_makers):
                    terms[m] = np.exp(sensitivity * (value[i, m] - prices[m]) - best)
                    total += terms[m]
            inverse = 1.0 / total
            for m in range(n_makers):
                chance = terms[m] * inverse
                shares[m] += chance
                squares[m] += chance * chance
        shares /= n
        squares /= n
        if converged or iterations == max_iterations:
            break
        iterations += 1
        moved = 0.0
        for m in range(n_makers):
            # E[P²]/E[P] = 1 where every user picks the maker for sure: no finite best response.
            ratio = squares[m] / shares[m] if shares[m] > 0.0 else 0.0
            if ratio >= 1.0:
                updated = ceiling[m]
            else:
                updated = cost[m] + 1.0 / sensitivity + ratio * (prices[m] - cost[m])
                updated = min(max(updated, 0.0), ceiling[m])
            moved = max(moved, abs(updated - prices[m]))
            prices[m] = updated
        converged = moved <= tolerance  # one more pass gives the shares at these prices
    return prices, shares, iterations, converged


@dataclass(frozen=True)
class DeviceCosts:
    """What one more user of each maker's devices costs it and earns it beyond her payment,
    each (M,), CNY per device user per month: the parts of its effective marginal cost c̃.

    A per-user figure is the maker's current users' average (a buyer is like them): the share of
    its users it shares licensed data of, holds data of, or reaches through the trust.

    Not here, because they do not vary with the number of device users: the compliance cost
    (fixed per data-sharing relationship, `compliance_cost`), security on records of users who
    have left, and fines. Nor compensation under recipient liability, which is owed to everyone
    exposed, customers or not. So a fixed compliance cost never reaches prices (MODEL.md §11).
    """

    expected_personalisation: np.ndarray  # x̄_m: mean value share of its users' data it uses
    unit: np.ndarray  # device_unit_cost
    access_fees: np.ndarray  # Σ_p fee[p, m] · share of m's users shared with m under p's licence
    trust_fees: np.ndarray  # the trust's fee per member · share of m's users who are members
    consent_payments: np.ndarray  # payments to users for consent · share of m's users paid
    security: np.ndarray  # security_maker · share of m's users whose data m holds
    service_revenue: np.ndarray  # service_revenue_rate · q_m · (γ + (1 − γ) x̄_m)

    @property
    def effective(self) -> np.ndarray:
        """c̃_m = unit cost + the data costs of a user − the service revenue she brings."""
        return (
            self.unit
            + self.access_fees
            + self.trust_fees
            + self.consent_payments
            + self.security
            - self.service_revenue
        )


def device_costs(model: DataMarket) -> DeviceCosts:
    """Each maker's costs and revenues per device user this month (`DeviceCosts`), from the
    month's fees (phase 2), who is shared and personalised (phase 4), and its quality."""
    p, users, month = model.p, model.users, model.month
    n_makers = len(model.makers)
    licensed_users = getattr(month, "licensed_users", None)
    if licensed_users is None:  # before phase 4 has run (the initial beliefs)
        licensed_users = np.zeros(users.n, dtype=bool)
    counts, personalised, shared, members, held = _maker_user_totals(
        users.device,
        month.data_quality,
        users.member,
        licensed_users,
        users.trust_member,
        users.holds,
        model.holders.maker(0),
        n_makers,
    )
    users_of = np.maximum(counts, 1).astype(float)  # a maker without users: its shares are 0
    expected = personalised / users_of  # `device_utility`'s x̄_m
    access = (model.licensed * model.fee * shared).sum(axis=0) / users_of
    trust_fees = np.zeros(n_makers)
    if model.trust is not None:
        trust = model.trust
        trust_fees = np.where(trust.licensed, trust.fee_per_member, 0.0) * members / users_of
    quality = np.array([maker.quality for maker in model.makers])
    # What m pays its users for consent, per device user: the standing offers of consenting users.
    rows = np.arange(users.n)
    standing = users.consented[rows, model.holders.maker(0) + users.device]
    paid = np.bincount(
        users.device, weights=np.where(standing, users.payment, 0.0), minlength=n_makers
    )
    return DeviceCosts(
        expected_personalisation=expected,
        unit=np.full(n_makers, p.device_unit_cost),
        access_fees=access,
        trust_fees=trust_fees,
        consent_payments=paid / users_of,
        security=p.security_maker * held / users_of,
        service_revenue=p.service_revenue_rate
        * quality
        * (p.generic_service_share + (1 - p.generic_service_share) * expected),
    )


def price_sample(n_users: int) -> np.ndarray:
    """The users a maker's pricing averages over (`PRICE_SAMPLE_USERS`): indices, ascending."""
    step = max(-(-n_users // PRICE_SAMPLE_USERS), 1)
    return np.arange(0, n_users, step)


def set_device_prices(model: DataMarket) -> BertrandPrices:
    """Each maker's device price for this month: the Bertrand–Nash equilibrium (`bertrand_prices`)
    at this month's costs c̃ (`device_costs`) and its users' values of each device.

    Every device user pays her maker's current price this month (the amortised price is a
    rental), and makers price for the month's buyers, whose pool is the
    population (the replacement hazard is the same for everyone). So the price maximises the
    maker's stationary profit flow (p − c̃) · s(p); makers do not raise the price on users locked
    in by an earlier purchase, which buyers would foresee.
    """
    costs = device_costs(model)
    value = device_utility(
        model,
        price_sample(model.users.n),
        prices=np.zeros(len(model.makers)),
        expected=costs.expected_personalisation,
    )
    last = np.array([maker.price for maker in model.makers])
    # From last month's prices (none before the first month): the equilibrium moves little.
    start = last if model.steps > 0 else None
    result = bertrand_prices(value, costs.effective, model.p.choice_sensitivity, start)
    for m, maker in enumerate(model.makers):
        maker.price = float(result.prices[m])
        maker.effective_cost = float(costs.effective[m])
        maker.markup = float(result.markups[m])
    return result


def platform_utility(model: DataMarket, contact_share: np.ndarray) -> np.ndarray:
    """(N, P) money-metric utility of using each platform, CNY per month."""
    return platform_terms(model, contact_share).utility(model.users)


def platform_terms(model: DataMarket, contact_share: np.ndarray) -> PlatformTerms:
    """The parts of `platform_utility`, for a compiled pass to combine where it needs them."""
    p = model.p
    base = np.full(len(model.platforms), p.platform_base_value - p.platform_use_cost)
    base[0] += p.dominant_platform_advantage
    return PlatformTerms(
        base=base,
        quality=np.array([platform.quality for platform in model.platforms]),
        network_value=p.network_value,
        contact_share=contact_share,
        degradation_cost=p.degradation_cost,
        blocked=model.blocked,
        misuse=p.misuse_platform,
    )


def run_markets(model: DataMarket) -> None:
    """Phase 5: quality from data, device prices, device replacement, platform use."""
    p = model.p
    update_quality(model)
    set_device_prices(model)
    model.month.buyers = replace_devices(
        model.rng,
        model.users,
        hazard=p.replacement_hazard,
        device_utility=lambda buyers: device_utility(model, buyers),
        sensitivity=p.choice_sensitivity,
    )
    contact_share = model.month.platform_contacts
    if contact_share is None:  # phase 4 did not run this month
        contact_share = contacts_on_platforms(model.users)
    revise_platforms(
        model.rng,
        model.users,
        platform_utility=platform_terms(model, contact_share),
        revision_rate=p.platform_revision_rate,
        noise=p.platform_noise,
    )
    users, platforms = model.users, model.holders.platforms
    # holds[:, platforms] |= member (a platform keeps what it has had); consented[:, platforms]
    # = member.
    _record_membership(users.holds, users.consented, users.member, platforms.start)
    model.month.contact_share = contact_share


@numba.njit(cache=True, nogil=True)
def _device_totals(
    device: np.ndarray, weights: np.ndarray, n_makers: int
) -> tuple[np.ndarray, np.ndarray]:
    """``np.bincount(device, minlength=n_makers)`` and ``np.bincount(device, weights=weights,
    minlength=n_makers)`` in one pass; bincount adds the weights one by one in index order from
    0.0, as here, so the sums are the same bit for bit."""
    counts = np.zeros(n_makers, dtype=np.int64)
    sums = np.zeros(n_makers)
    for i in range(device.size):
        counts[device[i]] += 1
        sums[device[i]] += weights[i]
    return counts, sums


@numba.njit(cache=True, nogil=True)
def _maker_user_totals(
    device, data_quality, member, licensed_users, trust_member, holds, maker_start, n_makers
):
    """Totals over each maker's device users, in one pass: `_device_totals(device,
    data_quality)` (the same sums, added in the same order), and the counts (P, M) of those
    shared with it under a licence (member of p and a licensed user: what `settle` charges the
    fee on), (M,) of trust members and (M,) of those whose data it holds."""
    n, n_platforms = member.shape
    counts = np.zeros(n_makers, dtype=np.int64)
    personalised = np.zeros(n_makers)
    shared = np.zeros((n_platforms, n_makers), dtype=np.int64)
    members = np.zeros(n_makers, dtype=np.int64)
    held = np.zeros(n_makers, dtype=np.int64)
    for i in range(n):
        m = device[i]
        counts[m] += 1
        personalised[m] += data_quality[i]
        for p in range(n_platforms):
            shared[p, m] += member[i, p] & licensed_users[i]
        members[m] += trust_member[i]
        held[m] += holds[i, maker_start + m]
    return counts, personalised, shared, members, held


@numba.njit(cache=True, nogil=True)
def _record_membership(
    holds: np.ndarray, consented: np.ndarray, member: np.ndarray, first: int
) -> None:
    """``holds[:, first:first + P] |= member`` and ``consented[:, first:first + P] = member``."""
    n, k = member.shape
    for i in range(n):
        for p in range(k):
            holds[i, first + p] |= member[i, p]
            consented[i, first + p] = member[i, p]
