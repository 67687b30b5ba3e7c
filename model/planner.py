"""The planner benchmark (MODEL.md §4, §10, §11): the allocation of data flows that maximises
total welfare as the ledger counts it, and how far the realised allocation falls short of it.

What the planner chooses, for the month's users, graph, devices, memberships and firms:

* for each user on a platform, whether her device's maker holds her data and personalises for
  her (for a member of the data trust: whether the trust lets her maker personalise, which adds
  no holder, since the trust already holds her data); and whether a maker keeps the data of a
  former user it still holds (it adds to its quality, and to harm);
* for each user, whether each broker holds her record.

The value of an allocation d (a 0/1 holding per user and holder; the planner's flows deliver the
full personalised service) is the part of total welfare it moves, money per month:

    W(d) = Σ_m [ q_m(D_m) · Σ_{j uses m} (v_j + r)(γ + (1 − γ) d_jm) − Σ_{j uses m} d_jm a_j
                 − s_m Σ_j d_jm ]
         + Σ_k [ w Σ_j e_jk / max(c_j, 1) − s_b Σ_j d_jk ]
         − Σ_{h ∈ makers, brokers} Σ_j ω_jh e_jh

with q_m = q0 + a(1 − exp(−D_m / D0)) and D_m the share of all users whose data m holds (the
concave quality spillover), a_j the platforms' advertising lost on a user whose data a maker
uses (`ad_rivalry_loss`), s the security spend per record, w a broker's resale value of full
knowledge of one user, shared among the c_j brokers holding her record, e_jh = d_jh + (1 − d_jh) ·
R²(k_jh; λ) her exposure to holder h when k_jh of her contacts' data are held by h, and
ω_jh = θ_j (ρ_h + κ b_h) the money harm of full exposure to h (misuse and expected breaches),
with the θ that counts in welfare (`privacy_valuation_basis`). Fees, payments, data sales,
dividends and fines are transfers and do not appear. What the flows do not move (platforms' own
holdings, the trust's, devices, memberships) is the same in both allocations.

How it is found. For fixed quality the contacts' term makes holdings complements (a user already
revealed by her contacts costs less to hold: W is supermodular there), while the concave quality
makes them substitutes, so W is neither separable nor concave. The first best is searched by
coordinate ascent: each holding, user by user, is set to its better value given all others, by
the exact change of W (quality included). A sweep visits every holding the planner may choose;
after a sweep with few flips, the next visits only those a flip could have turned (within two
contacts of a flipped user, or whose margin the quality's drift could have crossed); it stops
when a sweep flips at most `PLANNER_SETTLED` of the holdings it may choose, or after
`PLANNER_SWEEPS` sweeps. It starts from last month's first best (what may still be held of it),
and, for a holder where that ends below the realised allocation, from the realised allocation.
This is a stated approximation: a local optimum (for fixed quality the exact optimum is a minimum
cut, not computed here); on problems small enough to enumerate it finds the global one. Since the
realised allocation is a candidate, W(d*) ≥ W(realised): the gap is never negative.

The gap. `welfare_gap` = W(d*) − W(d) + what the realised month loses outside the allocation:
`conflict_loss` (apps degraded by blocking, and data delivered below its full value: taken
rather than licensed, blocked, a decaying snapshot) and `transaction_loss` (what the mechanisms
that move data cost: compliance, users' time reading requests, platforms' liability for sharing
under a licence, the trust's running costs), which the first best does not incur. W(d*) − W(d)
splits exactly into `oversharing_loss` + `undersharing_loss`, the Shapley values of two moves,
O = drop the realised flows the first best lacks, U = add the first-best flows not realised:

    oversharing_loss  = ½[W(d ∧ d*) − W(d)] + ½[W(d*) − W(d ∨ d*)]
    undersharing_loss = ½[W(d ∨ d*) − W(d)] + ½[W(d*) − W(d ∧ d*)]

`externality_oversharing_loss`: the over-sharing part, against the first best, of the maker flows
users would choose if each counted everything her own flow does except the harm to her contacts
(informed, no present bias, no noise, paid what her data is worth: an equilibrium of those
choices, found by the same ascent). It is the over-sharing the data externality causes even under
perfect consent (Choi, Jeon & Kim 2019; Acemoglu et al. 2022): stylised fact 2 is about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from model.flows import inference_table
from model.kernels import run_blocks

if TYPE_CHECKING:
    from model.market import DataMarket

#: Most sweeps of the coordinate ascent from one start. It stops earlier when a sweep flips no
#: more than `PLANNER_SETTLED` of the holdings it visits (none, below 10,000 of them): a sweep
#: to confirm that the last few flips changed nothing else costs a whole pass over the users.
#: A flip must gain more than `PLANNER_TOLERANCE` (money per month).
PLANNER_SWEEPS = 8
PLANNER_SETTLED = 1e-4
PLANNER_TOLERANCE = 1e-9


@numba.njit(cache=True, nogil=True, inline="always")
def _quality(share, base, gain, scale):
    return base + gain * (1.0 - np.exp(-share / scale))


@dataclass(frozen=True)
class FlowProblem:
    """The month's flows as the planner sees them. Arrays (M, N) per maker, (K, N) per broker;
    money per month."""

    indptr: np.ndarray
    indices: np.ndarray
    n_users: int
    # makers: who may hold whose data, what is held, and what a holding is worth
    maker_eligible: np.ndarray  # the planner may let m hold j's data
    maker_held: np.ndarray  # realised holdings (a trust member's: the trust lets m personalise)
    maker_delivered: np.ndarray  # x: share of the personalised service delivered (realised)
    maker_adds_holder: np.ndarray  # j's holding makes m a holder of her data (not via the trust)
    maker_harm: np.ndarray  # (N,) ω: harm of full exposure to a maker (the same for each)
    maker_ads: np.ndarray  # advertising lost where m uses j's data (its device users)
    service_weight: np.ndarray  # v_j + r for m's device users, 0 for others
    maker_security: float
    maker_r2: np.ndarray  # R²(k; λ) for k = 0 … the most contacts anyone has, + 1
    generic_share: float
    quality_base: float
    quality_gain: float
    quality_scale: float
    # brokers
    broker_held: np.ndarray
    broker_harm: np.ndarray  # (N,) ω for a broker (the same for each)
    broker_security: float
    resale: float
    broker_r2: np.ndarray
    # the realised allocation's counts (phase 4's), or None to count them here
    maker_counts: np.ndarray | None = None
    broker_counts: np.ndarray | None = None
    # what the makers' problems read of the month (for carrying a search over; None: never)
    circumstances: Circumstances | None = None


def flow_problem(model: DataMarket) -> FlowProblem:
    """The planner's view of the month, from the model's state after its flows and markets.
    The realised allocation's counts are phase 4's (`model.contact_count`): no later phase
    changes what a maker or a broker holds."""
    p, users, holders, month = model.p, model.users, model.holders, model.month
    n, n_makers = users.n, len(model.makers)
    hazard = p.breach_base_hazard * np.exp(
        -np.array([p.security_maker, p.security_broker]) / p.security_scale
    )
    full_quality = p.quality_base + p.quality_gain
    ad_rates = np.array(
        [p.ad_revenue_per_user * platform.quality / full_quality for platform in model.platforms]
    )
    via_trust = users.trust_member if model.trust is not None else np.zeros(n, dtype=bool)
    shape = (n_makers, n)
    eligible = np.empty(shape, dtype=bool)
    held = np.empty(shape, dtype=bool)
    delivered = np.empty(shape)
    adds_holder = np.empty(shape, dtype=bool)
    ads = np.empty(shape)
    weight = np.empty(shape)
    rivalry = p.ad_rivalry_loss * ad_rates
    circumstances = Circumstances(
        device=month.flow_device,
        on_platform=users.member.any(axis=1),
        via_trust=via_trust.copy(),
        ad_rates=rivalry,
    )
    _fill_maker_rows(
        month.flow_device,
        users.member,
        users.holds,
        holders.maker(0),
        via_trust,
        month.data_quality,
        users.value + p.service_revenue_rate,
        rivalry,
        eligible,
        held,
        delivered,
        adds_holder,
        ads,
        weight,
    )
    # R² by number of contacts held, looked up (`model.flows.inference_table`): the most a
    # count reaches is a degree, and the ascent looks one step past it.
    most = int(users.degree.max(initial=0)) + 1
    r2 = inference_table(np.array([p.leakage]), most)[0]
    counts = model.contact_count
    return FlowProblem(
        indptr=users.graph.indptr,
        indices=users.graph.indices,
        n_users=n,
        maker_eligible=eligible,
        maker_held=held,
        maker_delivered=delivered,
        maker_adds_holder=adds_holder,
        # Misuse θ·ρ·e plus a breach's expected harm κ·b·θ·e (a breach hits whatever the
        # holder's misuse weight, `flows.breach_harm`).
        maker_harm=users.harm_theta * (p.misuse_maker + p.breach_harm_multiplier * hazard[0]),
        maker_ads=ads,
        service_weight=weight,
        maker_security=float(p.security_maker),
        maker_r2=r2,
        generic_share=float(p.generic_service_share),
        quality_base=float(p.quality_base),
        quality_gain=float(p.quality_gain),
        quality_scale=float(p.quality_data_scale),
        broker_held=np.ascontiguousarray(users.holds[:, holders.brokers].T),
        broker_harm=users.harm_theta * (p.misuse_broker + p.breach_harm_multiplier * hazard[1]),
        broker_security=float(p.security_broker),
        resale=float(p.broker_resale_value),
        broker_r2=r2,
        maker_counts=np.ascontiguousarray(counts[:, holders.makers].T),
        broker_counts=np.ascontiguousarray(counts[:, holders.brokers].T),
        circumstances=circumstances,
    )


@numba.njit(cache=True, nogil=True)
def _fill_maker_rows(
    device,
    member,
    holds,
    first_maker,
    via_trust,
    data_quality,
    value,
    ad_rates,
    eligible,
    held,
    delivered,
    adds_holder,
    ads,
    weight,
):
    """The (M, N) rows of `FlowProblem` for makers, in one pass over the users: who m may hold
    (its users on a platform, and anyone it holds), what it holds (a trust member's data it
    uses through the trust counts, adding no holder), the service delivered, the advertising
    lost and the service value (v + r) where the user has m's device."""
    n_makers, n = held.shape
    for j in range(n):
        on_platform = False
        advertising = 0.0
        for p in range(member.shape[1]):
            if member[j, p]:
                on_platform = True
                advertising += ad_rates[p]
        for m in range(n_makers):
            mine = device[j] == m
            through_trust = via_trust[j] and mine
            h = holds[j, first_maker + m] or (through_trust and data_quality[j] > 0)
            held[m, j] = h
            eligible[m, j] = (mine and on_platform) or h
            adds_holder[m, j] = not through_trust
            delivered[m, j] = data_quality[j] if mine else 0.0
            ads[m, j] = advertising if mine else 0.0
            weight[m, j] = value[j] if mine else 0.0


# --------------------------------------------------------------------------------------------
# W of an allocation, and its change when one holding flips
#
# A holder's state is its holdings and its counts k (for each user, how many of her contacts it
# holds). Values are computed from a state in one pass over the users; counts are built, or
# shifted by a set of holdings, in a pass over those users' contacts only. The ascent keeps the
# counts as it flips holdings.


@numba.njit(cache=True, nogil=True)
def _shift_counts(indptr, indices, members, adds_holder, k, sign):
    """k_j += sign for each contact j of each user in `members` whose holding adds the holder."""
    for i in range(members.size):
        if members[i] and adds_holder[i]:
            for e in range(indptr[i], indptr[i + 1]):
                k[indices[e]] += sign


@numba.njit(cache=True, nogil=True)
def _move_counts(indptr, indices, before, after, adds_holder, k):
    """Counts `k` of a holding `before`, moved in place to those of `after`: a pass over the
    contacts of the users whose holding differs."""
    for i in range(before.size):
        if before[i] != after[i] and adds_holder[i]:
            sign = 1 if after[i] else -1
            for e in range(indptr[i], indptr[i + 1]):
                k[indices[e]] += sign


@numba.njit(cache=True, nogil=True)
def _maker_value(held, k, adds_holder, harm, ads, weight, security, r2, generic, q0, gain, scale):
    """One maker's part of W (the planner's holdings deliver the full service)."""
    n = held.size
    data = 0
    everyone = 0.0
    personal = 0.0
    total = 0.0
    for j in range(n):
        everyone += weight[j]
        if held[j]:
            data += 1
            personal += weight[j]
            total -= ads[j]
            if adds_holder[j]:
                total -= security
        exposed = 1.0 if held[j] and adds_holder[j] else r2[k[j]]
        total -= harm[j] * exposed
    quality = _quality(data / n, q0, gain, scale)
    return total + quality * (generic * everyone + (1.0 - generic) * personal)


@numba.njit(cache=True, nogil=True)
def _broker_value(held, counts, sharing, harm, security, resale, r2):
    """The brokers' part of W: what they know of each user, shared among the brokers holding
    her record, less harm and security."""
    n_brokers, n = held.shape
    total = 0.0
    for j in range(n):
        known = 0.0
        for b in range(n_brokers):
            exposed = 1.0 if held[b, j] else r2[counts[b, j]]
            known += exposed
            total -= harm[j] * exposed
        total += resale * known / max(sharing[j], 1) - security * sharing[j]
    return total


@numba.njit(cache=True, nogil=True, inline="always")
def _own_maker_change(
    j,
    sign,
    k,
    quality_now,
    quality_next,
    reach,
    harm,
    ads,
    weight,
    adds_holder,
    security,
    r2,
    generic,
):
    """W's change from flipping user j's holding by `sign` (+1 add, −1 drop), her contacts
    aside: the maker's quality (from `quality_now` to `quality_next`, the quality at one
    record more or less) for all its users' service (`reach`: γ·Σ everyone's (v + r) plus
    (1 − γ)·Σ the personalised ones'), her service, advertising lost, security, her own
    exposure."""
    after = quality_next * (reach + (1.0 - generic) * sign * weight[j])
    change = after - quality_now * reach - sign * ads[j]
    if adds_holder[j]:
        change -= sign * (security + harm[j] * (1.0 - r2[k[j]]))
    return change


@numba.njit(cache=True, nogil=True, inline="always")
def _contacts_maker_change(j, sign, indptr, indices, held, adds_holder, k, harm, r2):
    """W's change, through her contacts' exposure, from flipping user j's holding by `sign`
    (never positive for an addition, never negative for a drop)."""
    change = 0.0
    if adds_holder[j]:
        for e in range(indptr[j], indptr[j + 1]):
            i = indices[e]
            if held[i] and adds_holder[i]:
                continue
            low = k[i] if sign > 0 else k[i] - 1
            change -= sign * harm[i] * (r2[low + 1] - r2[low])
    return change


@numba.njit(cache=True, nogil=True)
def _mark_around(j, indptr, indices, dirty, two_hops):
    """Mark user j and her contacts, whose own terms her flip changes (their counts), and with
    `two_hops` their contacts too, whose contacts' terms it changes."""
    dirty[j] = True
    for e in range(indptr[j], indptr[j + 1]):
        i = indices[e]
        dirty[i] = True
        if two_hops:
            for f in range(indptr[i], indptr[i + 1]):
                dirty[indices[f]] = True


@numba.njit(cache=True, nogil=True)
def _ascend_maker(
    indptr,
    indices,
    eligible,
    held,
    k,
    bound,
    adds_holder,
    harm,
    ads,
    weight,
    security,
    r2,
    generic,
    q0,
    gain,
    scale,
    private,
    sweeps,
    settled_share,
    tolerance,
    margin,
    dirty,
    carried,
    start_flips,
    start_drift,
):
    """Coordinate ascent on one maker's holdings `held` and counts `k`, in place, over the
    users in `eligible` (indices). Returns the sweeps run.

    `margin` (in place) holds each user's slack from flipping when last evaluated (−1 where
    unknown); with `carried`, the slacks are last month's, the first sweep visits only the
    users marked in `dirty` and those whose slack the month's changes (`start_flips` holdings
    changed, worth a flip each, and `start_drift` of other change) could have crossed.

    `bound[j]` bounds her contacts' term (λ², the largest step of R², times the sum of her
    contacts' harm), so that a user whose own change settles the sign skips the loop over her
    contacts. With `private`, a user ignores her contacts' harm (her own choice, see the
    module). After a sweep with few flips the next visits only the users a flip could have
    turned: those within two contacts of a flipped user, and those whose last margin from
    flipping is within what the flips since moved the maker's quality term (`drift`: each flip
    moves it by at most 2(1 − γ)·max(v + r)·a/(D0 N) + max reach·a/(D0² N²), from q's slope
    and curvature)."""
    n = held.size
    data = 0
    everyone = 0.0
    personal = 0.0
    heaviest = 0.0
    for j in range(n):
        everyone += weight[j]
        heaviest = max(heaviest, weight[j])
        if held[j]:
            data += 1
            personal += weight[j]
    quality = _quality(data / n, q0, gain, scale)
    more = _quality((data + 1) / n, q0, gain, scale)
    less = _quality((data - 1) / n, q0, gain, scale)
    settled = int(eligible.size * settled_share)
    # A sweep with at most this many flips marks them, and the next visits only the marked.
    target_limit = 100 * max(settled, 1)
    per_flip = 2.0 * (1.0 - generic) * heaviest * gain / (scale * n)
    per_flip += everyone * gain / (scale * scale * n * n)
    seen_at = np.zeros(n)  # the drift when her margin was computed
    if not carried:
        margin[:] = -1.0
        dirty[:] = False
    drift = per_flip * start_flips + start_drift if carried else 0.0
    done = 0
    targeted = carried
    for _ in range(sweeps):
        done += 1
        flips = 0
        for j in eligible:
            if targeted and not dirty[j] and margin[j] > drift - seen_at[j]:
                continue
            dirty[j] = False
            sign = -1 if held[j] else 1
            reach = generic * everyone + (1.0 - generic) * personal
            own = _own_maker_change(
                j,
                sign,
                k,
                quality,
                more if sign > 0 else less,
                reach,
                harm,
                ads,
                weight,
                adds_holder,
                security,
                r2,
                generic,
            )
            # Her contacts' term lies in [−bound, 0] for an addition, [0, bound] for a drop.
            if private or not adds_holder[j]:
                change = own
            elif sign > 0 and own - bound[j] > tolerance:
                change = own - bound[j]
            elif (sign < 0 and own > tolerance) or (sign > 0 and own <= tolerance):
                change = own
            elif sign < 0 and own + bound[j] <= tolerance:
                change = own + bound[j]
            else:
                change = own + _contacts_maker_change(
                    j, sign, indptr, indices, held, adds_holder, k, harm, r2
                )
            margin[j] = abs(change - tolerance)
            seen_at[j] = drift
            if change > tolerance:
                flips += 1
                held[j] = sign > 0
                if adds_holder[j]:
                    for e in range(indptr[j], indptr[j + 1]):
                        k[indices[e]] += sign
                    if flips <= target_limit:
                        _mark_around(j, indptr, indices, dirty, not private)
                data += sign
                personal += sign * weight[j]
                quality = _quality(data / n, q0, gain, scale)
                more = _quality((data + 1) / n, q0, gain, scale)
                less = _quality((data - 1) / n, q0, gain, scale)
                drift += per_flip
        if flips <= settled:
            break
        # After a sweep with many flips, the next visits everyone; with few, only the marked.
        targeted = flips <= target_limit
        if not targeted:
            dirty[:] = False
    # Keep what is left of each slack, for next month's first sweep.
    for j in eligible:
        if margin[j] >= 0.0:
            margin[j] = max(margin[j] - (drift - seen_at[j]), -1.0)
    dirty[:] = False
    return done


@numba.njit(cache=True, nogil=True, inline="always")
def _own_broker_change(j, b, sign, held, counts, sharing, harm, security, resale, r2):
    """W's change from flipping broker b's holding of user j, her contacts aside: what the
    brokers know of her, shared among those holding her record; her harm; security."""
    known = 0.0
    for c in range(held.shape[0]):
        known += 1.0 if held[c, j] else r2[counts[c, j]]
    own_leak = r2[counts[b, j]]
    after = resale * (known + sign * (1.0 - own_leak)) / max(sharing[j] + sign, 1)
    change = after - resale * known / max(sharing[j], 1)
    return change - sign * (security + harm[j] * (1.0 - own_leak))


@numba.njit(cache=True, nogil=True, inline="always")
def _contacts_broker_change(j, b, sign, indptr, indices, held, counts, sharing, harm, resale, r2):
    """W's change through her contacts: what broker b learns of them, its resale and harm."""
    change = 0.0
    for e in range(indptr[j], indptr[j + 1]):
        i = indices[e]
        if held[b, i]:
            continue
        low = counts[b, i] if sign > 0 else counts[b, i] - 1
        step = r2[low + 1] - r2[low]
        change += sign * (resale / max(sharing[i], 1) - harm[i]) * step
    return change


@numba.njit(cache=True, nogil=True)
def _ascend_brokers(
    indptr,
    indices,
    held,
    counts,
    sharing,
    harm_bound,
    resale_bound,
    harm,
    security,
    resale,
    r2,
    sweeps,
    settled_share,
    tolerance,
):
    """Coordinate ascent on every broker's holdings `held` (K, N), in place, with their counts
    and sharing. Her contacts' term for an addition lies in [−harm_bound, resale_bound] (the
    resale they add, the harm they suffer), the reverse for a drop. Returns the sweeps run."""
    n_brokers, n = held.shape
    settled = int(n * n_brokers * settled_share)
    done = 0
    for _ in range(sweeps):
        done += 1
        flips = 0
        for j in range(n):
            for b in range(n_brokers):
                sign = -1 if held[b, j] else 1
                own = _own_broker_change(
                    j, b, sign, held, counts, sharing, harm, security, resale, r2
                )
                low, high = (
                    (-harm_bound[j], resale_bound[j])
                    if sign > 0
                    else (-resale_bound[j], harm_bound[j])
                )
                if own + low > tolerance:
                    better = True
                elif own + high <= tolerance:
                    better = False
                else:
                    contacts = _contacts_broker_change(
                        j, b, sign, indptr, indices, held, counts, sharing, harm, resale, r2
                    )
                    better = own + contacts > tolerance
                if better:
                    flips += 1
                    held[b, j] = sign > 0
                    sharing[j] += sign
                    for e in range(indptr[j], indptr[j + 1]):
                        counts[b, indices[e]] += sign
        if flips <= settled:
            break
    return done


@numba.njit(cache=True, nogil=True)
def _neighbour_sums(indptr, indices, values):
    """Σ over each user's contacts of `values` (one pass over the graph)."""
    n = indptr.size - 1
    out = np.zeros(n)
    for i in range(n):
        total = 0.0
        for e in range(indptr[i], indptr[i + 1]):
            total += values[indices[e]]
        out[i] = total
    return out


# --------------------------------------------------------------------------------------------
# Allocations and their values


@dataclass
class Allocation:
    """Maker holdings (M, N) and broker holdings (K, N), with their counts and, per record, the
    brokers holding it."""

    makers: np.ndarray
    brokers: np.ndarray
    maker_counts: np.ndarray
    broker_counts: np.ndarray
    sharing: np.ndarray
    # Kept from a search, for next month's: each maker holding's slack from flipping (M, N; −1
    # unknown), and the month's circumstances it was found in (`Circumstances`).
    maker_margin: np.ndarray | None = None
    circumstances: Circumstances | None = None

    def copy(self) -> Allocation:
        return Allocation(
            self.makers.copy(),
            self.brokers.copy(),
            self.maker_counts.copy(),
            self.broker_counts.copy(),
            self.sharing.copy(),
            None if self.maker_margin is None else self.maker_margin.copy(),
            self.circumstances,
        )


@dataclass(frozen=True)
class Circumstances:
    """What a maker's problem reads of a month besides the holdings: each user's device, whether
    she is on a platform, whether she is a trust member, and the advertising a maker's use of a
    member's data costs per platform (the rates move with platforms' quality)."""

    device: np.ndarray
    on_platform: np.ndarray
    via_trust: np.ndarray
    ad_rates: np.ndarray


@dataclass(frozen=True)
class Carried:
    """Last month's search, carried into this month's first sweep (see `_ascend_maker`)."""

    dirty: np.ndarray  # (M, N) users to visit whatever their slack
    flips: np.ndarray  # (M,) holdings changed since, each worth a flip of drift
    drift: float  # the most the month moved anyone's advertising term


@numba.njit(cache=True, nogil=True)
def _mark_near(members, indptr, indices, dirty, two_hops):
    """`_mark_around` each user in `members`."""
    for j in range(members.size):
        if members[j]:
            _mark_around(j, indptr, indices, dirty, two_hops)


def _carried(
    problem: FlowProblem, warm: Allocation, trimmed: np.ndarray, *, private: bool = False
) -> Carried | None:
    """What changed since `warm` was found: the users whose device, platform use or trust
    membership changed (for every maker), and around the holdings the planner may no longer
    keep (`trimmed`, (M, N)): their contacts, and theirs too but for users' own choices
    (`private`), which read their own counts only. None when it holds no record of its
    month."""
    then, now = warm.circumstances, problem.circumstances
    if warm.maker_margin is None or then is None or now is None:
        return None
    changed = (then.device != now.device) | (then.on_platform != now.on_platform)
    changed |= then.via_trust != now.via_trust
    n_makers = warm.makers.shape[0]
    dirty = np.repeat(changed[None, :], n_makers, axis=0)
    flips = np.zeros(n_makers, dtype=np.int64)
    for m in range(n_makers):
        _mark_near(trimmed[m], problem.indptr, problem.indices, dirty[m], not private)
        touched = changed & ((then.device == m) | (now.device == m))
        flips[m] = int(np.count_nonzero(touched)) + int(np.count_nonzero(trimmed[m]))
    drift = float(np.abs(now.ad_rates - then.ad_rates).sum())
    return Carried(dirty, flips, drift)


def _each_holder(problem: FlowProblem, task) -> None:
    """Run ``task(h)`` for each maker h < M and, as h = M, for the brokers, on the kernels'
    threads (their problems are independent)."""

    def run(first: int, last: int) -> None:
        for h in range(first, last):
            task(h)

    run_blocks(run, np.arange(problem.maker_held.shape[0] + 2))


def _allocation(problem: FlowProblem, makers: np.ndarray, brokers: np.ndarray) -> Allocation:
    """An allocation with its counts built from scratch."""
    n_makers = makers.shape[0]
    state = Allocation(
        makers.copy(),
        brokers.copy(),
        np.zeros(makers.shape, dtype=np.int32),
        np.zeros(brokers.shape, dtype=np.int32),
        brokers.sum(axis=0, dtype=np.int32),
    )
    always = np.ones(problem.n_users, dtype=bool)

    def count(h: int) -> None:
        if h < n_makers:
            _shift_counts(
                problem.indptr,
                problem.indices,
                makers[h],
                problem.maker_adds_holder[h],
                state.maker_counts[h],
                1,
            )
        else:
            for b in range(brokers.shape[0]):
                _shift_counts(
                    problem.indptr, problem.indices, brokers[b], always, state.broker_counts[b], 1
                )

    _each_holder(problem, count)
    return state


def _build(
    problem: FlowProblem,
    makers: np.ndarray,
    brokers: np.ndarray,
    *nears: Allocation,
    share_brokers: bool = False,
) -> Allocation:
    """An allocation with its counts, built the cheapest way: from scratch (a pass over the
    contacts of every holding) or from the nearest of `nears` (a pass over the contacts of the
    holdings that differ). With `share_brokers`, where the brokers' holdings are the near
    one's, their arrays are shared rather than copied (the caller will not change them)."""
    best, cost = None, int(np.count_nonzero(makers) + np.count_nonzero(brokers))
    for near in nears:
        apart = int(np.count_nonzero(makers != near.makers))
        apart += int(np.count_nonzero(brokers != near.brokers))
        if apart < cost:
            best, cost = near, apart
    if best is None:
        return _allocation(problem, makers, brokers)
    same_brokers = share_brokers and np.array_equal(brokers, best.brokers)
    out = Allocation(
        makers.copy(),
        best.brokers if same_brokers else brokers.copy(),
        best.maker_counts.copy(),
        best.broker_counts if same_brokers else best.broker_counts.copy(),
        best.sharing if same_brokers else brokers.sum(axis=0, dtype=np.int32),
        None if best.maker_margin is None else best.maker_margin.copy(),
        best.circumstances,
    )
    n_makers = makers.shape[0]
    always = np.ones(problem.n_users, dtype=bool)

    def move(h: int) -> None:
        if h < n_makers:
            _move_counts(
                problem.indptr,
                problem.indices,
                best.makers[h],
                makers[h],
                problem.maker_adds_holder[h],
                out.maker_counts[h],
            )
        elif not same_brokers:
            for b in range(brokers.shape[0]):
                _move_counts(
                    problem.indptr,
                    problem.indices,
                    best.brokers[b],
                    brokers[b],
                    always,
                    out.broker_counts[b],
                )

    _each_holder(problem, move)
    return out


def _realised(problem: FlowProblem) -> Allocation:
    """The realised allocation, with phase 4's counts where the problem has them."""
    if problem.maker_counts is None or problem.broker_counts is None:
        return _allocation(problem, problem.maker_held, problem.broker_held)
    return Allocation(
        problem.maker_held.copy(),
        problem.broker_held.copy(),
        problem.maker_counts.astype(np.int32, copy=True),
        problem.broker_counts.astype(np.int32, copy=True),
        problem.broker_held.sum(axis=0, dtype=np.int32),
    )


def _values(problem: FlowProblem, state: Allocation) -> np.ndarray:
    """W of an allocation per maker and, last, of the brokers."""
    n_makers = state.makers.shape[0]
    values = np.zeros(n_makers + 1)

    def value(h: int) -> None:
        if h < n_makers:
            values[h] = _maker_value(
                state.makers[h], state.maker_counts[h], *_maker_args(problem, h)
            )
        elif state.brokers.shape[0]:
            values[h] = _broker_value(
                state.brokers, state.broker_counts, state.sharing, *_broker_args(problem)
            )

    _each_holder(problem, value)
    return values


def _maker_args(problem: FlowProblem, m: int) -> tuple:
    return (
        problem.maker_adds_holder[m],
        problem.maker_harm,
        problem.maker_ads[m],
        problem.service_weight[m],
        problem.maker_security,
        problem.maker_r2,
        problem.generic_share,
        problem.quality_base,
        problem.quality_gain,
        problem.quality_scale,
    )


def _broker_args(problem: FlowProblem) -> tuple:
    return (problem.broker_harm, problem.broker_security, problem.resale, problem.broker_r2)


def contact_bounds(problem: FlowProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user, the most her contacts' term can be worth (λ², the largest step of R², times a
    sum over her contacts): their harm from a maker, their harm from a broker, and the resale
    they are worth to a broker. They depend on the graph and the users only, not on holdings."""
    lam2 = problem.maker_r2[1] - problem.maker_r2[0]  # λ², the largest step of R²
    n = problem.n_users
    maker = np.zeros(n)
    if problem.maker_held.shape[0]:
        maker = lam2 * _neighbour_sums(problem.indptr, problem.indices, problem.maker_harm)
    broker_harm = np.zeros(n)
    if problem.broker_held.shape[0]:
        worst = problem.broker_harm
        broker_harm = (problem.broker_r2[1] - problem.broker_r2[0]) * _neighbour_sums(
            problem.indptr, problem.indices, worst
        )
    degree = np.diff(problem.indptr)
    resale = (problem.broker_r2[1] - problem.broker_r2[0]) * problem.resale * degree
    return maker, broker_harm, resale


def _ascend(
    problem: FlowProblem,
    state: Allocation,
    bounds: tuple,
    *,
    private: bool = False,
    carried: Carried | None = None,
) -> None:
    """The coordinate ascent, in place on `state`: each maker's holdings, and (not with
    `private`, which is about users' own choices of maker flows) the brokers'. With `carried`,
    `state` is last month's result and its slacks: the first sweep visits only what the month
    could have changed, and the brokers' problem, which reads nothing that changes from month
    to month but holdings, is left as it was. Keeps the slacks and the month's circumstances
    on `state` for next month."""
    n_makers = state.makers.shape[0]
    if carried is None or state.maker_margin is None:
        state.maker_margin = np.full(state.makers.shape, -1.0)
        carried = None
    dirty = carried.dirty if carried is not None else np.zeros(state.makers.shape, dtype=bool)

    def ascend(h: int) -> None:
        if h < n_makers:
            _ascend_maker(
                problem.indptr,
                problem.indices,
                np.flatnonzero(problem.maker_eligible[h]),
                state.makers[h],
                state.maker_counts[h],
                bounds[0],
                *_maker_args(problem, h),
                private,
                PLANNER_SWEEPS,
                PLANNER_SETTLED,
                PLANNER_TOLERANCE,
                state.maker_margin[h],
                dirty[h],
                carried is not None,
                int(carried.flips[h]) if carried is not None else 0,
                carried.drift if carried is not None else 0.0,
            )
        elif state.brokers.shape[0] and not private and carried is None:
            _ascend_brokers(
                problem.indptr,
                problem.indices,
                state.brokers,
                state.broker_counts,
                state.sharing,
                bounds[1],
                bounds[2],
                *_broker_args(problem),
                PLANNER_SWEEPS,
                PLANNER_SETTLED,
                PLANNER_TOLERANCE,
            )

    _each_holder(problem, ascend)
    state.circumstances = problem.circumstances


# --------------------------------------------------------------------------------------------
# The benchmark of a month


@dataclass(frozen=True)
class PlannerGap:
    """Distance of the realised flows from the first best, money per user per month (shares for
    the two counts)."""

    welfare_gap: float
    oversharing_loss: float
    undersharing_loss: float
    externality_oversharing_loss: float
    conflict_loss: float
    transaction_loss: float
    oversharing_share: float  # realised holdings the first best does not have, of all realised
    undersharing_share: float  # first-best holdings not realised, of all first-best holdings
    first_best: Allocation  # d*, kept to start next month's search from
    private: Allocation  # users' own maker flows (brokers as in d*), likewise


def first_best(
    problem: FlowProblem,
    realised: Allocation,
    realised_value: np.ndarray,
    bounds: tuple,
    warm: Allocation | None = None,
) -> tuple[Allocation, np.ndarray]:
    """d* and its W per maker and (last) for the brokers: the ascent from last month's first
    best (`warm`, what may still be held of it) for each holder where it does at least as well
    as the realised allocation, else the ascent from the realised allocation."""
    fallback = None
    if warm is not None and warm.makers.shape == problem.maker_held.shape:
        trimmed = warm.makers & ~problem.maker_eligible
        start = _build(problem, warm.makers & ~trimmed, warm.brokers, warm, realised)
        carried = _carried(problem, warm, trimmed) if start.circumstances is not None else None
        _ascend(problem, start, bounds, carried=carried)
        value = _values(problem, start)
        if np.all(value >= realised_value):
            return start, value
        fallback = start
    best = realised.copy()
    _ascend(problem, best, bounds)
    best_value = _values(problem, best)
    if fallback is not None:
        for m in range(best.makers.shape[0]):  # each holder keeps the better of its two
            if value[m] > best_value[m]:
                best.makers[m], best.maker_counts[m] = fallback.makers[m], fallback.maker_counts[m]
                best.maker_margin[m] = fallback.maker_margin[m]
                best_value[m] = value[m]
        if value[-1] > best_value[-1]:
            best.brokers, best.broker_counts = fallback.brokers, fallback.broker_counts
            best.sharing, best_value[-1] = fallback.sharing, value[-1]
    return best, best_value


def planner_gap(
    problem: FlowProblem,
    *,
    conflict: float,
    transaction: float,
    warm: Allocation | None = None,
    warm_private: Allocation | None = None,
    bounds: tuple | None = None,
) -> PlannerGap:
    """The month's benchmark. `conflict` and `transaction` are the realised month's losses
    outside the allocation (money, whole market), of which the first best has none; the
    service the realised holdings deliver below their full value is added to `conflict` here.
    `warm`, `warm_private`: last month's first best and users' own allocation, to start from
    (the private one is an equilibrium of users' choices; the search from last month's finds
    this month's in a sweep or two). `bounds`: `contact_bounds(problem)`, which a run computes
    once."""
    n = problem.n_users
    bounds = contact_bounds(problem) if bounds is None else bounds
    held_m, held_b = problem.maker_held, problem.broker_held
    realised = _realised(problem)
    w_realised = _values(problem, realised)
    star, w_star = first_best(problem, realised, w_realised, bounds, warm)
    star_m, star_b = star.makers, star.brokers
    # The two moves from the realised allocation d: O drops d ∖ d*, U adds d* ∖ d.
    meet = _build(problem, held_m & star_m, held_b & star_b, realised, star)
    join = _build(problem, held_m | star_m, held_b | star_b, realised, star)
    gain = float((w_star - w_realised).sum())
    drop = float((_values(problem, meet) - w_realised).sum())  # W(d ∧ d*) − W(d)
    add = float((_values(problem, join) - w_realised).sum())  # W(d ∨ d*) − W(d)
    over = 0.5 * drop + 0.5 * (gain - add)
    under = 0.5 * add + 0.5 * (gain - drop)
    # Users' own maker flows, the harm to their contacts aside, against d* (makers' parts).
    carried = None
    if warm_private is not None and warm_private.makers.shape == held_m.shape:
        trimmed = warm_private.makers & ~problem.maker_eligible
        private = _build(
            problem, warm_private.makers & ~trimmed, star_b, warm_private, star, share_brokers=True
        )
        if private.circumstances is warm_private.circumstances:
            carried = _carried(problem, warm_private, trimmed, private=True)
        else:  # built from d*: its slacks are the planner's, not users' own
            private.maker_margin = None
    else:
        private = _build(problem, held_m, star_b, star, realised)
        private.maker_margin = None
    _ascend(problem, private, bounds, private=True, carried=carried)
    p_m = private.makers
    w_private = _values(problem, private)[:-1].sum()
    p_meet = _build(problem, p_m & star_m, star_b, private, star, share_brokers=True)
    p_join = _build(problem, p_m | star_m, star_b, private, star, share_brokers=True)
    externality = 0.5 * (_values(problem, p_meet)[:-1].sum() - w_private) + 0.5 * (
        w_star[:-1].sum() - _values(problem, p_join)[:-1].sum()
    )
    shortfall = _service_shortfall(problem)
    n_held = int(held_m.sum() + held_b.sum())
    n_best = int(star_m.sum() + star_b.sum())
    extra = int((held_m & ~star_m).sum() + (held_b & ~star_b).sum())
    missing = int((star_m & ~held_m).sum() + (star_b & ~held_b).sum())
    scale = 1.0 / max(n, 1)
    return PlannerGap(
        welfare_gap=(gain + shortfall + conflict + transaction) * scale,
        oversharing_loss=over * scale,
        undersharing_loss=under * scale,
        externality_oversharing_loss=externality * scale,
        conflict_loss=(shortfall + conflict) * scale,
        transaction_loss=transaction * scale,
        oversharing_share=extra / n_held if n_held else 0.0,
        undersharing_share=missing / n_best if n_best else 0.0,
        first_best=star,
        private=private,
    )


def _service_shortfall(problem: FlowProblem) -> float:
    """What the realised holdings' service falls short of full delivery: Σ_m q_m (1 − γ)
    Σ_j held_jm (v_j + r)(1 − x_j), at the realised qualities (a holding counts in D whatever
    it delivers)."""
    return float(
        _shortfall(
            problem.maker_held,
            problem.service_weight,
            problem.maker_delivered,
            problem.generic_share,
            problem.quality_base,
            problem.quality_gain,
            problem.quality_scale,
        )
    )


@numba.njit(cache=True, nogil=True)
def _shortfall(held, weight, delivered, generic, q0, gain, scale):
    """`_service_shortfall`, in one pass over the makers' rows."""
    n_makers, n = held.shape
    total = 0.0
    for m in range(n_makers):
        data = 0
        missing = 0.0
        for j in range(n):
            if held[m, j]:
                data += 1
                missing += weight[m, j] * (1.0 - delivered[m, j])
        total += _quality(data / n, q0, gain, scale) * (1.0 - generic) * missing
    return total


def month_planner_gap(model: DataMarket) -> PlannerGap:
    """`planner_gap` for the month just played; keeps d* on the model for next month's start,
    and the contact bounds (they do not change during a run)."""
    month = model.month
    problem = flow_problem(model)
    if model.planner_bounds is None:
        model.planner_bounds = contact_bounds(problem)
    gap = planner_gap(
        problem,
        conflict=month.degradation_loss,
        transaction=month.compliance_paid
        + month.reading_cost
        + month.licence_cost
        + month.trust_cost,
        warm=model.planner_state[0] if model.planner_state else None,
        warm_private=model.planner_state[1] if model.planner_state else None,
        bounds=model.planner_bounds,
    )
    model.planner_state = (gap.first_best, gap.private)
    model.first_best = (gap.first_best.makers, gap.first_best.brokers)
    return gap


def allocation_value(problem: FlowProblem, makers: np.ndarray, brokers: np.ndarray) -> float:
    """W of an allocation: maker holdings (M, N) and broker holdings (K, N)."""
    return float(_values(problem, _allocation(problem, makers, brokers)).sum())
