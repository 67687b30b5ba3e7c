"""Phase 1: the regulator — scheduled regime changes, audits and fines, complaints.

Complaints are resolved `complaint_delay` months after they are filed. Adjudication rules on
legality: a block the regime contests or forbids is ordered lifted (for one review period) and
fined. Mediation sends both sides back to the table, with `settlement_probability`, where the
platform bargains with `mediated_bargaining_power`; otherwise the dispute lapses unresolved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.agents import LICENSE
from model.payoffs import PUBLIC

if TYPE_CHECKING:
    from model.agents import Firm
    from model.market import DataMarket


def fine(model: DataMarket, firm: Firm, extra: float = 0.0) -> None:
    """Fine a firm `fine_rate` of its annual turnover (12 × last month's), plus `extra` (what an
    audit confiscates and the per-record penalties, CNY)."""
    amount = model.regime.fine_rate * 12.0 * firm.last_turnover + extra
    model.ledger.transfer(firm, PUBLIC, amount, "fine")
    model.month.fines += amount
    model.regulator.profit = model.month.fines


def regulate(model: DataMarket) -> None:
    """Phase 1: apply the schedule, audit, and resolve complaints that are due."""
    if model.steps in model.p.regime_schedule:
        model.set_regime(model.p.regime_schedule[model.steps])
    regime = model.regime
    for firm in model.firms:
        if model.rng.random() >= regime.audit_probability:
            continue
        model.regulator.audits += 1
        if firm.unique_id in model.last_illegal_traders:
            fine(model, firm, _confiscation(model, firm))
    for p, m in zip(*(model.dispute_filed >= 0).nonzero(), strict=True):
        if model.steps - model.dispute_filed[p, m] < regime.complaint_delay:
            continue
        model.dispute_filed[p, m] = -1
        model.month.resolved += 1
        if (p, m) == (0, 0):
            model.opening_over = True
        if regime.dispute_resolution == "adjudicate":
            if model.blocked[p, m] and (regime.blocking_contested or not regime.platform_may_block):
                model.unblock_order[p, m] = model.steps + model.p.review_interval
                model.platforms[p].choice[m] = LICENSE
                fine(model, model.platforms[p])
        elif model.rng.random() < model.p.settlement_probability:
            model.mediated[p, m] = True
            model.month.settlements += 1


def _confiscation(model: DataMarket, firm: Firm) -> float:
    """What an audit adds to the fine of a firm that traded data unlawfully last month: its
    gains from the trade, confiscated, and the regime's penalty per record (PIPL Art. 66)."""
    last = model.last_illegal_month
    if last is None:
        return 0.0
    records = last.illegal_records.get(firm.unique_id, 0)
    gains = last.illegal_gains.get(firm.unique_id, 0.0)
    return gains + model.regime.record_penalty * records
