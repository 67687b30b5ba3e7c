"""Tests of `model.planner`, the first-best benchmark (MODEL.md §4 and §9, "Planner").

Checks, against hand sums on small hand-made inputs:

* `contact_harm`: Σ_{j ∈ N(i)} θ_j ρ λ / deg(j) over contacts j whose data h does not hold;
* `flow_cost`: θ_i ρ (1 − e_i) plus the harm to contacts;
* `planner_gap`: oversharing (share of actual flows with cost > benefit), undersharing (share of
  beneficial flows that do not happen) and the welfare gap (first-best minus realised net value
  of flows, per user).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model.planner import PlannerGap, contact_harm, flow_cost, planner_gap

# Hand-drawn graph: edges 0-1, 0-2, 0-3, 1-2, 2-3; user 4 alone.
#   contacts: 0 → {1, 2, 3}, 1 → {0, 2}, 2 → {0, 1, 3}, 3 → {0, 2}, 4 → {}
EDGES = [(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]
DEGREE = np.array([3, 2, 3, 2, 0])
THETA = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


def _hand_graph() -> sp.csr_array:
    rows = [a for a, b in EDGES] + [b for a, b in EDGES]
    cols = [b for a, b in EDGES] + [a for a, b in EDGES]
    return sp.csr_array((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(5, 5))


def test_contact_harm_equals_hand_sum_over_contacts_not_held():
    """h already holds user 1's data, so contact 1 adds nothing; ρ = 0.4, λ = 0.3.

    θ_j / deg(j): j=0 → 1/3, j=1 → (held), j=2 → 3/3, j=3 → 4/2.
    """
    not_held = np.array([True, False, True, True, True])
    misuse, leakage = 0.4, 0.3
    sums = np.array(
        [
            3 / 3 + 4 / 2,  # user 0: contacts 1 (held), 2, 3
            1 / 3 + 3 / 3,  # user 1: contacts 0, 2
            1 / 3 + 4 / 2,  # user 2: contacts 0, 1 (held), 3
            1 / 3 + 3 / 3,  # user 3: contacts 0, 2
            0.0,  # user 4: no contacts
        ]
    )
    got = contact_harm(_hand_graph(), DEGREE, THETA, not_held, misuse, leakage)
    np.testing.assert_allclose(got, misuse * leakage * sums, rtol=1e-6)


def test_contact_harm_is_zero_without_leakage_or_when_all_contacts_are_held():
    """λ = 0 or every contact already held: giving away i's data harms no contact."""
    graph = _hand_graph()
    everyone = np.ones(5, dtype=bool)
    np.testing.assert_array_equal(contact_harm(graph, DEGREE, THETA, everyone, 0.4, 0.0), 0.0)
    nobody = np.zeros(5, dtype=bool)
    np.testing.assert_array_equal(contact_harm(graph, DEGREE, THETA, nobody, 0.4, 0.3), 0.0)


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
