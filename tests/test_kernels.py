"""Tests of `model.kernels`: each compiled kernel gives, bit for bit, what the numpy or scipy
expression it replaces gives.

Checks:

* `social_graph` (bucketed search, sort-and-mask de-duplication, CSR filled row by row) equals
  the straightforward construction (`np.searchsorted`, `np.unique`, scipy's COO → CSR);
* `bucketed_searchsorted` equals `np.searchsorted(side="right")`, keys on the edges included;
* `contact_pass` equals scipy's products: shares of flagged contacts, and sums of a weight over
  unflagged contacts, for 1 to 70 flag columns (the packed path and the fallback), more than four
  sum columns, and a hub with more contacts than a 16-bit counter holds;
* `any_per_row` and `overall_exposure` equal their numpy expressions;
* `contact_exposure` (one read of each contact, exposure in the pass, rows split over threads)
  equals scipy's products followed by `model.flows.exposure`, for any split of the rows into
  blocks (uneven and empty ones included), one or several passes, the >63-flag fallback, and a
  hub past a byte-lane counter; `pack_flag_pair` equals packing the concatenation;
* `block_bounds` covers each row once; `set_threads` validates and defaults to the CPUs.
"""

from __future__ import annotations

import os

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


def _plain_contact_exposure(graph, degree, holds, member, weight, own, shared, leakage):
    """What `contact_exposure` replaces: scipy products over [holds, member], then `exposure`."""
    flags = np.concatenate([holds, member], axis=1)
    columns = np.column_stack([own, np.tile(shared, (own.size, 1))]).astype(np.int64)
    shares, sums = _scipy_pass(graph, degree, flags, weight, columns)
    n_held = holds.shape[1]
    held = shares[:, :n_held]
    return held, shares[:, n_held:], np.where(holds, 1.0, leakage[None, :] * held), sums


def _assert_same(got, want):
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def restore_threads():
    before = kernels.threads()
    yield
    kernels.set_threads(before)


@pytest.mark.parametrize(
    ("n_held", "n_member", "n_shared"),
    [(1, 0, 0), (10, 2, 2), (10, 2, 3), (13, 3, 5), (30, 4, 8), (60, 10, 2)],
)
@pytest.mark.parametrize("n_threads", [1, 3])
def test_contact_exposure_equals_products_then_exposure(
    n_held, n_member, n_shared, n_threads, restore_threads
):
    """Packed (≤ 16 flags and 4 sums in one read, and more passes past them) and fallback (more
    than 63 flags) paths, on one thread and on three threads over uneven blocks."""
    from model.graph import contact_exposure

    kernels.set_threads(n_threads)
    kernels_min = kernels.MIN_BLOCK_WORK
    kernels.MIN_BLOCK_WORK = 1  # several blocks even for a small graph
    try:
        rng = np.random.default_rng(n_held * 100 + n_member)
        n = 401
        graph = social_graph(n, 12.0, 2.2, rng)
        degree = np.diff(graph.indptr)
        holds = rng.random((n, n_held)) < 0.4
        member = rng.random((n, n_member)) < 0.5
        weight = rng.lognormal(size=n) / np.maximum(degree, 1)
        own = rng.integers(0, n_held, size=n)
        shared = rng.integers(0, n_held, size=n_shared)
        leakage = rng.random(n_held)
        got = contact_exposure(graph, degree, holds, member, weight, own, shared, leakage)
        want = _plain_contact_exposure(graph, degree, holds, member, weight, own, shared, leakage)
        _assert_same(got, want)
    finally:
        kernels.MIN_BLOCK_WORK = kernels_min


@pytest.mark.parametrize("bounds", [[0, 401], [0, 1, 2, 150, 150, 401], [0, 400, 401], [0, 7, 401]])
def test_contact_exposure_pass_is_the_same_for_any_split(bounds, restore_threads):
    kernels.set_threads(2)
    rng = np.random.default_rng(5)
    n = 401
    graph = social_graph(n, 30.0, 2.1, rng)
    degree = np.diff(graph.indptr)
    holds, member = rng.random((n, 10)) < 0.3, rng.random((n, 2)) < 0.6
    weight = rng.random(n) / np.maximum(degree, 1)
    own, shared, leakage = rng.integers(2, 7, size=n), np.array([7, 8, 9]), rng.random(10)
    got = kernels.contact_exposure_pass(
        graph.indptr,
        graph.indices,
        kernels.pack_flag_pair(holds, member),
        12,
        weight,
        own,
        shared,
        leakage,
        np.array(bounds),
    )
    _assert_same(
        got, _plain_contact_exposure(graph, degree, holds, member, weight, own, shared, leakage)
    )


def test_contact_exposure_counts_past_a_byte_lane():
    """A hub with 1,000 contacts: the byte-lane counters are emptied every 255 contacts."""
    from model.graph import contact_exposure

    n = 1_001
    leaves = np.arange(1, n)
    rows = np.concatenate([np.zeros(n - 1, dtype=np.int64), leaves])
    cols = np.concatenate([leaves, np.zeros(n - 1, dtype=np.int64)])
    graph = sp.csr_array((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, n))
    graph.sort_indices()
    degree = np.diff(graph.indptr)
    holds = np.ones((n, 3), dtype=bool)
    holds[::7, 1] = False
    member = np.ones((n, 1), dtype=bool)
    weight = np.full(n, 0.5)
    leakage = np.array([0.1, 0.2, 0.3])
    own, shared = np.ones(n, dtype=np.int64), np.array([0, 2])
    got = contact_exposure(graph, degree, holds, member, weight, own, shared, leakage)
    _assert_same(
        got, _plain_contact_exposure(graph, degree, holds, member, weight, own, shared, leakage)
    )
    assert got[0][0, 0] == 1.0 and got[1][0, 0] == 1.0


@pytest.mark.parametrize(("a", "b"), [(1, 0), (10, 2), (9, 7), (12, 20), (40, 23)])
def test_pack_flag_pair_equals_packing_the_concatenation(a, b, restore_threads):
    kernels.set_threads(2)
    rng = np.random.default_rng(a + b)
    first, second = rng.random((5_001, a)) < 0.5, rng.random((5_001, b)) < 0.5
    want = kernels.pack_flags(np.concatenate([first, second], axis=1))
    got = kernels.pack_flag_pair(first, second)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("blocks", [1, 2, 3, 7])
def test_block_bounds_cover_every_row_once(blocks):
    work = np.concatenate(([0], np.cumsum(np.random.default_rng(blocks).integers(0, 50, 1_000))))
    bounds = kernels.block_bounds(work, blocks)
    assert bounds.size == blocks + 1 and bounds[0] == 0 and bounds[-1] == 1_000
    assert np.all(np.diff(bounds) >= 0)
    sizes = work[bounds[1:]] - work[bounds[:-1]]
    assert sizes.max() <= work[-1] / blocks + 50  # balanced to within one row's work


def test_set_threads_rejects_zero_and_defaults_to_available_cpus(restore_threads):
    with pytest.raises(ValueError, match="at least 1"):
        kernels.set_threads(0)
    kernels.set_threads(None)
    assert kernels.threads() == len(os.sched_getaffinity(0))
    kernels.set_threads(3)
    assert kernels.threads() == 3
