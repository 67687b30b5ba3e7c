"""What the model offers, as tables: regimes and their levers, scenarios, parameters, metrics.

For the command line, the docs and anyone at a Python prompt (`model.list_regimes()` ...).
"""

from __future__ import annotations

import pandas as pd

from model.metrics import METRICS
from model.parameters import SCENARIO_DESCRIPTIONS, SCENARIOS, parameter_table
from model.regimes import REGIME_ANCHORS, REGIMES


def list_regimes() -> pd.DataFrame:
    """One row per regime preset, one column per lever, plus its legal or economic anchor."""
    rows = [
        {"regime": name, **regime.levers(), "anchor": REGIME_ANCHORS[name]}
        for name, regime in REGIMES.items()
    ]
    return pd.DataFrame(rows).set_index("regime")


def list_scenarios() -> pd.DataFrame:
    """One row per scenario preset: what it describes and the parameters it sets."""
    rows = [
        {
            "scenario": name,
            "description": SCENARIO_DESCRIPTIONS[name],
            "sets": ", ".join(f"{k}={v}" for k, v in values.items()),
        }
        for name, values in SCENARIOS.items()
    ]
    return pd.DataFrame(rows).set_index("scenario")


def list_parameters() -> pd.DataFrame:
    """One row per parameter: unit, default, meaning, allowed values, source."""
    return pd.DataFrame(parameter_table()).set_index("name")


def list_metrics() -> pd.DataFrame:
    """One row per metric of MODEL.md §7: group, unit, meaning."""
    rows = [
        {"metric": name, "group": group, "unit": unit, "meaning": meaning}
        for name, (group, unit, meaning) in METRICS.items()
    ]
    return pd.DataFrame(rows).set_index("metric")
