"""Data flows and what they cost users: exposure, privacy harm, breaches (MODEL.md §9, §11).

    e[i,h] = d[i,h] + (1 − d[i,h]) · R²(k[i,h]; λ_h),   R²(k; λ) = k λ² / (1 + (k − 1) λ)

with k[i,h] the number of i's contacts whose data h holds: what h can infer about i from them
(`inference_r2`, docs/ODD.md §S4.5). Overall third-party exposure is 1 − Π_h (1 − e[i,h]) over
holders other than the platforms i uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np
import scipy.sparse as sp

from model import kernels, retention
from model.graph import contact_counts, contact_exposure
from model.kernels import any_per_row

if TYPE_CHECKING:
    from model.market import DataMarket


def inference_r2(contacts: np.ndarray | float, leakage: np.ndarray | float) -> np.ndarray:
    """R²(k; λ) = k λ² / (1 + (k − 1) λ): the share of a user's data a holder infers from k of
    her contacts' data (0 for k ≤ 0), elementwise over arrays that broadcast.

    It is the R² of the best linear prediction of one of k + 1 standard Gaussian variables
    from the other k when every pair has correlation λ (an equicorrelated Gaussian): λ
    (`leakage`) reads as the correlation between a user's data and a contact's. R² is 0 without
    contacts, λ² from one, rises with k, is concave in k (each contact reveals less than the
    one before: the submodular leakage of Acemoglu et al. 2022), tends to λ as k → ∞, and is 1
    for λ = 1 and any k ≥ 1. MODEL.md §11; docs/ODD.md §S4.5.

    Args:
        contacts: k, numbers of contacts (whole numbers; any numeric dtype).
        leakage: λ in [0, 1].

    Returns:
        R² in [0, λ], float64 (a numpy array; 0-dimensional for scalars).
    """
    k = np.asarray(contacts, dtype=np.float64)
    lam = np.asarray(leakage, dtype=np.float64)
    # For k ≥ 1 the denominator is at least 1; k ≤ 0 (0/0 at λ = 1) is masked to 0.
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = k * (lam * lam) / (1.0 + (k - 1.0) * lam)
    return np.where(k > 0, r2, 0.0)


def inference_table(leakage: np.ndarray, most: int) -> np.ndarray:
    """(H, most + 1): R²(k; λ_h) for k = 0 … most, one row per holder: what the compiled passes
    look R² up in (`inference_r2` itself, so their values are its values, bit for bit)."""
    leakage = np.asarray(leakage, dtype=np.float64)
    return inference_r2(np.arange(most + 1)[None, :], leakage[:, None])


def exposure(holds: np.ndarray, contact_count: np.ndarray, leakage: np.ndarray) -> np.ndarray:
    """e[i,h] in [0, 1] from own holdings d (N, H), the number of i's contacts h holds k (N, H)
    and λ per holder (H,): 1 where h holds i's own data, else R²(k[i,h]; λ_h)."""
    return np.where(holds, 1.0, inference_r2(contact_count, leakage[None, :]))


def exposure_from_graph(graph: sp.csr_array, holds: np.ndarray, leakage: np.ndarray) -> np.ndarray:
    """Exposure computed straight from the social graph (one sparse product for all holders)."""
    return exposure(holds, contact_counts(graph, holds), leakage)


def leaked_exposure(model: DataMarket) -> np.ndarray:
    """(N, H): R²(k[i,h]; λ_h), i's exposure to h through her contacts alone — what h would
    know of her without her own data (her exposure before a flow of it; = e[i,h] where h does
    not hold her data). From this month's phase 4."""
    return inference_r2(model.contact_count, holder_leakage(model)[None, :])


def overall_exposure(e: np.ndarray, third_party: np.ndarray) -> np.ndarray:
    """1 − Π_h (1 − e[i,h]) over the holders marked third-party for each user (N, H mask)."""
    # = 1 − np.prod(np.where(third_party, 1 − e, 1), axis=1), compiled (see the kernel).
    return kernels.overall_exposure(e, third_party)


def privacy_harm(theta: np.ndarray, e: np.ndarray, misuse: np.ndarray) -> np.ndarray:
    """Monthly harm H[i] = θ[i] · Σ_h ρ_h · e[i,h], CNY per month."""
    return theta * (e @ misuse)


def breach_hazard(base: float, security: np.ndarray, scale: float) -> np.ndarray:
    """Each holder's monthly breach chance b_h = b0 · exp(−security_h / s0)."""
    return base * np.exp(-security / scale)


def breach_harm(
    theta: np.ndarray, e: np.ndarray, breached: np.ndarray, multiplier: float
) -> np.ndarray:
    """One-off harm of this month's breaches: κ · θ[i] · Σ_{h breached} e[i,h], CNY."""
    if not breached.any():
        return np.zeros_like(theta)
    return multiplier * theta * e[:, breached].sum(axis=1)


# --- Phase 4 (data flows) and phase 6 (breaches), on the model's state -----------------------


def holder_leakage(model: DataMarket) -> np.ndarray:
    """λ_h per holder: the trust de-correlates what it holds (Acemoglu et al.'s mediation)."""
    leakage = np.full(model.holders.count, model.p.leakage)
    leakage[model.holders.trust] *= 1.0 - model.p.trust_decorrelation
    return leakage


def per_holder_kind(model: DataMarket, prefix: str) -> np.ndarray:
    """One value per holder from the parameters `{prefix}_platform`, `_maker`, `_broker`,
    `_trust` (e.g. prefix "misuse" gives ρ_h)."""
    p, h = model.p, model.holders
    values = np.empty(h.count)
    values[h.platforms] = getattr(p, f"{prefix}_platform")
    values[h.makers] = getattr(p, f"{prefix}_maker")
    values[h.brokers] = getattr(p, f"{prefix}_broker")
    values[h.trust] = getattr(p, f"{prefix}_trust")
    return values


def holder_misuse(model: DataMarket) -> np.ndarray:
    """ρ_h per holder kind: own platform low, maker middle, broker 1."""
    return per_holder_kind(model, "misuse")


def pair_users(member: np.ndarray, device: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Users on a platform whose pair with their device's maker is marked in `pairs` (P, M)."""
    # = any_per_row(member & pairs[:, device].T), compiled (see the kernel).
    return kernels.pair_users(member, device, pairs)


def update_flows(model: DataMarket) -> None:
    """Phase 4: who holds whose data after licences, taking, porting, the trust and brokers.

    Fills `model.month.data_quality`: the value share of the data the user's device maker can
    personalise with (1 licensed or via the trust, `taking_data_quality` taken, less where the
    platform blocks; a record no flow refreshes this month, a ported snapshot among them, worth
    (1 − `data_value_decay`)^age of what it was worth when last refreshed).
    """
    params, regime, users, holders = model.p, model.regime, model.users, model.holders
    device_col = holders.maker(0) + users.device
    free = ~users.trust_member
    # Platforms hold and have consent for their members' data; licences and taking give the
    # device maker data (see the kernel for the numpy expressions it replaces).
    quality, licensed = kernels.flow_quality(
        users.member,
        users.device,
        device_col,
        users.holds,
        users.consented,
        users.trust_member,
        model.licensed,
        model.taking,
        model.blocked,
        regime.consent_standard == "platform_terms",
        params.taking_data_quality,
        1 - params.block_effectiveness,
    )
    model.month.licensed_users = licensed
    if regime.portability != "none" and regime.third_party_access:
        quality = np.maximum(quality, _port(model, device_col, free))
    # Retention and erasure end what they end (never a record a flow feeds this month); live
    # flows refresh the device maker's record (holds, age 0); without one, the maker
    # personalises with what it kept, decayed by age. Where recipients are liable, makers also
    # keep only the data of their current users they personalise for.
    values = retention.value_table(params.data_value_decay, model.steps)
    quality = retention.update_records(model, quality, values)
    if regime.recipient_liability:
        _minimise_data(model)
    if model.trust is not None:
        _join_trust(model)
        via_trust = users.trust_member & model.trust.licensed[users.device]
        quality = np.where(via_trust, 1.0, quality)
    model.month.data_quality = quality
    model.data_quality = quality
    if model.brokers:
        _broker_trade(model)
    # D_m: the retained stock, each record worth (1 − δ)^age (value decays); `held_share`
    # counts the records themselves (harm does not decay). Brokers' purchases change neither.
    stock, held_by = retention.tally_holdings(model, values)
    for m, maker in enumerate(model.makers):
        stock_m, held_m = float(stock[m]), int(held_by[m])
        if model.trust is not None and model.trust.licensed[m]:
            via_trust = int((users.trust_member & (users.device == m)).sum())
            stock_m, held_m = stock_m + via_trust, held_m + via_trust
        maker.data_share = stock_m / users.n
        maker.held_share = held_m / users.n
    if regime.planner_flows:
        _follow_planner(model)
    model.month.flow_device = users.device.copy()
    # One pass over the graph for the month: k (contacts' data each holder has), exposure, and
    # the contacts on each platform (the network effect of phase 5; memberships change only
    # after it). No later phase changes what a maker, broker or the trust holds, so the
    # planner's benchmark reads k at the month's end (`model.metrics`).
    # = contact_counts over [holds, member], then `exposure` (see `contact_exposure`).
    r2 = inference_table(holder_leakage(model), int(users.degree.max(initial=0)))
    model.contact_count, model.month.platform_contacts, model.exposure = contact_exposure(
        users.graph, users.degree, users.holds, users.member, r2
    )


def _port(model: DataMarket, device_col: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Users for whom porting pays move their platform data to their device's maker (GDPR 20,
    PIPL 45, DMA 6(9)); returns 1 for each user whose port delivers fresh data to her device
    maker this month (a snapshot just taken, or a real-time link), else 0. An on-request
    snapshot is a one-off transfer: later it ages as any record no flow refreshes."""
    params, users = model.p, model.users
    rows = np.arange(users.n)
    realtime = model.regime.portability == "realtime"
    quality = np.array([maker.quality for maker in model.makers])[users.device]
    gain = (1 - params.generic_service_share) * users.value * quality
    cost = (
        users.present_bias
        * users.theta
        * params.misuse_maker
        * (1.0 - model.exposure[rows, device_col])
    )
    uptake = params.port_uptake_realtime if realtime else params.port_uptake_on_request
    withdrew_now = users.refused_at[np.arange(users.n), device_col] == model.steps
    on_platform = any_per_row(users.member)
    candidates = free & on_platform & (users.ported_to != users.device) & ~withdrew_now
    ports = candidates & (gain > cost) & (model.rng.random(users.n) < uptake)
    users.ported_to[ports] = users.device[ports]
    users.holds[ports, device_col[ports]] = True
    users.consented[ports, device_col[ports]] = True
    users.informed[ports, device_col[ports]] = True
    model.month.ports = int(ports.sum())
    if realtime:
        return np.where(users.ported_to == users.device, 1.0, 0.0)
    return ports.astype(float)


def _join_trust(model: DataMarket) -> None:
    """Users for whom delegating pays join the trust; the trust has makers delete their data."""
    params, users, holders, trust = model.p, model.users, model.holders, model.trust
    quality = np.array([maker.quality for maker in model.makers])[users.device]
    # Users judge the trust by the makers it licenses to, or expects to once it has members.
    serves = (trust.licensed | trust.offered)[users.device]
    gain = trust.dividend + (1 - params.generic_service_share) * users.value * quality * serves
    cost = users.present_bias * users.theta * params.misuse_trust
    joins = (
        ~users.trust_member
        & any_per_row(users.member)
        & (gain > cost)
        & (model.rng.random(users.n) < params.trust_uptake)
    )
    users.trust_member |= joins
    users.holds[joins, holders.trust] = True
    users.consented[joins, holders.trust] = True
    users.informed[joins, holders.trust] = True
    users.holds[np.ix_(joins, np.arange(holders.makers.start, holders.makers.stop))] = False
    users.consented[np.ix_(joins, np.arange(holders.makers.start, holders.makers.stop))] = False
    users.ported_to[joins] = -1
    trust.members = int(users.trust_member.sum())


def _minimise_data(model: DataMarket) -> None:
    """Where recipients are liable for harm, they delete what earns them less than it may cost:
    a maker keeps only the data of its current users it personalises for (done with the grant
    of this month's data, `retention.refresh_device_data`), and a broker whose liability per record
    exceeds its resale value deletes everything."""
    params, users, holders = model.p, model.users, model.holders
    # What it would owe: harm at the welfare valuation, as `model.payoffs` compensates it.
    liability = float(users.harm_theta.mean()) * params.misuse_broker * (1 + params.leakage)
    if liability >= params.broker_resale_value:
        users.holds[:, holders.brokers] = False


def _broker_trade(model: DataMarket) -> None:
    """Platforms and makers sell records to brokers where the broker's price beats the seller's
    expected cost (`model.prices`): each month a seller offers a share `broker_sale_share` of
    the records it holds and a broker (drawn at random) lacks, and that broker pays, per record,
    what it adds to its resale revenue over `broker_horizon` months — less for a user it already
    knows through leaks or whose record other brokers hold — net of the expected fine where the
    trade is unlawful. Where the trade is unlawful the seller also weighs that an audit next
    month confiscates the proceeds and adds the per-record penalty. Where the recipient is
    liable, the broker also nets out the harm it expects to compensate over the horizon."""
    params, regime, users, holders = model.p, model.regime, model.users, model.holders
    legal = regime.broker_trade_legal
    audit = 0.0 if legal else regime.audit_probability
    penalty = 0.0 if legal else regime.record_penalty
    liability = 0.0
    if regime.recipient_liability:
        # The harm it expects to owe per record per month (as `_minimise_data` weighs it).
        monthly = float(users.harm_theta.mean()) * params.misuse_broker * (1 + params.leakage)
        liability = monthly * params.broker_horizon
    sellers = [(holders.platforms.start + p, firm) for p, firm in enumerate(model.platforms)]
    sellers += [(holders.maker(m), firm) for m, firm in enumerate(model.makers)]
    for column, seller in sellers:
        k = int(model.rng.integers(len(model.brokers)))
        count, proceeds = _sell_records(
            users.holds,
            users.refreshed,
            model.steps,
            column,
            holders.broker(k),
            holders.brokers.start,
            holders.brokers.stop,
            users.trust_member,
            model.exposure,
            model.rng.random(users.n),
            params.broker_sale_share,
            params.broker_resale_value,
            params.broker_horizon,
            liability,
            audit,
            penalty,
        )
        if count == 0:
            continue
        broker = model.brokers[k]
        model.ledger.transfer(broker, seller, proceeds, "data sale")
        if not legal:
            for firm, records, gain in (
                (seller, count, proceeds),
                (broker, count, params.broker_resale_value * count),
            ):
                model.month.illegal_traders.add(firm.unique_id)
                model.month.illegal_records[firm.unique_id] = (
                    model.month.illegal_records.get(firm.unique_id, 0) + records
                )
                model.month.illegal_gains[firm.unique_id] = (
                    model.month.illegal_gains.get(firm.unique_id, 0.0) + gain
                )


@numba.njit(cache=True, nogil=True)
def _sell_records(
    holds,
    refreshed,
    month,
    seller,
    broker,
    brokers_start,
    brokers_stop,
    trust_member,
    exposure,
    draws,
    share,
    resale,
    horizon,
    liability,
    audit,
    penalty,
):
    """One seller's sales to one broker this month: the records it offers (held by the seller,
    not by the broker, not a trust member's, ``draws < share``) that sell, because
    `model.prices.broker_price` (less `liability`) beats `model.prices.seller_cost`. Hands each
    sold record over (``holds[i, broker] = True``, fresh this month: a one-off purchase that no
    flow refreshes after, `model.retention`); returns (records sold, money paid)."""
    count = 0
    paid = 0.0
    now = np.uint16(month % retention.MONTHS)
    for i in range(holds.shape[0]):
        if not holds[i, seller] or holds[i, broker] or trust_member[i] or draws[i] >= share:
            continue
        others = 0
        for h in range(brokers_start, brokers_stop):
            others += holds[i, h]
        added = resale * (1.0 / (others + 1.0) - exposure[i, broker] / max(others, 1.0))
        price = max(horizon * added - audit * (resale + penalty) - liability, 0.0)
        if price > 0.0 and price > audit * (price + penalty):
            holds[i, broker] = True
            refreshed[i, broker] = now
            count += 1
            paid += price
    return count, paid


def _follow_planner(model: DataMarket) -> None:
    """The benchmark lever `planner_flows`: makers and brokers hold exactly last month's first
    best (`model.planner`), and every maker holding delivers the full service, without
    licences, taking, consent requests or sales (from the second month; the first plays the
    regime's own flows)."""
    if model.first_best is None:
        return
    users, holders = model.users, model.holders
    makers, brokers = model.first_best
    rows = np.arange(users.n)
    personalised = makers[users.device, rows]  # d* has her device's maker use her data
    users.holds[:, holders.makers] = makers.T
    if model.trust is not None:  # a member's data reaches her maker through the trust
        members = np.flatnonzero(users.trust_member)
        users.holds[members, holders.maker(0) + users.device[members]] = False
    users.holds[:, holders.brokers] = brokers.T
    # The benchmark's flows are live: what it holds is fresh this month (`model.retention`).
    users.refreshed[:, holders.makers.start : holders.brokers.stop] = retention.stamp(model.steps)
    quality = personalised.astype(float)
    model.month.data_quality = quality
    model.data_quality = quality
    model.month.licensed_users = np.zeros(users.n, dtype=bool)
    for m, maker in enumerate(model.makers):
        maker.data_share = maker.held_share = float(makers[m].sum()) / users.n


def run_breaches(model: DataMarket) -> None:
    """Phase 6: each holder with data is breached with its hazard; a breach hits everyone whose
    data it holds (their exposure to it), once."""
    params, holders = model.p, model.holders
    security = per_holder_kind(model, "security")
    holding = kernels.any_per_column(model.users.holds)  # = holds.any(axis=0)
    hazard = breach_hazard(params.breach_base_hazard, security, params.security_scale)
    breached = holding & (model.rng.random(holders.count) < hazard)
    model.month.breached = breached
    model.month.breaches = int(breached.sum())
    # Harm counts at the welfare valuation (`privacy_valuation_basis`), as misuse harm does.
    model.month.breach_harm = breach_harm(
        model.users.harm_theta, model.exposure, breached, params.breach_harm_multiplier
    )
