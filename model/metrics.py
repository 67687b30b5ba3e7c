"""The model-level metrics of MODEL.md §7 — their names are a contract — computed each month.

`METRICS` lists every name with its group, unit and meaning; `compute_metrics` returns them all
from the model's state at the end of a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from model.flows import holder_leakage, holder_misuse, inference_r2, inference_table
from model.graph import contact_harm as graph_contact_harm
from model.kernels import (
    any_per_row,
    flow_contact_records,
    overall_exposure,
    row_blocks,
    run_each_block,
)
from model.planner import PlannerGap, contact_harm, flow_cost, gap_from_flows

if TYPE_CHECKING:
    from model.market import DataMarket

METRICS: dict[str, tuple[str, str, str]] = {
    "consumer_surplus": ("welfare", "CU per user per month", "mean user utility, money-metric"),
    "privacy_harm": (
        "welfare",
        "CU per user per month",
        "mean realised privacy harm, breaches included (part of consumer surplus)",
    ),
    "platform_profit": ("welfare", "CU per user per month", "summed platform profits"),
    "maker_profit": ("welfare", "CU per user per month", "summed device-maker profits"),
    "broker_profit": ("welfare", "CU per user per month", "summed broker profits"),
    "total_welfare": (
        "welfare",
        "CU per user per month",
        "consumer surplus + all profits (trust included) + fines collected",
    ),
    "consent_rate": (
        "privacy",
        "share",
        "share of this month's consent requests accepted (missing, NaN, in a month without "
        "requests)",
    ),
    "informed_consent_share": (
        "privacy",
        "share",
        "share of standing third-party consents given by users who read "
        "the terms or acted on their own initiative",
    ),
    "regretted_consent_share": (
        "privacy",
        "share",
        "share of users with a third-party consent whose harm from "
        "third parties exceeded their benefit this month",
    ),
    "mean_exposure": ("privacy", "share", "mean third-party exposure 1 − Π(1 − e[i,h])"),
    "exposed_without_consent_share": (
        "privacy",
        "share",
        "share of users whose unconsented exposure 1 − Π(1 − e[i,h]), over third parties they "
        "have no consent with, exceeds exposure_threshold",
    ),
    "mean_unconsented_exposure": (
        "privacy",
        "share",
        "mean over users of their unconsented exposure 1 − Π(1 − e[i,h]) over third parties "
        "they have no consent with",
    ),
    "unconsented_harm": (
        "privacy",
        "CU per user per month",
        "mean privacy harm θ[i] Σ ρ_h e[i,h] from third parties the user has no consent with",
    ),
    "broker_reach_share": ("privacy", "share", "share of users whose data a broker holds"),
    "breaches": ("privacy", "events per month", "breach events this month"),
    "licensed_pairs": ("market", "pairs", "platform–maker pairs with a licence"),
    "blocked_pairs": ("market", "pairs", "pairs where the platform blocks or degrades its app"),
    "taking_pairs": ("market", "pairs", "pairs where the maker takes data on-device"),
    "open_disputes": ("market", "pairs", "pairs with a complaint awaiting resolution"),
    "mean_access_fee": (
        "market",
        "CU per shared user per month",
        "mean negotiated fee over licensed pairs (0 when none)",
    ),
    "device_hhi": ("market", "index in [1/n, 1]", "Herfindahl index of device makers' shares"),
    "platform_hhi": ("market", "index in [1/n, 1]", "Herfindahl index of platform memberships"),
    "mean_ai_quality": ("market", "quality units", "mean AI-service quality of device makers"),
    "oversharing_share": (
        "benchmark",
        "share",
        "share of actual flows whose social cost exceeds their benefit",
    ),
    "undersharing_share": (
        "benchmark",
        "share",
        "share of beneficial flows (per the planner) that do not happen",
    ),
    "welfare_gap": (
        "benchmark",
        "CU per user per month",
        "net value of the first-best flows minus that of the realised ones",
    ),
    # Beyond §7: events an analyst asks about when reading a run.
    "port_share": ("events", "share", "share of users who ported their platform data this month"),
    "withdrawal_share": (
        "events",
        "share",
        "share of users who withdrew their consent to their device maker this month",
    ),
    "trust_member_share": ("events", "share", "share of users who are members of the data trust"),
    "complaints_resolved": ("events", "complaints", "complaints resolved this month"),
    "settlements": ("events", "pairs", "mediations that sent a pair back to the table this month"),
}

HEADLINE = (
    "total_welfare",
    "consumer_surplus",
    "privacy_harm",
    "consent_rate",
    "mean_exposure",
    "unconsented_harm",
    "exposed_without_consent_share",
    "oversharing_share",
    "device_hhi",
)

#: What a missing value (NaN) of a metric means, for the metrics that can be missing: summaries,
#: the report and the browser lab say this rather than show a number or drop the run silently.
MISSING: dict[str, str] = {"consent_rate": "no consent requests"}


def _hhi(counts: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return 1.0
    shares = counts / total
    return float((shares**2).sum())


def third_party_mask(model: DataMarket) -> np.ndarray:
    """(N, H): holders that are third parties to each user (all but the platforms she uses)."""
    users, holders = model.users, model.holders
    mask = np.ones(users.holds.shape, dtype=bool)
    mask[:, holders.platforms] = ~users.member
    return mask


def unconsented_exposure(model: DataMarket) -> np.ndarray:
    """(N,): each user's unconsented exposure 1 − Π (1 − e[i,h]) over the third parties h she
    has no standing consent with (a consent withdrawn or refused, or never asked for, counts
    as none; a platform she has left, which keeps her data, is one). The per-user figure
    behind `exposed_without_consent_share` and `mean_unconsented_exposure`."""
    unconsented = third_party_mask(model) & ~model.users.consented
    return overall_exposure(model.exposure, unconsented)


def unconsented_exceedance(model: DataMarket, thresholds) -> np.ndarray:
    """The exceedance curve of unconsented exposure this month: for each threshold t, the share
    of users whose unconsented exposure exceeds t (`exposed_without_consent_share` is its value
    at t = `exposure_threshold`). Non-increasing in t; 1 − the empirical CDF.

    Args:
        model: a market after at least one month.
        thresholds: shares in [0, 1], any shape.

    Returns:
        Shares of users, of the thresholds' shape.
    """
    exposure = np.sort(unconsented_exposure(model))
    t = np.asarray(thresholds, dtype=np.float64)
    above = exposure.size - np.searchsorted(exposure, t, side="right")
    return above / max(exposure.size, 1)


@dataclass(frozen=True)
class PotentialFlows:
    """Every potential flow of the month, flat: each platform user's data to her device's maker,
    and every user's data to each broker. CU per month, one entry per flow."""

    benefit: np.ndarray  # the user's personalisation gain + the holder's profit gain
    cost: np.ndarray  # the user's own harm at her exposure before the flow + her contacts' harm
    own_cost: np.ndarray  # the first part of `cost`
    actual: np.ndarray  # the flow happens this month
    to_maker: np.ndarray  # a maker flow (else a broker flow)
    contacts_held: np.ndarray  # k: the number of the user's contacts whose data the holder has


def potential_flows(model: DataMarket) -> PotentialFlows:
    """The planner's view of the month (MODEL.md §4): what each potential flow is worth and
    costs. A flow through the trust costs what the trust's holding costs (lower misuse,
    de-correlated).

    Each flow is costed only for the users it concerns (a maker's flows: its users on a
    platform), elementwise, so the values are those of costing every user and selecting. The
    contacts' harm is `model.planner.contact_harm` (scipy products), the numpy reference of the
    compiled pass the metrics use.

    The metrics do not build these flat arrays (`month_planner_gap` computes the same gap in
    compiled passes); they stay for diagnostics (`scripts/validation.py`) and as the reference
    the tests compare those passes with.
    """
    p, users, holders, month = model.p, model.users, model.holders, model.month
    leakage, misuse = holder_leakage(model), holder_misuse(model)
    counts = model.contact_count

    def costs_of_flows_to(col: int, rows: np.ndarray | slice) -> tuple[np.ndarray, ...]:
        harm_contacts = contact_harm(
            users.graph, users.theta, users.holds[:, col], counts[:, col], misuse[col], leakage[col]
        )[rows]
        # Exposure without the user's own flow (R² of what her contacts gave away): the flow's
        # cost is what it adds.
        before = inference_r2(counts[rows, col], leakage[col])
        own = flow_cost(users.theta[rows], before, misuse[col], np.zeros(before.shape))
        return own, own + harm_contacts

    device = month.flow_device  # the maker each user's data flowed to this month
    on_platform = any_per_row(users.member)
    quality = np.array([maker.quality for maker in model.makers])[device]
    gain = (1 - p.generic_service_share) * quality * (users.value + p.service_revenue_rate)
    via_trust = np.zeros(users.n, dtype=bool)
    if model.trust is not None:
        via_trust = users.trust_member & model.trust.licensed[device]
    actual = month.data_quality > 0
    parts: list[tuple[np.ndarray, ...]] = []
    for m in range(len(model.makers)):
        col = holders.maker(m)
        rows = np.flatnonzero((device == m) & on_platform)
        own, cost = costs_of_flows_to(col, rows)
        if model.trust is not None:
            trust_own, trust_cost = costs_of_flows_to(holders.trust, rows)
            own = np.where(via_trust[rows], trust_own, own)
            cost = np.where(via_trust[rows], trust_cost, cost)
        parts.append(
            (gain[rows], cost, own, actual[rows], np.ones(rows.size, bool), counts[rows, col])
        )
    everyone = slice(None)
    for k in range(len(model.brokers)):
        col = holders.broker(k)
        own, cost = costs_of_flows_to(col, everyone)
        parts.append(
            (
                np.full(users.n, p.broker_resale_value),
                cost,
                own,
                users.holds[:, col],
                np.zeros(users.n, bool),
                counts[:, col],
            )
        )
    columns = [np.concatenate([part[i] for part in parts]) for i in range(6)]
    return PotentialFlows(*columns)


def planner_metrics(model: DataMarket) -> dict[str, float]:
    """Compare the realised flows to the first best over the month's potential flows."""
    gap = month_planner_gap(model)
    return dict(
        oversharing_share=gap.oversharing_share,
        undersharing_share=gap.undersharing_share,
        welfare_gap=gap.welfare_gap,
    )


def month_planner_gap(model: DataMarket) -> PlannerGap:
    """``planner_gap`` over `potential_flows(model)`, bit for bit, in one compiled pass.

    `_flow_pass` values each flow as `potential_flows` does and keeps only what `planner_gap`
    reads: the counts, and the net values of the beneficial and of the actual flows in the
    order of the flat arrays, which numpy then sums as ``net[beneficial].sum()`` does.
    """
    return gap_from_flows(*_month_flows(model), model.users.n)


def contact_harm_sums(model: DataMarket) -> np.ndarray:
    """(N, Q): for each user and each holder of her flows — her device's maker, each broker,
    the trust where there is one, in that order — Σ θ_j ΔR² over her contacts j whose data the
    holder lacks: her flow's harm to them, before ρ (`model.planner.contact_harm`), in one
    compiled pass over the graph (`model.graph.contact_harm`).

    A second pass over the graph each month: a contact's ΔR² needs her count k_j, which the
    month's first pass (phase 4) completes only once every row is done. Last month's counts
    would fit into that first pass, the same time at 200,000 users and about 130 ms less a
    month on one thread at 1,000,000 (docs/ODD.md §S11), but would cost this month's flows at
    last month's holdings: exactness was chosen. It reads phase 4's counts, which hold at the
    month's end for makers, brokers and the trust (no later phase changes what they hold).
    """
    users, holders = model.users, model.holders
    first = holders.platforms.stop  # makers, brokers, the trust: the holders of flows
    most = int(users.degree.max(initial=0))  # no count exceeds it
    records = flow_contact_records(users.holds, model.contact_count, first, users.theta, most)
    n_makers, n_brokers = len(model.makers), len(model.brokers)
    shared = [*range(n_makers, n_makers + n_brokers)]
    if model.trust is not None:
        shared.append(n_makers + n_brokers)
    r2 = inference_table(holder_leakage(model)[first:], most + 1)
    if_added = r2[:, 1:] - r2[:, :-1]  # R²(k + 1) − R²(k): a contact of a user not held
    if_held = np.concatenate([np.zeros((r2.shape[0], 1)), if_added[:, :-1]], axis=1)
    held = np.zeros((r2.shape[0], 1))  # code 0: the contact's own data is held, no harm
    gains = np.block([[held, if_added], [held, if_held]])
    return graph_contact_harm(
        users.graph,
        records,
        model.month.flow_device,
        np.array(shared, dtype=np.int64),
        gains,
    )


def _month_flows(
    model: DataMarket, bounds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """`_flow_pass` on the model's state: (net[beneficial], net[actual], n_over, n_under)."""
    p, users, holders, month = model.p, model.users, model.holders, model.month
    n_makers = len(model.makers)
    trust = model.trust
    leakage = holder_leakage(model)
    return _flow_pass(
        month.flow_device,
        users.member,
        users.trust_member,
        trust.licensed if trust is not None else np.zeros(n_makers, dtype=bool),
        holders.trust if trust is not None else -1,
        users.theta,
        users.value,
        np.array([maker.quality for maker in model.makers], dtype=float),
        model.contact_count,
        inference_table(leakage, int(users.degree.max(initial=0))),
        contact_harm_sums(model),
        users.holds,
        month.data_quality,
        holder_misuse(model),
        holders.maker(0),
        holders.broker(0),
        len(model.brokers),
        float(1 - p.generic_service_share),
        float(p.service_revenue_rate),
        float(p.broker_resale_value),
        bounds,
    )


def _flow_pass(
    device: np.ndarray,
    member: np.ndarray,
    trust_member: np.ndarray,
    trust_licensed: np.ndarray,
    trust_col: int,
    theta: np.ndarray,
    value: np.ndarray,
    quality: np.ndarray,
    contact_count: np.ndarray,
    r2: np.ndarray,
    contact_harm: np.ndarray,
    holds: np.ndarray,
    data_quality: np.ndarray,
    misuse: np.ndarray,
    maker_start: int,
    broker_start: int,
    n_brokers: int,
    gain_share: float,
    service_rate: float,
    resale: float,
    bounds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The month's potential flows reduced to what `planner_gap` reads, without flat arrays.

    Returns ``(net[beneficial], net[actual], n_over, n_under)`` for the flows of
    `potential_flows` (net = benefit − cost, beneficial = net > 0; n_over counts actual flows
    with net < 0, n_under beneficial flows that do not happen), in its flow order: maker 0's
    flows by user, maker 1's, ..., then broker 0's flows (every user), broker 1's, ...

    Each value is computed with the same operations in the same order as the numpy expressions
    of `potential_flows` (benefit ``(1 − g) · q · (v + r)``, cost ``θ·ρ·(1 − R²(k)) + 0 + ρ·w``,
    where `flow_cost` adds its zero harm to contacts, R²(k) = r2[col, contact_count[i, col]]
    and w = contact_harm[i, slot] from `contact_harm_sums`), so each is bit-identical; the sums
    are left to numpy on arrays identical to the flat selections. A user's flow to her maker goes
    through the trust (its holder column and sum column) where she is a member and the trust
    licenses that maker.

    Rows are split into `bounds` blocks (default: `row_blocks`) run on `threads()` threads, in
    two passes: `_flow_counts` counts each block's flows in each segment (one segment per maker
    and per broker); then `_flow_rows` fills each block's part of each segment, which starts
    where the flows of the segments before it and of the same segment's earlier blocks end.
    `_squeeze` moves the parts together segment by segment, blocks in order, which is the order
    of the flat arrays whatever the split; the counts n_over and n_under are whole numbers,
    summed per block and added up (exact in any order). So nothing depends on the thread count
    or the split.
    """
    n = device.size
    n_makers = quality.size
    if bounds is None:
        bounds = row_blocks(n)
    n_blocks = bounds.size - 1
    on_platform = np.empty(n, dtype=np.bool_)
    flows = np.zeros((n_blocks, n_makers + n_brokers), dtype=np.int64)
    run_each_block(_flow_counts, bounds, device, member, n_makers, on_platform, flows)
    # Part (b, s) starts after segments 0 … s − 1 and after segment s's blocks 0 … b − 1.
    by_segment = flows.T
    starts = (np.cumsum(by_segment) - by_segment.ravel()).reshape(by_segment.shape).T.copy()
    size = int(flows.sum())
    beneficial = np.empty(size)
    actual = np.empty(size)
    ends_beneficial = np.empty_like(starts)
    ends_actual = np.empty_like(starts)
    over_under = np.zeros((n_blocks, 2), dtype=np.int64)
    run_each_block(
        _flow_rows,
        bounds,
        device,
        on_platform,
        trust_member,
        trust_licensed,
        trust_col,
        theta,
        value,
        quality,
        contact_count,
        r2,
        contact_harm,
        holds,
        data_quality,
        misuse,
        maker_start,
        broker_start,
        n_brokers,
        float(gain_share),
        float(service_rate),
        float(resale),
        starts,
        beneficial,
        actual,
        ends_beneficial,
        ends_actual,
        over_under,
    )
    parts = starts.T.ravel()  # segment by segment, blocks in order
    n_over, n_under = over_under.sum(axis=0)
    return (
        beneficial[: _squeeze(beneficial, parts, ends_beneficial.T.ravel())],
        actual[: _squeeze(actual, parts, ends_actual.T.ravel())],
        int(n_over),
        int(n_under),
    )


@numba.njit(cache=True, nogil=True)
def _flow_counts(bounds, device, member, n_makers, on_platform, flows, first, last):
    """Blocks [first, last) of `_flow_pass`'s first pass: whether each user is on a platform
    (and so has a flow to her maker), and in row b the flows of block b in each segment (her
    maker's, and every broker's)."""
    for b in range(first, last):
        block_flows = np.zeros_like(flows[b])
        # Unsigned rows (they are ≥ 0) spare numba's negative-index wraparound code.
        for i in range(np.uint64(bounds[b]), np.uint64(bounds[b + 1])):
            on = False
            for p in range(member.shape[1]):
                on |= member[i, p]
            on_platform[i] = on
            block_flows[device[i]] += on
        block_flows[n_makers:] = bounds[b + 1] - bounds[b]
        flows[b] = block_flows


@numba.njit(cache=True, nogil=True)
def _flow_rows(
    bounds,
    device,
    on_platform,
    trust_member,
    trust_licensed,
    trust_col,
    theta,
    value,
    quality,
    contact_count,
    r2,
    contact_harm,
    holds,
    data_quality,
    misuse,
    maker_start,
    broker_start,
    n_brokers,
    gain_share,
    service_rate,
    resale,
    starts,
    beneficial,
    actual,
    ends_beneficial,
    ends_actual,
    over_under,
    first,
    last,
):
    """Blocks [first, last) of `_flow_pass`'s second pass: block b's flows, each segment's in
    user order from starts[b, segment] on, the beneficial ones in `beneficial` and the actual
    ones in `actual`; where each part ends in row b of ends_beneficial and ends_actual, and the
    block's n_over and n_under in row b of over_under."""
    n_makers = quality.size
    trust_slot = 1 + n_brokers
    for b in range(first, last):
        next_beneficial = starts[b].copy()
        next_actual = starts[b].copy()
        n_over = 0
        n_under = 0
        # Unsigned rows (they are ≥ 0) spare numba's negative-index wraparound code.
        for i in range(np.uint64(bounds[b]), np.uint64(bounds[b + 1])):
            for s in range(n_brokers + 1):
                if s == 0:  # the flow to her device's maker (or through the trust)
                    if not on_platform[i]:
                        continue
                    m = device[i]
                    segment, col, slot = m, maker_start + m, 0
                    if trust_col >= 0 and trust_member[i] and trust_licensed[m]:
                        col, slot = trust_col, trust_slot
                    benefit = gain_share * quality[m] * (value[i] + service_rate)
                    happens = data_quality[i] > 0
                else:  # the flow to broker s − 1
                    segment, col, slot = n_makers + s - 1, broker_start + s - 1, s
                    benefit = resale
                    happens = holds[i, col]
                before = r2[col, contact_count[i, col]]
                own = theta[i] * misuse[col] * (1.0 - before) + 0.0
                net = benefit - (own + misuse[col] * contact_harm[i, slot])
                # Written unconditionally and kept by moving the cursor (branch-free): a part's
                # cursor is never past its flows seen so far, so the write stays in its part.
                beneficial[next_beneficial[segment]] = net
                next_beneficial[segment] += net > 0
                actual[next_actual[segment]] = net
                next_actual[segment] += happens
                n_over += happens & (net < 0)
                n_under += (not happens) & (net > 0)
        ends_beneficial[b] = next_beneficial
        ends_actual[b] = next_actual
        over_under[b, 0] = n_over
        over_under[b, 1] = n_under


@numba.njit(cache=True, nogil=True)
def _squeeze(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> int:
    """Move the segments values[starts[s]:ends[s]] together, in order; returns their length.

    Segment s starts at or after the total length of the segments before it, so copying
    forwards never overwrites what is still to be moved.
    """
    filled = 0
    for s in range(starts.size):
        for j in range(starts[s], ends[s]):
            values[filled] = values[j]
            filled += 1
    return filled


def regretted_consents(model: DataMarket) -> tuple[int, int]:
    """(users whose harm from third parties they consented to exceeds their benefit, users with
    a third-party consent): the plain numpy expressions, the reference of `_user_pass`."""
    users = model.users
    third_party_consent = users.consented & third_party_mask(model)
    consenting = any_per_row(third_party_consent)
    consented_harm = users.theta * ((model.exposure * third_party_consent) @ holder_misuse(model))
    benefit = model.month.personalisation_gain
    if model.trust is not None:
        benefit = benefit + np.where(users.trust_member, model.trust.dividend, 0.0)
    regretted = consenting & (consented_harm > benefit)
    return int(np.count_nonzero(regretted)), int(np.count_nonzero(consenting))


def _bytes(flags: np.ndarray) -> np.ndarray:
    """A boolean array as its bytes (each 0 or 1): numba does arithmetic on uint8 flags faster
    than on its booleans (a fifth less time for `_user_pass`)."""
    return flags.view(np.uint8)


# `_user_pass` counts, by index.
_STANDING, _INFORMED, _CONSENTING, _REGRETTED, _UNDECIDED = 0, 1, 2, 3, 4
_EXPOSED, _BROKER_REACH, _TRUST_MEMBERS = 5, 6, 7


def _user_pass(
    exposure: np.ndarray,
    consented: np.ndarray,
    informed: np.ndarray,
    holds: np.ndarray,
    member: np.ndarray,
    device: np.ndarray,
    trust_member: np.ndarray,
    theta: np.ndarray,
    misuse: np.ndarray,
    gain: np.ndarray,
    has_trust: bool,
    dividend: float,
    harm: np.ndarray,
    breach_harm: np.ndarray,
    broker_start: int,
    broker_stop: int,
    n_makers: int,
    threshold: float,
    bounds: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Every per-user quantity of `compute_metrics`, in one pass over the users.

    The flag arrays (consented, informed, holds, member, trust_member) are the users' boolean
    arrays seen as bytes (`_bytes`). Third parties to user i: every holder but the platforms
    she uses (`third_party_mask`); unconsented: third parties she has no standing consent with.
    Returns (overall, total_harm, unconsented, unconsented_harm, counts, members, devices):

    * overall[i] = `overall_exposure(e, third)[i]`, multiplied in the same order as that kernel
      (which multiplies by 1.0, an exact no-op, for her own platforms);
    * total_harm[i] = ``harm[i] + breach_harm[i]``;
    * unconsented[i] = `overall_exposure(e, third & ~consented)[i]` (`unconsented_exposure`),
      multiplied in the same order; unconsented_harm[i] = θ[i] · Σ_h ρ_h e[i,h] over her
      unconsented holders, summed in holder order from 0.0 (a skipped holder adds +0.0);
    * counts[_STANDING], counts[_INFORMED]: ``count_nonzero`` of ``consented & third`` and of
      ``informed & consented & third``; counts[_CONSENTING]: users with such a consent;
      counts[_EXPOSED]: users with unconsented[i] > threshold; counts[_BROKER_REACH]: users a
      broker holds; counts[_TRUST_MEMBERS]: trust members;
    * counts[_REGRETTED]: consenting users whose ``θ · ((e * (consented & third)) @ ρ)`` exceeds
      their benefit (personalisation gain, plus the dividend for trust members where there is a
      trust), for every user whose comparison is certain; counts[_UNDECIDED] counts the others.
      The matrix product is BLAS's, whose order of summation (and use of fused multiply-adds)
      over holders is its own: with at most one non-zero term every order gives the same
      rounded product; otherwise any order of summing H non-negative products lies within a
      relative H·2⁻⁵³ of the exact sum, so two orders (times θ, one rounding each) differ by
      less than a relative (H + 1)·2⁻⁵², and the comparison is certain when harm and benefit
      are further apart than 4·(H + 2)·2⁻⁵² · harm. The caller recomputes the plain expression
      whenever a comparison is undecided (in practice never);
    * members[p]: users of platform p (``member.sum(axis=0)``); devices[m]: users with a device
      of maker m (``np.bincount``).

    Rows are split into `bounds` blocks (default: `row_blocks`) run on `threads()` threads
    (`_user_rows`): each user's figures are computed by one thread whatever the split, and the
    counts, summed per block, are added up afterwards (whole numbers: exact in any order), so
    nothing depends on the thread count or the split.
    """
    n = exposure.shape[0]
    if bounds is None:
        bounds = row_blocks(n)
    n_blocks = bounds.size - 1
    overall = np.empty(n)
    total_harm = np.empty(n)
    unconsented = np.empty(n)
    unconsented_harm = np.empty(n)
    counts = np.zeros((n_blocks, 8), dtype=np.int64)
    members = np.zeros((n_blocks, member.shape[1]), dtype=np.int64)
    devices = np.zeros((n_blocks, n_makers), dtype=np.int64)
    run_each_block(
        _user_rows,
        bounds,
        exposure,
        consented,
        informed,
        holds,
        member,
        device,
        trust_member,
        theta,
        misuse,
        gain,
        has_trust,
        float(dividend),
        harm,
        breach_harm,
        broker_start,
        broker_stop,
        float(threshold),
        overall,
        total_harm,
        unconsented,
        unconsented_harm,
        counts,
        members,
        devices,
    )
    return (
        overall,
        total_harm,
        unconsented,
        unconsented_harm,
        counts.sum(axis=0),
        members.sum(axis=0),
        devices.sum(axis=0),
    )


@numba.njit(cache=True, nogil=True)
def _user_rows(
    bounds,
    exposure,
    consented,
    informed,
    holds,
    member,
    device,
    trust_member,
    theta,
    misuse,
    gain,
    has_trust,
    dividend,
    harm,
    breach_harm,
    broker_start,
    broker_stop,
    threshold,
    overall,
    total_harm,
    unconsented,
    unconsented_harm,
    counts,
    members,
    devices,
    first,
    last,
):
    """Blocks [first, last) of `_user_pass`: block b's rows of overall, total_harm,
    unconsented and unconsented_harm, and its counts in row b of counts, members and devices."""
    k = exposure.shape[1]
    n_platforms = member.shape[1]
    tolerance = 4.0 * (k + 2) * 2.220446049250313e-16
    for b in range(first, last):
        # The block's counts, in scalars (which the compiler keeps in registers) and arrays of
        # its own, go to row b once done.
        standing = n_informed = n_consenting = regretted = undecided = 0
        n_exposed = broker_reach = trust_members = 0
        block_members = np.zeros_like(members[b])
        block_devices = np.zeros_like(devices[b])
        # Unsigned rows (they are ≥ 0) spare numba's negative-index wraparound code.
        for i in range(np.uint64(bounds[b]), np.uint64(bounds[b + 1])):
            product = 1.0
            dot = 0.0
            terms = 0
            consenting = False
            unconsented_product = 1.0
            unconsented_dot = 0.0
            # Branch-free but for third-party consents, which are rare (2-7 in a hundred
            # user-holder pairs at 1M users), so the processor predicts that branch. Multiplying
            # by 1.0 is an exact no-op.
            for h in range(k):
                third = True if h >= n_platforms else not member[i, h]
                e = exposure[i, h]
                product *= (1.0 - e) if third else 1.0
                if third and consented[i, h]:
                    standing += 1
                    n_informed += informed[i, h]
                    consenting = True
                    term = e * misuse[h]
                    terms += term != 0.0
                    dot += term
                else:  # a third party she has no consent with, or her own platform
                    unconsented_product *= (1.0 - e) if third else 1.0
                    unconsented_dot += e * misuse[h] if third else 0.0
            overall[i] = 1.0 - product
            total_harm[i] = harm[i] + breach_harm[i]
            unconsented[i] = 1.0 - unconsented_product
            unconsented_harm[i] = theta[i] * unconsented_dot
            if consenting:
                n_consenting += 1
                consented_harm = theta[i] * dot
                benefit = gain[i]
                if has_trust:
                    benefit = benefit + (dividend if trust_member[i] else 0.0)
                if terms <= 1 or abs(consented_harm - benefit) > tolerance * consented_harm:
                    regretted += consented_harm > benefit
                else:
                    undecided += 1
            n_exposed += unconsented[i] > threshold
            for h in range(broker_start, broker_stop):
                if holds[i, h]:
                    broker_reach += 1
                    break
            trust_members += trust_member[i]
            for p in range(n_platforms):
                block_members[p] += member[i, p]
            block_devices[device[i]] += 1
        counts[b, _STANDING], counts[b, _INFORMED] = standing, n_informed
        counts[b, _CONSENTING], counts[b, _REGRETTED] = n_consenting, regretted
        counts[b, _UNDECIDED], counts[b, _EXPOSED] = undecided, n_exposed
        counts[b, _BROKER_REACH], counts[b, _TRUST_MEMBERS] = broker_reach, trust_members
        members[b] = block_members
        devices[b] = block_devices


def compute_metrics(model: DataMarket) -> dict[str, float]:
    """Every metric of §7 for the month just played.

    The per-user work is one compiled pass (`_user_pass`), and the planner's two more
    (`month_planner_gap`: the contacts' harm over the graph, then the flows); each float mean is
    numpy's, over the same per-user array as the plain expressions it replaces, so every metric
    is bit-identical to them. `consent_rate` is NaN in a month without requests (`MISSING`).
    """
    users, month = model.users, model.month
    n = users.n
    per_user = 1.0 / n
    trust = model.trust
    overall, total_harm, unconsented, unconsented_harm, counts, members, devices = _user_pass(
        model.exposure,
        _bytes(users.consented),
        _bytes(users.informed),
        _bytes(users.holds),
        _bytes(users.member),
        users.device,
        _bytes(users.trust_member),
        users.theta,
        holder_misuse(model),
        month.personalisation_gain,
        trust is not None,
        float(trust.dividend) if trust is not None else 0.0,
        month.harm,
        month.breach_harm,
        model.holders.brokers.start,
        model.holders.brokers.stop,
        len(model.makers),
        model.p.exposure_threshold,
    )
    standing, informed = int(counts[_STANDING]), int(counts[_INFORMED])
    regretted, consenting = int(counts[_REGRETTED]), int(counts[_CONSENTING])
    if counts[_UNDECIDED]:
        regretted, consenting = regretted_consents(model)
    platform_profit = sum(f.profit for f in model.platforms) * per_user
    maker_profit = sum(f.profit for f in model.makers) * per_user
    broker_profit = sum(f.profit for f in model.brokers) * per_user
    trust_profit = trust.profit * per_user if trust is not None else 0.0
    consumer_surplus = float(month.utility.mean())
    licensed = model.licensed
    fees = model.fee[licensed]
    # A boolean array's mean is its count over n (an exact float sum, one division).
    return dict(
        consumer_surplus=consumer_surplus,
        privacy_harm=float(total_harm.mean()),
        platform_profit=platform_profit,
        maker_profit=maker_profit,
        broker_profit=broker_profit,
        total_welfare=consumer_surplus
        + platform_profit
        + maker_profit
        + broker_profit
        + trust_profit
        + month.fines * per_user,
        # A month without requests has no acceptance rate (MISSING), not a rate of 0.
        consent_rate=month.accepted / month.requests if month.requests else math.nan,
        informed_consent_share=informed / standing if standing else 0.0,
        regretted_consent_share=regretted / consenting if consenting else 0.0,
        mean_exposure=float(overall.mean()),
        exposed_without_consent_share=int(counts[_EXPOSED]) / n,
        mean_unconsented_exposure=float(unconsented.mean()),
        unconsented_harm=float(unconsented_harm.mean()),
        broker_reach_share=int(counts[_BROKER_REACH]) / n if model.brokers else 0.0,
        breaches=float(month.breaches),
        licensed_pairs=float(licensed.sum()),
        blocked_pairs=float(model.blocked.sum()),
        taking_pairs=float(model.taking.sum()),
        open_disputes=float((model.dispute_filed >= 0).sum()),
        mean_access_fee=float(fees.mean()) if fees.size else 0.0,
        device_hhi=_hhi(devices.astype(float)),
        platform_hhi=_hhi(members.astype(float)),
        mean_ai_quality=float(np.mean([maker.quality for maker in model.makers])),
        port_share=month.ports / n,
        withdrawal_share=month.withdrawals / n,
        trust_member_share=int(counts[_TRUST_MEMBERS]) / n,
        complaints_resolved=float(month.resolved),
        settlements=float(month.settlements),
        **planner_metrics(model),
    )
