"""The planner benchmark (MODEL.md §4): which flows should happen, and how far we are from it.

For a potential flow (holder h gets user i's data): benefit = i's personalisation gain + h's
profit gain; cost = i's harm θ[i] ρ_h (1 − e[i,h]) + the harm to i's contacts
Σ_{j∈N(i)} θ[j] ρ_h λ_h / deg(j) over contacts j whose own data h does not hold.
The first best lets a flow happen iff benefit > cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class PlannerGap:
    """Distance of the realised flows from the first best."""

    oversharing_share: float  # share of actual flows whose cost exceeds their benefit
    undersharing_share: float  # share of beneficial flows that do not happen
    welfare_gap: float  # first-best net value of flows minus the realised one, CU per user


def contact_harm(
    graph: sp.csr_array,
    degree: np.ndarray,
    theta: np.ndarray,
    not_held: np.ndarray,
    misuse: float,
    leakage: float,
) -> np.ndarray:
    """Harm to i's contacts if h gets i's data: Σ_j A_ij θ_j ρ λ / deg(j) · [h lacks j's data]."""
    per_contact = theta * not_held / np.maximum(degree, 1)
    return misuse * leakage * (graph @ per_contact.astype(np.float64))


def flow_cost(
    theta: np.ndarray, exposure_now: np.ndarray, misuse: float, harm_to_contacts: np.ndarray
) -> np.ndarray:
    """Social cost of each potential flow, CU per month."""
    return theta * misuse * (1.0 - exposure_now) + harm_to_contacts


def planner_gap(
    benefit: np.ndarray, cost: np.ndarray, actual: np.ndarray, n_users: int
) -> PlannerGap:
    """Compare actual flows with the first best over a set of potential flows (flat arrays)."""
    net = benefit - cost
    beneficial = net > 0
    return gap_from_flows(
        net[beneficial],
        net[actual],
        int(np.count_nonzero(actual & (net < 0))),
        int(np.count_nonzero(beneficial & ~actual)),
        n_users,
    )


def gap_from_flows(
    beneficial_net: np.ndarray, actual_net: np.ndarray, n_over: int, n_under: int, n_users: int
) -> PlannerGap:
    """`planner_gap` from what it reads of the flows.

    Args:
        beneficial_net: net value (benefit − cost) of each beneficial flow (net > 0), in the
            flows' order (numpy sums it; the order fixes the sum's rounding).
        actual_net: net value of each actual flow, in the flows' order.
        n_over: actual flows with net < 0.
        n_under: beneficial flows that do not happen.
        n_users: users, the welfare gap's denominator.
    """
    n_actual, n_beneficial = actual_net.size, beneficial_net.size
    over = n_over / n_actual if n_actual else 0.0
    under = n_under / n_beneficial if n_beneficial else 0.0
    first_best = beneficial_net.sum()
    realised = actual_net.sum()
    return PlannerGap(over, under, float((first_best - realised) / max(n_users, 1)))
