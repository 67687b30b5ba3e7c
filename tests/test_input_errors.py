"""Impossible or mistyped inputs from Python are refused naming the parameter (issue 14.6, 14.7).

A mean degree the social graph cannot realise for the number of users is refused, naming
mean_degree and n_users, the value and the limit ((n_users − 1) / 4, `MAX_GRAPH_DENSITY`); the
degree the graph did realise is reported (`DataMarket.realised_mean_degree`). An `rng` numpy
cannot use raises a ValueError naming rng, the value and what is allowed, as every other
parameter does, while every kind of seed accepted before still gives the same run.
"""

from __future__ import annotations

import numpy as np
import pytest

from model import DataMarket, make_scenario
from model.graph import degrees
from model.parameters import MAX_GRAPH_DENSITY, check_graph, validate

# --- the social graph's mean degree


@pytest.mark.parametrize(
    ("n_users", "mean_degree", "limit"),
    [(50, 500.0, "12.25"), (1000, 999.0, "249.75"), (100, 30.0, "24.75")],
)
def test_a_mean_degree_the_graph_cannot_realise_is_refused(n_users, mean_degree, limit):
    """50 users cannot have 500 contacts each; 1,000 users asked 999 realised 540 (46% short)."""
    with pytest.raises(ValueError, match="mean_degree") as raised:
        DataMarket(n_users=n_users, mean_degree=mean_degree, rng=1)
    message = str(raised.value)
    assert f"mean_degree={mean_degree!r}" in message and f"n_users={n_users}" in message
    assert "(n_users - 1) / 4" in message and f"at most {limit} contacts" in message
    fewest = int(np.ceil(mean_degree / MAX_GRAPH_DENSITY)) + 1
    assert f"raise n_users to at least {fewest}" in message
    # The same check wherever parameters are validated together.
    with pytest.raises(ValueError, match="mean_degree"):
        make_scenario(n_users=n_users, mean_degree=mean_degree)
    with pytest.raises(ValueError, match="mean_degree"):
        validate({"n_users": n_users, "mean_degree": mean_degree})


def test_the_default_mean_degree_counts_against_few_users():
    with pytest.raises(ValueError, match=r"mean_degree=20\.0 is too high for n_users=60"):
        DataMarket(n_users=60, rng=1)


def test_the_limit_itself_is_allowed_and_the_realised_degree_is_reported():
    market = DataMarket(n_users=1001, mean_degree=250.0, rng=3)  # exactly (n_users - 1) / 4
    realised = market.realised_mean_degree
    assert isinstance(realised, float)
    assert realised == degrees(market.users.graph).mean()
    # At a quarter of the others the graph realises about 3/4 of the degree asked (measured
    # 0.79-0.82 at the default tail); below the limit, the default at 20,000 users, 0.1% short.
    assert 0.7 * 250 < realised < 250
    check_graph(1001, 250.0)
    default = DataMarket(n_users=20_000, rng=3).realised_mean_degree
    assert 0.99 * 20 < default < 20


# --- rng


@pytest.mark.parametrize(
    "rng", ["abc", 1.5, -1, 2.0, np.float64(3.0), b"seed", True, [1, -2], np.array([1.5]), {}]
)
def test_an_rng_numpy_cannot_use_is_refused_naming_rng(rng):
    with pytest.raises(ValueError) as raised:
        DataMarket(n_users=300, rng=rng)
    message = str(raised.value)
    assert message.startswith(f"parameter rng={rng!r} is invalid"), message
    assert "a whole number >= 0" in message and "SeedSequence" in message
    assert "Generator" in message and "None" in message
    with pytest.raises(ValueError, match="parameter rng="):
        make_scenario(rng=rng)


def _first_month(rng) -> dict:
    market = DataMarket(n_users=300, rng=rng)
    market.step()
    return dict(market.metrics)


@pytest.mark.parametrize("rng", [np.int64(42), np.uint32(42), np.uint64(42)])
def test_a_numpy_integer_seed_is_the_python_one(rng):
    """np.int64(42) raised TypeError deep inside Mesa; it is seed 42."""
    assert _first_month(rng) == _first_month(42)


@pytest.mark.parametrize(
    "make",
    [
        lambda: None,
        lambda: 0,
        lambda: 2**70,
        lambda: [1, 2],
        lambda: (3,),
        lambda: np.array([1, 2]),
        lambda: np.random.SeedSequence(5),
        lambda: np.random.PCG64(5),
        lambda: np.random.default_rng(5),
    ],
    ids=["None", "0", "2**70", "list", "tuple", "array", "SeedSequence", "PCG64", "Generator"],
)
def test_every_kind_of_seed_accepted_before_still_works(make):
    first = _first_month(make())
    assert all(np.isfinite(value) for value in first.values())
    if make() is not None:  # the same seed, the same run
        assert _first_month(make()) == first


def test_a_scenario_object_with_a_bad_rng_is_refused():
    scenario = make_scenario(n_users=300)
    scenario.rng = "abc"
    with pytest.raises(ValueError, match=r"parameter rng='abc' is invalid"):
        DataMarket(scenario)
