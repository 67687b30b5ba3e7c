"""The model-level metrics of MODEL.md §7 — their names are a contract — computed each month.

`METRICS` lists every name with its group, unit and meaning; `compute_metrics` returns them all
from the model's state at the end of a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from model.flows import holder_leakage, holder_misuse, overall_exposure
from model.kernels import any_per_row
from model.planner import flow_cost, planner_gap

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
        "share of this month's consent requests accepted (last month's value when none was "
        "made; 0 before the first request)",
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
        "share of users exposed to a holder they never consented to",
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
    "exposed_without_consent_share",
    "oversharing_share",
    "device_hhi",
)


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


@dataclass(frozen=True)
class PotentialFlows:
    """Every potential flow of the month, flat: each platform user's data to her device's maker,
    and every user's data to each broker. CU per month, one entry per flow."""

    benefit: np.ndarray  # the user's personalisation gain + the holder's profit gain
    cost: np.ndarray  # the user's own harm at her exposure before the flow + her contacts' harm
    own_cost: np.ndarray  # the first part of `cost`
    actual: np.ndarray  # the flow happens this month
    to_maker: np.ndarray  # a maker flow (else a broker flow)
    contacts_held: np.ndarray  # s: share of the user's contacts whose data the holder has


def potential_flows(model: DataMarket) -> PotentialFlows:
    """The planner's view of the month (MODEL.md §4): what each potential flow is worth and
    costs. A flow through the trust costs what the trust's holding costs (lower misuse,
    de-correlated).

    Each flow is costed only for the users it concerns (a maker's flows: its users on a
    platform), elementwise, so the values are those of costing every user and selecting.
    """
    p, users, holders, month = model.p, model.users, model.holders, model.month
    leakage, misuse = holder_leakage(model), holder_misuse(model)
    # Phase 4's Σ θ_j / deg_j over contacts whose data the holder lacks, by
    # `planner.contact_harm_columns`: the user's device maker, each broker, then the trust.
    unheld = month.unheld_contact_weight
    trust_slot = 1 + len(model.brokers)

    def costs_of_flows_to(col: int, rows: np.ndarray | slice, slot: int) -> tuple[np.ndarray, ...]:
        # = contact_harm(graph, degree, θ, ~holds[:, col], ρ, λ)[rows].
        harm_contacts = misuse[col] * leakage[col] * unheld[rows, slot]
        # Exposure without the user's own flow (λ·s): the flow's cost is what it adds.
        before = leakage[col] * model.contact_held[rows, col]
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
        own, cost = costs_of_flows_to(col, rows, 0)
        if model.trust is not None:
            trust_own, trust_cost = costs_of_flows_to(holders.trust, rows, trust_slot)
            own = np.where(via_trust[rows], trust_own, own)
            cost = np.where(via_trust[rows], trust_cost, cost)
        parts.append(
            (
                gain[rows],
                cost,
                own,
                actual[rows],
                np.ones(rows.size, bool),
                model.contact_held[rows, col],
            )
        )
    everyone = slice(None)
    for k in range(len(model.brokers)):
        col = holders.broker(k)
        own, cost = costs_of_flows_to(col, everyone, 1 + k)
        parts.append(
            (
                np.full(users.n, p.broker_resale_value),
                cost,
                own,
                users.holds[:, col],
                np.zeros(users.n, bool),
                model.contact_held[:, col],
            )
        )
    columns = [np.concatenate([part[i] for part in parts]) for i in range(6)]
    return PotentialFlows(*columns)


def planner_metrics(model: DataMarket) -> dict[str, float]:
    """Compare the realised flows to the first best over the month's potential flows."""
    flows = potential_flows(model)
    gap = planner_gap(flows.benefit, flows.cost, flows.actual, model.users.n)
    return dict(
        oversharing_share=gap.oversharing_share,
        undersharing_share=gap.undersharing_share,
        welfare_gap=gap.welfare_gap,
    )


def compute_metrics(model: DataMarket) -> dict[str, float]:
    """Every metric of §7 for the month just played."""
    users, month, holders = model.users, model.month, model.holders
    n = users.n
    third = third_party_mask(model)
    e = model.exposure
    per_user = 1.0 / n
    platform_profit = sum(f.profit for f in model.platforms) * per_user
    maker_profit = sum(f.profit for f in model.makers) * per_user
    broker_profit = sum(f.profit for f in model.brokers) * per_user
    trust_profit = model.trust.profit * per_user if model.trust is not None else 0.0
    consumer_surplus = float(month.utility.mean())

    third_party_consent = users.consented & third
    standing = np.count_nonzero(third_party_consent)
    informed = np.count_nonzero(users.informed & third_party_consent)
    consenting = any_per_row(third_party_consent)
    consented_harm = users.theta * ((e * third_party_consent) @ holder_misuse(model))
    benefit = month.personalisation_gain
    if model.trust is not None:
        benefit = benefit + np.where(users.trust_member, model.trust.dividend, 0.0)
    regretted = consenting & (consented_harm > benefit)

    exposed = (e > 0) & third & ~users.consented
    licensed = model.licensed
    fees = model.fee[licensed]
    return dict(
        consumer_surplus=consumer_surplus,
        privacy_harm=float((month.harm + month.breach_harm).mean()),
        platform_profit=platform_profit,
        maker_profit=maker_profit,
        broker_profit=broker_profit,
        total_welfare=consumer_surplus
        + platform_profit
        + maker_profit
        + broker_profit
        + trust_profit
        + month.fines * per_user,
        consent_rate=month.accepted / month.requests
        if month.requests
        else model.metrics.get("consent_rate", 0.0),
        informed_consent_share=informed / standing if standing else 0.0,
        regretted_consent_share=float(regretted.sum() / consenting.sum())
        if consenting.any()
        else 0.0,
        mean_exposure=float(overall_exposure(e, third).mean()),
        exposed_without_consent_share=float(any_per_row(exposed).mean()),
        broker_reach_share=float(any_per_row(users.holds[:, holders.brokers]).mean())
        if model.brokers
        else 0.0,
        breaches=float(month.breaches),
        licensed_pairs=float(licensed.sum()),
        blocked_pairs=float(model.blocked.sum()),
        taking_pairs=float(model.taking.sum()),
        open_disputes=float((model.dispute_filed >= 0).sum()),
        mean_access_fee=float(fees.mean()) if fees.size else 0.0,
        device_hhi=_hhi(np.bincount(users.device, minlength=len(model.makers)).astype(float)),
        platform_hhi=_hhi(users.member.sum(axis=0).astype(float)),
        mean_ai_quality=float(np.mean([maker.quality for maker in model.makers])),
        port_share=month.ports / n,
        withdrawal_share=month.withdrawals / n,
        trust_member_share=float(users.trust_member.mean()),
        complaints_resolved=float(month.resolved),
        settlements=float(month.settlements),
        **planner_metrics(model),
    )
