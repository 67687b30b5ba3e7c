"""Tests of `model.consent`: how users answer consent requests (MODEL.md §9, "Consent").

Checks, with tolerances of a few binomial standard errors:

* the closed form: no noise, everyone reading, constant gain G, cost β·θ·ρ·Δe with θ lognormal
  gives an acceptance share equal to the lognormal CDF at G / (β ρ Δe), and the click-through
  refusal loss L moves the threshold to (G + L) / (β ρ Δe);
* with logistic noise ε of scale s, a reader accepts with probability 1 / (1 + exp(−(G − C) / s));
* non-readers accept with p_click where refusal costs the service and p_neutral otherwise;
* the reading probability attention · exp(−fatigue · recent requests);
* click-through acceptance is at least informed acceptance on the same random draws.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from model.consent import answer_requests, reading_probability

N = 200_000


def _tolerance(p: float, n: int, z: float = 4.0) -> float:
    """z binomial standard errors of a share with success probability p over n trials."""
    return z * math.sqrt(p * (1.0 - p) / n)


def _answer(rng, *, read, gain, cost, loss=0.0, bundled=False, noise=0.0, **kw):
    return answer_requests(
        rng,
        read_probability=read,
        gain=gain,
        cost=cost,
        refusal_loss=loss,
        refusal_costs_service=bundled,
        p_click=kw.get("p_click", 0.97),
        p_neutral=kw.get("p_neutral", 0.5),
        noise=noise,
    )


@pytest.mark.parametrize(
    ("gain", "present_bias", "misuse", "delta_exposure", "median", "sigma"),
    [
        (0.5, 0.7, 0.4, 1.0, 1.0, 1.0),
        (2.0, 0.5, 0.4, 0.7, 1.5, 0.8),
        (0.1, 1.0, 1.0, 0.3, 0.2, 1.5),
    ],
)
def test_informed_acceptance_share_is_lognormal_cdf_at_threshold(
    gain, present_bias, misuse, delta_exposure, median, sigma
):
    """All read, no noise, constant G: share accepting = P(θ < G / (β ρ Δe))."""
    rng = np.random.default_rng(7)
    theta = rng.lognormal(math.log(median), sigma, N)
    cost = present_bias * theta * misuse * delta_exposure
    accepted, read = _answer(
        rng,
        read=np.ones(N),
        gain=np.full(N, gain),
        cost=cost,
        loss=5.0,  # ignored: refusal costs nothing under informed consent without bundling
    )
    threshold = gain / (present_bias * misuse * delta_exposure)
    expected = stats.lognorm.cdf(threshold, s=sigma, scale=median)
    assert read.all()
    assert accepted.mean() == pytest.approx(expected, abs=_tolerance(expected, N))


def test_click_through_refusal_loss_moves_the_threshold():
    """Under click-through a reader accepts iff G + L > C: share = P(θ < (G + L) / (β ρ Δe))."""
    rng = np.random.default_rng(8)
    gain, loss, beta, rho, delta = 0.2, 0.6, 0.7, 0.4, 0.9
    theta = rng.lognormal(0.0, 1.0, N)
    accepted, _ = _answer(
        rng,
        read=np.ones(N),
        gain=np.full(N, gain),
        cost=beta * theta * rho * delta,
        loss=loss,
        bundled=True,
    )
    expected = stats.lognorm.cdf((gain + loss) / (beta * rho * delta), s=1.0)
    assert accepted.mean() == pytest.approx(expected, abs=_tolerance(expected, N))


@pytest.mark.parametrize(("gain", "cost", "noise"), [(1.0, 1.0, 0.5), (1.0, 2.0, 0.5), (3, 1, 2)])
def test_noisy_reader_accepts_with_logistic_probability(gain, cost, noise):
    """G + ε > C with ε ~ Logistic(0, s): P(accept) = 1 / (1 + exp(−(G − C) / s))."""
    rng = np.random.default_rng(9)
    accepted, _ = _answer(
        rng,
        read=np.ones(N),
        gain=np.full(N, float(gain)),
        cost=np.full(N, float(cost)),
        noise=noise,
    )
    expected = 1.0 / (1.0 + math.exp(-(gain - cost) / noise))
    assert accepted.mean() == pytest.approx(expected, abs=_tolerance(expected, N))


def test_without_noise_readers_follow_gain_and_cost_exactly():
    """No noise, everyone reading: accepted exactly where G > C."""
    rng = np.random.default_rng(10)
    gain = np.array([1.0, 1.0, 2.0, 0.0])
    cost = np.array([0.5, 1.5, 1.0, 0.1])
    accepted, read = _answer(rng, read=np.ones(4), gain=gain, cost=cost)
    assert read.all()
    np.testing.assert_array_equal(accepted, [True, False, True, False])


@pytest.mark.parametrize(
    ("label", "bundled", "p_click", "p_neutral", "expected_key"),
    [
        ("click_through", True, 0.97, 0.5, "p_click"),
        ("click_through", False, 0.9, 0.3, "p_neutral"),  # a reject button: the lever decides
        ("informed", True, 0.95, 0.4, "p_click"),  # the bundling lever alone
        ("informed", False, 0.97, 0.5, "p_neutral"),
        ("informed", False, 0.97, 0.13, "p_neutral"),
    ],
)
def test_non_readers_accept_at_click_or_neutral_rate(
    label, bundled, p_click, p_neutral, expected_key
):
    """Nobody reads: acceptance is p_click under bundling and p_neutral with a real reject option,
    whatever the gain and cost."""
    rng = np.random.default_rng(11)
    accepted, read = _answer(
        rng,
        read=np.zeros(N),
        gain=np.zeros(N),
        cost=np.full(N, 100.0),  # a reader would refuse
        loss=1.0,
        bundled=bundled,
        p_click=p_click,
        p_neutral=p_neutral,
    )
    expected = p_click if expected_key == "p_click" else p_neutral
    assert not read.any()
    assert accepted.mean() == pytest.approx(expected, abs=_tolerance(expected, N))


def test_read_share_matches_reading_probability():
    """Each user reads with her own probability: the read share per group matches it."""
    rng = np.random.default_rng(12)
    probabilities = np.repeat([0.1, 0.26, 0.9], N // 4)
    _, read = _answer(
        rng,
        read=probabilities,
        gain=np.zeros(probabilities.size),
        cost=np.zeros(probabilities.size),
    )
    n_group = N // 4
    for k, p in enumerate([0.1, 0.26, 0.9]):
        share = read[k * n_group : (k + 1) * n_group].mean()
        assert share == pytest.approx(p, abs=_tolerance(p, n_group))


def test_reading_probability_formula():
    """attention · exp(−fatigue · recent requests), by hand."""
    attention = np.array([0.5, 0.26, 1.0, 0.0])
    recent = np.array([2.0, 0.0, 10.0, 3.0])
    got = reading_probability(attention, recent, fatigue=0.1)
    expected = [0.5 * math.exp(-0.2), 0.26, math.exp(-1.0), 0.0]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_reading_probability_without_fatigue_is_attention_and_falls_with_requests():
    """Fatigue 0 leaves attention unchanged; with fatigue > 0 more requests mean less reading."""
    attention = np.full(5, 0.4)
    recent = np.arange(5.0)
    np.testing.assert_allclose(reading_probability(attention, recent, 0.0), attention)
    falling = reading_probability(attention, recent, 0.3)
    assert np.all(np.diff(falling) < 0)
    assert falling[0] == pytest.approx(0.4)


def test_click_through_accepts_at_least_as_often_as_informed_on_same_draws():
    """Same seed, same users: every informed acceptance is also a click-through acceptance
    (L ≥ 0 raises the reader's side, p_click ≥ p_neutral raises the non-reader's)."""
    n = 50_000
    draws = np.random.default_rng(13)
    theta = draws.lognormal(0.0, 1.0, n)
    read = draws.uniform(0, 1, n)
    gain = draws.uniform(0, 1, n)
    cost = 0.7 * theta * 0.4
    common = dict(read=read, gain=gain, cost=cost, loss=0.5, noise=0.3)
    click, click_read = _answer(np.random.default_rng(14), bundled=True, **common)
    informed, informed_read = _answer(np.random.default_rng(14), bundled=False, **common)
    np.testing.assert_array_equal(click_read, informed_read)
    assert np.all(click >= informed)
    assert click.mean() > informed.mean()
