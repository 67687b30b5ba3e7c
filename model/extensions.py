"""Extending a DataMarket without editing the package: a metric of your own.

`add_metric` registers one more model-level reporter with a market's DataCollector, so the new
column sits next to `model.METRICS` in ``market.datacollector.get_model_vars_dataframe()``::

    from model import DataMarket, add_metric

    def trust_dividend(market):  # CNY per member per month, 0 without a trust
        return market.trust.dividend if market.trust is not None else 0.0

    market = DataMarket(regime="data_trust", n_users=5_000, rng=1)
    add_metric(market, "trust_dividend", trust_dividend)
    market.run_for(12)
    market.datacollector.get_model_vars_dataframe()["trust_dividend"]

A reporter reads the model's state at the end of the month (docs/ODD.md §2 lists it); it should
not change it. Experiment files record `model.METRICS` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.market import DataMarket


def add_metric(market: DataMarket, name: str, reporter: Callable[[DataMarket], float]) -> None:
    """Collect `reporter(market)` as the metric `name` every month from now on.

    Args:
        market: a DataMarket that has not played a month yet (so the column covers every month).
        name: the column's name: a Python identifier not already collected.
        reporter: a function of the market returning a number, called after each month.

    Raises:
        ValueError: `name` is not an identifier or is already collected, `reporter` is not
            callable, or the market has already played a month.
    """
    collector = market.datacollector
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"metric name {name!r} must be a Python identifier, e.g. 'my_share'")
    if name in collector.model_reporters:
        raise ValueError(f"metric {name!r} is already collected; choose another name")
    if not callable(reporter):
        raise ValueError(
            f"reporter for {name!r} must be a function of the market, not {reporter!r}"
        )
    if market.steps > 0 or any(collector.model_vars.values()):
        raise ValueError(
            f"cannot add metric {name!r} after month {market.steps}: its column would miss the "
            "months already played; add metrics right after creating the market"
        )
    # A lambda, because Mesa calls functions with the model and other callables without it.
    collector._new_model_reporter(name, lambda model: float(reporter(model)))


__all__ = ["add_metric"]
