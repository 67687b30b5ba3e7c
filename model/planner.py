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
ω_jh = θ_j ρ_h (1 + κ b_h) the money harm of full exposure to h (misuse and expected breaches),
with the θ that counts in welfare (`privacy_valuation_basis`). Fees, payments, data sales,
dividends and fines are transfers and do not appear. What the flows do not move (platforms' own
holdings, the trust's, devices, memberships) is the same in both allocations.

How it is found. For fixed quality the contacts' term makes holdings complements (a user already
revealed by her contacts costs less to hold: W is supermodular there), while the concave quality
makes them substitutes, so W is neither separable nor concave. The first best is searched by
coordinate ascent: each holding, user by user, is set to its better value given all others, by
the exact change of W (quality included), until a sweep changes nothing or `PLANNER_SWEEPS`
sweeps are done; from two starts, the realised allocation and last month's first best, keeping
the better. This is a stated approximation: it finds a local optimum (for fixed quality the exact
optimum is a minimum cut, not computed here). Starting from the realised allocation makes
W(d*) ≥ W(realised), so the gap is never negative.

The gap. `welfare_gap` = W(d*) − W(d) + what the realised month loses outside the allocation:
`conflict_loss` (apps degraded by blocking, and data delivered below its full value: taken
rather than licensed, blocked, a decaying snapshot) and `transaction_loss` (compliance costs and
users' time reading requests), which the first best does not incur. W(d*) − W(d) splits exactly
into `oversharing_loss` + `undersharing_loss`, the Shapley values of two moves, O = drop the
realised flows the first best lacks, U = add the first-best flows not realised:

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

from model.kernels import run_blocks

if TYPE_CHECKING:
    from model.market import DataMarket

#: Most sweeps of the coordinate ascent from one start; it stops earlier when a sweep changes
#: nothing. A flip must gain more than `PLANNER_TOLERANCE` (money per month).
PLANNER_SWEEPS = 8
PLANNER_TOLERANCE = 1e-9


@numba.njit(cache=True, nogil=True, inline="always")
def leak(k, lam):
    """R²(k; λ) = k λ² / (1 + (k − 1) λ): what k contacts' data reveal of a user whose data are
    equicorrelated with theirs at λ (0 for k = 0)."""
    if k <= 0 or lam <= 0.0:
        return 0.0
    return k * lam * lam / (1.0 + (k - 1) * lam)


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
    maker_harm: np.ndarray  # ω: harm of full exposure to m
    maker_ads: np.ndarray  # advertising lost where m uses j's data (its device users)
    service_weight: np.ndarray  # v_j + r for m's device users, 0 for others
    maker_security: float
    maker_leakage: float
    generic_share: float
    quality_base: float
    quality_gain: float
    quality_scale: float
    # brokers
    broker_held: np.ndarray
    broker_harm: np.ndarray
    broker_security: float
    resale: float
    broker_leakage: float


def flow_problem(model: DataMarket) -> FlowProblem:
    """The planner's view of the month, from the model's state after its flows and markets."""
    p, users, holders, month = model.p, model.users, model.holders, model.month
    n, n_makers, n_brokers = users.n, len(model.makers), len(model.brokers)
    on_platform = users.member.any(axis=1)
    device = month.flow_device
    hazard = p.breach_base_hazard * np.exp(
        -np.array([p.security_maker, p.security_broker]) / p.security_scale
    )
    full_quality = p.quality_base + p.quality_gain
    ad_rates = np.array(
        [p.ad_revenue_per_user * platform.quality / full_quality for platform in model.platforms]
    )
    advertising = p.ad_rivalry_loss * (users.member.astype(float) @ ad_rates)
    via_trust = users.trust_member if model.trust is not None else np.zeros(n, dtype=bool)
    shape = (n_makers, n)
    eligible = np.zeros(shape, dtype=bool)
    held = np.zeros(shape, dtype=bool)
    delivered = np.zeros(shape)
    adds_holder = np.zeros(shape, dtype=bool)
    ads = np.zeros(shape)
    weight = np.zeros(shape)
    service_value = users.value + p.service_revenue_rate
    for m in range(n_makers):
        mine = device == m
        held[m] = users.holds[:, holders.maker(m)] | (via_trust & mine & (month.data_quality > 0))
        eligible[m] = (mine & on_platform) | held[m]
        adds_holder[m] = ~(via_trust & mine)
        delivered[m] = np.where(mine, month.data_quality, 0.0)
        ads[m] = np.where(mine, advertising, 0.0)
        weight[m] = np.where(mine, service_value, 0.0)
    harm_maker = users.harm_theta * p.misuse_maker * (1 + p.breach_harm_multiplier * hazard[0])
    harm_broker = users.harm_theta * p.misuse_broker * (1 + p.breach_harm_multiplier * hazard[1])
    return FlowProblem(
        indptr=users.graph.indptr,
        indices=users.graph.indices,
        n_users=n,
        maker_eligible=eligible,
        maker_held=held,
        maker_delivered=delivered,
        maker_adds_holder=adds_holder,
        maker_harm=np.ascontiguousarray(np.broadcast_to(harm_maker, shape)),
        maker_ads=ads,
        service_weight=weight,
        maker_security=float(p.security_maker),
        maker_leakage=float(p.leakage),
        generic_share=float(p.generic_service_share),
        quality_base=float(p.quality_base),
        quality_gain=float(p.quality_gain),
        quality_scale=float(p.quality_data_scale),
        broker_held=np.ascontiguousarray(users.holds[:, holders.brokers].T),
        broker_harm=np.ascontiguousarray(np.broadcast_to(harm_broker, (n_brokers, n))),
        broker_security=float(p.security_broker),
        resale=float(p.broker_resale_value),
        broker_leakage=float(p.leakage),
    )


# --------------------------------------------------------------------------------------------
# W: the value of an allocation, by holder


@numba.njit(cache=True, nogil=True)
def _counts(indptr, indices, held, adds_holder):
    """k_j for one holder: how many of each user's contacts it holds as a holder."""
    n = held.size
    k = np.zeros(n, dtype=np.int32)
    for i in range(n):
        if held[i] and adds_holder[i]:
            for e in range(indptr[i], indptr[i + 1]):
                k[indices[e]] += 1
    return k


@numba.njit(cache=True, nogil=True)
def _maker_value(indptr, indices, held, delivered, adds_holder, harm, ads, weight, security,
                 lam, generic, q0, gain, scale):  # fmt: skip
    """One maker's part of W for holdings `held` delivering `delivered` (x) of the service."""
    n = held.size
    k = _counts(indptr, indices, held, adds_holder)
    data = 0
    everyone = 0.0
    personal = 0.0
    total = 0.0
    for j in range(n):
        everyone += weight[j]
        if held[j]:
            data += 1
            personal += weight[j] * delivered[j]
            if delivered[j] > 0:
                total -= ads[j]
            if adds_holder[j]:
                total -= security
        exposed = 1.0 if held[j] and adds_holder[j] else leak(k[j], lam)
        total -= harm[j] * exposed
    quality = _quality(data / n, q0, gain, scale)
    return total + quality * (generic * everyone + (1.0 - generic) * personal)


@numba.njit(cache=True, nogil=True)
def _broker_value(indptr, indices, held, harm, security, resale, lam):
    """The brokers' part of W for holdings `held` (K, N)."""
    n_brokers, n = held.shape
    counts = np.empty((n_brokers, n), dtype=np.int32)
    always = np.ones(n, dtype=np.bool_)
    for b in range(n_brokers):
        counts[b] = _counts(indptr, indices, held[b], always)
    total = 0.0
    for j in range(n):
        sharing = 0
        for b in range(n_brokers):
            sharing += held[b, j]
        known = 0.0
        for b in range(n_brokers):
            exposed = 1.0 if held[b, j] else leak(counts[b, j], lam)
            known += exposed
            total -= harm[b, j] * exposed
        total += resale * known / max(sharing, 1) - security * sharing
    return total


def allocation_value(problem: FlowProblem, makers: np.ndarray, brokers: np.ndarray,
                     delivered: np.ndarray | None = None) -> float:  # fmt: skip
    """W of an allocation: maker holdings (M, N), broker holdings (K, N), and the share of the
    personalised service each maker holding delivers (default: all of it, as the planner's)."""
    if delivered is None:
        delivered = makers.astype(float)
    total = 0.0
    for m in range(makers.shape[0]):
        total += _maker_value(
            problem.indptr,
            problem.indices,
            makers[m],
            delivered[m],
            problem.maker_adds_holder[m],
            problem.maker_harm[m],
            problem.maker_ads[m],
            problem.service_weight[m],
            problem.maker_security,
            problem.maker_leakage,
            problem.generic_share,
            problem.quality_base,
            problem.quality_gain,
            problem.quality_scale,
        )
    if brokers.shape[0]:
        total += _broker_value(
            problem.indptr,
            problem.indices,
            brokers,
            problem.broker_harm,
            problem.broker_security,
            problem.resale,
            problem.broker_leakage,
        )
    return float(total)


# --------------------------------------------------------------------------------------------
# The coordinate ascent


@numba.njit(cache=True, nogil=True)
def _ascend_maker(indptr, indices, eligible, held, adds_holder, harm, ads, weight, security,
                  lam, generic, q0, gain, scale, private, sweeps, tolerance):  # fmt: skip
    """Coordinate ascent on one maker's holdings `held` (in place; the planner's holdings deliver
    the full service). With `private`, a user's flip ignores the harm to her contacts (her own
    choice, see the module). Returns the sweeps run."""
    n = held.size
    k = _counts(indptr, indices, held, adds_holder)
    data = 0
    everyone = 0.0
    personal = 0.0
    for j in range(n):
        everyone += weight[j]
        if held[j]:
            data += 1
            personal += weight[j]
    done = 0
    for _ in range(sweeps):
        done += 1
        flips = 0
        for j in range(n):
            if not eligible[j]:
                continue
            sign = -1 if held[j] else 1
            before = _quality(data / n, q0, gain, scale)
            before *= generic * everyone + (1.0 - generic) * personal
            after = _quality((data + sign) / n, q0, gain, scale)
            after *= generic * everyone + (1.0 - generic) * (personal + sign * weight[j])
            change = after - before
            if weight[j] > 0:
                change -= sign * ads[j]
            if adds_holder[j]:
                change -= sign * (security + harm[j] * (1.0 - leak(k[j], lam)))
                if not private:
                    for e in range(indptr[j], indptr[j + 1]):
                        i = indices[e]
                        if held[i] and adds_holder[i]:
                            continue
                        low = k[i] if sign > 0 else k[i] - 1
                        change -= sign * harm[i] * (leak(low + 1, lam) - leak(low, lam))
            if change > tolerance:
                flips += 1
                held[j] = not held[j]
                data += sign
                personal += sign * weight[j]
                if adds_holder[j]:
                    for e in range(indptr[j], indptr[j + 1]):
                        k[indices[e]] += sign
        if flips == 0:
            break
    return done


@numba.njit(cache=True, nogil=True)
def _ascend_brokers(indptr, indices, held, harm, security, resale, lam, sweeps, tolerance):
    """Coordinate ascent on every broker's holdings `held` (K, N), in place. Returns sweeps."""
    n_brokers, n = held.shape
    always = np.ones(n, dtype=np.bool_)
    counts = np.empty((n_brokers, n), dtype=np.int32)
    for b in range(n_brokers):
        counts[b] = _counts(indptr, indices, held[b], always)
    sharing = np.zeros(n, dtype=np.int32)
    for b in range(n_brokers):
        for j in range(n):
            sharing[j] += held[b, j]
    done = 0
    for _ in range(sweeps):
        done += 1
        flips = 0
        for j in range(n):
            for b in range(n_brokers):
                sign = -1 if held[b, j] else 1
                # Her own terms: what brokers know of her, shared among holders; her harm.
                known = 0.0
                for c in range(n_brokers):
                    known += 1.0 if held[c, j] else leak(counts[c, j], lam)
                own_leak = leak(counts[b, j], lam)
                known_after = known + sign * (1.0 - own_leak)
                share_after = sharing[j] + sign
                change = resale * (known_after / max(share_after, 1) - known / max(sharing[j], 1))
                change -= sign * (security + harm[b, j] * (1.0 - own_leak))
                for e in range(indptr[j], indptr[j + 1]):
                    i = indices[e]
                    if held[b, i]:
                        continue
                    low = counts[b, i] if sign > 0 else counts[b, i] - 1
                    step = leak(low + 1, lam) - leak(low, lam)
                    change += sign * (resale / max(sharing[i], 1) - harm[b, i]) * step
                if change > tolerance:
                    flips += 1
                    held[b, j] = not held[b, j]
                    sharing[j] += sign
                    for e in range(indptr[j], indptr[j + 1]):
                        counts[b, indices[e]] += sign
        if flips == 0:
            break
    return done


def _ascend(problem: FlowProblem, makers: np.ndarray, brokers: np.ndarray, *,
            private: bool = False) -> None:  # fmt: skip
    """Run the ascent in place on maker holdings (M, N) and broker holdings (K, N); the makers'
    problems, and the brokers', are independent and run on the kernels' threads."""
    n_makers = makers.shape[0]

    def solve(first: int, last: int) -> None:
        for task in range(first, last):
            if task < n_makers:
                _ascend_maker(
                    problem.indptr,
                    problem.indices,
                    problem.maker_eligible[task],
                    makers[task],
                    problem.maker_adds_holder[task],
                    problem.maker_harm[task],
                    problem.maker_ads[task],
                    problem.service_weight[task],
                    problem.maker_security,
                    problem.maker_leakage,
                    problem.generic_share,
                    problem.quality_base,
                    problem.quality_gain,
                    problem.quality_scale,
                    private,
                    PLANNER_SWEEPS,
                    PLANNER_TOLERANCE,
                )
            elif brokers.shape[0] and not private:
                _ascend_brokers(
                    problem.indptr,
                    problem.indices,
                    brokers,
                    problem.broker_harm,
                    problem.broker_security,
                    problem.resale,
                    problem.broker_leakage,
                    PLANNER_SWEEPS,
                    PLANNER_TOLERANCE,
                )

    run_blocks(solve, np.arange(n_makers + 2))


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
    first_best_makers: np.ndarray  # d*, kept to start next month's search from
    first_best_brokers: np.ndarray


def first_best(problem: FlowProblem, warm: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray, float]:  # fmt: skip
    """d* (maker and broker holdings) and W(d*): the better of the ascents from the realised
    allocation and from `warm` (last month's first best, where its shape still fits)."""
    starts = [(problem.maker_held, problem.broker_held)]
    if warm is not None and warm[0].shape == problem.maker_held.shape:
        makers = warm[0] & problem.maker_eligible  # what the planner may still hold
        starts.append((makers, warm[1]))
    best = None
    for makers, brokers in starts:
        makers, brokers = makers.copy(), brokers.copy()
        _ascend(problem, makers, brokers)
        value = allocation_value(problem, makers, brokers)
        if best is None or value > best[2]:
            best = (makers, brokers, value)
    return best


def planner_gap(problem: FlowProblem, *, conflict: float, transaction: float,
                warm: tuple[np.ndarray, np.ndarray] | None = None) -> PlannerGap:  # fmt: skip
    """The month's benchmark. `conflict` and `transaction` are the realised month's losses
    outside the allocation (money, whole market), of which the first best has none; the
    service the realised holdings deliver below their full value is added to `conflict` here."""
    n = problem.n_users
    held_m, held_b = problem.maker_held, problem.broker_held
    star_m, star_b, best = first_best(problem, warm)
    realised = allocation_value(problem, held_m, held_b)
    delivered = allocation_value(problem, held_m, held_b, problem.maker_delivered)
    meet = allocation_value(problem, held_m & star_m, held_b & star_b)
    join = allocation_value(problem, held_m | star_m, held_b | star_b)
    over = 0.5 * (meet - realised) + 0.5 * (best - join)
    under = 0.5 * (join - realised) + 0.5 * (best - meet)
    # The users' own choices, the harm to their contacts aside, against the first best.
    private_m = held_m.copy()
    _ascend(problem, private_m, star_b, private=True)
    private = allocation_value(problem, private_m, star_b)
    private_meet = allocation_value(problem, private_m & star_m, star_b)
    private_join = allocation_value(problem, private_m | star_m, star_b)
    externality = 0.5 * (private_meet - private) + 0.5 * (best - private_join)
    shortfall = realised - delivered
    n_held = int(held_m.sum() + held_b.sum())
    n_best = int(star_m.sum() + star_b.sum())
    extra = int((held_m & ~star_m).sum() + (held_b & ~star_b).sum())
    missing = int((star_m & ~held_m).sum() + (star_b & ~held_b).sum())
    scale = 1.0 / max(n, 1)
    return PlannerGap(
        welfare_gap=(best - realised + shortfall + conflict + transaction) * scale,
        oversharing_loss=over * scale,
        undersharing_loss=under * scale,
        externality_oversharing_loss=externality * scale,
        conflict_loss=(shortfall + conflict) * scale,
        transaction_loss=transaction * scale,
        oversharing_share=extra / n_held if n_held else 0.0,
        undersharing_share=missing / n_best if n_best else 0.0,
        first_best_makers=star_m,
        first_best_brokers=star_b,
    )


def month_planner_gap(model: DataMarket) -> PlannerGap:
    """`planner_gap` for the month just played; keeps d* on the model for next month's start."""
    month = model.month
    gap = planner_gap(
        flow_problem(model),
        conflict=month.degradation_loss,
        transaction=month.compliance_paid + month.reading_cost,
        warm=model.first_best,
    )
    model.first_best = (gap.first_best_makers, gap.first_best_brokers)
    return gap
