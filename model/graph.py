"""The social graph among users, stored as a symmetric CSR adjacency matrix.

Chat data is social: a party that takes a user's chats also learns about her contacts. The graph
is a Chung–Lu random graph with Pareto-distributed expected degrees (heavy tail, mean degree a
parameter), built in O(edges) with numpy: no Python loop over users or edges.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from model.kernels import (
    PACKED_COLUMNS,
    bucketed_searchsorted,
    contact_exposure_pass,
    pack_flag_pair,
    symmetric_csr_indices,
)


def social_graph(
    n_users: int, mean_degree: float, degree_tail: float, rng: np.random.Generator
) -> sp.csr_array:
    """A heavy-tailed undirected graph as a symmetric 0/1 CSR matrix (float32 data).

    Each user gets a weight from a Pareto (Lomax + 1) distribution with tail exponent
    `degree_tail`; `n_users · mean_degree / 2` edges are drawn, each end chosen in proportion to
    the weights (so a user's expected degree is proportional to her weight). Self-loops and
    repeated pairs are dropped, so the realised mean degree is slightly below the target (about
    0.1% at the defaults and 20,000 users, 2–3% at 1,000 users), and further below in a denser
    graph (about a quarter below at mean_degree = (n_users − 1) / 4, the most
    `model.parameters.check_graph` allows; measured figures at `MAX_GRAPH_DENSITY`).

    Args:
        n_users: number of users (nodes).
        mean_degree: target mean number of contacts.
        degree_tail: Pareto exponent of the weights (> 2 for a finite variance).
        rng: the model's generator.
    """
    n_edges = round(n_users * mean_degree / 2)
    if n_users < 2 or n_edges == 0:
        return sp.csr_array((n_users, n_users), dtype=np.float32)
    weights = rng.pareto(degree_tail, n_users) + 1.0
    cumulative = np.cumsum(weights)
    cumulative /= cumulative[-1]
    # = np.searchsorted(cumulative, ..., side="right"), without a cache-missing binary search
    # over all users per edge end (most of the set-up time at a million users).
    ends = bucketed_searchsorted(cumulative, rng.random(2 * n_edges))
    ends = np.minimum(ends, n_users - 1)
    u, v = ends[:n_edges], ends[n_edges:]
    keep = u != v
    lo = np.minimum(u[keep], v[keep])
    hi = np.maximum(u[keep], v[keep])
    # The distinct pairs, sorted by (lo, hi): what np.unique gives, by a sort and a mask (numpy's
    # hash-based unique is several times slower here).
    pairs = np.sort(lo * n_users + hi)
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    lo, hi = pairs // n_users, pairs % n_users
    degree = np.bincount(lo, minlength=n_users) + np.bincount(hi, minlength=n_users)
    # 32-bit indices where they fit: half the memory of the graph, the largest array there is.
    index_type = np.int32 if 2 * pairs.size < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n_users + 1, dtype=index_type)
    np.cumsum(degree, out=indptr[1:])
    indices = symmetric_csr_indices(lo, hi, indptr, 2 * pairs.size)
    data = np.ones(indices.size, dtype=np.float32)
    graph = sp.csr_array((data, indices, indptr), shape=(n_users, n_users))
    graph.has_sorted_indices = True  # built row by row in increasing column order
    return graph


def degrees(graph: sp.csr_array) -> np.ndarray:
    """Number of contacts of each user."""
    return np.diff(graph.indptr).astype(np.int64)


def contact_share(graph: sp.csr_array, flags: np.ndarray, degree: np.ndarray) -> np.ndarray:
    """Share of each user's contacts for which `flags` holds (0 for users with no contacts).

    `flags` is (n_users,) or (n_users, k); the result has the same shape, as float64.
    """
    counts = graph @ flags.astype(np.float32)
    safe = np.maximum(degree, 1).astype(np.float64)
    if counts.ndim == 2:
        return counts / safe[:, None]
    return counts / safe


def contact_counts(graph: sp.csr_array, flags: np.ndarray) -> np.ndarray:
    """Number of each user's contacts for which `flags` holds, by a scipy product (float64,
    whole numbers): the reference `contact_exposure` equals, and its path when the flags do
    not fit in one word. `flags` is (n_users,) or (n_users, k)."""
    return graph @ np.asarray(flags, dtype=np.float64)


def contact_exposure(
    graph: sp.csr_array,
    degree: np.ndarray,
    holds: np.ndarray,
    member: np.ndarray,
    r2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A month's pass over the graph, exposure included: (held, on_platform, exposure).

    With r2 = `model.flows.inference_table`(λ, max degree), R²(k; λ_h) at r2[h, k], this
    equals, value for value (held as int32, the rest bit for bit)::

        held = contact_counts(graph, holds)                        # k[i, h]
        on_platform = contact_share(graph, member, degree)         # c[i, p]
        exposure = np.where(holds, 1.0, r2[h, held[:, h]])         # model.flows.exposure

    but reads each contact once, on `kernels.threads()` threads, without the (N, H)
    temporaries; the arrays returned are C-contiguous.

    Args:
        graph: the symmetric CSR adjacency (sorted indices); degree: contacts per user.
        holds: (N, H) boolean, holder h has i's data; member: (N, P) boolean.
        r2: (H, K) R² per holder and number of contacts, K > max(degree).
    """
    n_held = holds.shape[1]
    k = n_held + member.shape[1]
    r2 = np.ascontiguousarray(r2, dtype=np.float64)
    if k > PACKED_COLUMNS:
        held = contact_counts(graph, holds).astype(np.int32)
        leaked = np.take_along_axis(r2, held.T, axis=1).T
        exposure = np.ascontiguousarray(np.where(holds, 1.0, leaked))
        return held, np.ascontiguousarray(contact_share(graph, member, degree)), exposure
    return contact_exposure_pass(graph.indptr, graph.indices, pack_flag_pair(holds, member), k, r2)
