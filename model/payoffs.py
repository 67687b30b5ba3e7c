"""Phase 7: payoffs — user utility, firm profits, and the transfers between them.

Transfers (device payments, access fees, data sales, dividends, compensation, fines) go through
one `Ledger`, so money is conserved by construction and checkable: what one account pays another
receives. What is not a transfer is value created (advertising, services, device use) or used up
(device production, security, compliance, degradation, privacy harm).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, NamedTuple

import numba
import numpy as np

from model.flows import holder_misuse, privacy_harm
from model.kernels import row_blocks, run_each_block

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
        """Move `amount` CNY from payer to payee, booking it on any firm's accounts."""
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
    "data payment": ("data_payments", None),
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
    misuse = holder_misuse(model)
    # Per data-sharing relationship: the firm-level cost spread over the users it stands for.
    compliance = regime.compliance_cost * n / p.market_size
    full_quality = p.quality_base + p.quality_gain

    # Users (platforms, device service, harm, reading time) and every per-firm count, in one pass.
    base = np.full(len(model.platforms), p.platform_base_value - p.platform_use_cost)
    base[0] += p.dominant_platform_advantage
    harm = privacy_harm(users.harm_theta, model.exposure, misuse)
    month.harm = harm
    tally = _user_pass(
        device=users.device,
        member=users.member,
        holds=users.holds,
        value=users.value,
        contact_share=month.contact_share,
        data_quality=month.data_quality,
        harm=harm,
        breach_harm=month.breach_harm,
        reads=month.reads,
        licensed_users=month.licensed_users,
        trust_member=users.trust_member,
        blocked=model.blocked,
        base=base,
        platform_quality=np.array([platform.quality for platform in model.platforms]),
        maker_quality=np.array([maker.quality for maker in model.makers]),
        network_value=p.network_value,
        degradation_cost=p.degradation_cost,
        generic_share=p.generic_service_share,
        personal_share=1 - p.generic_service_share,
        device_base_value=p.device_base_value,
        reading_time_cost=p.reading_time_cost,
        device_price=np.array([maker.price for maker in model.makers]),
        engagement_loss=p.degradation_engagement_loss,
        rivalry_loss=p.ad_rivalry_loss,
    )
    utility = tally.utility
    month.personalisation_gain = tally.personalisation_gain

    # Makers pay users for their consent while it stands and their data flows to them.
    flowing = _paid_consents(users.consented, holders.maker(0) + users.device, month.data_quality)
    paid = np.where(flowing, users.payment, 0.0)
    utility += paid
    payments = np.bincount(users.device, weights=paid, minlength=len(model.makers))
    month.data_payments = float(payments.sum())
    month.paid_consents = int(np.count_nonzero(flowing))
    for m, maker in enumerate(model.makers):
        ledger.transfer(maker, USERS, float(payments[m]), "data payment")

    # Devices: users pay their maker its price this month (phase 5); makers produce.
    device_users, personalised, held_by = tally.device_users, tally.personalised, tally.held_by
    for m, maker in enumerate(model.makers):
        ledger.transfer(USERS, maker, maker.price * device_users[m], "device")
        maker.revenue += p.service_revenue_rate * maker.quality * personalised[m]
        held = held_by[holders.maker(m)]
        maker.costs += p.device_unit_cost * device_users[m] + p.security_maker * held
        maker.market_share = device_users[m] / n

    # Platforms: advertising, degraded apps, licence fees and liability.
    shares = tally.members / max(tally.members.sum(), 1)
    for index, platform in enumerate(model.platforms):
        # Pairwise, as numpy sums (on · engagement · (1 − rivalry loss)) over all users.
        ads = p.ad_revenue_per_user * platform.quality / full_quality * tally.engaged[index].sum()
        platform.revenue += ads
        platform.costs += p.security_platform * held_by[index]
        platform.market_share = float(shares[index])
        # Users of this platform reached through a licence, by their device's maker.
        for m, maker in enumerate(model.makers):
            if not model.licensed[index, m]:
                continue
            shared = int(tally.shared_by[index, m])
            platform.costs += p.licence_liability * shared
            month.licence_cost += p.licence_liability * shared
            ledger.transfer(maker, platform, model.fee[index, m] * shared, "access fee")
    relationships = (model.licensed | model.taking).sum(axis=0)
    if model.trust is not None:
        relationships = relationships + model.trust.licensed
    for m, maker in enumerate(model.makers):
        maker.costs += compliance * relationships[m]
    # What the first best would not lose (the planner's conflict and transaction losses).
    month.compliance_paid = float(compliance * relationships.sum())
    month.reading_cost = float(p.reading_time_cost * month.reads.sum())
    month.degradation_loss = _degradation_loss(model, tally.engaged)

    # Recipient liability: every recipient of platform data (makers, brokers) compensates the
    # harm its holdings cause, breaches included.
    if regime.recipient_liability:
        recipients = [(holders.maker(m), maker) for m, maker in enumerate(model.makers)]
        recipients += [(holders.broker(k), broker) for k, broker in enumerate(model.brokers)]
        columns = np.array([col for col, _ in recipients], dtype=np.int64)
        owed = _compensation(
            users.harm_theta,
            model.exposure,
            columns,
            misuse[columns],
            month.breached[columns],
            p.breach_harm_multiplier,
            utility,
        )
        for row, (_, firm) in enumerate(recipients):
            ledger.transfer(firm, USERS, float(owed[row].sum()), "compensation")

    # Brokers resell what they know of each user (her exposure to them: her record, or what
    # leaks of her through contacts' records), shared among the brokers holding her record.
    if model.brokers:
        sharing = np.maximum(users.holds[:, holders.brokers].sum(axis=1), 1)
    for k, broker in enumerate(model.brokers):
        held = held_by[holders.broker(k)]
        known = float((model.exposure[:, holders.broker(k)] / sharing).sum())
        broker.revenue += p.broker_resale_value * known
        broker.costs += p.security_broker * held
        broker.market_share = held / n

    # The trust collects fees for its members and pays them out as a dividend.
    if model.trust is not None:
        trust = model.trust
        trust.members = int(tally.trust_by_device.sum())
        for m, maker in enumerate(model.makers):
            if trust.licensed[m]:
                count = int(tally.trust_by_device[m])
                ledger.transfer(maker, trust, trust.fee_per_member[m] * count, "trust fee")
        running = p.trust_running_cost * trust.members + p.security_trust * trust.members
        trust.costs += running
        month.trust_cost = running
        pot = max(trust.fees_received - trust.costs, 0.0)
        trust.dividend = pot / trust.members if trust.members else 0.0
        _add_where(utility, users.trust_member, trust.dividend)
        ledger.transfer(trust, USERS, pot, "dividend")
        trust.market_share = trust.members / n

    month.utility = utility
    for firm in model.firms:
        firm.close_books()


class _Tally(NamedTuple):
    """What `_user_pass` gives: per-user figures, and per-firm counts (see its docstring)."""

    utility: np.ndarray
    personalisation_gain: np.ndarray
    device_users: np.ndarray
    personalised: np.ndarray
    held_by: np.ndarray
    members: np.ndarray
    engaged: np.ndarray
    shared_by: np.ndarray
    trust_by_device: np.ndarray


def _user_pass(**arrays_and_scalars) -> _Tally:
    """`_settle_users` with its outputs named."""
    if arrays_and_scalars["member"].shape[1] > PAIRWISE_BLOCK:
        raise ValueError(f"settle sums at most {PAIRWISE_BLOCK} platforms per user")
    return _Tally(*_settle_users(**arrays_and_scalars))


#: Longest row `_pairwise_row` sums: numpy sums up to 128 terms without splitting them.
PAIRWISE_BLOCK = 128


@numba.njit(cache=True, nogil=True)
def _pairwise_row(values: np.ndarray, n: int) -> float:
    """``values[:n].sum()`` as numpy sums a row of n ≤ 128 float64 terms, bit for bit.

    numpy's pairwise summation (``pairwise_sum`` in its loops): under 8 terms one by one from
    0.0; up to 128 terms in eight interleaved partial sums combined as
    ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), the remaining n mod 8 added one by one.
    (Longer arrays numpy splits in halves first; rows here are one per platform, at most 20.)
    The reduction's output starts at 0.0, which the caller adds: ``0.0 + _pairwise_row(...)``
    (it turns a −0.0 sum into 0.0, as numpy does). Tests compare with ``np.sum`` for every
    length to 128, on rows of a 2-D array along axis 1, with negative zeros.
    """
    if n < 8:
        res = 0.0
        for i in range(n):
            res += values[i]
        return res
    r0 = values[0]
    r1 = values[1]
    r2 = values[2]
    r3 = values[3]
    r4 = values[4]
    r5 = values[5]
    r6 = values[6]
    r7 = values[7]
    end = n - n % 8
    for i in range(8, end, 8):
        r0 += values[i]
        r1 += values[i + 1]
        r2 += values[i + 2]
        r3 += values[i + 3]
        r4 += values[i + 4]
        r5 += values[i + 5]
        r6 += values[i + 6]
        r7 += values[i + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(end, n):
        res += values[i]
    return res


def _settle_users(
    device,
    member,
    holds,
    value,
    contact_share,
    data_quality,
    harm,
    breach_harm,
    reads,
    licensed_users,
    trust_member,
    blocked,
    base,
    platform_quality,
    maker_quality,
    network_value,
    degradation_cost,
    generic_share,
    personal_share,
    device_base_value,
    reading_time_cost,
    device_price,
    engagement_loss,
    rivalry_loss,
    bounds=None,
):
    """One pass over users: each one's utility and personalisation gain, and the firms' counts.

    Equals, bit for bit, the plain numpy of `settle` before it (``degraded`` = the (N, P)
    ``blocked[:, device].T``, ``c`` = ``personal_share`` = 1 − ``generic_share``):

    * platform_value = ``(member * (base[None, :] + value[:, None] * platform_quality[None, :]
      + network_value * contact_share - degradation_cost * degraded)).sum(axis=1)``: each term
      with the same operations in the same order (a bool is 1.0 or 0.0 in a product), the row
      summed as numpy sums a row (`_pairwise_row`, from 0.0; at most `PAIRWISE_BLOCK`
      platforms);
    * utility = ``platform_value + device_base_value + service - harm - breach_harm
      - reading_time_cost * reads - device_price[device]``, with ``service = value *
      dev_quality * (generic_share + c * data_quality)``, ``dev_quality =
      maker_quality[device]``, ``device_price`` (M,) each maker's price,
      left to right as Python evaluates it;
    * personalisation_gain = ``c * value * dev_quality * data_quality``;
    * device_users, personalised = ``np.bincount(device)`` and ``np.bincount(device,
      weights=generic_share + c * data_quality)``;
    * held_by = ``holds.sum(axis=0)``, members = ``member.sum(axis=0)``, shared_by[p] =
      ``np.bincount(device[member[:, p] & licensed_users])``, trust_by_device[m] =
      ``(trust_member & (device == m)).sum()``: counts, exact in any order;
    * engaged[p] = ``member[:, p] * (1.0 - engagement_loss * degraded[:, p])
      * (1.0 - rivalry_loss * (data_quality > 0))`` per user, left for numpy to sum (pairwise)
      as before.

    Rows are split into `bounds` blocks (default: `row_blocks`) run on `threads()` threads
    (`_settle_rows`). Each user's figures are computed by one thread whatever the split; the
    counts are summed per block and the blocks' counts added (whole numbers: exact in any
    order). The one float sum across users, personalised, is not split: `_personalised` adds
    the weights on one thread, one by one in user order from 0.0, as ``np.bincount`` does and
    as the whole pass did, so nothing depends on the thread count or the split.
    """
    n, n_platforms = member.shape
    n_holders = holds.shape[1]
    n_makers = maker_quality.size
    if bounds is None:
        bounds = row_blocks(n)
    n_blocks = bounds.size - 1
    utility = np.empty(n)
    gain = np.empty(n)
    engaged = np.empty((n_platforms, n))
    device_users = np.zeros((n_blocks, n_makers), dtype=np.int64)
    held_by = np.zeros((n_blocks, n_holders), dtype=np.int64)
    members = np.zeros((n_blocks, n_platforms), dtype=np.int64)
    shared_by = np.zeros((n_blocks, n_platforms, n_makers), dtype=np.int64)
    trust_by_device = np.zeros((n_blocks, n_makers), dtype=np.int64)
    run_each_block(
        _settle_rows,
        bounds,
        device,
        member,
        holds,
        value,
        contact_share,
        data_quality,
        harm,
        breach_harm,
        reads,
        licensed_users,
        trust_member,
        blocked,
        base,
        platform_quality,
        maker_quality,
        float(network_value),
        float(degradation_cost),
        float(generic_share),
        float(personal_share),
        float(device_base_value),
        float(reading_time_cost),
        np.asarray(device_price, dtype=float),
        float(engagement_loss),
        float(rivalry_loss),
        utility,
        gain,
        engaged,
        device_users,
        held_by,
        members,
        shared_by,
        trust_by_device,
    )
    return (
        utility,
        gain,
        device_users.sum(axis=0),
        _personalised(device, data_quality, float(generic_share), float(personal_share), n_makers),
        held_by.sum(axis=0),
        members.sum(axis=0),
        engaged,
        shared_by.sum(axis=0),
        trust_by_device.sum(axis=0),
    )


@numba.njit(cache=True, nogil=True)
def _settle_rows(
    bounds,
    device,
    member,
    holds,
    value,
    contact_share,
    data_quality,
    harm,
    breach_harm,
    reads,
    licensed_users,
    trust_member,
    blocked,
    base,
    platform_quality,
    maker_quality,
    network_value,
    degradation_cost,
    generic_share,
    personal_share,
    device_base_value,
    reading_time_cost,
    device_price,
    engagement_loss,
    rivalry_loss,
    utility,
    gain,
    engaged,
    device_users,
    held_by,
    members,
    shared_by,
    trust_by_device,
    first,
    last,
):
    """Blocks [first, last) of `_settle_users`: block b's rows of utility, gain and engaged,
    and its counts in row b of the count arrays."""
    n_platforms = member.shape[1]
    n_holders = holds.shape[1]
    terms = np.empty(n_platforms)
    for b in range(first, last):
        # The block's counts, in arrays of its own (as the whole pass had), go to row b once done.
        block_devices = np.zeros_like(device_users[b])
        block_held = np.zeros_like(held_by[b])
        block_members = np.zeros_like(members[b])
        block_shared = np.zeros_like(shared_by[b])
        block_trust = np.zeros_like(trust_by_device[b])
        # Unsigned rows (they are ≥ 0) spare numba's negative-index wraparound code.
        for i in range(np.uint64(bounds[b]), np.uint64(bounds[b + 1])):
            m = device[i]
            # The platform loses advertising on a member whose data her maker holds (or uses
            # through the trust, which holds it for the maker).
            rival = 1.0 if (data_quality[i] > 0 or holds[i, n_platforms + m]) else 0.0
            rivalry = 1.0 - rivalry_loss * rival
            row_sum = 0.0
            for p in range(n_platforms):
                on = 1.0 if member[i, p] else 0.0
                degraded = 1.0 if blocked[p, m] else 0.0
                term = base[p] + value[i] * platform_quality[p]
                term = term + network_value * contact_share[i, p]
                term = term - degradation_cost * degraded
                if n_platforms < 8:  # numpy sums a row this short one by one, from 0.0
                    row_sum += on * term
                else:
                    terms[p] = on * term
                engaged[p, i] = on * (1.0 - engagement_loss * degraded) * rivalry
                # Counts add 0 or 1 rather than branch: memberships are too mixed to predict.
                block_members[p] += member[i, p]
                block_shared[p, m] += member[i, p] & licensed_users[i]
            if n_platforms >= 8:
                row_sum = _pairwise_row(terms, n_platforms)
            platform_value = 0.0 + row_sum
            dev_quality = maker_quality[m]
            personal = generic_share + personal_share * data_quality[i]
            service = value[i] * dev_quality * personal
            total = platform_value + device_base_value
            total = total + service
            total = total - harm[i]
            total = total - breach_harm[i]
            total = total - reading_time_cost * reads[i]
            utility[i] = total - device_price[m]
            gain[i] = personal_share * value[i] * dev_quality * data_quality[i]
            block_devices[m] += 1
            for h in range(n_holders):
                block_held[h] += holds[i, h]
            block_trust[m] += trust_member[i]
        device_users[b] = block_devices
        held_by[b] = block_held
        members[b] = block_members
        shared_by[b] = block_shared
        trust_by_device[b] = block_trust


@numba.njit(cache=True, nogil=True)
def _personalised(device, data_quality, generic_share, personal_share, n_makers):
    """``np.bincount(device, weights=generic_share + personal_share * data_quality)``: each
    user's weight computed as `_settle_rows` computes it, added one by one in user order from
    0.0, as bincount adds them."""
    personalised = np.zeros(n_makers)
    for i in range(device.size):
        personalised[device[i]] += generic_share + personal_share * data_quality[i]
    return personalised


@numba.njit(cache=True, nogil=True)
def _compensation(theta, exposure, columns, misuse, breached, multiplier, utility):
    """What each recipient owes each user, (K, N); adds it to `utility` in place.

    Row k equals ``theta * misuse[k] * exposure[:, columns[k]]``, plus ``multiplier * theta *
    exposure[:, columns[k]]`` where the recipient was breached, with numpy's order of
    operations; `utility` receives the rows one after another (``utility += owed`` per
    recipient), so each user's sum runs in the same order. The totals are left to numpy.
    """
    n = theta.size
    owed = np.empty((columns.size, n))
    for i in range(n):
        for k in range(columns.size):
            e = exposure[i, columns[k]]
            amount = theta[i] * misuse[k] * e
            if breached[k]:
                amount = amount + multiplier * theta[i] * e
            owed[k, i] = amount
            utility[i] += amount
    return owed


@numba.njit(cache=True, nogil=True)
def _add_where(values, flags, amount):
    """``values += np.where(flags, amount, 0.0)`` in place (adding 0.0 too, as numpy does)."""
    for i in range(values.size):
        values[i] += amount if flags[i] else 0.0


def _paid_consents(consented: np.ndarray, device_col: np.ndarray, data_quality: np.ndarray):
    """Users with a standing consent to their device's maker whose data flows to it."""
    return consented[np.arange(consented.shape[0]), device_col] & (data_quality > 0)


def _degradation_loss(model: DataMarket, engaged: np.ndarray) -> float:
    """This month's loss to degraded apps, CNY: users' φ per degraded platform, and the
    advertising platforms lose on users of their degraded app (engagement)."""
    p, users = model.p, model.users
    if not model.blocked.any():
        return 0.0
    degraded = users.member & model.blocked[:, users.device].T  # (N, P)
    users_loss = p.degradation_cost * int(np.count_nonzero(degraded))
    full_quality = p.quality_base + p.quality_gain
    platforms_loss = 0.0
    for index, platform in enumerate(model.platforms):
        rate = p.ad_revenue_per_user * platform.quality / full_quality
        kept = engaged[index][degraded[:, index]]  # on · (1 − loss) · (1 − rivalry · rival)
        # Without the degradation the same users would have engaged kept / (1 − loss).
        if p.degradation_engagement_loss < 1:
            lost = kept.sum() * p.degradation_engagement_loss / (1 - p.degradation_engagement_loss)
        else:  # nothing kept: what is lost is the rivalry-adjusted full engagement
            lost = float(np.count_nonzero(degraded[:, index]))
        platforms_loss += rate * float(lost)
    return float(users_loss + platforms_loss)
