"""The model-level metrics of MODEL.md §7 — their names are a contract — computed each month.

`METRICS` lists every name with its group, unit and meaning; `compute_metrics` returns them all
from the model's state at the end of a step.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numba
import numpy as np

from model.flows import holder_misuse
from model.kernels import (
    any_per_row,
    overall_exposure,
    row_blocks,
    run_each_block,
)
from model.planner import month_planner_gap

if TYPE_CHECKING:
    from model.market import DataMarket

METRICS: dict[str, tuple[str, str, str]] = {
    "consumer_surplus": ("welfare", "CNY per user per month", "mean user utility, money-metric"),
    "privacy_harm": (
        "welfare",
        "CNY per user per month",
        "mean realised privacy harm, breaches included (part of consumer surplus)",
    ),
    "platform_profit": ("welfare", "CNY per user per month", "summed platform profits"),
    "maker_profit": ("welfare", "CNY per user per month", "summed device-maker profits"),
    "broker_profit": ("welfare", "CNY per user per month", "summed broker profits"),
    "total_welfare": (
        "welfare",
        "CNY per user per month",
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
        "CNY per user per month",
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
        "CNY per shared user per month",
        "mean negotiated fee over licensed pairs (0 when none)",
    ),
    "mean_data_price": (
        "market",
        "CNY per consenting user per month",
        "mean payment from device makers to users for consent, over users whose standing "
        "consent to their device's maker let data flow this month (NaN when none)",
    ),
    "mean_device_price": (
        "market",
        "CNY per user per month",
        "device price paid, mean over device users (makers' prices weighted by their users)",
    ),
    "device_hhi": ("market", "index in [1/n, 1]", "Herfindahl index of device makers' shares"),
    "platform_hhi": ("market", "index in [1/n, 1]", "Herfindahl index of platform memberships"),
    "mean_ai_quality": ("market", "quality units", "mean AI-service quality of device makers"),
    "oversharing_share": (
        "benchmark",
        "share",
        "share of realised data holdings (makers', brokers') that the first best does not have",
    ),
    "undersharing_share": (
        "benchmark",
        "share",
        "share of the first best's data holdings that are not realised",
    ),
    "welfare_gap": (
        "benchmark",
        "CNY per user per month",
        "first-best total welfare minus the realised: oversharing_loss + undersharing_loss + "
        "conflict_loss + transaction_loss (never negative)",
    ),
    "oversharing_loss": (
        "benchmark",
        "CNY per user per month",
        "welfare lost to realised holdings the first best does not have (Shapley share)",
    ),
    "undersharing_loss": (
        "benchmark",
        "CNY per user per month",
        "welfare lost to first-best holdings that are not realised (Shapley share)",
    ),
    "externality_oversharing_loss": (
        "benchmark",
        "CNY per user per month",
        "over-sharing, against the first best, of the flows fully informed users would choose "
        "ignoring the harm to their contacts: the data externality's part",
    ),
    "conflict_loss": (
        "benchmark",
        "CNY per user per month",
        "welfare lost to conflict: degraded apps, and data delivered below its full value "
        "(taken rather than licensed, blocked, decayed)",
    ),
    "transaction_loss": (
        "benchmark",
        "CNY per user per month",
        "welfare lost to transaction costs: compliance, users' time reading requests, platforms' "
        "liability for licensed sharing, the trust's running costs",
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
    "mean_holding_age": (
        "events",
        "months",
        "mean age of the records makers, brokers and the trust hold: months since each was "
        "last refreshed (0 when none is held)",
    ),
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
MISSING: dict[str, str] = {
    "consent_rate": "no consent requests",
    "mean_data_price": "no consenting users whose data flowed",
}


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


def planner_metrics(model: DataMarket) -> dict[str, float]:
    """The month's planner benchmark (`model.planner`), as metrics."""
    gap = month_planner_gap(model)
    return dict(
        oversharing_share=gap.oversharing_share,
        undersharing_share=gap.undersharing_share,
        welfare_gap=gap.welfare_gap,
        oversharing_loss=gap.oversharing_loss,
        undersharing_loss=gap.undersharing_loss,
        externality_oversharing_loss=gap.externality_oversharing_loss,
        conflict_loss=gap.conflict_loss,
        transaction_loss=gap.transaction_loss,
    )


def regretted_consents(model: DataMarket) -> tuple[int, int]:
    """(users whose harm from third parties they consented to exceeds their benefit, users with
    a third-party consent): the plain numpy expressions, the reference of `_user_pass`."""
    users = model.users
    third_party_consent = users.consented & third_party_mask(model)
    consenting = any_per_row(third_party_consent)
    consented_harm = users.harm_theta * (
        (model.exposure * third_party_consent) @ holder_misuse(model)
    )
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
        users.harm_theta,
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
        mean_data_price=month.data_payments / month.paid_consents
        if month.paid_consents
        else float("nan"),
        # Every user has a device: the users' device payments per user.
        mean_device_price=float(np.array([maker.price for maker in model.makers]) @ devices) / n,
        device_hhi=_hhi(devices.astype(float)),
        platform_hhi=_hhi(members.astype(float)),
        mean_ai_quality=float(np.mean([maker.quality for maker in model.makers])),
        port_share=month.ports / n,
        withdrawal_share=month.withdrawals / n,
        trust_member_share=int(counts[_TRUST_MEMBERS]) / n,
        complaints_resolved=float(month.resolved),
        settlements=float(month.settlements),
        mean_holding_age=float(month.mean_holding_age),
        **planner_metrics(model),
    )
