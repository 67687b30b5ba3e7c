"""Parameters (a Mesa Scenario), their units and meanings, and the shipped scenarios.

`PARAMETERS` is the single source of truth: every number the mechanics use is one row, with a
default, a unit, a meaning and, where calibrated, a source. `MarketScenario` is built from it as a
typed Mesa `Scenario`, and `docs/ODD.md`, `datamarket list` and the validation all read it.
Money is in 2017 Chinese yuan (CNY) per user per month unless a unit says otherwise; time is in
months (docs/ODD.md, §Money).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from mesa.experimental.scenarios import Scenario

from model.regimes import REGIMES, Regime, get_regime


@dataclass(frozen=True)
class Parameter:
    """One model parameter: its default, unit, meaning, allowed values and source."""

    name: str
    default: Any
    unit: str
    meaning: str
    low: float | None = None  # inclusive bounds for numbers
    high: float | None = None
    choices: tuple[str, ...] | None = None
    source: str = "assumption"

    @property
    def kind(self) -> type:
        return type(self.default)

    def allowed(self) -> str:
        """What is allowed, in words, for error messages and docs."""
        if self.choices:
            return f"one of {list(self.choices)}"
        if self.kind is bool:
            return "true or false"
        if self.kind is tuple:
            return "a list of positive numbers, one per maker (or empty for equal shares)"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        word = "a whole number" if self.kind is int else "a number"
        return f"{word} in [{lo}, {hi}]"


def sensitivity_from_margin(markup: float, share: float) -> float:
    """The logit sensitivity σ at which a maker with device share `share` sets `markup`.

    Inverts the simple logit-Bertrand first-order condition p − c̃ = 1 / (σ (1 − s)) of
    `model.markets.bertrand_prices` (MODEL.md §11, "Device prices"): σ = 1 / (markup (1 − s)).
    This is where σ (`choice_sensitivity`) is calibrated to a margin: `markup` is a gross margin
    per device user, CNY per user per month (price less the marginal cost of a device, both
    amortised over its life, as `device_unit_cost` is), for a maker with share `share` in
    [0, 1). A net profit per phone is only a lower bound on that margin, so the σ it gives is
    an upper bound. Returns σ in per CNY per month.

    Raises:
        ValueError: markup not > 0, or share not in [0, 1).
    """
    if not (math.isfinite(markup) and markup > 0):
        raise ValueError(f"markup={markup!r} must be a number > 0 (CNY per user per month)")
    if not (math.isfinite(share) and 0 <= share < 1):
        raise ValueError(f"share={share!r} must be in [0, 1): a share of 1 has no finite markup")
    return 1.0 / (markup * (1.0 - share))


P = Parameter
# The source of the behavioural parameters `datamarket calibrate` fits (experiments/calibrate.py).
CALIBRATED = (
    "calibrated: by simulated method of moments (docs/calibration.md) to B9 [P], B13 [V], "
    "B15 [V], Nouwens et al. 2020 [V]"
)
PARAMETERS: tuple[Parameter, ...] = (
    # --- size and the social graph
    P("n_users", 20_000, "users", "number of users", 10, 50_000_000),
    P("n_platforms", 2, "firms", "number of platforms (WeChat-like)", 1, 20),
    P("n_makers", 5, "firms", "number of device makers (Huawei-like)", 1, 50),
    P("n_brokers", 2, "firms", "number of data brokers", 0, 20),
    P(
        "mean_degree",
        20.0,
        "contacts",
        "mean number of contacts per user (at most (n_users − 1) / 4)",
        0,
        1000,
    ),
    P(
        "degree_tail",
        2.5,
        "exponent",
        "Pareto tail exponent of contact weights (smaller = heavier tail)",
        2.05,
        50,
    ),
    P(
        "leakage",
        0.3,
        "correlation",
        "λ: correlation between a user's data and a contact's; a holder with k of her contacts' "
        "data infers a share R² = kλ²/(1 + (k − 1)λ) of hers (at most λ)",
        0,
        1,
        source="assumption: MODEL.md §9's indicative value; its form from MODEL.md §11 and "
        "Acemoglu et al. 2022 [V]",
    ),
    P(
        "exposure_threshold",
        0.05,
        "share",
        "unconsented exposure above which a user counts as exposed without consent (a metric's "
        "threshold; the mechanics do not read it)",
        0,
        1,
        source="assumption: where a metric counts a user as exposed (§Metrics)",
    ),
    # --- users' preferences and behaviour
    P(
        "privacy_cost_distribution",
        "lognormal",
        "-",
        "shape of the privacy cost θ across users",
        choices=("lognormal", "bimodal"),
        source="set from a figure: bimodal valuations (Acquisti, John & Loewenstein 2013) [V]",
    ),
    P(
        "privacy_cost_median",
        69.3,
        "CNY per unit exposure per month",
        "median privacy cost θ",
        0,
        1e6,
        source=(
            "calibrated: 30% of Chinese users would disclose personal data for free services "
            "(Zhou 2020) [V]: the median θ at which 30% of readers, with a real choice, nothing "
            "paid and no leak, accept a maker's request (docs/ODD.md, Money), solved with the "
            "behavioural fit at its θ dispersion and consent noise (experiments.calibrate."
            "zhou_median; docs/calibration.md)"
        ),
    ),
    P(
        "privacy_cost_sigma",
        0.5,
        "log-sd",
        "dispersion of θ (lognormal)",
        0,
        5,
        source=CALIBRATED,
    ),
    P(
        "privacy_valuation_basis",
        "revealed",
        "-",
        "which valuation of privacy counts in welfare: the θ behind decisions ('revealed'), or θ "
        "rescaled so that its median values full exposure to a broker at the surveyed "
        "willingness to pay to keep data private ('wtp') or to accept to share it ('wta')",
        choices=("revealed", "wtp", "wta"),
        source="assumption: MODEL.md §11 (decisions reveal θ; welfare is bounded by WTP and WTA)",
    ),
    P(
        "privacy_wtp",
        5.0,
        "US$ per month",
        "median willingness to pay to keep data private (US survey)",
        0,
        1e6,
        source="set from a figure: Winegar & Sunstein 2019, $5 a month [V]",
    ),
    P(
        "privacy_wta",
        80.0,
        "US$ per month",
        "median willingness to accept to allow access to personal data (US survey)",
        0,
        1e6,
        source="set from a figure: Winegar & Sunstein 2019, $80 a month [V]",
    ),
    P(
        "usd_cny",
        6.534,
        "CNY per US$",
        "exchange rate used to bring US figures into 2017 CNY",
        0,
        1e3,
        source="set from a figure: Tencent's FY2017 results, RMB 237,760 m = US$36,387 m [V]",
    ),
    P(
        "valuation_transfer",
        0.15,
        "ratio",
        "a US money valuation in China, after the exchange rate (income elasticity 1)",
        0,
        10,
        source=(
            "assumption: China's 2017 GDP per head over the US's, about $8,900 [P] against "
            "about $60,000 (not checked), with an income elasticity of valuations of 1"
        ),
    ),
    P(
        "privacy_cost_high_share",
        0.3,
        "share",
        "bimodal θ: share of users in the high cluster",
        0,
        1,
    ),
    P("privacy_cost_high_ratio", 20.0, "ratio", "bimodal θ: high cluster median over low", 1, 1e4),
    P(
        "privacy_cost_cluster_sigma",
        0.25,
        "log-sd",
        "bimodal θ: dispersion within each cluster",
        0,
        5,
    ),
    P(
        "personalisation_value_median",
        16.8,
        "CNY per month per unit quality",
        "median value v of a personalised service",
        0,
        1e6,
        source=(
            "set from a figure: the information value of payment data to Alipay users, 151.2 CNY "
            "a year (Ouyang) [V] = 12.6 CNY a month, as the personalised gain (1 − γ)·v·q at q = "
            "1.5"
        ),
    ),
    P("personalisation_value_sigma", 0.5, "log-sd", "dispersion of v", 0, 5),
    P(
        "attention_mean",
        0.203,
        "probability",
        "mean chance of reading a request's terms (74% skip entirely)",
        0,
        1,
        source=CALIBRATED + "; indicative 0.26 from Obar & Oeldorf-Hirsch (B13) [V]",
    ),
    P("attention_concentration", 2.0, "-", "Beta concentration of attention (a + b)", 0.01, 1e4),
    P(
        "present_bias_mean",
        0.7,
        "factor",
        "mean β weighting future privacy harm at decision",
        0.01,
        1,
    ),
    P("present_bias_concentration", 10.0, "-", "Beta concentration of β (a + b)", 0.01, 1e4),
    P(
        "p_click",
        0.962,
        "probability",
        "a non-reader accepts a click-through request",
        0,
        1,
        source=CALIBRATED + "; indicative 0.97 from Obar & Oeldorf-Hirsch 97% agree (B15) [V]",
    ),
    P(
        "p_neutral",
        0.734,
        "probability",
        "a non-reader accepts a request with a real reject option",
        0,
        1,
        source=CALIBRATED + "; indicative 0.5 from B9 ~50% refuse with a reject option [P]",
    ),
    P(
        "consent_noise",
        2.166,
        "CNY per month",
        "scale of the logistic noise ε in a reader's answer",
        0,
        1e6,
        source=CALIBRATED,
    ),
    P(
        "consent_fatigue",
        0.241,
        "per request",
        "attention falls by exp(-fatigue · recent requests)",
        0,
        100,
        source=CALIBRATED,
    ),
    P(
        "payment_salience",
        0.076,
        "log-odds per CNY per month",
        "how much a salient payment for consent raises a non-reader's log-odds of accepting",
        0,
        100,
        source=(
            "set from a figure: a free pizza raised disclosure of friends' e-mails from 94% to "
            "98% (Athey, Catalini & Tucker 2017) [P]: +1.14 in log-odds for a pizza taken as $2.3"
            " × 6.534 CNY per US$ (Tencent's FY2017 results) [V] = 15 CNY (assumption on its "
            "value)"
        ),
    ),
    P(
        "request_memory",
        0.5,
        "share per month",
        "share of recent requests still weighing next month",
        0,
        1,
    ),
    P(
        "reading_time_cost",
        0.61,
        "CNY per request read",
        "time cost of reading one request",
        0,
        1e6,
        source=(
            "set from a figure: readers spend ~73 s (Obar & Oeldorf-Hirsch, B14) [V], at 30 CNY "
            "an hour (assumption)"
        ),
    ),
    P(
        "refusal_feature_value",
        8.4,
        "CNY per month",
        "L: the feature a click-through refusal costs",
        0,
        1e6,
        source=(
            "assumption: the feature a bundled refusal costs, scaled with the personalisation "
            "gain (× 8.4) from the first model"
        ),
    ),
    P(
        "withdrawal_review",
        0.05,
        "per month",
        "chance a consenting user looks at a withdrawable consent again (times her attention)",
        0,
        1,
    ),
    P("reask_interval", 6, "months", "a refused request is asked again after this long", 1, 1200),
    P(
        "market_size",
        3.7e8,
        "people",
        "the real users the modelled market stands for (firm-level amounts in CNY, such as a "
        "compliance budget, are spread over them)",
        1,
        1e10,
        source=(
            "set from a figure: 494.3 m individual WeChat users in China in 2017 (eMarketer) [P] "
            "× 75.6%, the five largest makers' share of 2017 shipments (IDC) [P]"
        ),
    ),
    # --- platforms
    P(
        "dominant_platform_reach",
        0.95,
        "share",
        "share of users on platform 0 at start",
        0,
        1,
        source="set from a figure: WeChat had nearly 1 billion users in 2017 (D) [P]",
    ),
    P("other_platform_reach", 0.3, "share", "share of users on each other platform at start", 0, 1),
    P(
        "platform_base_value",
        30.0,
        "CNY per month",
        "base value of using a platform",
        0,
        1e6,
        source=(
            "set from a figure: a member's mean value of the dominant platform ≈ 47 CNY a month, "
            "from the median $48 a month to forgo Facebook (Brynjolfsson, Collis & Eggers 2019) "
            "[V] × 6.534 CNY per US$ (Tencent's FY2017 results) [V] × 0.15 "
            "(`valuation_transfer`); its split into base, network and quality is an assumption"
        ),
    ),
    P(
        "platform_use_cost",
        90.0,
        "CNY per month",
        "time and attention a platform takes from its user",
        0,
        1e6,
        source=(
            "assumption: the first model's, × 10 with the platform's value (see "
            "platform_base_value)"
        ),
    ),
    P(
        "dominant_platform_advantage",
        10.0,
        "CNY per month",
        "extra base value of platform 0",
        0,
        1e6,
        source="assumption: the first model's, × 10 with the platform's value",
    ),
    P(
        "network_value",
        60.0,
        "CNY per month",
        "network benefit when all one's contacts use it",
        0,
        1e6,
        source="assumption: the first model's, × 10 with the platform's value",
    ),
    P("platform_revision_rate", 0.05, "per month", "chance a user reconsiders her platforms", 0, 1),
    P(
        "platform_noise",
        10.0,
        "CNY per month",
        "scale of logistic taste noise in platform use",
        1e-6,
        1e6,
        source="assumption: the first model's, × 10 with the platform's value",
    ),
    P(
        "ad_revenue_per_user",
        2.4,
        "CNY per month",
        "platform advertising revenue per member at full quality",
        0,
        1e6,
        source=(
            "set from a figure: Tencent's online advertising revenue, RMB 6.9 bn in Q1 2017 [P], "
            "over 963 m WeChat monthly users (Q2 2017) [P], per month"
        ),
    ),
    P(
        "ad_rivalry_loss",
        0.15,
        "share",
        "share of ad revenue a platform loses on a member whose data a maker also holds",
        0,
        1,
    ),
    P(
        "degradation_cost",
        10.0,
        "CNY per month",
        "φ: a user's loss when her platform's app is degraded on her device",
        0,
        1e6,
        source="assumption: a fifth of the platform's value to its member",
    ),
    P(
        "degradation_engagement_loss",
        0.3,
        "share",
        "share of its ad revenue a platform loses on users of a degraded app",
        0,
        1,
    ),
    P(
        "block_effectiveness",
        0.5,
        "share",
        "share of on-device taking that blocking prevents",
        0,
        1,
    ),
    P(
        "licence_liability",
        0.08,
        "CNY per shared user per month",
        "a platform's legal and reputational cost of sharing members' data under its own licence",
        0,
        1e6,
        source="assumption: the first model's, × 1.6 with the advertising revenue",
    ),
    P(
        "taking_data_quality",
        0.8,
        "share",
        "value of data taken on-device relative to licensed data",
        0,
        1,
    ),
    P("platform_bargaining_power", 0.5, "share", "b: the platform's Nash bargaining power", 0, 1),
    # --- device makers and devices
    P(
        "maker_shares",
        (),
        "shares",
        "initial device market shares (empty = equal; normalised)",
        source=(
            "set from a figure: the tencent_huawei_2017 scenario's shares are IDC's for 2017 "
            "(Huawei 20.4%, Oppo 18.1%, Vivo 15.4%, Xiaomi 12.4%, Apple 9.3%) [P]"
        ),
    ),
    P(
        "device_base_value",
        100.0,
        "CNY per month",
        "value of owning a smartphone, before its AI service",
        0,
        1e6,
        source="assumption: a level only (it cancels in every comparison of regimes)",
    ),
    P(
        "device_unit_cost",
        84.2,
        "CNY per month",
        "device cost amortised over its life",
        0,
        1e6,
        source=(
            "calibrated: the makers' mean price in the default scenario (about 80 CNY a month) "
            "matches China's 2017 average smartphone price, RMB 2,250 (GfK) [P] over a 28-month "
            "replacement cycle [P] = 80.4 CNY a month"
        ),
    ),
    P(
        "replacement_hazard",
        0.03571428571428571,
        "per month",
        "chance a user's device is due for replacement",
        0,
        1,
        source=(
            "set from a figure: China's smartphone replacement cycle, 28 months (Strategy "
            "Analytics) [P]"
        ),
    ),
    P(
        "choice_sensitivity",
        0.39,
        "per CNY per month",
        "σ: logit sensitivity of device choice to utility, price included "
        "(from a margin: `sensitivity_from_margin`)",
        0,
        1e3,
        source=(
            "set from a figure: σ = 1 / (markup · (1 − s)) at the 3.5 CNY a month markup, from "
            "Counterpoint's $15 profit per Huawei phone (Q3 2017) [P], and the leader's share s "
            "= 0.27; an upper bound, since a net profit is a lower bound on the markup"
        ),
    ),
    P("quality_base", 1.0, "quality units", "q0: AI-service quality with no data", 0, 1e6),
    P(
        "quality_gain",
        1.0,
        "quality units",
        "a: the most quality data can add",
        0,
        1e6,
        source="assumption: its size; its concave form from Hagiu & Wright 2023 [V]",
    ),
    P(
        "quality_data_scale",
        0.2,
        "share of all users",
        "D0: data scale of the quality curve",
        1e-6,
        1e3,
    ),
    P(
        "platform_data_scale",
        0.5,
        "share of all users",
        "D0 of a platform's quality curve in its share of members",
        1e-6,
        1e3,
    ),
    P(
        "generic_service_share",
        0.5,
        "share",
        "γ: value of the generic service relative to the personalised one",
        0,
        1,
    ),
    P(
        "service_revenue_rate",
        6.93,
        "CNY per month per unit quality",
        "a maker's service revenue per personalised user",
        0,
        1e6,
        source=(
            "set from a figure: the lender's profit from Alipay payment data, 62.4 CNY a year per"
            " user (Ouyang) [V] = 5.2 a month, as (1 − γ)·rate·q at q = 1.5"
        ),
    ),
    P(
        "privacy_reputation_weight",
        1.0,
        "factor",
        "weight of a maker's data-holding reputation in device choice",
        0,
        1e6,
    ),
    # --- brokers
    P(
        "broker_horizon",
        12.0,
        "months",
        "months over which a broker expects to resell a record it buys (its bid's horizon)",
        0,
        1200,
    ),
    P(
        "broker_sale_share",
        0.01,
        "share per month",
        "share of a seller's records not yet with brokers that brokers absorb each month",
        0,
        1,
    ),
    P(
        "broker_resale_value",
        0.25,
        "CNY per record per month",
        "a broker's resale revenue per record held",
        0,
        1e6,
        source=(
            "set from a figure: China's grey market sells a data item for 'as little as 3 yuan' "
            "(Reuters 2018) [P], taken as a record's resale over a year"
        ),
    ),
    # --- harm and breaches
    P("misuse_platform", 0.1, "weight", "ρ for the user's own platform", 0, 1),
    P("misuse_maker", 0.4, "weight", "ρ for a device maker", 0, 1),
    P("misuse_broker", 1.0, "weight", "ρ for a data broker", 0, 1),
    P("misuse_trust", 0.05, "weight", "ρ for the data trust", 0, 1),
    P(
        "breach_base_hazard",
        0.02,
        "per month",
        "b0: breach hazard of a holder with no security",
        0,
        1,
        source="set from a figure: ~11% of listed firms breached a year (ITRC 2023, B32) [P]",
    ),
    P(
        "security_scale",
        0.08,
        "CNY per held user per month",
        "s0: security spend that cuts the hazard by a factor e",
        1e-9,
        1e6,
        source="assumption: the first model's, × 1.6 with the advertising revenue",
    ),
    P(
        "security_platform",
        0.08,
        "CNY per held user per month",
        "a platform's security spend",
        0,
        1e6,
        source="assumption: the first model's, × 1.6 with the advertising revenue",
    ),
    P(
        "security_maker",
        0.032,
        "CNY per held user per month",
        "a maker's security spend",
        0,
        1e6,
        source="assumption: the first model's, × 1.6 with the advertising revenue",
    ),
    P("security_broker", 0.0, "CNY per held user per month", "a broker's security spend", 0, 1e6),
    P(
        "security_trust",
        0.08,
        "CNY per held user per month",
        "the trust's security spend",
        0,
        1e6,
        source="assumption: the first model's, × 1.6 with the advertising revenue",
    ),
    P("breach_harm_multiplier", 3.0, "months of harm", "κ: one-off harm of a breach", 0, 1e6),
    # --- portability and the trust
    P(
        "port_uptake_on_request",
        0.002,
        "per month",
        "chance a user for whom porting pays ports (on request)",
        0,
        1,
        source="assumption: MODEL.md §9's; CERRE 2020 finds 'little sign' of use (B27) [V]",
    ),
    P("port_uptake_realtime", 0.02, "per month", "the same with real-time portability", 0, 1),
    # --- the age of held data: value decays, harm persists (MODEL.md §11, "Retention")
    P(
        "data_value_decay",
        0.1,
        "per month",
        "δ: share of a held record's value lost each month no flow refreshes it (its value "
        "share is (1 − δ)^age; its harm does not decay)",
        0,
        1,
        source="assumption: MODEL.md §9's δ for a ported snapshot, applied to every holding "
        "(no published decay rate of personal data's value was found)",
    ),
    P(
        "erasure_uptake",
        0.002,
        "per month",
        "chance, times her attention, that a user asks the lawful third parties holding her "
        "data without her consent to erase it (where the regime grants erasure)",
        0,
        1,
        source="assumption, of port_uptake_on_request's order: no rate of erasure requests "
        "was found (CERRE 2020 saw 'little sign' of porting, B27; 57% know of the right, B17)",
    ),
    P(
        "trust_uptake",
        0.02,
        "per month",
        "chance a user for whom joining pays joins the trust",
        0,
        1,
    ),
    P(
        "trust_decorrelation",
        0.5,
        "share",
        "share of leakage the trust removes",
        0,
        1,
        source="assumption: its size; the mechanism is Acemoglu et al. 2022's mediated sharing [V]",
    ),
    P(
        "trust_running_cost",
        0.42,
        "CNY per member per month",
        "the trust's running cost",
        0,
        1e6,
        source="assumption: the first model's, × 8.4 with the personalisation gain",
    ),
    P("trust_bargaining_power", 0.5, "share", "the trust's Nash bargaining power", 0, 1),
    # --- disputes and learning
    P(
        "mediated_bargaining_power",
        0.5,
        "share",
        "the platform's bargaining power at the table a mediator sets",
        0,
        1,
    ),
    P(
        "settlement_probability",
        0.5,
        "probability",
        "a mediated dispute settles into renewed bargaining",
        0,
        1,
    ),
    P(
        "review_interval",
        6,
        "months",
        "firms revise their strategy toward a counterpart (and licences expire) this often",
        1,
        1200,
    ),
    P(
        "learning_rate",
        0.3,
        "share per month",
        "weight of the newest payoff in a firm's exponential average",
        0,
        1,
    ),
    P(
        "choice_temperature",
        0.1,
        "CNY per user per month",
        "logit temperature of firms' strategy choice",
        1e-9,
        1e6,
        source="assumption: the first model's, × 10 with the money scale",
    ),
    P(
        "exploration",
        0.02,
        "probability",
        "chance a firm tries a random strategy at a review",
        0,
        1,
    ),
    P(
        "opening_dispute",
        False,
        "-",
        "script the 2017 opening: platform 0 negotiates with maker 0 while the maker takes data",
    ),
    P(
        "opening_negotiation_months",
        6,
        "months",
        "length of that opening negotiation",
        0,
        1200,
        source="set from a figure: Huawei insider, 'over the past six months' (D) [P]",
    ),
    # --- regime
    P(
        "regime",
        "click_through",
        "-",
        "regulatory regime (preset name or Regime)",
        choices=tuple(REGIMES),
    ),
)
del P

PARAMETER_INDEX: dict[str, Parameter] = {p.name: p for p in PARAMETERS}

#: Parameters that existed and went away, with what replaces them: setting one is refused with
#: this message rather than as an unknown name.
REMOVED_PARAMETERS: dict[str, str] = {
    "device_price": "each device maker now sets its own price (a logit-Bertrand best response, "
    "docs/ODD.md §S6), so there is no shared device price to set; set the makers' costs and the "
    "buyers' price sensitivity instead: device_unit_cost (CNY per month) and choice_sensitivity "
    "(per CNY per month; sensitivity_from_margin gives it from a margin)",
    "data_price": "a broker's price for a record is now what the record adds to its resale, net "
    "of expected fines and of what leaks already reveal (docs/ODD.md §S4.4), so there is no "
    "fixed price to set; set broker_resale_value (CNY per record per month) and broker_horizon "
    "(months) instead",
    "snapshot_decay": "every held record now ages, and a record no flow refreshes loses a share "
    "data_value_decay of its value each month (docs/ODD.md, retention); a ported snapshot is one "
    "such record, so set data_value_decay (per month) instead",
}


def removed_parameter_message(name: str) -> str | None:
    """Why `name` can no longer be set and what replaces it, or None if it was never removed."""
    if name not in REMOVED_PARAMETERS:
        return None
    return f"parameter {name!r} was removed: {REMOVED_PARAMETERS[name]}"


class MarketScenario(Scenario):
    """Typed parameter set of a DataMarket (a Mesa Scenario); defaults come from PARAMETERS.

    ``regime_schedule`` maps a month to a regime (name or Regime) that takes effect at its start.
    """

    regime_schedule: dict = {}  # noqa: RUF012 (Scenario reads class attributes as defaults)
    __annotations__ = {
        **{p.name: type(p.default) for p in PARAMETERS},
        "regime_schedule": dict,
    }


for _parameter in PARAMETERS:
    setattr(MarketScenario, _parameter.name, _parameter.default)
MarketScenario.__init_subclass__()  # collect the defaults set just above

SCENARIOS: dict[str, dict[str, Any]] = {
    "tencent_huawei_2017": dict(
        n_platforms=2,
        n_makers=5,
        dominant_platform_reach=0.95,
        other_platform_reach=0.3,
        dominant_platform_advantage=10.0,
        maker_shares=(0.204, 0.181, 0.154, 0.124, 0.093),
        platform_bargaining_power=0.7,
        regime="click_through",
        opening_dispute=True,
        opening_negotiation_months=6,
    ),
    "baseline": dict(
        n_platforms=2,
        n_makers=5,
        dominant_platform_reach=0.6,
        other_platform_reach=0.6,
        dominant_platform_advantage=0.0,
        maker_shares=(),
        platform_bargaining_power=0.5,
        regime="click_through",
        opening_dispute=False,
    ),
}
SCENARIO_DESCRIPTIONS: dict[str, str] = {
    "tencent_huawei_2017": "the 2017 WeChat-Honor Magic dispute: one dominant platform; five "
    "makers led by one with a fifth of China's shipments (27% of the five modelled); "
    "click-through with mediation; six months of negotiation without agreement while the leader "
    "takes chat data, then the platform degrades its app and complains",
    "baseline": "a symmetric market: two equal platforms, five equal makers, no scripted opening",
}
DEFAULT_SCENARIO = "tencent_huawei_2017"

# The densest social graph the model accepts: mean_degree <= MAX_GRAPH_DENSITY · (n_users − 1).
# `model.graph.social_graph` draws n_users · mean_degree / 2 edges whose ends are picked in
# proportion to Pareto weights, and drops self-loops and repeated pairs, so the realised mean
# degree falls short of the one asked, the more so the denser the graph (the share of the other
# n_users − 1 users each one is asked to know) and the heavier the tail. Realised / asked, mean
# over 8 seeds (2 at 5,000 users) at n_users = 50, 100, 1,000 and 5,000 (where mean_degree
# <= 1,000), from social_graph itself:
#
#   density = mean_degree / (n_users − 1)   0.02       0.1        0.25       0.5        1
#   degree_tail 2.05 (heaviest allowed)     0.91–0.96  0.85–0.87  0.74–0.77  0.63–0.65  0.49–0.52
#   degree_tail 2.5 (the default)           0.91–0.98  0.89–0.91  0.79–0.82  0.69–0.70  0.54–0.56
#   degree_tail 50 (nearly equal weights)   0.93–0.99  0.93–0.95  0.87–0.88  0.78–0.79  0.63
#
# The shortfall depends on the density, hardly on n_users (below 50 users single graphs vary
# widely). Up to a quarter of the others the graph realises on average at least about three
# quarters of the mean degree asked, whatever the tail; beyond, the shortfall grows towards a
# half, and above n_users − 1 no graph can have the mean degree asked. Within the limit, the
# degree realised is reported: DataMarket.realised_mean_degree, and runs.parquet's column
# realised_mean_degree.
MAX_GRAPH_DENSITY = 0.25
GRAPH_RULE = (
    "mean_degree at most (n_users - 1) / 4: the social graph drops repeated pairs, so denser "
    "graphs fall well short of the degree asked (at a quarter of the other users it realises "
    "about 3/4 of it, at all of them about 1/2)"
)


def check_graph(n_users: int, mean_degree: float) -> None:
    """Refuse a mean degree the social graph cannot realise for `n_users` (`MAX_GRAPH_DENSITY`).

    Raises:
        ValueError: naming mean_degree and n_users, their values, the limit and why.
    """
    limit = MAX_GRAPH_DENSITY * (n_users - 1)
    if mean_degree <= limit:
        return
    fewest = math.ceil(mean_degree / MAX_GRAPH_DENSITY) + 1
    raise ValueError(
        f"parameter mean_degree={mean_degree!r} is too high for n_users={n_users!r}: allowed is "
        f"{GRAPH_RULE.removeprefix('mean_degree ')}; here at most {limit:g} contacts; lower "
        f"mean_degree, or raise n_users to at least {fewest}"
    )


RNG_ALLOWED = (
    "None (a fresh seed from the operating system), a whole number >= 0 (e.g. 42; a numpy "
    "integer too), a list of such numbers, or a numpy SeedSequence, BitGenerator or Generator"
)


def _seed_number(value: Any) -> bool:
    return (
        isinstance(value, int | np.integer)
        and not isinstance(value, bool | np.bool_)
        and value >= 0
    )


def validate_rng(rng: Any) -> Any:
    """Check the model's `rng` (what `numpy.random.default_rng` and Mesa take); return it with
    a numpy integer turned into a Python int (Mesa seeds Python's `random` with it).

    Allowed: None; a whole number >= 0 (not a bool); a flat list, tuple or integer array of
    such numbers; a numpy SeedSequence, BitGenerator, Generator (or legacy RandomState).

    Raises:
        ValueError: naming rng, the value and what is allowed.
    """
    generators = (
        np.random.SeedSequence,
        np.random.BitGenerator,
        np.random.Generator,
        np.random.RandomState,
    )
    if rng is None or isinstance(rng, generators):
        return rng
    if _seed_number(rng):
        return int(rng)
    if isinstance(rng, np.ndarray):
        if rng.ndim == 1 and np.issubdtype(rng.dtype, np.integer) and bool((rng >= 0).all()):
            return rng
    elif isinstance(rng, list | tuple) and all(_seed_number(item) for item in rng):
        return [int(item) for item in rng]
    shown = repr(rng) if len(repr(rng)) <= 80 else repr(rng)[:77] + "..."
    raise ValueError(f"parameter rng={shown} is invalid: expected {RNG_ALLOWED}")


def validate(params: dict[str, Any]) -> dict[str, Any]:
    """Check parameter values; return them with ints widened to floats where a float is expected.

    Raises:
        ValueError: naming the parameter, the bad value and what is allowed.
    """
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if name == "regime_schedule":
            checked[name] = _validate_schedule(value)
            continue
        removed = removed_parameter_message(name)
        if removed is not None:
            raise ValueError(removed)
        if name not in PARAMETER_INDEX:
            raise ValueError(
                f"unknown parameter {name!r} (value {value!r}); allowed parameters: "
                f"{', '.join(sorted([*PARAMETER_INDEX, 'regime_schedule']))}"
            )
        checked[name] = _validate_one(PARAMETER_INDEX[name], value)
    if "n_makers" in checked and checked.get("maker_shares"):
        shares = checked["maker_shares"]
        if len(shares) != checked["n_makers"]:
            raise ValueError(
                f"parameter maker_shares={shares!r} has {len(shares)} entries but n_makers is "
                f"{checked['n_makers']}; give one share per maker, or () for equal shares"
            )
    if "n_users" in checked and "mean_degree" in checked:
        check_graph(checked["n_users"], checked["mean_degree"])
    return checked


def _validate_one(p: Parameter, value: Any) -> Any:
    bad = f"parameter {p.name}={value!r} is invalid: expected {p.allowed()} ({p.unit})"
    if p.name == "regime":
        if isinstance(value, Regime):
            return value
        if isinstance(value, str) and value in REGIMES:
            return value
        raise ValueError(
            f"parameter regime={value!r} is not a known regime; allowed: "
            f"{', '.join(REGIMES)} or a model.Regime object"
        )
    if p.name == "maker_shares":
        try:
            if isinstance(value, str) or any(isinstance(s, bool) for s in value):
                raise TypeError("maker shares are numbers")
            shares = tuple(float(s) for s in value)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"parameter maker_shares={value!r} must be a list of positive numbers"
            ) from error
        if any(not math.isfinite(s) or s <= 0 for s in shares):
            raise ValueError(f"parameter maker_shares={value!r} must be positive numbers")
        return shares
    if p.choices is not None:
        if value not in p.choices:
            raise ValueError(bad)
        return value
    if p.kind is bool:
        if not isinstance(value, bool | np.bool_):
            raise ValueError(bad)
        return bool(value)
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(bad)
    if not math.isfinite(value):
        raise ValueError(bad)
    if p.kind is int:
        if float(value) != int(value):
            raise ValueError(bad)
        value = int(value)
    else:
        value = float(value)
    if (p.low is not None and value < p.low) or (p.high is not None and value > p.high):
        raise ValueError(bad)
    return value


def _validate_schedule(schedule: Any) -> dict[int, str | Regime]:
    if schedule is None:
        return {}
    if not isinstance(schedule, dict):
        raise ValueError(
            f"parameter regime_schedule={schedule!r} must be a mapping of month "
            f"(a whole number >= 1) to a regime name ({', '.join(REGIMES)})"
        )
    checked: dict[int, str | Regime] = {}
    for month, regime in schedule.items():
        try:
            step = int(month)
        except (TypeError, ValueError):
            step = -1
        if step < 1 or str(step) != str(month).strip():
            raise ValueError(
                f"parameter regime_schedule has month {month!r}: months are whole numbers >= 1"
            )
        try:
            get_regime(regime)
        except ValueError as error:
            raise ValueError(f"parameter regime_schedule[{month}]: {error}") from None
        checked[step] = regime
    return checked


def make_scenario(
    scenario: str = DEFAULT_SCENARIO, rng: Any = None, **overrides: Any
) -> MarketScenario:
    """A validated MarketScenario: the preset's values, then explicit overrides on top."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; allowed: {', '.join(SCENARIOS)}")
    preset = dict(SCENARIOS[scenario])
    shares_fit = len(preset.get("maker_shares", ())) == overrides.get("n_makers")
    if "n_makers" in overrides and "maker_shares" not in overrides and not shares_fit:
        preset["maker_shares"] = ()  # the preset's shares fit another number of makers
    rng = validate_rng(rng)
    values = validate({**preset, **overrides})
    values.setdefault("n_makers", PARAMETER_INDEX["n_makers"].default)
    validate({"n_makers": values["n_makers"], "maker_shares": values.get("maker_shares", ())})
    check_graph(
        values.get("n_users", PARAMETER_INDEX["n_users"].default),
        values.get("mean_degree", PARAMETER_INDEX["mean_degree"].default),
    )
    return MarketScenario(rng=rng, **values)


def parameter_table() -> list[dict[str, Any]]:
    """Every parameter as a row: name, unit, default, meaning, allowed values, source."""
    return [
        dict(
            name=p.name,
            unit=p.unit,
            default=p.default,
            meaning=p.meaning,
            allowed=p.allowed(),
            source=p.source,
        )
        for p in PARAMETERS
    ]


def harm_scale(params: MarketScenario) -> float:
    """The factor from the θ behind decisions to the θ that counts in welfare
    (`privacy_valuation_basis`): 1 for 'revealed'; for 'wtp' and 'wta', the surveyed US
    valuation in 2017 CNY (× `usd_cny` × `valuation_transfer`) over the median θ, so that the
    median user's harm from full exposure to a broker (ρ = `misuse_broker`) is that valuation."""
    if params.privacy_valuation_basis == "revealed":
        return 1.0
    surveyed = params.privacy_wtp if params.privacy_valuation_basis == "wtp" else params.privacy_wta
    valuation = surveyed * params.usd_cny * params.valuation_transfer
    median_harm = params.privacy_cost_median * params.misuse_broker
    return valuation / median_harm if median_harm > 0 else 1.0
