"""Tests of `model.planner`, the first-best benchmark (MODEL.md §4 and §9, "Planner").

Checks, against hand sums on small hand-made inputs:

* `contact_harm`: ρ Σ_{j ∈ N(i)} θ_j [R²(k⁻_j + 1) − R²(k⁻_j)] over contacts j whose data h does
  not hold, k⁻_j = k_j − d_i the number of j's other contacts h holds, by hand; zero without
  leakage or when h holds every contact; the same for a flow whether it happens or not (the
  cost of the flow, docs/ODD.md §S11);
* `flow_cost`: θ_i ρ (1 − e_i) plus the harm to contacts;
* `planner_gap`: oversharing (share of actual flows with cost > benefit), undersharing (share of
  beneficial flows that do not happen) and the welfare gap (first-best minus realised net value
  of flows, per user).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model.graph import contact_counts, social_graph
from model.planner import PlannerGap, contact_harm, flow_cost, planner_gap

# Hand-drawn graph: edges 0-1, 0-2, 0-3, 1-2, 2-3; user 4 alone.
#   contacts: 0 → {1, 2, 3}, 1 → {0, 2}, 2 → {0, 1, 3}, 3 → {0, 2}, 4 → {}
EDGES = [(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]
THETA = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


def _hand_graph() -> sp.csr_array:
    rows = [a for a, b in EDGES] + [b for a, b in EDGES]
    cols = [b for a, b in EDGES] + [a for a, b in EDGES]
    return sp.csr_array((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(5, 5))


def r2(k: int, lam: float) -> float:
    """R²(k; λ) = kλ²/(1 + (k − 1)λ), written out by hand."""
    return k * lam**2 / (1 + (k - 1) * lam) if k > 0 else 0.0


def test_contact_harm_equals_hand_sum_over_contacts_not_held():
    """h holds user 1's data only; ρ = 0.4, λ = 0.3.

    k_j, j's contacts h holds: k_0 = 1 (user 1), k_1 = 0, k_2 = 1 (user 1), k_3 = 0, k_4 = 0.
    A flow of user i's data adds R²(k⁻_j + 1) − R²(k⁻_j) to each contact j that h lacks, with
    k⁻_j = k_j less i herself where h holds her (user 1: k⁻_0 = k⁻_2 = 0).
    """
    held = np.array([False, True, False, False, False])
    counts = np.array([1, 0, 1, 0, 0])
    misuse, lam = 0.4, 0.3
    gain0, gain1 = r2(1, lam) - r2(0, lam), r2(2, lam) - r2(1, lam)  # from 0 and from 1 held
    sums = np.array(
        [
            3 * gain1 + 4 * gain0,  # user 0: contacts 1 (held), 2 (k = 1), 3 (k = 0)
            1 * gain0 + 3 * gain0,  # user 1, held: contacts 0 and 2, each k⁻ = 1 − 1 = 0
            1 * gain1 + 4 * gain0,  # user 2: contacts 0 (k = 1), 1 (held), 3 (k = 0)
            1 * gain1 + 3 * gain1,  # user 3: contacts 0 and 2, both k = 1
            0.0,  # user 4: no contacts
        ]
    )
    np.testing.assert_array_equal(contact_counts(_hand_graph(), held), counts)
    got = contact_harm(_hand_graph(), THETA, held, counts, misuse, lam)
    np.testing.assert_allclose(got, misuse * sums, rtol=1e-12)


def test_contact_harm_is_zero_without_leakage_or_when_all_contacts_are_held():
    """λ = 0 or every contact already held: giving away i's data harms no contact."""
    graph = _hand_graph()
    nobody = np.zeros(5, dtype=bool)
    no_leak = contact_harm(graph, THETA, nobody, np.zeros(5), 0.4, 0.0)
    np.testing.assert_array_equal(no_leak, 0.0)
    everyone = np.ones(5, dtype=bool)
    counts = contact_counts(graph, everyone)
    np.testing.assert_array_equal(contact_harm(graph, THETA, everyone, counts, 0.4, 0.3), 0.0)


@pytest.mark.parametrize("lam", [0.1, 0.3, 0.9])
def test_a_flow_costs_its_contacts_the_same_whether_or_not_it_happens(lam):
    """The convention of docs/ODD.md §S11: a held user's flow costs her contacts what their
    exposure would lose without it, which is what it would add to them were it not held."""
    rng = np.random.default_rng(11)
    graph = social_graph(300, 8.0, 2.5, rng)
    theta = rng.lognormal(size=300)
    held = rng.random(300) < 0.4
    harm = contact_harm(graph, theta, held, contact_counts(graph, held), 0.7, lam)
    for i in np.flatnonzero(held)[:20]:
        without = held.copy()
        without[i] = False
        other = contact_harm(graph, theta, without, contact_counts(graph, without), 0.7, lam)
        assert other[i] == pytest.approx(harm[i], rel=1e-12)
    assert harm[held].max() > 0


def test_flow_cost_adds_own_harm_on_the_exposure_increment():
    """θ ρ (1 − e) + harm to contacts, by hand."""
    theta = np.array([2.0, 1.0, 4.0])
    exposure_now = np.array([0.0, 0.5, 1.0])
    to_contacts = np.array([0.1, 0.2, 0.3])
    expected = [2.0 * 0.4 + 0.1, 1.0 * 0.4 * 0.5 + 0.2, 0.0 + 0.3]
    got = flow_cost(theta, exposure_now, 0.4, to_contacts)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_planner_gap_on_hand_made_flows():
    """net = benefit − cost = [2, −1, −0.5, 0.3, −1]; beneficial flows: 0 and 3.

    Actual flows 0, 1, 4: oversharing 2 of 3 (1 and 4); undersharing 1 of 2 (flow 3).
    First best 2 + 0.3 = 2.3, realised 2 − 1 − 1 = 0: gap 2.3 over 2 users = 1.15.
    """
    benefit = np.array([3.0, 1.0, 2.0, 0.5, 4.0])
    cost = np.array([1.0, 2.0, 2.5, 0.2, 5.0])
    actual = np.array([True, True, False, False, True])
    gap = planner_gap(benefit, cost, actual, n_users=2)
    assert isinstance(gap, PlannerGap)
    assert gap.oversharing_share == pytest.approx(2 / 3)
    assert gap.undersharing_share == pytest.approx(1 / 2)
    assert gap.welfare_gap == pytest.approx(1.15)


def test_planner_gap_is_zero_at_the_first_best():
    """Actual flows = exactly the beneficial ones: no over- or undersharing, no gap."""
    benefit = np.array([3.0, 1.0, 2.0])
    cost = np.array([1.0, 2.0, 0.5])
    gap = planner_gap(benefit, cost, benefit > cost, n_users=3)
    assert gap == PlannerGap(0.0, 0.0, 0.0)


def test_planner_gap_when_everything_flows_or_nothing_does():
    """All flows happen: oversharing = share of harmful ones, gap = − their net (by hand).
    No flow happens: undersharing 1, gap = the first-best value."""
    benefit = np.array([1.0, 1.0, 1.0, 1.0])
    cost = np.array([0.5, 3.0, 0.0, 2.0])
    everything = planner_gap(benefit, cost, np.ones(4, dtype=bool), n_users=4)
    assert everything.oversharing_share == pytest.approx(2 / 4)
    assert everything.undersharing_share == 0.0
    assert everything.welfare_gap == pytest.approx((1.5 - (0.5 - 2.0 + 1.0 - 1.0)) / 4)
    nothing = planner_gap(benefit, cost, np.zeros(4, dtype=bool), n_users=4)
    assert nothing.oversharing_share == 0.0  # no actual flows: nothing to overshare
    assert nothing.undersharing_share == 1.0
    assert nothing.welfare_gap == pytest.approx(1.5 / 4)


def test_flow_whose_cost_equals_its_benefit_is_not_oversharing():
    """MODEL.md §9: oversharing counts actual flows with cost > benefit. A flow with cost equal
    to benefit is neither beneficial nor harmful: not oversharing, and no welfare gap."""
    benefit = np.array([1.0, 2.0])
    cost = np.array([1.0, 1.0])
    gap = planner_gap(benefit, cost, np.array([True, True]), n_users=2)
    assert gap.oversharing_share == 0.0
    assert gap.undersharing_share == 0.0
    assert gap.welfare_gap == pytest.approx(0.0)
