"""The planner benchmark (MODEL.md §4): which flows should happen, and how far we are from it.

For a potential flow (holder h gets user i's data): benefit = i's personalisation gain + h's
profit gain; cost = i's harm θ[i] ρ_h (1 − R²(k[i,h])) (what the flow adds to her exposure) +
the harm to i's contacts j whose own data h does not hold,

    ρ_h Σ_{j∈N(i)} θ[j] [R²(k⁻_j + 1; λ_h) − R²(k⁻_j; λ_h)],   k⁻_j = k[j,h] − d[i,h]

with k[j,h] the number of j's contacts whose data h holds: k⁻_j leaves i out, so the term is
what j's exposure gains from h having i's data, all else as realised, whether or not it does
(the cost of this flow; docs/ODD.md §S11). The first best lets a flow happen iff benefit > cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from model.flows import inference_r2


@dataclass(frozen=True)
class PlannerGap:
    """Distance of the realised flows from the first best."""

    oversharing_share: float  # share of actual flows whose cost exceeds their benefit
    undersharing_share: float  # share of beneficial flows that do not happen
    welfare_gap: float  # first-best net value of flows minus the realised one, CU per user


def contact_harm(
    graph: sp.csr_array,
    theta: np.ndarray,
    held: np.ndarray,
    contact_count: np.ndarray,
    misuse: float,
    leakage: float,
) -> np.ndarray:
    """Harm to i's contacts of holder h having i's data, CU per month, for every user i:

        ρ Σ_j A_ij θ_j [h lacks j's data] (R²(k_j − d_i + 1; λ) − R²(k_j − d_i; λ))

    with d_i = held[i] and k_j = contact_count[j] (j's contacts whose data h holds, i among
    them where d_i), so k_j − d_i leaves i out. The numpy reference of the compiled pass
    (`model.graph.contact_harm`): one sparse product for the users h does not hold, one for
    those it holds.
    """
    k = np.asarray(contact_count, dtype=np.float64)
    lacks = ~np.asarray(held, dtype=bool)
    if_added = inference_r2(k + 1.0, leakage) - inference_r2(k, leakage)  # i not held
    if_held = inference_r2(k, leakage) - inference_r2(k - 1.0, leakage)  # i held, so in k_j
    to_unheld = graph @ (theta * np.where(lacks, if_added, 0.0))
    to_held = graph @ (theta * np.where(lacks, if_held, 0.0))
    return misuse * np.where(lacks, to_unheld, to_held)


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
