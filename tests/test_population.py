"""Tests of `model.population`: the vectorised users, their draws and their choices.

Checks, with tolerances of a few standard errors where a draw is involved:

* `service_quality` q = q0 + a (1 − exp(−D / D0)): q0 at D = 0, increasing, concave, below
  q0 + a, and q0 + a (1 − 1/e) at D = D0;
* `logit_choice` picks options with softmax probabilities exp(s·u_k) / Σ_l exp(s·u_l);
* `draw_privacy_costs`: the lognormal option has the median and log-sd asked for and the
  lognormal CDF at every quantile; the bimodal option has two clusters, the high one holding
  `privacy_cost_high_share` of users at `privacy_cost_high_ratio` times the low one's median,
  and its median is still `privacy_cost_median`;
* the `Holders` column layout;
* `create_users`: shapes, platforms holding (and having consent for) their members' data and
  nobody else holding anything, memberships and devices drawn with the asked-for shares;
* `replace_devices` and `revise_platforms` in their degenerate cases.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from model.graph import degrees
from model.parameters import make_scenario
from model.population import (
    Holders,
    create_users,
    draw_privacy_costs,
    logit_choice,
    replace_devices,
    revise_platforms,
    service_quality,
)


def _binomial_tolerance(p: float, n: int, z: float = 4.0) -> float:
    return z * math.sqrt(p * (1.0 - p) / n)


# --- service quality ---------------------------------------------------------------------------


def test_service_quality_is_base_at_zero_data():
    """D = 0 gives q0 whatever a and D0."""
    assert service_quality(0.0, 1.3, 2.0, 0.2) == pytest.approx(1.3)


def test_service_quality_at_the_data_scale():
    """D = D0 gives q0 + a (1 − 1/e)."""
    assert service_quality(0.2, 1.0, 2.0, 0.2) == pytest.approx(1.0 + 2.0 * (1 - math.exp(-1)))


def test_service_quality_rises_concavely_to_its_bound():
    """On a grid of D: strictly increasing, strictly concave, always below q0 + a."""
    base, gain, scale = 1.0, 1.5, 0.2
    data = np.linspace(0.0, 1.0, 101)
    quality = service_quality(data, base, gain, scale)
    assert quality.shape == data.shape
    assert np.all(np.diff(quality) > 0)
    assert np.all(np.diff(quality, 2) < 0)
    assert np.all(quality < base + gain)
    assert service_quality(50.0, base, gain, scale) == pytest.approx(base + gain)


# --- logit choice ------------------------------------------------------------------------------


@pytest.mark.parametrize("sensitivity", [0.5, 1.0, 2.0])
def test_logit_choice_frequencies_match_softmax(sensitivity):
    """Identical rows: the share choosing each option is softmax(s·u)."""
    n = 100_000
    utility = np.tile([0.0, 1.0, -0.5, 0.3], (n, 1))
    choice = logit_choice(np.random.default_rng(5), utility, sensitivity)
    weights = np.exp(sensitivity * utility[0])
    expected = weights / weights.sum()
    shares = np.bincount(choice, minlength=4) / n
    for share, p in zip(shares, expected, strict=True):
        assert share == pytest.approx(p, abs=_binomial_tolerance(p, n))


def test_logit_choice_uses_each_users_own_utilities():
    """Two groups with mirrored utilities choose mirrored options."""
    n = 50_000
    utility = np.vstack([np.tile([1.0, 0.0], (n, 1)), np.tile([0.0, 1.0], (n, 1))])
    choice = logit_choice(np.random.default_rng(6), utility, 1.5)
    p_first = 1.0 / (1.0 + math.exp(-1.5))
    tolerance = _binomial_tolerance(p_first, n)
    assert (choice[:n] == 0).mean() == pytest.approx(p_first, abs=tolerance)
    assert (choice[n:] == 1).mean() == pytest.approx(p_first, abs=tolerance)


def test_logit_choice_without_sensitivity_is_uniform():
    """Sensitivity 0: utilities do not matter, each option has probability 1/k."""
    n = 90_000
    utility = np.tile([10.0, 0.0, -10.0], (n, 1))
    choice = logit_choice(np.random.default_rng(7), utility, 0.0)
    shares = np.bincount(choice, minlength=3) / n
    np.testing.assert_allclose(shares, 1 / 3, atol=_binomial_tolerance(1 / 3, n))


# --- privacy costs -----------------------------------------------------------------------------


def test_lognormal_privacy_costs_follow_the_lognormal_distribution():
    """θ = median · exp(σ Z): share below each of several points equals the lognormal CDF, the
    share below the median parameter is 1/2, and the log-sd is σ."""
    median, sigma, n = 2.5, 0.8, 100_000
    params = make_scenario(privacy_cost_median=median, privacy_cost_sigma=sigma)
    theta = draw_privacy_costs(params, np.random.default_rng(11), n)
    assert theta.shape == (n,)
    assert np.all(theta > 0)
    for point in [0.5, 1.0, median, 5.0, 12.0]:
        expected = stats.lognorm.cdf(point, s=sigma, scale=median)
        assert (theta < point).mean() == pytest.approx(
            expected, abs=_binomial_tolerance(expected, n)
        )
    # sd of a sample sd of normals: σ / sqrt(2(n − 1))
    assert np.log(theta).std() == pytest.approx(sigma, abs=4 * sigma / math.sqrt(2 * (n - 1)))


def _bimodal_draw(n: int = 100_000, seed: int = 12, **overrides):
    params = make_scenario(privacy_cost_distribution="bimodal", **overrides)
    return params, draw_privacy_costs(params, np.random.default_rng(seed), n)


def _split_at_widest_gap(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split the draws where sorted log θ has its widest gap (between two clusters, if any)."""
    logs = np.sort(np.log(theta))
    cut = int(np.argmax(np.diff(logs)))
    return logs[: cut + 1], logs[cut + 1 :]


def test_bimodal_privacy_costs_form_two_clusters_of_the_asked_for_sizes():
    """The widest gap in log θ splits off a high cluster holding `privacy_cost_high_share` of
    users, whose median is `privacy_cost_high_ratio` times the low cluster's."""
    n = 100_000
    params, theta = _bimodal_draw(n)
    low, high = _split_at_widest_gap(theta)
    share = params.privacy_cost_high_share
    assert high.size / n == pytest.approx(share, abs=_binomial_tolerance(share, n))
    # Cluster medians in logs; tolerance: 4 standard errors of each sample median, sd of log θ
    # within a cluster bounded by the overall log-sd parameter.
    se = math.sqrt(math.pi / 2) * params.privacy_cost_sigma
    tolerance = 4 * se * (1 / math.sqrt(low.size) + 1 / math.sqrt(high.size))
    log_ratio = np.median(high) - np.median(low)
    assert log_ratio == pytest.approx(math.log(params.privacy_cost_high_ratio), abs=tolerance)


def test_bimodal_privacy_costs_are_bimodal():
    """Between the two clusters the density of log θ is far below its level at either mode."""
    _, theta = _bimodal_draw()
    low, high = _split_at_widest_gap(theta)
    logs = np.log(theta)
    middle = 0.5 * (np.median(low) + np.median(high))
    width = 0.25

    def density(at: float) -> int:
        return int((np.abs(logs - at) < width).sum())

    valley = density(middle)
    assert valley < 0.05 * density(np.median(low))
    assert valley < 0.05 * density(np.median(high))


@pytest.mark.parametrize("high_share", [0.3, 0.5])
def test_bimodal_privacy_cost_median_is_the_median_parameter(high_share):
    """`privacy_cost_median` is "median privacy cost θ" (parameter table) under either shape:
    half the users have θ below it."""
    n = 100_000
    params, theta = _bimodal_draw(n, privacy_cost_high_share=high_share)
    below = (theta < params.privacy_cost_median).mean()
    assert below == pytest.approx(0.5, abs=_binomial_tolerance(0.5, n))


# --- holders and users -------------------------------------------------------------------------


def test_holder_layout_is_platforms_then_makers_then_brokers_then_trust():
    """Two platforms, five makers, two brokers: columns 0-1, 2-6, 7-8, 9."""
    holders = Holders(n_platforms=2, n_makers=5, n_brokers=2)
    assert holders.platforms == slice(0, 2)
    assert holders.makers == slice(2, 7)
    assert holders.brokers == slice(7, 9)
    assert holders.trust == 9
    assert holders.count == 10
    assert holders.maker(0) == 2
    assert holders.maker(4) == 6
    assert holders.broker(1) == 8


N_USERS = 20_000


@pytest.fixture(scope="module")
def population():
    params = make_scenario(
        "baseline",
        n_users=N_USERS,
        mean_degree=6.0,
        n_platforms=3,
        n_makers=3,
        maker_shares=(0.5, 0.3, 0.2),
        dominant_platform_reach=0.9,
        other_platform_reach=0.4,
        attention_mean=0.26,
        present_bias_mean=0.7,
    )
    holders = Holders(params.n_platforms, params.n_makers, params.n_brokers)
    users = create_users(params, np.random.default_rng(2017), holders)
    return params, holders, users


def test_create_users_shapes(population):
    """(N,) per user, (N, P) per platform, (N, H) per holder, an N × N graph."""
    params, holders, users = population
    n, n_holders = N_USERS, holders.count
    assert users.n == n
    for column in (
        users.theta,
        users.value,
        users.attention,
        users.present_bias,
        users.device,
        users.recent_requests,
        users.trust_member,
        users.ported_to,
        users.degree,
    ):
        assert column.shape == (n,)
    assert users.member.shape == (n, params.n_platforms)
    for matrix in (users.holds, users.consented, users.informed, users.refused_at, users.refreshed):
        assert matrix.shape == (n, n_holders)
    assert users.record_value.shape == (n, params.n_makers)
    assert users.graph.shape == (n, n)
    np.testing.assert_array_equal(users.degree, degrees(users.graph))


def test_platforms_hold_their_members_data_and_nobody_else_holds_anything(population):
    """At the start a platform holds (with consent) exactly its members' data."""
    _, holders, users = population
    np.testing.assert_array_equal(users.holds[:, holders.platforms], users.member)
    assert not users.holds[:, holders.platforms.stop :].any()
    np.testing.assert_array_equal(users.consented, users.holds)
    assert not users.informed.any()
    assert not users.trust_member.any()
    np.testing.assert_array_equal(users.ported_to, -1)
    # The platforms' starting holdings are fresh at set-up (month 0).
    np.testing.assert_array_equal(users.refreshed, 0)


def test_memberships_follow_platform_reach(population):
    """Platform 0 reaches `dominant_platform_reach` of users, the others `other_platform_reach`."""
    params, _, users = population
    reach = [params.dominant_platform_reach] + [params.other_platform_reach] * 2
    for p, expected in enumerate(reach):
        share = users.member[:, p].mean()
        assert share == pytest.approx(expected, abs=_binomial_tolerance(expected, N_USERS))


def test_devices_follow_normalised_maker_shares(population):
    """Device makers are drawn with the maker shares (normalised)."""
    params, _, users = population
    assert users.device.min() >= 0
    assert users.device.max() < params.n_makers
    total = sum(params.maker_shares)
    for m, raw in enumerate(params.maker_shares):
        expected = raw / total
        share = (users.device == m).mean()
        assert share == pytest.approx(expected, abs=_binomial_tolerance(expected, N_USERS))


def test_attention_and_present_bias_have_the_asked_for_means(population):
    """Beta draws with mean m and concentration c: sample mean within 4 SE, SE² = m(1−m)/(c+1)/n;
    values in [0, 1] (β in (0, 1])."""
    params, _, users = population
    for values, mean, concentration in (
        (users.attention, params.attention_mean, params.attention_concentration),
        (users.present_bias, params.present_bias_mean, params.present_bias_concentration),
    ):
        se = math.sqrt(mean * (1 - mean) / (concentration + 1) / N_USERS)
        assert values.mean() == pytest.approx(mean, abs=4 * se)
        assert values.min() >= 0.0
        assert values.max() <= 1.0


def test_create_users_is_reproducible_from_the_seed():
    """Same seed, same users."""
    params = make_scenario("baseline", n_users=2_000, mean_degree=4.0)
    holders = Holders(params.n_platforms, params.n_makers, params.n_brokers)
    a = create_users(params, np.random.default_rng(99), holders)
    b = create_users(params, np.random.default_rng(99), holders)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.device, b.device)
    np.testing.assert_array_equal(a.member, b.member)
    assert (a.graph != b.graph).nnz == 0


# --- device replacement and platform revision --------------------------------------------------


def _small_users(n: int = 1_000):
    params = make_scenario("baseline", n_users=n, mean_degree=4.0, n_makers=3)
    holders = Holders(params.n_platforms, params.n_makers, params.n_brokers)
    return create_users(params, np.random.default_rng(3), holders)


def test_no_device_replacement_at_zero_hazard():
    """Hazard 0: nobody buys, devices unchanged."""
    users = _small_users()
    before = users.device.copy()
    due = replace_devices(
        np.random.default_rng(1),
        users,
        hazard=0.0,
        device_utility=np.zeros((users.n, 3)),
        sensitivity=1.0,
    )
    assert not due.any()
    np.testing.assert_array_equal(users.device, before)


def test_everyone_due_buys_the_clearly_best_device():
    """Hazard 1 and one maker far better for everyone: everyone switches to it."""
    users = _small_users()
    utility = np.zeros((users.n, 3))
    utility[:, 2] = 100.0
    due = replace_devices(
        np.random.default_rng(1), users, hazard=1.0, device_utility=utility, sensitivity=1.0
    )
    assert due.all()
    np.testing.assert_array_equal(users.device, 2)


def test_platform_revision_follows_utility_sign_and_rate():
    """Rate 0: memberships unchanged. Rate 1 with almost no taste noise: use iff utility > 0."""
    users = _small_users()
    before = users.member.copy()
    utility = np.where(np.arange(users.n)[:, None] % 2 == 0, 1.0, -1.0) * np.ones((1, 2))
    revise_platforms(
        np.random.default_rng(2), users, platform_utility=utility, revision_rate=0.0, noise=1e-6
    )
    np.testing.assert_array_equal(users.member, before)
    revise_platforms(
        np.random.default_rng(2), users, platform_utility=utility, revision_rate=1.0, noise=1e-6
    )
    np.testing.assert_array_equal(users.member, utility > 0)
