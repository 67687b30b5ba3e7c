"""The fixed-seed runs whose metrics are recorded in `tests/golden/metrics.json`.

Shared by `scripts/record_golden.py` (which records them) and `tests/test_golden.py` (which
replays them and asks for the very same numbers): every regime preset, a regime switch that
creates and winds up a data trust, a custom regime, and the symmetric baseline scenario.
"""

from __future__ import annotations

from typing import Any

from model import DataMarket, get_regime

#: Small enough to replay in a few seconds, big enough to exercise every phase.
N_USERS = 3_000
MONTHS = 48

#: name → (DataMarket keywords, months).
CASES: dict[str, tuple[dict[str, Any], int]] = {
    **{
        regime: (dict(regime=regime, n_users=N_USERS, rng=20170803), MONTHS)
        for regime in (
            "click_through",
            "informed_consent",
            "platform_control",
            "portability",
            "data_trust",
            "ban",
            "recipient_liability",
        )
    },
    # Into a trust at month 16, out of it (winding it up) into portability at month 32.
    "switch_trust_then_portability": (
        dict(
            regime="click_through",
            regime_schedule={16: "data_trust", 32: "portability"},
            n_users=N_USERS,
            rng=11,
        ),
        MONTHS,
    ),
    "ban_after_click_through": (
        dict(regime="click_through", regime_schedule={24: "ban"}, n_users=N_USERS, rng=12),
        MONTHS,
    ),
    "free_realtime_portability": (
        dict(
            regime=get_regime("portability").replace(
                name="portability_free_realtime", portability="realtime", access_fee_cap=0.0
            ),
            n_users=N_USERS,
            rng=13,
        ),
        MONTHS,
    ),
    "baseline_trust_bimodal": (
        dict(
            scenario="baseline",
            regime="data_trust",
            privacy_cost_distribution="bimodal",
            leakage=0.5,
            n_users=N_USERS,
            rng=14,
        ),
        MONTHS,
    ),
}

AGENT_FIELDS = ("profit", "market_share", "strategy", "fees_paid", "fees_received", "fines")


def play(case: str) -> dict[str, Any]:
    """Run one case; return every model metric and every firm's reported fields, month by month.

    Agents' series are keyed "agent id/field", one value per month the agent reported.
    """
    params, months = CASES[case]
    params = dict(params)
    scenario = params.pop("scenario", "tencent_huawei_2017")
    market = DataMarket(scenario, **params)
    market.run_for(months)
    model_vars = market.datacollector.get_model_vars_dataframe()
    agent_vars = market.datacollector.get_agent_vars_dataframe()
    agents = {
        f"{agent}/{name}": [_plain(value) for value in rows[name]]
        for agent, rows in agent_vars.groupby(level="AgentID")
        for name in AGENT_FIELDS
    }
    return {
        "model": {name: [float(v) for v in model_vars[name]] for name in model_vars.columns},
        "agents": agents,
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, str) else float(value)
