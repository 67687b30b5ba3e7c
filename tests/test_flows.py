"""Tests of the pure functions of `model.flows`: exposure, harm and breaches (MODEL.md §9).

Checks, against values worked out by hand:

* exposure e[i,h] = d[i,h] + (1 − d[i,h]) · R²(k[i,h]; λ_h), R²(k; λ) = kλ²/(1 + (k − 1)λ),
  on a hand-drawn five-user graph, both from given contact counts and straight from the graph;
  more contacts held expose more, each less than the one before (R²'s own closed forms are in
  tests/test_exposure_v2.py);
* overall third-party exposure 1 − Π_h (1 − e[i,h]) over the holders marked third-party;
* monthly privacy harm H[i] = θ[i] · Σ_h ρ_h e[i,h];
* breach hazard b_h = b0 · exp(−security_h / s0): b0 at zero spend, falling with spend;
* one-off breach harm κ · θ[i] · Σ_{h breached} e[i,h], zero when nothing is breached.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from model.flows import (
    breach_harm,
    breach_hazard,
    exposure,
    exposure_from_graph,
    overall_exposure,
    privacy_harm,
)

# Five users; edges 0-1, 0-2, 0-3, 1-2, 2-3; user 4 has no contacts.
#   contacts: 0 → {1, 2, 3}, 1 → {0, 2}, 2 → {0, 1, 3}, 3 → {0, 2}, 4 → {}
EDGES = [(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]


def _hand_graph() -> sp.csr_array:
    rows = [a for a, b in EDGES] + [b for a, b in EDGES]
    cols = [b for a, b in EDGES] + [a for a, b in EDGES]
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_array((data, (rows, cols)), shape=(5, 5))


# Holder A (λ = 0.3) holds users 1 and 4; holder B (λ = 0.6) holds users 0 and 3.
HOLDS = np.array(
    [
        [False, True],
        [True, False],
        [False, False],
        [False, True],
        [True, False],
    ]
)
LEAKAGE = np.array([0.3, 0.6])

# Contacts held, k[i, h], counted by hand from the contact lists above.
#   A: 0 → {1}; 1 → none of {0, 2}; 2 → {1}; 3 → none of {0, 2}; 4 → none.
#   B: 0 → {3}; 1 → {0}; 2 → {0, 3}; 3 → {0}; 4 → none.
COUNTS = np.array([[1, 1], [0, 1], [1, 2], [0, 1], [0, 0]])


def r2(k: int, lam: float) -> float:
    """R²(k; λ) written out by hand."""
    return k * lam**2 / (1 + (k - 1) * lam) if k else 0.0


# e = d + (1 − d) R²(k; λ), user by user: R²(1; λ) = λ², R²(2; λ) = 2λ²/(1 + λ).
EXPECTED_EXPOSURE = np.array(
    [
        [0.3**2, 1.0],  # user 0: A through one contact (1); B holds her own data
        [1.0, 0.6**2],  # user 1: A holds her; B through one contact (0)
        [0.3**2, 2 * 0.6**2 / 1.6],  # user 2: through contacts only, two of them with B
        [0.0, 1.0],  # user 3: none of her contacts with A; B holds her
        [1.0, 0.0],  # user 4: no contacts, so only her own data counts
    ]
)


def test_hand_exposures_are_r2_by_hand():
    """The table above is R²(k; λ) at the hand counts, where the holder lacks the user."""
    for i in range(5):
        for h, lam in enumerate(LEAKAGE):
            want = 1.0 if HOLDS[i, h] else r2(int(COUNTS[i, h]), lam)
            assert EXPECTED_EXPOSURE[i, h] == pytest.approx(want, rel=1e-15)


def test_exposure_from_contact_counts_matches_hand_values():
    """e[i,h] from d, k and λ per holder equals the hand computation for every user."""
    np.testing.assert_allclose(exposure(HOLDS, COUNTS, LEAKAGE), EXPECTED_EXPOSURE, rtol=1e-12)


def test_exposure_from_graph_matches_hand_values():
    """The same exposures, with k counted from the hand-drawn graph."""
    got = exposure_from_graph(_hand_graph(), HOLDS, LEAKAGE)
    np.testing.assert_allclose(got, EXPECTED_EXPOSURE, rtol=1e-12)


def test_exposure_without_leakage_is_own_holdings():
    """λ = 0: only a user's own data exposes her."""
    got = exposure_from_graph(_hand_graph(), HOLDS, np.zeros(2))
    np.testing.assert_array_equal(got, HOLDS.astype(float))


def test_full_leakage_and_one_contact_held_gives_full_exposure():
    """λ = 1: one contact's data reveals a user entirely (R²(k; 1) = 1 for k ≥ 1)."""
    holds = np.zeros((5, 1), dtype=bool)
    holds[0, 0] = True  # 0's contacts are 1, 2 and 3
    got = exposure_from_graph(_hand_graph(), holds, np.ones(1))[:, 0]
    # 0 is held herself; 1, 2 and 3 each have 0 as a contact; 4 has none.
    np.testing.assert_allclose(got, [1.0, 1.0, 1.0, 1.0, 0.0])


def test_more_contacts_held_expose_more_but_each_reveals_less():
    """A holder with 1, 2, 3 of user 0's contacts: her exposure rises with each, by less each
    time (submodular), and stays below λ."""
    lam = 0.4
    seen = []
    for held in ([1], [1, 2], [1, 2, 3]):
        holds = np.zeros((5, 1), dtype=bool)
        holds[held, 0] = True
        seen.append(exposure_from_graph(_hand_graph(), holds, np.array([lam]))[0, 0])
    np.testing.assert_allclose(seen, [r2(1, lam), r2(2, lam), r2(3, lam)], rtol=1e-12)
    gains = np.diff([0.0, *seen])
    assert np.all(gains > 0) and np.all(np.diff(gains) < 0)
    assert seen[-1] < lam


def test_overall_exposure_is_one_minus_product_over_third_parties():
    """1 − Π (1 − e) over the masked holders, by hand."""
    e = np.array([[0.2, 0.5, 0.9], [0.1, 0.0, 1.0], [0.3, 0.3, 0.3]])
    third_party = np.array([[True, True, False], [True, True, True], [False, False, False]])
    expected = [1 - 0.8 * 0.5, 1.0, 0.0]
    np.testing.assert_allclose(overall_exposure(e, third_party), expected, rtol=1e-12)


def test_overall_exposure_with_one_third_party_equals_its_exposure():
    """With a single third-party holder, overall exposure is that holder's exposure."""
    e = np.array([[0.25, 0.7], [0.6, 0.1]])
    mask = np.array([[False, True], [False, True]])
    np.testing.assert_allclose(overall_exposure(e, mask), [0.7, 0.1])


def test_privacy_harm_is_theta_times_misuse_weighted_exposure():
    """H[i] = θ[i] · Σ_h ρ_h e[i,h], by hand."""
    theta = np.array([2.0, 0.5, 1.0])
    e = np.array([[1.0, 0.5, 0.0], [0.0, 0.0, 1.0], [0.2, 0.2, 0.2]])
    misuse = np.array([0.1, 0.4, 1.0])
    expected = [2.0 * (0.1 + 0.2), 0.5 * 1.0, 1.0 * 0.2 * 1.5]
    np.testing.assert_allclose(privacy_harm(theta, e, misuse), expected, rtol=1e-12)


def test_breach_hazard_is_base_at_zero_spend_and_falls_with_security():
    """b0 at zero spend, b0/e at s0, b0/2 at s0 ln 2, strictly falling."""
    base, scale = 0.02, 0.05
    spend = np.array([0.0, scale * math.log(2), scale, 3 * scale])
    hazard = breach_hazard(base, spend, scale)
    np.testing.assert_allclose(hazard[:3], [base, base / 2, base / math.e], rtol=1e-12)
    assert np.all(np.diff(hazard) < 0)
    assert np.all(hazard > 0)


def test_breach_harm_is_zero_when_nothing_is_breached():
    """No breached holder: no one-off harm for anyone."""
    theta = np.array([1.0, 2.0, 3.0])
    e = np.array([[1.0, 0.5], [0.2, 0.0], [0.0, 1.0]])
    harm = breach_harm(theta, e, np.zeros(2, dtype=bool), multiplier=3.0)
    np.testing.assert_array_equal(harm, np.zeros(3))
    assert harm.shape == theta.shape


def test_breach_harm_sums_exposure_to_breached_holders():
    """κ θ Σ_{h breached} e[i,h], by hand; unbreached holders add nothing."""
    theta = np.array([1.0, 2.0, 3.0])
    e = np.array([[1.0, 0.5, 0.25], [0.2, 0.0, 1.0], [0.0, 1.0, 0.0]])
    breached = np.array([True, False, True])
    expected = [3.0 * 1.0 * 1.25, 3.0 * 2.0 * 1.2, 0.0]
    harm = breach_harm(theta, e, breached, multiplier=3.0)
    np.testing.assert_allclose(harm, expected, rtol=1e-12)


@pytest.mark.parametrize("leakage", [0.0, 0.3, 1.0])
def test_exposure_stays_in_unit_interval(leakage):
    """e ∈ [0, 1] for random holdings on a random graph."""
    rng = np.random.default_rng(3)
    n = 200
    upper = sp.random_array((n, n), density=0.05, rng=rng, format="csr")
    graph = ((upper + upper.T) > 0).astype(np.float32)
    graph.setdiag(0)
    graph.eliminate_zeros()
    graph = sp.csr_array(graph)
    holds = rng.random((n, 4)) < 0.3
    e = exposure_from_graph(graph, holds, np.full(4, leakage))
    assert e.min() >= 0.0
    assert e.max() <= 1.0
    assert e[~holds].max() <= leakage  # through contacts at most λ
    np.testing.assert_array_equal(e[holds], 1.0)
