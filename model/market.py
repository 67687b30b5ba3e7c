"""DataMarket: the Mesa model — its state, and the monthly step order of MODEL.md §3.

Each phase of `step` is one call into the module that owns it; this file holds the order, the
state the phases share, and nothing of the economics itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mesa
import numpy as np

from model.agents import Broker, DataTrust, DeviceMaker, Firm, Platform, Regulator
from model.consent import run_consent
from model.flows import run_breaches, update_flows
from model.markets import run_markets, set_device_prices, update_quality
from model.metrics import METRICS, compute_metrics
from model.negotiation import learn, negotiate, pair_economics
from model.parameters import (
    DEFAULT_SCENARIO,
    MarketScenario,
    make_scenario,
    removed_parameter_message,
    validate_rng,
)
from model.payoffs import Ledger, settle
from model.population import Holders, create_users
from model.regimes import Regime, get_regime
from model.regulation import regulate


@dataclass
class Month:
    """Scratch record of the month being played, filled phase by phase, read by the metrics.

    Per-user arrays have one entry per user; counts and money are totals for the month.
    """

    n_users: int
    requests: int = 0  # consent requests made
    accepted: int = 0  # ... and accepted
    ports: int = 0  # users who ported their data
    withdrawals: int = 0  # consents withdrawn
    erasure_requests: int = 0  # users whose request to erase their data was carried out
    mean_holding_age: float = 0.0  # months, over makers', brokers' and the trust's records
    resolved: int = 0  # complaints resolved
    settlements: int = 0  # mediations that sent a pair back to the table
    fines: float = 0.0  # CNY collected
    data_payments: float = 0.0  # CNY paid by makers to users for consent
    paid_consents: int = 0  # users with a consent to their device's maker whose data flowed
    degradation_loss: float = 0.0  # CNY lost to degraded apps (users and platforms' ads)
    compliance_paid: float = 0.0  # CNY of compliance costs
    reading_cost: float = 0.0  # CNY of users' time reading requests
    licence_cost: float = 0.0  # CNY of platforms' liability for sharing under their licences
    trust_cost: float = 0.0  # CNY of the trust's running and security costs
    breaches: int = 0
    illegal_traders: set = field(default_factory=set)  # firms that traded data illegally
    illegal_records: dict = field(default_factory=dict)  # firm id → records traded illegally
    illegal_gains: dict = field(default_factory=dict)  # firm id → CNY gained from them
    reads: np.ndarray = field(init=False)  # requests each user read
    breach_harm: np.ndarray = field(init=False)  # one-off harm of this month's breaches, CNY
    data_quality: np.ndarray = field(init=False)  # value share of the device maker's data
    flow_device: np.ndarray = field(init=False)  # each user's device when data flowed
    licensed_users: np.ndarray = field(init=False)  # reached through a licence
    breached: np.ndarray = field(init=False)  # (H,) holders breached
    harm: np.ndarray = field(init=False)  # monthly privacy harm, CNY
    personalisation_gain: np.ndarray = field(init=False)  # CNY per month
    contact_share: np.ndarray = field(init=False)  # (N, P) contacts on each platform
    platform_contacts: np.ndarray | None = None  # the same, from phase 4's pass over the graph
    buyers: np.ndarray = field(init=False)  # users who replaced their device
    utility: np.ndarray = field(init=False)  # money-metric utility, CNY per month

    def __post_init__(self) -> None:
        self.reads = np.zeros(self.n_users)
        self.breach_harm = np.zeros(self.n_users)
        self.data_quality = np.zeros(self.n_users)


class DataMarket(mesa.Model):
    """A market for personal data: platforms, device makers, brokers, a regulator, users.

    Every parameter is a keyword with a default, so ``DataMarket()`` runs the default scenario
    (`tencent_huawei_2017`). Explicit keywords override the scenario preset.

    Args:
        scenario: a preset name (see `model.SCENARIOS`) or a ready `MarketScenario`.
        regime: a preset name (see `model.REGIMES`) or a `Regime`; default: the scenario's.
        regime_schedule: {month: regime} switches, e.g. ``{36: "portability"}``.
        rng: the only source of randomness in the run: None, a whole number >= 0, a list of
            them, or a numpy SeedSequence, BitGenerator or Generator (`validate_rng`).
        **params: any parameter of `model.PARAMETERS` (e.g. ``n_users``, ``leakage``).

    Attributes:
        realised_mean_degree: the social graph's mean number of contacts, as built (a little
            below ``mean_degree``: repeated pairs are dropped; see `model.graph.social_graph`).

    Raises:
        ValueError: an unknown parameter, a wrong type, a value out of range, an unknown
            regime, a bad `rng`, or a mean degree the graph cannot realise for the number of
            users, naming the parameter, the value and what is allowed.
    """

    def __init__(
        self, scenario: str | MarketScenario = DEFAULT_SCENARIO, *, rng: Any = None, **params: Any
    ) -> None:
        if isinstance(scenario, MarketScenario):
            if params:
                raise ValueError(
                    "pass parameters either in a MarketScenario or as keywords, "
                    f"not both (got keywords {sorted(params)})"
                )
            built = scenario
            for name in vars(built):  # a Scenario keeps any keyword it is given
                removed = removed_parameter_message(name)
                if removed is not None:
                    raise ValueError(removed)
            checked = validate_rng(built.rng if rng is None else rng)
            if checked is not built.rng:
                built.rng = checked
        elif isinstance(scenario, str):
            built = make_scenario(scenario, rng=rng, **params)
        else:
            raise ValueError(
                f"parameter scenario={scenario!r} must be a scenario name or a MarketScenario"
            )
        super().__init__(scenario=built)
        self.p: MarketScenario = built
        self.regime: Regime = get_regime(built.regime)
        self.holders = Holders(built.n_platforms, built.n_makers, built.n_brokers)
        self.users = create_users(built, self.rng, self.holders)
        self.realised_mean_degree = float(self.users.degree.mean()) if built.n_users else 0.0

        self.regulator = Regulator(self)
        self.platforms = [Platform(self, p, built.n_makers) for p in range(built.n_platforms)]
        self.makers = [DeviceMaker(self, m, built.n_platforms) for m in range(built.n_makers)]
        self.brokers = [Broker(self, k) for k in range(built.n_brokers)]
        self.trust: DataTrust | None = None
        if self.regime.data_trust:
            self.trust = DataTrust(self, 0, built.n_makers)

        shape = (built.n_platforms, built.n_makers)
        self.licensed = np.zeros(shape, dtype=bool)
        self.taking = np.zeros(shape, dtype=bool)
        self.blocked = np.zeros(shape, dtype=bool)
        self.fee = np.zeros(shape)  # CNY per shared user per month, fixed for a contract
        self.contract_until = np.zeros(shape, dtype=np.int64)  # month the contract expires
        self.mediated = np.zeros(shape, dtype=bool)  # sent back to the table this month
        self.dispute_filed = np.full(shape, -1, dtype=np.int64)  # month filed, −1 if none
        self.unblock_order = np.zeros(shape, dtype=np.int64)  # month an order to unblock ends
        self.opening_over = False  # the scripted opening dispute has run its course
        self.economics = np.empty(shape, dtype=object)
        self.ledger = Ledger()
        self.last_illegal_traders: set = set()
        self.last_illegal_month: Month | None = None
        self.exposure = np.zeros(self.users.holds.shape)  # e[i, h] after this month's flows
        # k[i, h]: how many of i's contacts' data h holds (phase 4; `flows.leaked_exposure`)
        self.contact_count = np.zeros(self.users.holds.shape, dtype=np.int32)
        self.data_quality = np.zeros(built.n_users)  # last month's, see Month.data_quality
        self.month = Month(built.n_users)
        self.first_best: tuple[np.ndarray, np.ndarray] | None = None  # last month's d*
        self.planner_state: tuple | None = None  # last month's d* and private allocation
        self.planner_bounds: tuple | None = None  # see model.planner.contact_bounds
        self._form_initial_beliefs()

        self.datacollector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in METRICS},
            agent_reporters={
                "kind": "kind",
                "profit": "profit",
                "market_share": "market_share",
                "strategy": "strategy",
                "fees_paid": "fees_paid",
                "fees_received": "fees_received",
                "fines": "fines",
                "price": "price",  # a maker's device price, CNY per user per month; NaN else
            },
        )
        self.metrics: dict[str, float] = {}

    @property
    def firms(self) -> list[Firm]:
        """Every firm (platforms, makers, brokers, the trust where there is one)."""
        return [
            *self.platforms,
            *self.makers,
            *self.brokers,
            *([self.trust] if self.trust is not None else []),
        ]

    def step(self) -> None:
        """One month, in the order of MODEL.md §3 (breaches come before payoffs; see ODD)."""
        self._open_month()
        regulate(self)  # 1. regime changes, audits, fines, complaints due
        negotiate(self)  # 2. bargaining, blocking, taking, complaints filed
        run_consent(self)  # 3. consent requests and answers
        update_flows(self)  # 4. who holds whose data; portability, trust, brokers
        run_markets(self)  # 5. quality, device replacement, platform use
        run_breaches(self)  # 6. breaches (before payoffs, so their harm is this month's)
        settle(self)  # 7. utility, profits, transfers
        learn(self)  # 8. firms update their payoff estimates
        self.metrics = compute_metrics(self)
        self.datacollector.collect(self)

    def set_regime(self, regime: str | Regime) -> None:
        """Switch regime now (the regulator does this on `regime_schedule`)."""
        self.regime = get_regime(regime)
        if self.regime.data_trust and self.trust is None:
            self.trust = DataTrust(self, 0, len(self.makers))
        elif not self.regime.data_trust and self.trust is not None:
            # The trust is wound up: members' rights return to them, its copy is deleted.
            self.trust.remove()
            self.trust = None
            self.users.trust_member[:] = False
            self.users.holds[:, self.holders.trust] = False
            self.users.consented[:, self.holders.trust] = False
            self.users.informed[:, self.holders.trust] = False
        if not self.regime.third_party_access:
            # A ban: makers must delete the platform data they hold; licences end.
            self.users.holds[:, self.holders.makers] = False
            self.users.consented[:, self.holders.makers] = False
            self.users.ported_to[:] = -1

    def _open_month(self) -> None:
        self.last_illegal_traders = self.month.illegal_traders
        self.last_illegal_month = self.month
        self.month = Month(self.users.n)
        self.ledger.reset()
        self.regulator.profit = 0.0
        for firm in self.firms:
            firm.open_books()

    def _form_initial_beliefs(self) -> None:
        """Before month 1, makers price their devices and firms estimate every strategy's payoff
        from the starting state, and their turnover (the base of the fines they weigh) from their
        starting customers."""
        for maker in self.makers:
            maker.data_share = 0.0
            maker.held_share = 0.0
        update_quality(self)
        set_device_prices(self)  # no fees or data yet: c̃ is the unit cost less generic service
        params, users = self.p, self.users
        full_quality = params.quality_base + params.quality_gain
        members = users.member.sum(axis=0)
        for index, platform in enumerate(self.platforms):
            ad_rate = params.ad_revenue_per_user * platform.quality / full_quality
            platform.last_turnover = ad_rate * members[index]
        device_users = np.bincount(users.device, minlength=len(self.makers))
        generic_service = params.service_revenue_rate * params.generic_service_share
        for m, maker in enumerate(self.makers):
            per_user = maker.price + generic_service * maker.quality
            maker.last_turnover = per_user * device_users[m]
        self.exposure = np.zeros(self.users.holds.shape)
        for p in range(len(self.platforms)):
            for m in range(len(self.makers)):
                self.economics[p, m] = pair_economics(self, p, m)
        learn(self)


def _reporter(name: str):
    """A DataCollector reporter reading one metric of the month just played."""
    return lambda model: model.metrics[name]
