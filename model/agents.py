"""The firms and the regulator as Mesa agents.

Each firm keeps its books for the month (revenue, costs, transfers) and, for platforms and makers,
a strategy toward each counterpart chosen by logit over exponentially averaged payoffs (learning).
The users are not agents here: they are one vectorised population (`model.population`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from model.market import DataMarket

# "block" is a bargaining stance: degrade the app on the maker's devices while it wants the data
# without a deal. "take" likewise: take on-device with users' consent while there is no deal.
PLATFORM_STRATEGIES = ("open", "license", "block")  # toward one maker
MAKER_STRATEGIES = ("none", "license", "take")  # toward one platform
OPEN, LICENSE, BLOCK = 0, 1, 2
NONE, TAKE = 0, 2


class Firm(mesa.Agent):
    """A firm's monthly books. Profit = revenue − costs + transfers received − transfers paid."""

    kind = "firm"
    # A device price exists only for makers (NaN elsewhere, in the firms' output too).
    price = float("nan")

    def __init__(self, model: DataMarket, index: int) -> None:
        super().__init__(model)
        self.index = index
        self.revenue = 0.0  # value from outside the market (ads, services) and device sales
        self.costs = 0.0  # resources used up (security, compliance, devices, degradation)
        self.fees_paid = 0.0
        self.fees_received = 0.0
        self.sales_received = 0.0  # data sold to brokers
        self.purchases = 0.0  # data bought (brokers)
        self.fines = 0.0
        self.liability_paid = 0.0
        self.data_payments = 0.0  # paid to users for their consent
        self.profit = 0.0
        self.market_share = 0.0
        self.last_turnover = 0.0  # last month's, the base of fines

    def open_books(self) -> None:
        self.revenue = self.costs = 0.0
        self.fees_paid = self.fees_received = 0.0
        self.sales_received = self.purchases = 0.0
        self.fines = self.liability_paid = 0.0
        self.data_payments = 0.0

    def close_books(self) -> None:
        self.profit = (
            self.revenue
            - self.costs
            + self.fees_received
            - self.fees_paid
            + self.sales_received
            - self.purchases
            - self.fines
            - self.liability_paid
            - self.data_payments
        )
        self.last_turnover = self.turnover

    @property
    def turnover(self) -> float:
        """Gross monthly income, the base of a fine (a share of annual turnover)."""
        return max(self.revenue + self.fees_received + self.sales_received, 0.0)

    @property
    def strategy(self) -> str:
        return ""


class StrategicFirm(Firm):
    """A firm with a strategy toward each counterpart, learnt by logit over averaged payoffs.

    `attraction[c, s]` is the exponentially averaged payoff (CNY per user of the market per month)
    of strategy s toward counterpart c; it is updated every month with the payoff each strategy
    would have earned against the counterpart's current strategy (experience-weighted attraction
    with full weight on foregone payoffs), and a strategy is chosen at each review.
    """

    strategy_names: tuple[str, ...] = ()

    def __init__(self, model: DataMarket, index: int, n_counterparts: int, initial: int) -> None:
        super().__init__(model, index)
        self.attraction = np.zeros((n_counterparts, len(self.strategy_names)))
        self.choice = np.full(n_counterparts, initial, dtype=np.int64)
        self._seen = False

    def learn(self, payoffs: np.ndarray, rate: float) -> None:
        """Blend this month's payoff estimates (counterparts × strategies) into the attractions."""
        if not self._seen:
            self.attraction[:] = payoffs
            self._seen = True
        else:
            self.attraction += rate * (payoffs - self.attraction)

    def choose(self, allowed: np.ndarray, temperature: float, exploration: float) -> None:
        """Pick a strategy toward each counterpart: logit over attractions, or explore.

        `allowed` (counterparts × strategies) marks the strategies the regime permits.
        """
        rng = self.model.rng
        for c in range(self.choice.size):
            options = np.flatnonzero(allowed[c])
            if rng.random() < exploration:
                self.choice[c] = rng.choice(options)
                continue
            scores = self.attraction[c, options] / temperature
            weights = np.exp(scores - scores.max())
            self.choice[c] = options[rng.choice(options.size, p=weights / weights.sum())]

    @property
    def strategy(self) -> str:
        return ",".join(self.strategy_names[s] for s in self.choice)


class Platform(StrategicFirm):
    """A WeChat-like platform: its access policy toward each maker (open / license / block)."""

    kind = "platform"
    strategy_names = PLATFORM_STRATEGIES

    def __init__(self, model: DataMarket, index: int, n_makers: int) -> None:
        super().__init__(model, index, n_makers, initial=LICENSE)
        self.quality = 0.0  # service quality q_p


class DeviceMaker(StrategicFirm):
    """A Huawei-like device maker: how it gets each platform's data (none / license / take)."""

    kind = "maker"
    strategy_names = MAKER_STRATEGIES

    def __init__(self, model: DataMarket, index: int, n_platforms: int) -> None:
        super().__init__(model, index, n_platforms, initial=LICENSE)
        self.quality = 0.0  # AI-service quality q_m
        self.data_share = 0.0  # its retained data stock D_m: records worth (1 − δ)^age, per user
        self.held_share = 0.0  # share of all users whose data it holds, whatever their age
        self.acceptance = float("nan")  # smoothed share of its requests accepted; nan: none yet
        # Set each month in phase 5 (`model.markets.set_device_prices`), CNY per user per month:
        self.price = 0.0  # p_m, what each user of its devices pays it this month
        self.effective_cost = 0.0  # c̃_m, its marginal cost of a device user, net of data revenue
        self.markup = 0.0  # p_m − c̃_m, what one more device user adds to its profit


class Broker(Firm):
    """A data broker: buys records where it can (legally or not) and resells their use."""

    kind = "broker"


class DataTrust(Firm):
    """An industry data trust: pools members' rights, bargains with makers, pays a dividend."""

    kind = "trust"

    def __init__(self, model: DataMarket, index: int, n_makers: int) -> None:
        super().__init__(model, index)
        self.licensed = np.zeros(n_makers, dtype=bool)
        self.offered = np.zeros(n_makers, dtype=bool)  # makers it expects to license to
        self.fee_per_member = np.zeros(n_makers)  # CNY per member-user per month
        self.dividend = 0.0  # CNY per member per month, last paid
        self.members = 0

    @property
    def strategy(self) -> str:
        return ",".join("license" if lic else "none" for lic in self.licensed)


class Regulator(mesa.Agent):
    """Applies the regime: scheduled changes, audits, fines, and complaints after a delay."""

    kind = "regulator"

    # Read by the agent reporters alongside the firms: the regulator's "profit" is the public
    # revenue from fines this month; it has no market, fees or fines of its own.
    market_share = 0.0
    price = float("nan")
    fees_paid = 0.0
    fees_received = 0.0
    fines = 0.0

    def __init__(self, model: DataMarket) -> None:
        super().__init__(model)
        self.profit = 0.0  # fines collected this month, CNY
        self.audits = 0

    @property
    def strategy(self) -> str:
        return self.model.regime.name
