"""Tests of `model.kernels`: each compiled kernel gives, bit for bit, what the numpy or scipy
expression it replaces gives.

Checks:

* `social_graph` (bucketed search, sort-and-mask de-duplication, CSR filled row by row) equals
  the straightforward construction (`np.searchsorted`, `np.unique`, scipy's COO → CSR);
* `bucketed_searchsorted` equals `np.searchsorted(side="right")`, keys on the edges included;
* `contact_pass` equals scipy's products: shares of flagged contacts, and sums of a weight over
  unflagged contacts, for 1 to 70 flag columns (the packed path and the fallback), more than four
  sum columns, and a hub with more contacts than a 16-bit counter holds;
* `any_per_row` and `overall_exposure` equal their numpy expressions.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model import kernels
from model.graph import contact_pass, contact_share, social_graph


def reference_graph(
    n_users: int, mean_degree: float, degree_tail: float, rng: np.random.Generator
) -> sp.csr_array:
    """The social graph built the plain way (the code before issue 6)."""
    n_edges = round(n_users * mean_degree / 2)
    if n_users < 2 or n_edges == 0:
        return sp.csr_array((n_users, n_users), dtype=np.float32)
    weights = rng.pareto(degree_tail, n_users) + 1.0
    cumulative = np.cumsum(weights)
    cumulative /= cumulative[-1]
    ends = np.searchsorted(cumulative, rng.random(2 * n_edges), side="right")
    ends = np.minimum(ends, n_users - 1)
    u, v = ends[:n_edges], ends[n_edges:]
    keep = u != v
    lo = np.minimum(u[keep], v[keep]).astype(np.int64)
    hi = np.maximum(u[keep], v[keep]).astype(np.int64)
    pairs = np.unique(lo * n_users + hi)
    lo, hi = pairs // n_users, pairs % n_users
    rows, cols = np.concatenate([lo, hi]), np.concatenate([hi, lo])
    data = np.ones(rows.size, dtype=np.float32)
    graph = sp.csr_array((data, (rows, cols)), shape=(n_users, n_users))
    graph.sort_indices()
    return graph


@pytest.mark.parametrize(
    ("n", "degree", "tail"),
    [(2, 1.0, 2.5), (1_000, 20.0, 2.5), (3_000, 4.0, 2.1), (20_000, 20.0, 2.5), (5_000, 50, 50)],
)
def test_social_graph_equals_the_plain_construction(n, degree, tail):
    built = social_graph(n, degree, tail, np.random.default_rng(n))
    plain = reference_graph(n, degree, tail, np.random.default_rng(n))
    np.testing.assert_array_equal(built.indptr, plain.indptr)
    np.testing.assert_array_equal(built.indices, plain.indices)
    np.testing.assert_array_equal(built.data, plain.data)
    assert built.has_sorted_indices


def test_bucketed_searchsorted_equals_numpy_on_edges_and_ties():
    rng = np.random.default_rng(0)
    weights = rng.pareto(2.5, 1_000) + 1.0
    weights[10:20] = 0.0  # ties in the cumulative sum
    cumulative = np.cumsum(weights)
    cumulative /= cumulative[-1]
    keys = np.concatenate(
        [rng.random(100_000), cumulative[:-1], np.arange(1_000) / 1_000, [0.0, np.nextafter(1, 0)]]
    )
    np.testing.assert_array_equal(
        kernels.bucketed_searchsorted(cumulative, keys),
        np.searchsorted(cumulative, keys, side="right"),
    )


def _scipy_pass(graph, degree, flags, weight, columns):
    shares = contact_share(graph, flags, degree)
    sums = np.empty(columns.shape)
    for i in range(columns.shape[0]):
        for q in range(columns.shape[1]):
            sums[i, q] = (graph @ (weight * ~flags[:, columns[i, q]]))[i]
    return shares, sums


@pytest.mark.parametrize("k", [1, 3, 12, 17, 40, 70])
def test_contact_pass_equals_scipy_products(k):
    rng = np.random.default_rng(k)
    n = 300
    graph = social_graph(n, 12.0, 2.2, rng)
    degree = np.diff(graph.indptr)
    flags = rng.random((n, k)) < 0.4
    weight = rng.lognormal(size=n) / np.maximum(degree, 1)
    columns = rng.integers(0, k, size=(n, 6))
    shares, sums = contact_pass(graph, degree, flags, weight, columns)
    want_shares, want_sums = _scipy_pass(graph, degree, flags, weight, columns)
    np.testing.assert_array_equal(shares, want_shares)
    np.testing.assert_array_equal(sums, want_sums)


def test_contact_pass_counts_past_a_16_bit_field():
    """A hub with 70,000 contacts: the packed counters are emptied before they overflow."""
    n = 70_001
    hub = np.zeros(n - 1, dtype=np.int64)
    leaves = np.arange(1, n)
    rows, cols = np.concatenate([hub, leaves]), np.concatenate([leaves, hub])
    graph = sp.csr_array((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, n))
    graph.sort_indices()
    degree = np.diff(graph.indptr)
    flags = np.ones((n, 3), dtype=bool)
    flags[::7, 1] = False
    weight = np.full(n, 0.5)
    columns = np.tile([0, 1], (n, 1))
    shares, sums = contact_pass(graph, degree, flags, weight, columns)
    want_shares, _ = _scipy_pass(graph, degree, flags, weight, columns[:1])
    np.testing.assert_array_equal(shares, want_shares)
    assert shares[0, 0] == 1.0
    assert sums[0, 1] == (graph @ (weight * ~flags[:, 1]))[0]


def test_any_per_row_and_overall_exposure_equal_numpy():
    rng = np.random.default_rng(3)
    for k in (1, 2, 10, 33):
        flags = rng.random((5_000, k)) < 0.1
        np.testing.assert_array_equal(kernels.any_per_row(flags), flags.any(axis=1))
        e = rng.random((5_000, k)) ** 2
        np.testing.assert_array_equal(
            kernels.overall_exposure(e, flags),
            1.0 - np.prod(np.where(flags, 1.0 - e, 1.0), axis=1),
        )
