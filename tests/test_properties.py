"""Property-based tests (hypothesis) of DataMarket over random valid and invalid parameters.

Over random valid parameters (n_users 50–2000, n_platforms 1–3, n_makers 1–6, n_brokers 0–3,
mean_degree 0–30 within the graph's limit of (n_users − 1) / 4, leakage 0–1, any regime preset,
either shipped scenario, a few months) every month satisfies the invariants of MODEL.md §5, §7
and §9 checked by `run_checked` (conftest): finite metrics, shares in [0, 1], Herfindahl indices
in [1/n, 1], pair counts within [0, n_platforms · n_makers], breaches ≥ 0, money conserved, total
welfare = consumer surplus + all profits + fines per user, and the defining rule of the regime in
force. The same holds through a scheduled regime switch with firms that explore, and a run is a
function of its parameters and seed. Invalid values raise a ValueError naming the parameter.

Examples are derandomized (a fixed sequence, reproducible in CI) and few, so the module runs in
seconds.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from model import PARAMETERS, DataMarket
from model.parameters import MAX_GRAPH_DENSITY

# MODEL.md §5 presets, typed from the spec.
REGIME_NAMES = (
    "platform_control",
    "click_through",
    "informed_consent",
    "portability",
    "data_trust",
    "ban",
    "recipient_liability",
)
SCENARIO_NAMES = ("tencent_huawei_2017", "baseline")

FAST = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

market_params = st.fixed_dictionaries(
    {
        "scenario": st.sampled_from(SCENARIO_NAMES),
        "regime": st.sampled_from(REGIME_NAMES),
        "n_users": st.integers(50, 2_000),
        "n_platforms": st.integers(1, 3),
        "n_makers": st.integers(1, 6),
        "n_brokers": st.integers(0, 3),
        "mean_degree": st.floats(0.0, 30.0),
        "leakage": st.floats(0.0, 1.0),
        "rng": st.integers(0, 2**32 - 1),
    }
).map(  # a valid mean degree is one the graph can realise (model.parameters.check_graph)
    lambda p: {**p, "mean_degree": min(p["mean_degree"], MAX_GRAPH_DENSITY * (p["n_users"] - 1))}
)


@settings(max_examples=150, **FAST)
@given(params=market_params, months=st.integers(1, 6))
def test_invariants_hold_for_any_valid_parameters(checked_run, params, months):
    model = checked_run(DataMarket(**params), months)
    df = model.datacollector.get_model_vars_dataframe()
    assert len(df) == months
    assert len(model.platforms) == params["n_platforms"]
    assert len(model.makers) == params["n_makers"]
    assert len(model.brokers) == params["n_brokers"]
    assert model.regime.name == params["regime"]


@settings(max_examples=80, **FAST)
@given(
    params=market_params,
    later=st.sampled_from(REGIME_NAMES),
    switch_month=st.integers(1, 4),
    exploration=st.floats(0.0, 1.0),
    review_interval=st.integers(1, 6),
)
def test_invariants_hold_through_a_regime_switch(
    checked_run, params, later, switch_month, exploration, review_interval
):
    model = DataMarket(
        **params,
        regime_schedule={switch_month: later},
        exploration=exploration,
        review_interval=review_interval,
    )
    for month in range(1, 7):
        checked_run(model, 1)
        expected = params["regime"] if month < switch_month else later
        assert model.regime.name == expected


@settings(max_examples=25, **FAST)
@given(
    params=market_params.map(lambda p: {**p, "n_users": min(p["n_users"], 500)}),
    months=st.integers(1, 4),
)
def test_a_run_is_a_function_of_its_parameters_and_seed(params, months):
    frames = []
    for _ in range(2):
        model = DataMarket(**params)
        model.run_for(months)
        frames.append(model.datacollector.get_model_vars_dataframe())
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)


# --- invalid values ----------------------------------------------------------------------------

not_a_share = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda x: math.isnan(x) or not 0.0 <= x <= 1.0
    ),
    st.text(max_size=5),
    st.none(),
)


@settings(max_examples=30, **FAST)
@given(value=not_a_share)
def test_leakage_outside_the_unit_interval_is_refused(value):
    """λ is a share (§9): anything but a number in [0, 1] is refused, naming leakage."""
    with pytest.raises(ValueError, match="leakage") as raised:
        DataMarket(n_users=100, leakage=value)
    assert repr(value) in str(raised.value)


not_a_count = st.one_of(
    st.integers(max_value=0),
    st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda x: math.isnan(x) or math.isinf(x) or x != int(x) or x <= 0
    ),
    st.text(max_size=5),
    st.booleans(),
)


@settings(max_examples=40, **FAST)
@given(name=st.sampled_from(("n_users", "n_platforms", "n_makers")), value=not_a_count)
def test_a_count_that_is_not_a_positive_whole_number_is_refused(name, value):
    """Users, platforms and makers are counted in whole numbers of at least one."""
    with pytest.raises(ValueError, match=name) as raised:
        DataMarket(**{"n_users": 100, name: value})
    assert repr(value) in str(raised.value)


@settings(max_examples=20, **FAST)
@given(
    name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
)
def test_an_unknown_parameter_name_is_refused(name):
    assume(name not in {p.name for p in PARAMETERS} | {"regime_schedule", "scenario", "rng"})
    with pytest.raises(ValueError, match=name) as raised:
        DataMarket(n_users=100, **{name: 1})
    assert "n_users" in str(raised.value)  # the message lists what is allowed
