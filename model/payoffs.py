"""Phase 7: payoffs — user utility, firm profits, and the transfers between them.

Transfers (device payments, access fees, data sales, dividends, compensation, fines) go through
one `Ledger`, so money is conserved by construction and checkable: what one account pays another
receives. What is not a transfer is value created (advertising, services, device use) or used up
(device production, security, compliance, degradation, privacy harm).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from model.flows import holder_misuse, privacy_harm

if TYPE_CHECKING:
    from model.agents import Firm
    from model.market import DataMarket

USERS = "users"
PUBLIC = "public"


class Ledger:
    """This month's transfers between accounts: firms, the users (as one account), the public.

    `balance` holds each account's net receipts; they sum to zero (up to rounding).
    """

    def __init__(self) -> None:
        self.balance: dict[object, float] = defaultdict(float)
        self.entries: list[tuple[str, str, float, str]] = []

    def reset(self) -> None:
        self.balance.clear()
        self.entries.clear()

    def transfer(self, payer: Firm | str, payee: Firm | str, amount: float, what: str) -> None:
        """Move `amount` CU from payer to payee, booking it on any firm's accounts."""
        if amount == 0:
            return
        if amount < 0 or not np.isfinite(amount):
            raise ValueError(f"a transfer must be a finite amount >= 0, got {amount} for {what}")
        self.balance[_key(payer)] -= amount
        self.balance[_key(payee)] += amount
        self.entries.append((str(_key(payer)), str(_key(payee)), float(amount), what))
        _book(payer, -amount, what)
        _book(payee, amount, what)

    def imbalance(self) -> float:
        """Sum of all net receipts: zero when money is conserved."""
        return float(sum(self.balance.values()))


def _key(account: Firm | str) -> object:
    return account if isinstance(account, str) else account.unique_id


_FIRM_FIELDS = {
    "access fee": ("fees_paid", "fees_received"),
    "trust fee": ("fees_paid", "fees_received"),
    "data sale": ("purchases", "sales_received"),
    "fine": ("fines", None),
    "compensation": ("liability_paid", None),
    "dividend": ("fees_paid", None),
    "device": (None, "revenue"),
}


def _book(account: Firm | str, signed: float, what: str) -> None:
    if isinstance(account, str):
        return
    paid, received = _FIRM_FIELDS[what]
    field = paid if signed < 0 else received
    if field is not None:
        setattr(account, field, getattr(account, field) + abs(signed))


def settle(model: DataMarket) -> None:
    """Phase 7: compute every user's utility and every firm's books for the month."""
    p, regime, users, month, holders = (
        model.p,
        model.regime,
        model.users,
        model.month,
        model.holders,
    )
    n = users.n
    ledger = model.ledger
    data_quality = month.data_quality
    quality = np.array([maker.quality for maker in model.makers])
    dev_quality = quality[users.device]
    misuse = holder_misuse(model)
    compliance = regime.compliance_cost * n / 1000.0  # per data-sharing relationship
    full_quality = p.quality_base + p.quality_gain

    # Users: platforms, device service, harm, reading time.
    base = np.full(len(model.platforms), p.platform_base_value - p.platform_use_cost)
    base[0] += p.dominant_platform_advantage
    platform_quality = np.array([platform.quality for platform in model.platforms])
    degraded = model.blocked[:, users.device].T  # (N, P)
    member = users.member
    platform_value = (
        member
        * (
            base[None, :]
            + users.value[:, None] * platform_quality[None, :]
            + p.network_value * month.contact_share
            - p.degradation_cost * degraded
        )
    ).sum(axis=1)
    service = (
        users.value
        * dev_quality
        * (p.generic_service_share + (1 - p.generic_service_share) * data_quality)
    )
    harm = privacy_harm(users.theta, model.exposure, misuse)
    month.harm = harm
    month.personalisation_gain = (
        (1 - p.generic_service_share) * users.value * dev_quality * data_quality
    )
    utility = (
        platform_value
        + p.device_base_value
        + service
        - harm
        - month.breach_harm
        - p.reading_time_cost * month.reads
    )

    # Devices: users pay their maker; makers produce.
    device_users = np.bincount(users.device, minlength=len(model.makers))
    personalised = np.bincount(
        users.device,
        weights=p.generic_service_share + (1 - p.generic_service_share) * data_quality,
        minlength=len(model.makers),
    )
    utility -= p.device_price
    held_by = users.holds.sum(axis=0)  # records each holder has, counted in one pass
    for m, maker in enumerate(model.makers):
        ledger.transfer(USERS, maker, p.device_price * device_users[m], "device")
        maker.revenue += p.service_revenue_rate * maker.quality * personalised[m]
        held = held_by[holders.maker(m)]
        maker.costs += p.device_unit_cost * device_users[m] + p.security_maker * held
        maker.market_share = device_users[m] / n

    # Platforms: advertising, degraded apps, licence fees and liability.
    rival = data_quality > 0
    shares = member.sum(axis=0) / max(member.sum(), 1)
    for index, platform in enumerate(model.platforms):
        on = member[:, index]
        engagement = 1.0 - p.degradation_engagement_loss * degraded[:, index]
        ads = (
            p.ad_revenue_per_user
            * platform.quality
            / full_quality
            * (on * engagement * (1.0 - p.ad_rivalry_loss * rival)).sum()
        )
        platform.revenue += ads
        platform.costs += p.security_platform * held_by[index]
        platform.market_share = float(shares[index])
        # Users of this platform reached through a licence, by their device's maker.
        shared_by = np.bincount(
            users.device[on & month.licensed_users], minlength=len(model.makers)
        )
        for m, maker in enumerate(model.makers):
            if not model.licensed[index, m]:
                continue
            shared = int(shared_by[m])
            platform.costs += p.licence_liability * shared
            ledger.transfer(maker, platform, model.fee[index, m] * shared, "access fee")
    relationships = (model.licensed | model.taking).sum(axis=0)
    if model.trust is not None:
        relationships = relationships + model.trust.licensed
    for m, maker in enumerate(model.makers):
        maker.costs += compliance * relationships[m]

    # Recipient liability: every recipient of platform data (makers, brokers) compensates the
    # harm its holdings cause, breaches included.
    if regime.recipient_liability:
        recipients = [(holders.maker(m), maker) for m, maker in enumerate(model.makers)]
        recipients += [(holders.broker(k), broker) for k, broker in enumerate(model.brokers)]
        for col, firm in recipients:
            owed = users.theta * misuse[col] * model.exposure[:, col]
            if month.breached[col]:
                owed = owed + p.breach_harm_multiplier * users.theta * model.exposure[:, col]
            utility += owed
            ledger.transfer(firm, USERS, float(owed.sum()), "compensation")

    # Brokers resell the use of what they hold.
    for k, broker in enumerate(model.brokers):
        held = held_by[holders.broker(k)]
        broker.revenue += p.broker_resale_value * held
        broker.costs += p.security_broker * held
        broker.market_share = held / n

    # The trust collects fees for its members and pays them out as a dividend.
    if model.trust is not None:
        trust = model.trust
        members = users.trust_member
        trust.members = int(members.sum())
        for m, maker in enumerate(model.makers):
            if trust.licensed[m]:
                count = int((members & (users.device == m)).sum())
                ledger.transfer(maker, trust, trust.fee_per_member[m] * count, "trust fee")
        trust.costs += p.trust_running_cost * trust.members + p.security_trust * trust.members
        pot = max(trust.fees_received - trust.costs, 0.0)
        trust.dividend = pot / trust.members if trust.members else 0.0
        utility += np.where(members, trust.dividend, 0.0)
        ledger.transfer(trust, USERS, pot, "dividend")
        trust.market_share = trust.members / n

    month.utility = utility
    for firm in model.firms:
        firm.close_books()
