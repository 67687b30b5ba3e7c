"""Model-level tests of DataMarket: the public API, validation, invariants, regimes, scenarios.

What is checked, and against which part of MODEL.md:

- the API: defaults (§6), keywords and their precedence over a scenario preset, regimes given
  by name or as a `Regime`, `step` and `run_for`, the DataCollector's model variables (exactly
  the §7 names, one row per month) and agent variables (§7, agent level);
- invalid parameters: a ValueError at construction naming the parameter, the value and what is
  allowed;
- the invariants of every month under every regime preset (ranges of §7, accounting of §9,
  money conserved), via `run_checked` in conftest;
- each regime's defining rule (§5), month by month, with firms as they learn and with firms
  that pick any allowed strategy at random every month (the rule must not depend on choices);
- scheduled regime switches (§3.1), reproducibility from `rng`, and the two shipped scenarios.

Populations are small (a few thousand users, tens of months) so the module runs in seconds.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd
import pytest

from model import METRICS, PARAMETERS, REGIMES, DataMarket, Regime, get_regime

# Firms that try any allowed strategy toward every counterpart each month: the regime's rules
# must hold whatever the firms choose.
RANDOM_FIRMS = dict(exploration=1.0, review_interval=1)

# MODEL.md §9: the tencent_huawei_2017 makers' shares, roughly 20/18/16/12/9 %.
TENCENT_MAKER_SHARES = (0.20, 0.18, 0.16, 0.12, 0.09)


def _binomial_tolerance(p: float, n: int, sigmas: float = 5.0) -> float:
    """Half-width of a band that a sample share of n draws with probability p leaves with a
    chance below one in a million (5 standard deviations)."""
    return sigmas * math.sqrt(p * (1 - p) / n)


# --- the API ---------------------------------------------------------------------------------


def test_default_keywords_are_the_2017_scenario_under_click_through():
    """DataMarket() with no arguments is tencent_huawei_2017 under click_through (§6, §9)."""
    signature = inspect.signature(DataMarket)
    assert signature.parameters["scenario"].default == "tencent_huawei_2017"

    model = DataMarket()
    assert model.regime.name == "click_through"
    assert model.regime.dispute_resolution == "mediate"  # §6: click_through with mediation
    assert len(model.platforms) == 2  # §6: two platforms
    assert len(model.makers) == 5  # §6: five device makers
    assert model.p.leakage == pytest.approx(0.3)  # §9 indicative λ
    assert model.p.mean_degree == pytest.approx(20.0)  # §9 indicative mean degree
    # §9 indicated 1/30; version 2 sets it from China's 28-month replacement cycle [P].
    assert model.p.replacement_hazard == pytest.approx(1 / 28)
    # §9's indicative p_click 0.97 and p_neutral 0.5 are now calibrated (docs/calibration.md).
    defaults = {parameter.name: parameter.default for parameter in PARAMETERS}
    assert model.p.p_click == pytest.approx(defaults["p_click"])
    assert model.p.p_neutral == pytest.approx(defaults["p_neutral"])
    assert model.users.n == model.p.n_users
    model.step()
    assert model.steps == 1
    assert len(model.datacollector.get_model_vars_dataframe()) == 1


def test_explicit_keywords_override_the_scenario_preset(small):
    model = small(
        scenario="tencent_huawei_2017",
        regime="ban",
        n_users=3_000,
        n_platforms=3,
        n_makers=4,
        n_brokers=1,
        mean_degree=5.0,
        leakage=0.8,
        dominant_platform_reach=0.5,
    )
    assert model.regime.name == "ban"
    assert (len(model.platforms), len(model.makers), len(model.brokers)) == (3, 4, 1)
    assert model.users.n == 3_000
    assert model.p.leakage == pytest.approx(0.8)
    assert model.p.mean_degree == pytest.approx(5.0)
    # The overridden reach shows in the drawn population, not only in the parameters.
    reach = model.users.member[:, 0].mean()
    assert abs(reach - 0.5) < _binomial_tolerance(0.5, 3_000)
    # The realised mean degree follows the keyword (Chung–Lu loses a few % to duplicates).
    assert 4.0 < model.users.degree.mean() <= 5.0


def test_preset_maker_shares_give_way_to_another_number_of_makers(small):
    """The preset's five shares cannot describe three makers: three makers start equal."""
    model = small(n_users=6_000, n_makers=3)
    shares = np.bincount(model.users.device, minlength=3) / model.users.n
    assert shares == pytest.approx([1 / 3] * 3, abs=_binomial_tolerance(1 / 3, 6_000))


@pytest.mark.parametrize("name", list(REGIMES))
def test_regime_by_name(small, name):
    model = small(regime=name, n_users=500)
    assert model.regime == get_regime(name)
    assert model.regime.name == name


def test_regime_presets_are_those_of_the_spec(spec_regimes):
    assert set(REGIMES) == set(spec_regimes)


def test_regime_as_a_custom_regime_object(small):
    realtime = get_regime("portability").replace(portability="realtime")
    model = small(regime=realtime, n_users=2_000)
    assert isinstance(model.regime, Regime)
    assert model.regime.portability == "realtime"
    assert not model.regime.platform_may_block
    model.run_for(12)
    # Real-time portability is live: some users port their data to their device's maker.
    assert (model.users.ported_to >= 0).any()
    assert model.datacollector.get_model_vars_dataframe()["blocked_pairs"].eq(0).all()


def test_step_and_run_for_add_one_row_per_month(small, spec_metrics):
    model = small(n_users=1_000)
    model.step()
    assert model.steps == 1
    model.run_for(4)
    assert model.steps == 5
    model.step()
    assert model.steps == 6
    df = model.datacollector.get_model_vars_dataframe()
    assert len(df) == 6
    assert set(df.columns) == set(METRICS)
    assert set(spec_metrics) <= set(df.columns)
    # Only consent_rate may be missing: NaN in a month without consent requests.
    assert not df.drop(columns="consent_rate").isna().any().any()


# MODEL.md §10–§11 (version 2): privacy metrics beside §7's.
# Metrics version 2 asks for by name (MODEL.md §10–§11, issue 15), beside §7's.
VERSION_2_METRICS = {
    "mean_unconsented_exposure",
    "unconsented_harm",
    "mean_device_price",
    "mean_data_price",
    "oversharing_loss",
    "undersharing_loss",
    "externality_oversharing_loss",
    "conflict_loss",
    "transaction_loss",
}


def test_every_metric_of_the_spec_is_reported_under_its_name(spec_metrics):
    """§7's names are a contract: all are there; the few extra ones are events or version 2's
    additions (MODEL.md §10–§11), not renamings."""
    assert len(spec_metrics) == len(set(spec_metrics))
    assert set(spec_metrics) <= set(METRICS)
    assert set(METRICS) >= VERSION_2_METRICS
    extra = set(METRICS) - set(spec_metrics) - VERSION_2_METRICS
    assert all(METRICS[name][0] == "events" for name in extra)


def test_last_row_of_the_datacollector_is_the_model_metrics(small):
    model = small(n_users=1_000)
    model.run_for(3)
    last = model.datacollector.get_model_vars_dataframe().iloc[-1]
    for name, value in model.metrics.items():
        assert last[name] == value


def test_agent_reporters_give_firms_books(small):
    """§7 agent level: profit, market share, strategy, fees paid and received, fines."""
    n_users, months = 2_000, 4
    model = small(n_users=n_users, **RANDOM_FIRMS)
    model.run_for(months)
    agents = model.datacollector.get_agent_vars_dataframe().reset_index()
    for column in ("profit", "market_share", "strategy", "fees_paid", "fees_received", "fines"):
        assert column in agents.columns
    firms = agents[agents["kind"].isin(["platform", "maker", "broker"])]
    # One row per firm per month.
    counts = firms.groupby("kind")["AgentID"].count().to_dict()
    assert counts == {
        "platform": 2 * months,
        "maker": 5 * months,
        "broker": 2 * months,
    }
    numeric = firms[["profit", "market_share", "fees_paid", "fees_received", "fines"]]
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
    assert (firms[["fees_paid", "fees_received", "fines"]] >= 0).all().all()

    model_df = model.datacollector.get_model_vars_dataframe()
    for step, rows in firms.groupby("Step"):
        makers = rows[rows["kind"] == "maker"]
        platforms = rows[rows["kind"] == "platform"]
        # Makers' shares are shares of all users' devices; platforms' of all memberships.
        assert makers["market_share"].sum() == pytest.approx(1.0)
        assert platforms["market_share"].sum() == pytest.approx(1.0)
        assert ((makers["market_share"] >= 0) & (makers["market_share"] <= 1)).all()
        # What makers paid in access fees, platforms received (no trust in this regime).
        assert makers["fees_paid"].sum() == pytest.approx(platforms["fees_received"].sum())
        # Profits per user add up to the model-level figures of the same month.
        row = model_df.iloc[int(step) - 1]
        for kind, metric in (
            ("platform", "platform_profit"),
            ("maker", "maker_profit"),
            ("broker", "broker_profit"),
        ):
            summed = rows.loc[rows["kind"] == kind, "profit"].sum() / n_users
            assert summed == pytest.approx(row[metric], rel=1e-9, abs=1e-9)
        # A platform names one strategy per maker, a maker one per platform.
        for strategy in platforms["strategy"]:
            names = strategy.split(",")
            assert len(names) == 5 and set(names) <= {"open", "license", "block"}
        for strategy in makers["strategy"]:
            names = strategy.split(",")
            assert len(names) == 2 and set(names) <= {"none", "license", "take"}


# --- invalid parameters ------------------------------------------------------------------------

INVALID = [
    # (keywords, fragments the message must contain: parameter, value, what is allowed)
    pytest.param({"n_user": 500}, ["n_user", "n_users"], id="unknown-name"),
    pytest.param({"leakeage": 0.3}, ["leakeage", "leakage"], id="unknown-name-typo"),
    pytest.param({"n_users": "many"}, ["n_users", "'many'", "whole number"], id="type-str"),
    pytest.param({"n_users": 2.5}, ["n_users", "2.5", "whole number"], id="type-fraction"),
    pytest.param({"n_platforms": True}, ["n_platforms", "True", "whole number"], id="type-bool"),
    pytest.param({"leakage": "high"}, ["leakage", "'high'", "number"], id="type-str-float"),
    pytest.param({"opening_dispute": 1}, ["opening_dispute", "1", "true or false"], id="type-int"),
    pytest.param(
        {"privacy_cost_distribution": "uniform"},
        ["privacy_cost_distribution", "'uniform'", "lognormal", "bimodal"],
        id="type-choice",
    ),
    pytest.param({"leakage": 1.5}, ["leakage", "1.5", "[0, 1]"], id="range-above"),
    pytest.param({"leakage": -0.1}, ["leakage", "-0.1", "[0, 1]"], id="range-below"),
    pytest.param({"leakage": math.nan}, ["leakage", "nan", "[0, 1]"], id="range-nan"),
    pytest.param({"n_platforms": 0}, ["n_platforms", "0", "whole number"], id="range-zero"),
    pytest.param({"n_brokers": -1}, ["n_brokers", "-1", "whole number"], id="range-negative"),
    pytest.param({"mean_degree": -2.0}, ["mean_degree", "-2.0", "number"], id="range-degree"),
    pytest.param({"replacement_hazard": 2.0}, ["replacement_hazard", "2.0"], id="range-hazard"),
    pytest.param({"n_users": math.inf}, ["n_users", "inf", "whole number"], id="range-inf-int"),
    pytest.param({"n_users": math.nan}, ["n_users", "nan", "whole number"], id="range-nan-int"),
    pytest.param({"regime": "anarchy"}, ["regime", "'anarchy'", "click_through"], id="regime"),
    pytest.param({"regime": 3}, ["regime", "3", "click_through"], id="regime-type"),
    pytest.param(
        {"regime_schedule": {6: "anarchy"}},
        ["regime_schedule", "'anarchy'", "click_through"],
        id="schedule-regime",
    ),
    pytest.param(
        {"regime_schedule": {0: "ban"}}, ["regime_schedule", "0", ">= 1"], id="schedule-month"
    ),
    pytest.param(
        {"regime_schedule": ["ban"]}, ["regime_schedule", "['ban']", "month"], id="schedule-type"
    ),
    pytest.param(
        {"n_makers": 3, "maker_shares": (0.5, 0.5)},
        ["maker_shares", "(0.5, 0.5)", "n_makers"],
        id="shares-length",
    ),
    pytest.param({"maker_shares": (0.5, -0.2)}, ["maker_shares", "-0.2", "positive"], id="shares"),
    pytest.param({"maker_shares": "abc"}, ["maker_shares", "'abc'", "numbers"], id="shares-str"),
]


@pytest.mark.parametrize(("keywords", "fragments"), INVALID)
def test_invalid_parameter_raises_value_error_naming_it(keywords, fragments):
    with pytest.raises(ValueError) as raised:
        DataMarket(**{"n_users": 200, **keywords})
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from the error: {message}"


def test_unknown_scenario_raises_value_error_naming_the_presets():
    with pytest.raises(ValueError, match="tencent_huawei_2018") as raised:
        DataMarket("tencent_huawei_2018", n_users=200)
    assert "tencent_huawei_2017" in str(raised.value)
    assert "baseline" in str(raised.value)


def test_invalid_lever_of_a_custom_regime_raises_value_error():
    with pytest.raises(ValueError, match="portability") as raised:
        get_regime("portability").replace(portability="sometimes")
    assert "'sometimes'" in str(raised.value) and "realtime" in str(raised.value)
    with pytest.raises(ValueError, match="fine_rate"):
        get_regime("ban").replace(fine_rate=1.5)
    with pytest.raises(ValueError, match="no_such_lever"):
        get_regime("ban").replace(no_such_lever=True)


# --- invariants of every month under every regime ---------------------------------------------


@pytest.mark.parametrize("scenario", ["tencent_huawei_2017", "baseline"])
@pytest.mark.parametrize("regime", list(REGIMES))
def test_invariants_hold_every_month(small, checked_run, scenario, regime):
    """§7 ranges, §9 accounting and §5 rules after each of 24 months (see conftest)."""
    model = checked_run(small(scenario=scenario, regime=regime), 24)
    assert model.steps == 24


@pytest.mark.parametrize("regime", list(REGIMES))
def test_invariants_hold_whatever_firms_choose(small, checked_run, regime):
    model = checked_run(small(regime=regime, rng=11, **RANDOM_FIRMS), 18)
    assert model.steps == 18


def test_invariants_hold_with_a_lone_platform_maker_and_no_broker(small, checked_run):
    model = small(n_users=300, n_platforms=1, n_makers=1, n_brokers=0, mean_degree=0.0)
    checked_run(model, 12)
    df = model.datacollector.get_model_vars_dataframe()
    # One maker and one platform: each market is a monopoly.
    assert (df["device_hhi"] == 1.0).all()
    assert (df["broker_reach_share"] == 0.0).all()
    assert (df["broker_profit"] == 0.0).all()


# --- each regime's defining rule (§5) ----------------------------------------------------------


@pytest.mark.parametrize("firms", [{}, RANDOM_FIRMS], ids=["learning", "random"])
def test_ban_no_maker_holds_platform_data(small, checked_run, firms):
    model = small(regime="ban", **firms)
    for _ in range(24):
        checked_run(model, 1)
        assert not model.users.holds[:, model.holders.makers].any()
        assert model.metrics["licensed_pairs"] == 0
        assert model.metrics["taking_pairs"] == 0
    agents = model.datacollector.get_agent_vars_dataframe()
    maker_strategies = agents.loc[agents["kind"] == "maker", "strategy"]
    assert maker_strategies.str.split(",").map(set).map(lambda s: s == {"none"}).all()


@pytest.mark.parametrize("firms", [{}, RANDOM_FIRMS], ids=["learning", "random"])
def test_portability_no_pair_is_blocked(small, checked_run, firms):
    model = small(regime="portability", **firms)
    for _ in range(24):
        checked_run(model, 1)
        assert not model.blocked.any()
        assert model.metrics["blocked_pairs"] == 0
    agents = model.datacollector.get_agent_vars_dataframe()
    platform_strategies = agents.loc[agents["kind"] == "platform", "strategy"]
    assert not platform_strategies.str.contains("block").any()


@pytest.mark.parametrize("scenario", ["tencent_huawei_2017", "baseline"])
@pytest.mark.parametrize("firms", [{}, RANDOM_FIRMS], ids=["learning", "random"])
def test_platform_control_makers_get_data_only_by_licence(small, firms, scenario):
    """No maker takes; every user a maker holds data on was reachable through a licensed pair
    when the data moved (this month or before)."""
    model = small(scenario=scenario, regime="platform_control", **firms)
    n_makers = len(model.makers)
    makers = model.holders.makers
    ever_licensed = np.zeros((model.users.n, n_makers), dtype=bool)
    for _ in range(24):
        member, device = model.users.member.copy(), model.users.device.copy()
        model.step()
        assert not model.taking.any()
        assert model.metrics["taking_pairs"] == 0
        reach = (member.astype(np.int64) @ model.licensed.astype(np.int64)) > 0
        ever_licensed |= reach & (device[:, None] == np.arange(n_makers)[None, :])
        held = model.users.holds[:, makers]
        assert not (held & ~ever_licensed).any()
    # Not vacuous: licences happened and makers got data through them.
    assert model.users.holds[:, makers].any()
    agents = model.datacollector.get_agent_vars_dataframe()
    maker_strategies = agents.loc[agents["kind"] == "maker", "strategy"]
    assert not maker_strategies.str.contains("take").any()


@pytest.mark.parametrize("firms", [{}, RANDOM_FIRMS], ids=["learning", "random"])
def test_data_trust_members_data_moves_only_through_the_trust(small, checked_run, firms):
    """No maker holds a member's data, and the trust holds every member's data, every month."""
    model = small(regime="data_trust", n_users=3_000, **firms)
    makers, trust = model.holders.makers, model.holders.trust
    for _ in range(36):
        checked_run(model, 1)
        members = model.users.trust_member
        assert not model.users.holds[members][:, makers].any()
        assert model.users.holds[members, trust].all()
    assert model.users.trust_member.any()  # the rule was exercised on real members


def test_joining_the_trust_deletes_the_makers_copy(small):
    """A user who joins the trust delegates her rights to it: the maker that held her data
    must delete it. Users are given a maker holding before the trust exists (a switch)."""
    model = small(regime="informed_consent", n_users=3_000, regime_schedule={6: "data_trust"})
    makers = model.holders.makers
    model.run_for(5)
    held = model.users.holds[:, makers].any(axis=1)
    assert held.any()  # makers got data under informed consent
    model.run_for(30)
    joined_with_held_data = model.users.trust_member & held
    assert joined_with_held_data.any()  # not vacuous
    assert not model.users.holds[joined_with_held_data][:, makers].any()


def test_data_trust_gets_members_from_an_empty_start(small):
    """§2, §5: users decide whether to join the trust. A trust that starts empty must be able
    to attract members when delegating pays; a trust nobody can ever join is inert."""
    model = small(regime="data_trust", n_users=3_000)
    model.run_for(24)
    assert model.users.trust_member.any()
    assert model.users.holds[model.users.trust_member, model.holders.trust].all()


@pytest.mark.parametrize(
    "levers",
    [{"portability": "realtime"}, {"portability": "on_request"}, {"data_trust": True}],
    ids=["realtime", "on_request", "trust"],
)
def test_a_ban_with_other_levers_still_gives_makers_no_platform_data(small, levers):
    """third_party_access=False means device makers may not get platform data at all (the ban's
    lever, MODEL.md §5: "no third-party access to platform data"), whatever else a custom regime
    combines with it: neither by porting nor through a trust."""
    regime = get_regime("ban").replace(**levers)
    model = small(regime=regime, n_users=3_000, **RANDOM_FIRMS)
    for month in range(1, 25):
        model.step()
        holds = model.users.holds[:, model.holders.makers]
        assert not holds.any(), f"month {month}: makers hold {int(holds.sum())} users' data"
        personalised = int((model.month.data_quality > 0).sum())
        assert personalised == 0, f"month {month}: {personalised} users get platform data"
        assert all(maker.data_share == 0 for maker in model.makers)


# --- regime switches ---------------------------------------------------------------------------


def test_switch_to_ban_at_month_six(small, checked_run):
    model = small(regime_schedule={6: "ban"})
    held_before = False
    for month in range(1, 19):
        checked_run(model, 1)
        holds = model.users.holds[:, model.holders.makers]
        if month < 6:
            assert model.regime.name == "click_through"
            held_before |= bool(holds.any())
        else:
            assert model.regime.name == "ban"
            assert not holds.any()
            assert model.metrics["licensed_pairs"] == 0
            assert model.metrics["taking_pairs"] == 0
    assert held_before  # under click_through makers did get data, which the ban then deleted
    agents = model.datacollector.get_agent_vars_dataframe().reset_index()
    regulator = agents[agents["kind"] == "regulator"].set_index("Step")["strategy"]
    assert (regulator[regulator.index < 6] == "click_through").all()
    assert (regulator[regulator.index >= 6] == "ban").all()


@pytest.mark.parametrize("month", [6, 9])
def test_switch_to_portability_ends_blocking(small, checked_run, month):
    """From the switch on, no pair is blocked. The control run (same seed, no switch) shows
    what the switch prevents: the §6 opening, where the dominant platform degrades its app on
    the leader's devices once six months of negotiation have failed."""
    switched = checked_run(small(regime_schedule={month: "portability"}), 18)
    control = checked_run(small(), 18)
    blocked = switched.datacollector.get_model_vars_dataframe()["blocked_pairs"].to_numpy()
    blocked_control = control.datacollector.get_model_vars_dataframe()["blocked_pairs"].to_numpy()
    months = np.arange(1, 19)
    assert (blocked[months >= month] == 0).all()
    assert (blocked_control[months >= month] > 0).any()  # not vacuous
    # Before the switch the two runs are the same run.
    assert (blocked[months < month] == blocked_control[months < month]).all()


def test_switch_from_data_trust_to_ban_closes_the_trust_channel(small):
    """A ban (§5: no third-party access to platform data) applies to data held in a trust too:
    after the switch no maker personalises with members' platform data through the trust."""
    model = small(regime="data_trust", n_users=3_000, regime_schedule={12: "ban"})
    model.run_for(11)
    assert model.users.trust_member.any()  # the trust has members when the ban comes
    for month in range(12, 25):
        model.step()
        assert model.regime.name == "ban"
        assert not model.users.holds[:, model.holders.makers].any()
        personalised = int((model.month.data_quality > 0).sum())
        assert personalised == 0, f"month {month}: {personalised} users' data reach a maker"
        assert all(maker.data_share == 0 for maker in model.makers), f"month {month}"


def test_schedule_accepts_a_regime_object(small):
    realtime = get_regime("portability").replace(portability="realtime")
    model = small(n_users=1_000, regime_schedule={3: realtime})
    model.run_for(2)
    assert model.regime.name == "click_through"
    model.step()
    assert model.regime.portability == "realtime"
    assert not model.regime.platform_may_block


# --- reproducibility ---------------------------------------------------------------------------


def _run(months: int = 12, **params) -> tuple[pd.DataFrame, pd.DataFrame]:
    model = DataMarket(n_users=2_000, **params)
    model.run_for(months)
    collector = model.datacollector
    return collector.get_model_vars_dataframe(), collector.get_agent_vars_dataframe()


@pytest.mark.parametrize("regime", ["click_through", "data_trust", "portability"])
def test_same_seed_gives_identical_runs(regime):
    first_model, first_agents = _run(rng=2017, regime=regime, regime_schedule={7: "ban"})
    second_model, second_agents = _run(rng=2017, regime=regime, regime_schedule={7: "ban"})
    pd.testing.assert_frame_equal(first_model, second_model, check_exact=True)
    pd.testing.assert_frame_equal(first_agents, second_agents, check_exact=True)


def test_same_generator_seed_gives_identical_runs():
    first, _ = _run(rng=np.random.default_rng(5))
    second, _ = _run(rng=np.random.default_rng(5))
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_different_seeds_give_different_runs():
    first, _ = _run(rng=1)
    second, _ = _run(rng=2)
    assert not first.equals(second)
    # Different in the continuous outcomes, not only in a rare count.
    assert not np.array_equal(first["consumer_surplus"], second["consumer_surplus"])


# --- scenarios ---------------------------------------------------------------------------------


def test_tencent_huawei_2017_starts_with_a_dominant_platform_and_the_2017_makers():
    n = 20_000
    model = DataMarket("tencent_huawei_2017", n_users=n, rng=3)
    reach = model.users.member.mean(axis=0)
    # §6: one dominant platform, close to every user on it (WeChat); §9 reach ≈ 95%.
    assert abs(reach[0] - 0.95) < _binomial_tolerance(0.95, n)
    assert reach[0] > reach[1:].max()
    # §9: makers' shares roughly 20/18/16/12/9 %, in these proportions.
    expected = np.array(TENCENT_MAKER_SHARES) / sum(TENCENT_MAKER_SHARES)
    shares = np.bincount(model.users.device, minlength=5) / n
    for share, target in zip(shares, expected, strict=True):
        assert abs(share - target) < _binomial_tolerance(target, n)
    assert np.argmax(shares) == 0  # the leader is maker 0, the one in the dispute
    # §6: the scripted opening dispute and mediation.
    assert model.p.opening_dispute
    assert model.regime.dispute_resolution == "mediate"


def test_baseline_is_symmetric():
    n = 20_000
    model = DataMarket("baseline", n_users=n, rng=3)
    n_platforms, n_makers = len(model.platforms), len(model.makers)
    reach = model.users.member.mean(axis=0)
    assert abs(reach[0] - reach[1]) < 2 * _binomial_tolerance(reach.mean(), n)
    shares = np.bincount(model.users.device, minlength=n_makers) / n
    assert shares == pytest.approx(
        [1 / n_makers] * n_makers, abs=_binomial_tolerance(1 / n_makers, n)
    )
    assert model.p.dominant_platform_advantage == 0
    assert not model.p.opening_dispute
    assert n_platforms == 2 and n_makers == 5


def test_opening_dispute_pair_negotiates_while_the_leader_takes():
    """§6: the dominant platform first negotiates with the leader for six months, during which
    the leader takes data on-device (no agreement)."""
    model = DataMarket("tencent_huawei_2017", n_users=3_000, rng=4)
    for _ in range(model.p.opening_negotiation_months):
        model.step()
        assert not model.licensed[0, 0]
        assert model.taking[0, 0]
