"""Regimes: named presets of composable policy levers (MODEL.md §5).

A regime is a plain, frozen data object. A custom regime is a preset with some levers overridden::

    >>> from model.regimes import get_regime
    >>> custom = get_regime("portability").replace(access_fee_cap=0.0, portability="realtime")

Levers are what policy sets (EMA Workbench vocabulary); the mechanics read them and never the
regime's name, so any combination of levers is a valid regime.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

ConsentStandard = Literal["platform_terms", "click_through", "informed"]
Portability = Literal["none", "on_request", "realtime"]
DisputeResolution = Literal["adjudicate", "mediate"]

CONSENT_STANDARDS = ("platform_terms", "click_through", "informed")
PORTABILITY_MODES = ("none", "on_request", "realtime")
DISPUTE_RESOLUTIONS = ("adjudicate", "mediate")


@dataclass(frozen=True)
class Regime:
    """The levers a regulator sets. Units are given per lever.

    Attributes:
        name: label used in tables and reports.
        consent_standard: how a party that wants a user's data must ask: ``platform_terms`` (the
            platform's own terms cover any use; nobody else asks), ``click_through`` (a bundled
            agreement asked by whoever takes the data), ``informed`` (separate, specific,
            withdrawable consent naming recipient and purpose).
        refusal_costs_service: whether refusing consent costs the user the feature (bundling).
        third_party_access: whether device makers may get platform data at all (False = ban).
        maker_may_take: whether a maker may take platform data on-device with the user's consent,
            without the platform's licence.
        platform_may_block: whether the platform may block or degrade its app on a maker's devices.
        blocking_contested: whether blocking is legally contested, so that the blocked maker
            complains to the regulator.
        portability: user-initiated transfer of platform data to the device maker: ``none``,
            ``on_request`` (a snapshot that ages) or ``realtime`` (a live flow).
        access_fee_cap: the highest licence fee, CNY per shared user per month (inf = no cap).
        broker_trade_legal: whether selling personal data to brokers is legal or tolerated
            (False = illegal and audited).
        fine_rate: a fine as a share of the offender's annual turnover (PIPL Art. 66: up to 5%).
        audit_probability: chance per firm per month that the regulator audits it.
        complaint_delay: months from a complaint to its resolution.
        dispute_resolution: ``adjudicate`` (rule on legality: order a contested or forbidden
            block lifted, plus a fine; taking the regime forbids never happens, as firms keep to
            the bright-line rules) or ``mediate`` (send both sides back to the table).
        data_trust: whether an industry data trust exists, through which members' data moves.
        recipient_liability: whether the recipient of data pays users for the harm it causes.
        compliance_cost: fixed cost to the maker of each data-sharing relationship (a licence, a
            taking, a licence from the trust), CNY per month for the whole firm; spread over the
            real users the market stands for (`market_size`) it is a cost per user. Being
            fixed, it weighs more on small makers (Johnson, Shriver & Goldberg 2023).
        record_penalty: the penalty per record a firm traded unlawfully, CNY, on top of the fine
            and the confiscation of its gains, where an audit finds the trade (PIPL Art. 66
            confiscates unlawful gains; the amount per record is an assumption). It makes the
            fine bite at the margin: a share of turnover costs nothing per extra record.
        planner_flows: a benchmark, not a law: makers and brokers hold exactly the planner's
            first best of the month before (`model.planner`), delivering the full service. Run
            from the common start, it is the path benchmark regimes are ranked against.
        retention_months: the longest a lawful holder keeps a record no flow has refreshed,
            months (a whole number >= 1; inf = unlimited). A record fed by a live flow is
            refreshed every month, so the limit bites on data no longer fed (PIPL Art. 19,
            GDPR Art. 5(1)(e): "no longer than necessary", which names no period).
        erasure_right: whether users may have their data erased (GDPR Art. 17, PIPL Art. 47):
            a maker or platform she leaves deletes her data, and a request reaches the lawful
            third parties she never consented to.
    """

    name: str = "custom"
    consent_standard: ConsentStandard = "click_through"
    refusal_costs_service: bool = True
    third_party_access: bool = True
    maker_may_take: bool = True
    platform_may_block: bool = True
    blocking_contested: bool = False
    portability: Portability = "none"
    access_fee_cap: float = math.inf
    broker_trade_legal: bool = True
    fine_rate: float = 0.0
    audit_probability: float = 0.0
    complaint_delay: int = 6
    dispute_resolution: DisputeResolution = "mediate"
    data_trust: bool = False
    recipient_liability: bool = False
    compliance_cost: float = 0.0
    record_penalty: float = 0.0
    planner_flows: bool = False
    retention_months: float = math.inf
    erasure_right: bool = False
    levers_overridden: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        _check_levers(self)

    def replace(self, **levers: Any) -> Regime:
        """A custom regime: this one with some levers overridden.

        Pass `name` to label it; otherwise the preset's name gains a "*".
        """
        name = levers.pop("name", None)
        unknown = sorted(set(levers) - set(LEVERS))
        if unknown:
            raise ValueError(
                f"unknown regime lever(s) {unknown}; allowed levers: {', '.join(LEVERS)}"
            )
        name = name or (f"{self.name}*" if levers else self.name)
        overridden = tuple(sorted(set(self.levers_overridden) | set(levers)))
        return dataclasses.replace(self, name=name, levers_overridden=overridden, **levers)

    def levers(self) -> dict[str, Any]:
        """The levers as a plain dict (no name), e.g. for a table or a results file."""
        return {lever: getattr(self, lever) for lever in LEVERS}


LEVERS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Regime) if f.name not in ("name", "levers_overridden")
)

_CHOICES = {
    "consent_standard": CONSENT_STANDARDS,
    "portability": PORTABILITY_MODES,
    "dispute_resolution": DISPUTE_RESOLUTIONS,
}
_UNIT_INTERVAL = ("fine_rate", "audit_probability")
_BOOLEANS = (
    "refusal_costs_service",
    "third_party_access",
    "maker_may_take",
    "platform_may_block",
    "blocking_contested",
    "broker_trade_legal",
    "data_trust",
    "recipient_liability",
    "planner_flows",
    "erasure_right",
)


def _check_levers(regime: Regime) -> None:
    """Raise ValueError naming the lever, its value and what is allowed."""
    where = f"regime '{regime.name}'"
    for lever, choices in _CHOICES.items():
        value = getattr(regime, lever)
        if value not in choices:
            raise ValueError(f"{where}: lever {lever}={value!r} is not one of {list(choices)}")
    for lever in _BOOLEANS:
        value = getattr(regime, lever)
        if not isinstance(value, bool):
            raise ValueError(f"{where}: lever {lever}={value!r} must be true or false")
    for lever in _UNIT_INTERVAL:
        value = getattr(regime, lever)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"{where}: lever {lever}={value!r} must be a number in [0, 1]")
    cap = regime.access_fee_cap
    if isinstance(cap, bool) or not isinstance(cap, int | float) or math.isnan(cap) or cap < 0:
        raise ValueError(
            f"{where}: lever access_fee_cap={cap!r} must be a number >= 0 "
            "(CNY per shared user per month; inf for no cap)"
        )
    delay = regime.complaint_delay
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise ValueError(f"{where}: lever complaint_delay={delay!r} must be a whole number >= 0")
    for lever in ("compliance_cost", "record_penalty"):
        cost = getattr(regime, lever)
        if isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 <= cost < math.inf:
            raise ValueError(f"{where}: lever {lever}={cost!r} must be a finite number >= 0")
    months = regime.retention_months
    if (
        isinstance(months, bool)
        or not isinstance(months, int | float)
        or not (months == math.inf or (months >= 1 and float(months).is_integer()))
    ):
        raise ValueError(
            f"{where}: lever retention_months={months!r} must be a whole number of months >= 1 "
            "(inf for unlimited)"
        )


#: The storage limit of the PIPL/GDPR-style presets. PIPL Art. 19 and GDPR Art. 5(1)(e) say
#: "no longer than necessary" and name no period: twelve months is an assumption (a year after
#: the data stopped being fed, when, at the default decay, 28% of its value is left).
RETENTION_MONTHS = 12.0

#: The compliance cost of a data-sharing relationship under the PIPL/GDPR-style presets, CNY per
#: month for the whole firm: EY's estimate that the Fortune Global 500 spend $7.8 bn on GDPR
#: compliance [P], $15.6 m each, × 6.534 CNY/$, amortised over 60 months.
COMPLIANCE_COST = 1.7e6

#: The penalty per record traded unlawfully under the presets that make broker trade illegal, CNY:
#: an assumption (no statute names an amount per record). At it, with a 10% monthly audit, a
#: broker's bid for a record (a year of resale) stays below what the sale costs the seller.
RECORD_PENALTY = 20.0

REGIMES: dict[str, Regime] = {
    "platform_control": Regime(
        name="platform_control",
        consent_standard="platform_terms",
        refusal_costs_service=True,
        maker_may_take=False,
        platform_may_block=True,
        broker_trade_legal=True,
        fine_rate=0.01,
        audit_probability=0.05,
        dispute_resolution="adjudicate",
    ),
    "click_through": Regime(
        name="click_through",
        consent_standard="click_through",
        refusal_costs_service=True,
        maker_may_take=True,
        platform_may_block=True,
        blocking_contested=True,
        broker_trade_legal=True,
        fine_rate=0.01,
        audit_probability=0.02,
        dispute_resolution="mediate",
    ),
    "informed_consent": Regime(
        name="informed_consent",
        consent_standard="informed",
        refusal_costs_service=False,
        maker_may_take=True,
        platform_may_block=True,
        broker_trade_legal=False,
        fine_rate=0.05,
        audit_probability=0.1,
        dispute_resolution="adjudicate",
        compliance_cost=COMPLIANCE_COST,
        record_penalty=RECORD_PENALTY,
        retention_months=RETENTION_MONTHS,
        erasure_right=True,
    ),
    "portability": Regime(
        name="portability",
        consent_standard="informed",
        refusal_costs_service=False,
        maker_may_take=False,
        platform_may_block=False,
        portability="on_request",
        broker_trade_legal=False,
        fine_rate=0.05,
        audit_probability=0.1,
        dispute_resolution="adjudicate",
        compliance_cost=COMPLIANCE_COST,
        record_penalty=RECORD_PENALTY,
        retention_months=RETENTION_MONTHS,
        erasure_right=True,
    ),
    "data_trust": Regime(
        name="data_trust",
        consent_standard="informed",
        refusal_costs_service=False,
        maker_may_take=False,
        platform_may_block=False,
        broker_trade_legal=False,
        fine_rate=0.05,
        audit_probability=0.1,
        dispute_resolution="adjudicate",
        data_trust=True,
        compliance_cost=COMPLIANCE_COST,
        record_penalty=RECORD_PENALTY,
        retention_months=RETENTION_MONTHS,
        erasure_right=True,
    ),
    "ban": Regime(
        name="ban",
        consent_standard="informed",
        refusal_costs_service=False,
        third_party_access=False,
        maker_may_take=False,
        platform_may_block=True,
        broker_trade_legal=False,
        fine_rate=0.05,
        audit_probability=0.1,
        dispute_resolution="adjudicate",
        record_penalty=RECORD_PENALTY,
        retention_months=RETENTION_MONTHS,
        erasure_right=True,
    ),
    "recipient_liability": Regime(
        name="recipient_liability",
        consent_standard="click_through",
        refusal_costs_service=True,
        maker_may_take=True,
        platform_may_block=True,
        broker_trade_legal=True,
        fine_rate=0.01,
        audit_probability=0.02,
        dispute_resolution="adjudicate",
        recipient_liability=True,
    ),
}

# The storage limit and erasure right of the PIPL/GDPR-style presets; the period is assumed.
_STORAGE_LIMIT = (
    f"retention, erasure: PIPL Arts. 19, 47; GDPR Arts. 5(1)(e), 17 ({RETENTION_MONTHS:g} months "
    "assumed)"
)

REGIME_ANCHORS: dict[str, str] = {
    "platform_control": "firms own the data ('private estate'); Jones & Tonetti's firm ownership",
    "click_through": "Huawei's 2017 position; MIIT's 2017 response (mediation)",
    "informed_consent": "PIPL Arts. 13, 14, 16, 23, 66; GDPR Arts. 6, 7; " + _STORAGE_LIMIT,
    "portability": "GDPR Art. 20, PIPL Art. 45, DMA Arts. 6(9), 6(10), 11; " + _STORAGE_LIMIT,
    "data_trust": "Delacroix & Lawrence 2019; Galperti et al. data unions; Acemoglu et al.; "
    + _STORAGE_LIMIT,
    "ban": "Acemoglu et al. 'shut down'; Jones & Tonetti 'outlaw sharing'; " + _STORAGE_LIMIT,
    "recipient_liability": "Zhang & Zhu 2025: the downstream recipient is liable",
}


def get_regime(regime: str | Regime, **overrides: Any) -> Regime:
    """Resolve a preset name or a Regime, with optional lever overrides (a custom regime)."""
    if isinstance(regime, Regime):
        base = regime
    elif isinstance(regime, str) and regime in REGIMES:
        base = REGIMES[regime]
    else:
        raise ValueError(f"unknown regime {regime!r}; allowed: {', '.join(REGIMES)}")
    return base.replace(**overrides) if overrides else base
