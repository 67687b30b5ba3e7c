"""model.add_metric: a metric of one's own, collected every month next to model.METRICS."""

from __future__ import annotations

import pytest

from model import METRICS, DataMarket, add_metric


def trust_members(market: DataMarket) -> float:
    return float(market.users.trust_member.sum())


def test_added_metric_is_a_column_with_one_value_per_month():
    market = DataMarket(regime="data_trust", n_users=500, rng=3)
    add_metric(market, "trust_members", trust_members)
    market.run_for(4)
    frame = market.datacollector.get_model_vars_dataframe()
    assert list(frame.columns) == [*METRICS, "trust_members"]
    assert len(frame) == 4
    # The reporter reads the state at the end of each month: the last value is the state now.
    assert frame["trust_members"].iloc[-1] == trust_members(market)
    assert frame["trust_members"].iloc[-1] == pytest.approx(
        frame["trust_member_share"].iloc[-1] * 500
    )


def test_added_metric_changes_nothing_else():
    plain = DataMarket(n_users=400, rng=5)
    extended = DataMarket(n_users=400, rng=5)
    add_metric(extended, "n_users", lambda market: market.users.n)
    plain.run_for(3)
    extended.run_for(3)
    frame = extended.datacollector.get_model_vars_dataframe()
    assert frame[list(METRICS)].equals(plain.datacollector.get_model_vars_dataframe())
    assert (frame["n_users"] == 400).all()


@pytest.mark.parametrize(
    ("name", "reporter", "fragment"),
    [
        ("total_welfare", trust_members, "already collected"),
        ("not a name", trust_members, "identifier"),
        ("members", 3.0, "function of the market"),
    ],
)
def test_bad_metric_is_refused_naming_it(name, reporter, fragment):
    market = DataMarket(n_users=200, rng=1)
    with pytest.raises(ValueError, match=fragment):
        add_metric(market, name, reporter)


def test_metric_added_after_a_month_is_refused():
    market = DataMarket(n_users=200, rng=1)
    market.step()
    with pytest.raises(ValueError, match="after month 1"):
        add_metric(market, "members", trust_members)
