"""Phase 2 (negotiation) and phase 8 (learning): platform–maker pairs, the trust's bargains.

For each pair (p, m) the platform has a strategy (open / license / block-while-no-deal) and the
maker one (none / license only / take-while-no-deal). Where both come to the table they strike
the Nash bargain of `model.bargaining`, whose disagreement point is what happens without a deal:
the maker takes on-device where the regime lets it, the platform blocks where it chose to and may.
Firms estimate the payoff of every strategy from this month's realised quantities and learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from model.agents import BLOCK, LICENSE, NONE, OPEN, TAKE
from model.bargaining import nash_fee
from model.consent import data_value_per_user

if TYPE_CHECKING:
    from model.market import DataMarket


@dataclass(frozen=True)
class PairEconomics:
    """What one pair's data is worth, per user of the pair, CNY per month.

    Attributes:
        users: users who are members of the platform and use the maker's devices.
        licence_consent: share of them whose data a licence delivers (1 under platform terms).
        take_consent: share of them whose data on-device taking delivers (those who consent).
        maker_value: the maker's value of one user's data (service revenue, minus liability).
        platform_loss: the platform's loss when a maker holds one member's data (ad rivalry).
        licence_liability: the platform's extra cost of sharing under its own licence.
        take_quality: value of taken data relative to licensed data.
        block_effectiveness: share of taking that blocking prevents.
        block_cost: the platform's loss per user of its degraded app.
        sales_loss: the maker's lost margin per user whose app is degraded.
        fixed_cost: the maker's compliance cost of the relationship, CNY per month (whole pair).
        fee_cap: the regime's cap per shared user (inf = none).
        power: the platform's bargaining power.
        access: third parties may get platform data at all.
        may_take: the maker may take on-device with consent.
        may_block: the platform may block or degrade.
    """

    users: float
    licence_consent: float
    take_consent: float
    maker_value: float
    platform_loss: float
    licence_liability: float
    take_quality: float
    block_effectiveness: float
    block_cost: float
    sales_loss: float
    fixed_cost: float
    fee_cap: float
    power: float
    access: bool
    may_take: bool
    may_block: bool


@dataclass(frozen=True)
class PairOutcome:
    """What one strategy pair leads to: payoffs (CNY per month, whole pair) and the deal."""

    platform_payoff: float
    maker_payoff: float
    licensed: bool
    fee: float  # CNY per shared user per month
    taking: bool
    blocked: bool


def pair_outcome(
    e: PairEconomics, platform_strategy: int, maker_strategy: int, at_table: bool = True
) -> PairOutcome:
    """Play out one pair under given strategies: bargain, or take and block without a deal.

    Without a deal the maker takes on-device (where it may, chose to, and it pays) or walks away;
    a platform that chose to block degrades its app on the devices of a maker that takes. The
    Nash disagreement point is that outcome. With `at_table` False the two sides are in a dispute
    and do not bargain: the maker that chose to take keeps taking even where it does not pay.
    """
    n = e.users
    if not e.access or maker_strategy == NONE:
        # Nothing to bargain over, and no reason to degrade the app of a maker that wants nothing.
        return PairOutcome(0.0, 0.0, False, 0.0, False, False)
    blocking = e.may_block and platform_strategy == BLOCK
    block_platform = e.block_cost * n if blocking else 0.0
    block_maker = e.sales_loss * n if blocking else 0.0
    shared = e.licence_consent * n
    gain = e.maker_value * shared - e.fixed_cost
    cost = (e.platform_loss + e.licence_liability) * shared
    if platform_strategy == OPEN:
        return PairOutcome(-cost, gain, True, 0.0, False, False)

    taken_quality = e.take_quality * (1.0 - (e.block_effectiveness if blocking else 0.0))
    taken = e.take_consent * n
    take_payoff = e.maker_value * taken_quality * taken - block_maker - e.fixed_cost
    would_take = e.may_take and maker_strategy == TAKE and (take_payoff > 0 or not at_table)
    maker_threat = take_payoff if would_take else 0.0
    platform_threat = (
        -block_platform - e.platform_loss * taken_quality * taken if would_take else 0.0
    )
    bargain = nash_fee(
        maker_gain=gain,
        platform_cost=cost,
        maker_disagreement=maker_threat,
        platform_disagreement=platform_threat,
        platform_power=e.power,
        fee_cap=e.fee_cap * shared,
    )
    if at_table and bargain.agreed and shared > 0:
        return PairOutcome(
            bargain.fee - cost, gain - bargain.fee, True, bargain.fee / shared, False, False
        )
    return PairOutcome(
        platform_threat, maker_threat, False, 0.0, would_take, blocking and would_take
    )


def payoff_tables(e: PairEconomics) -> tuple[np.ndarray, np.ndarray]:
    """Payoffs of every strategy pair: (platform[ps, ms], maker[ps, ms]), CNY per month."""
    platform = np.zeros((3, 3))
    maker = np.zeros((3, 3))
    for ps in (OPEN, LICENSE, BLOCK):
        for ms in (NONE, LICENSE, TAKE):
            outcome = pair_outcome(e, ps, ms)
            platform[ps, ms] = outcome.platform_payoff
            maker[ps, ms] = outcome.maker_payoff
    return platform, maker


def allowed_strategies(model: DataMarket) -> tuple[np.ndarray, np.ndarray]:
    """Which strategies the regime permits: platform (3,), maker (3,)."""
    regime = model.regime
    platform = np.array([True, True, regime.platform_may_block])
    maker = np.array(
        [True, regime.third_party_access, regime.third_party_access and regime.maker_may_take]
    )
    return platform, maker


def pair_economics(
    model: DataMarket,
    p: int,
    m: int,
    pair_users: np.ndarray | None = None,
    mean_theta: float | None = None,
) -> PairEconomics:
    """Estimate a pair's economics from this month's state (the firms' realised figures).

    `pair_users` (P, M), from `users_per_pair`, and `mean_theta`,
    ``float(users.harm_theta.mean())``, save working them out again for each pair; without them
    they are worked out here.
    """
    params, regime, users = model.p, model.regime, model.users
    if pair_users is None:
        pair_users = users_per_pair(model)
    maker = model.makers[m]
    prior = params.p_click if regime.refusal_costs_service else params.p_neutral
    # Until a maker has asked anyone, it expects the acceptance the interface is known for.
    take_consent = prior if np.isnan(maker.acceptance) else maker.acceptance
    terms = regime.consent_standard == "platform_terms"
    liability = (
        (float(users.harm_theta.mean()) if mean_theta is None else mean_theta)
        * params.misuse_maker
        * (1.0 + params.leakage)
        if regime.recipient_liability
        else 0.0
    )
    # What one more device user adds to the maker's profit, p_m − c̃_m, as it priced last in
    # phase 5: her whole contribution (device margin, fees, service revenue) is what is lost
    # when she switches away from a degraded app.
    margin = maker.markup
    switching = 1.0 - np.exp(-params.choice_sensitivity * params.degradation_cost)
    return PairEconomics(
        users=float(pair_users[p, m]),
        licence_consent=1.0 if terms else take_consent,
        take_consent=take_consent,
        maker_value=max(
            params.service_revenue_rate * (1 - params.generic_service_share) * maker.quality
            - liability,
            0.0,
        ),
        platform_loss=params.ad_rivalry_loss * params.ad_revenue_per_user,
        licence_liability=params.licence_liability,
        take_quality=params.taking_data_quality,
        block_effectiveness=params.block_effectiveness,
        block_cost=params.degradation_engagement_loss * params.ad_revenue_per_user,
        sales_loss=switching * margin,
        fixed_cost=regime.compliance_cost * users.n / params.market_size,
        fee_cap=regime.access_fee_cap,
        power=(
            params.mediated_bargaining_power
            if model.mediated[p, m]
            else params.platform_bargaining_power
        ),
        access=regime.third_party_access,
        may_take=regime.maker_may_take,
        may_block=regime.platform_may_block,
    )


def users_per_pair(model: DataMarket) -> np.ndarray:
    """(P, M) int64: users of each pair, members of the platform with the maker's device who
    have not delegated their rights to the trust. Equals ``(member[:, p] & (device == m)
    & ~trust_member).sum()`` for every (p, m), counted in one pass."""
    users = model.users
    return _users_per_pair(users.member, users.device, users.trust_member, len(model.makers))


@numba.njit(cache=True, nogil=True)
def _users_per_pair(member, device, trust_member, n_makers):
    n, n_platforms = member.shape
    counts = np.zeros((n_platforms, n_makers), dtype=np.int64)
    for i in range(n):
        free = not trust_member[i]
        for p in range(n_platforms):
            counts[p, device[i]] += member[i, p] & free  # 0 or 1: no branch to mispredict
    return counts


def opening_move(model: DataMarket, p: int, m: int) -> tuple[int, int] | None:
    """The scripted 2017 opening between platform 0 and maker 0, or None once it is over.

    For `opening_negotiation_months` they negotiate without agreement while the maker takes
    (where the regime lets it); then the platform degrades its app (where it may) and complains,
    without bargaining, until the regulator has dealt with the complaint. What follows is the
    regime's: the opening is the common starting point every regime is compared from.
    """
    if not (model.p.opening_dispute and p == 0 and m == 0) or model.opening_over:
        return None
    months = model.p.opening_negotiation_months
    if model.steps <= months:
        return LICENSE, TAKE
    if model.steps == months + 1 or model.dispute_filed[p, m] >= 0:
        return BLOCK, TAKE
    model.opening_over = True
    return None


def negotiate(model: DataMarket) -> None:
    """Phase 2: revise strategies at reviews, bargain each pair, file complaints."""
    n_platforms, n_makers = len(model.platforms), len(model.makers)
    platform_allowed, maker_allowed = allowed_strategies(model)
    params = model.p

    def reviews(firm_number: int) -> bool:
        # Everyone chooses in month 1; after that firm f reviews in the months t with
        # (t − 1 − f) mod review_interval = 0, so that the market does not reshuffle at once.
        month = model.steps - 1
        return month == 0 or (month - firm_number) % params.review_interval == 0

    for p, platform in enumerate(model.platforms):
        if reviews(p):
            allowed = np.tile(platform_allowed, (n_makers, 1))
            allowed[model.unblock_order[p] > model.steps, BLOCK] = False
            platform.choose(allowed, params.choice_temperature, params.exploration)
        # Strategies the regime has since forbidden fall back to licensing.
        forbidden = ~platform_allowed[platform.choice] | (
            (platform.choice == BLOCK) & (model.unblock_order[p] > model.steps)
        )
        platform.choice[forbidden] = LICENSE
    for m, maker in enumerate(model.makers):
        if reviews(n_platforms + m):
            maker.choose(
                np.tile(maker_allowed, (n_platforms, 1)),
                params.choice_temperature,
                params.exploration,
            )
        maker.choice[~maker_allowed[maker.choice]] = NONE
    # The users do not move while firms negotiate: what each pair reads of them, once.
    pair_users = users_per_pair(model)
    mean_theta = float(model.users.harm_theta.mean()) if model.regime.recipient_liability else None
    for p, platform in enumerate(model.platforms):
        for m, maker in enumerate(model.makers):
            ps, ms = platform.choice[m], maker.choice[p]
            scripted = opening_move(model, p, m)
            if scripted is not None:
                ps, ms = scripted
            if model.mediated[p, m]:
                ps, ms = LICENSE, ms if ms != NONE else LICENSE
                scripted = None
            economics = pair_economics(model, p, m, pair_users, mean_theta)
            outcome = pair_outcome(economics, ps, ms, at_table=scripted is None)
            running = model.licensed[p, m] and model.contract_until[p, m] > model.steps
            if outcome.licensed and not running:
                model.fee[p, m] = outcome.fee  # a new contract, for one review period
                model.contract_until[p, m] = model.steps + params.review_interval
            elif not outcome.licensed:
                model.fee[p, m] = 0.0
            model.licensed[p, m] = outcome.licensed
            model.taking[p, m] = outcome.taking
            model.blocked[p, m] = outcome.blocked
            model.economics[p, m] = economics
            _maybe_complain(model, p, m)
    model.mediated[:] = False
    if model.trust is not None:
        _trust_bargains(model)


def _maybe_complain(model: DataMarket, p: int, m: int) -> None:
    """A blocked pair — the maker takes, the platform degrades its app — becomes a dispute before
    the regulator (the platform complains of the taking; where blocking is contested, the block
    is part of the case). One open complaint per pair at a time."""
    if model.dispute_filed[p, m] < 0 and model.blocked[p, m]:
        model.dispute_filed[p, m] = model.steps


def _trust_bargains(model: DataMarket) -> None:
    """The trust bargains collectively with each maker over its members' data (no outside option:
    members' data moves only through the trust). Its cost is the members' expected harm; before
    it has members, the harm of those it would draw: the users for whom its service would be
    worth more than their own cost of joining (it selects, as opt-outs do: Aridor, Che & Salz
    2023)."""
    params, users, trust = model.p, model.users, model.trust
    members = users.trust_member
    theta = users.harm_theta
    if not members.any():
        quality = np.array([maker.quality for maker in model.makers])[users.device]
        gain = (1 - params.generic_service_share) * users.value * quality
        members = gain > users.present_bias * users.theta * params.misuse_trust
    harm = float(theta[members].mean()) if members.any() else float(theta.mean())
    leakage = params.leakage * (1 - params.trust_decorrelation)
    member_cost = harm * params.misuse_trust * (1 + leakage)
    for m in range(len(model.makers)):
        n = float((users.trust_member & (users.device == m)).sum())
        value = data_value_per_user(model, m)
        bargain = nash_fee(
            maker_gain=value * n - model.regime.compliance_cost * users.n / params.market_size,
            platform_cost=member_cost * n,
            maker_disagreement=0.0,
            platform_disagreement=0.0,
            platform_power=params.trust_bargaining_power,
            fee_cap=model.regime.access_fee_cap * n,
        )
        access = model.regime.third_party_access
        trust.offered[m] = access and value > member_cost  # what joining promises
        trust.licensed[m] = access and bargain.agreed and n > 0
        trust.fee_per_member[m] = bargain.fee / n if n > 0 else 0.0


def learn(model: DataMarket) -> None:
    """Phase 8: each firm blends the payoff every strategy would have earned this month (against
    the counterpart's current strategy) into its attractions, per user of the market."""
    scale = 1.0 / model.users.n
    rate = model.p.learning_rate
    platform_payoffs = np.zeros((len(model.platforms), len(model.makers), 3))
    maker_payoffs = np.zeros((len(model.makers), len(model.platforms), 3))
    for p, platform in enumerate(model.platforms):
        for m, maker in enumerate(model.makers):
            table_p, table_m = payoff_tables(model.economics[p, m])
            platform_payoffs[p, m] = table_p[:, maker.choice[p]] * scale
            maker_payoffs[m, p] = table_m[platform.choice[m], :] * scale
    for p, platform in enumerate(model.platforms):
        platform.learn(platform_payoffs[p], rate)
    for m, maker in enumerate(model.makers):
        maker.learn(maker_payoffs[m], rate)
