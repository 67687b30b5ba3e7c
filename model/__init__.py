"""datamarket: an agent-based model of markets for personal data under regulatory regimes.

The public API::

    from model import DataMarket
    market = DataMarket(regime="informed_consent", n_users=20_000, rng=42)
    market.run_for(60)
    df = market.datacollector.get_model_vars_dataframe()
"""

from model.catalogue import list_metrics, list_parameters, list_regimes, list_scenarios
from model.extensions import add_metric
from model.market import DataMarket
from model.metrics import HEADLINE, METRICS, MISSING
from model.parameters import (
    DEFAULT_SCENARIO,
    PARAMETERS,
    SCENARIO_DESCRIPTIONS,
    SCENARIOS,
    MarketScenario,
    make_scenario,
    parameter_table,
)
from model.regimes import LEVERS, REGIME_ANCHORS, REGIMES, Regime, get_regime

__all__ = [
    "DEFAULT_SCENARIO",
    "HEADLINE",
    "LEVERS",
    "METRICS",
    "MISSING",
    "PARAMETERS",
    "REGIMES",
    "REGIME_ANCHORS",
    "SCENARIOS",
    "SCENARIO_DESCRIPTIONS",
    "DataMarket",
    "MarketScenario",
    "Regime",
    "add_metric",
    "get_regime",
    "list_metrics",
    "list_parameters",
    "list_regimes",
    "list_scenarios",
    "make_scenario",
    "parameter_table",
]
