"""Tests of `model.kernels`: each compiled kernel gives, bit for bit, what the numpy or scipy
expression it replaces gives.

Checks:

* `social_graph` (bucketed search, sort-and-mask de-duplication, CSR filled row by row) equals
  the straightforward construction (`np.searchsorted`, `np.unique`, scipy's COO → CSR);
* `bucketed_searchsorted` equals `np.searchsorted(side="right")`, keys on the edges included;
* `model.graph.contact_counts` (the reference, and the path beyond 63 flags) equals the dense
  product: numbers of flagged contacts, for 1 to 70 flag columns;
* `any_per_row`, `any_per_column` and `overall_exposure` (one thread and uneven blocks on
  three) equal their numpy expressions;
* `contact_exposure` (one read of each contact, counts, platform shares and exposure — R²
  from `model.flows.inference_table` — in the pass, rows split over threads) equals scipy's
  products followed by `model.flows.exposure`, for any split of the rows into blocks (uneven
  and empty ones included), one or several passes, the >63-flag fallback, and a hub past a
  byte-lane counter, and graphs with fewer contacts than the prefetch look-ahead (none
  included); `prefetch` changes nothing; `pack_flag_pair` equals packing the concatenation;
* `block_bounds` covers each row once; `set_threads` validates and defaults to the CPUs; no
  helper thread outlives a call, and an error in a block reaches the caller;
* the phase 3–4 kernels (`pair_users`, `column_counts`, `flow_quality` on one thread and over
  uneven blocks, the consent kernels) equal the numpy expressions they replace in
  `model.flows` and `model.consent` (the grant of device data, which also refreshes the
  records' ages, is tested in `tests/test_retention.py`).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp

from model import kernels
from model.flows import exposure, inference_table
from model.graph import contact_counts, contact_exposure, contact_share, social_graph


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


@pytest.mark.parametrize("k", [1, 3, 12, 17, 40, 70])
def test_contact_counts_equal_scipy_products(k):
    """The reference counts (also the path beyond 63 flags) are scipy's product, row by row."""
    rng = np.random.default_rng(k)
    n = 300
    graph = social_graph(n, 12.0, 2.2, rng)
    degree = np.diff(graph.indptr)
    flags = rng.random((n, k)) < 0.4
    counts = contact_counts(graph, flags)
    dense = graph.toarray().astype(np.int64)
    np.testing.assert_array_equal(counts, dense @ flags.astype(np.int64))
    np.testing.assert_array_equal(
        contact_share(graph, flags, degree), counts / np.maximum(degree, 1)[:, None]
    )


@pytest.mark.parametrize("n_threads", [1, 3])
def test_any_per_row_and_overall_exposure_equal_numpy(n_threads, restore_threads):
    """overall_exposure also over three uneven blocks of rows (5,001 rows, blocks of 1,667)."""
    kernels.set_threads(n_threads)
    kernels_min = kernels.MIN_BLOCK_WORK
    kernels.MIN_BLOCK_WORK = 1_000
    try:
        rng = np.random.default_rng(3)
        for k in (1, 2, 10, 33, 91):
            flags = rng.random((5_001, k)) < 0.1
            np.testing.assert_array_equal(kernels.any_per_row(flags), flags.any(axis=1))
            np.testing.assert_array_equal(kernels.any_per_row(flags[:, ::2]), flags[:, ::2].any(1))
            e = rng.random((5_001, k)) ** 2
            np.testing.assert_array_equal(
                kernels.overall_exposure(e, flags),
                1.0 - np.prod(np.where(flags, 1.0 - e, 1.0), axis=1),
            )
    finally:
        kernels.MIN_BLOCK_WORK = kernels_min


def test_any_per_column_equals_numpy():
    rng = np.random.default_rng(4)
    for k in (1, 3, 10):
        flags = rng.random((2_000, k)) < 0.01
        flags[:, 0] = False  # a column never set: the scan runs to the end
        np.testing.assert_array_equal(kernels.any_per_column(flags), flags.any(axis=0))
        flags[:, 0] = True  # every column set early: the scan stops
        np.testing.assert_array_equal(kernels.any_per_column(flags), flags.any(axis=0))
    empty = np.zeros((0, 4), dtype=bool)
    np.testing.assert_array_equal(kernels.any_per_column(empty), np.zeros(4, dtype=bool))


def _r2_table(leakage, degree):
    return inference_table(leakage, int(degree.max(initial=0)))


def _plain_contact_exposure(graph, degree, holds, member, leakage):
    """What `contact_exposure` replaces: scipy products over [holds, member], then `exposure`."""
    held = contact_counts(graph, holds)
    return held, contact_share(graph, member, degree), exposure(holds, held, leakage)


def _assert_same(got, want):
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("n_held", "n_member"),
    [(1, 0), (10, 2), (13, 3), (30, 4), (60, 10)],
)
@pytest.mark.parametrize("n_threads", [1, 3])
def test_contact_exposure_equals_products_then_exposure(
    n_held, n_member, n_threads, restore_threads
):
    """Packed (≤ 16 flags in one read, and more passes past them) and fallback (more than 63
    flags) paths, on one thread and on three threads over uneven blocks: counts, platform
    shares and exposure (R² looked up in the table) equal scipy's products then
    `model.flows.exposure`, bit for bit."""
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
        leakage = rng.random(n_held)
        got = contact_exposure(graph, degree, holds, member, _r2_table(leakage, degree))
        assert got[0].dtype == np.int32
        _assert_same(got, _plain_contact_exposure(graph, degree, holds, member, leakage))
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
    leakage = rng.random(10)
    got = kernels.contact_exposure_pass(
        graph.indptr,
        graph.indices,
        kernels.pack_flag_pair(holds, member),
        12,
        _r2_table(leakage, degree),
        np.array(bounds),
    )
    _assert_same(got, _plain_contact_exposure(graph, degree, holds, member, leakage))


def test_contact_exposure_counts_past_a_byte_lane():
    """A hub with 1,000 contacts: the byte-lane counters are emptied every 255 contacts."""
    n = 1_001
    leaves = np.arange(1, n)
    rows = np.concatenate([np.zeros(n - 1, dtype=np.int64), leaves])
    cols = np.concatenate([leaves, np.zeros(n - 1, dtype=np.int64)])
    graph = sp.csr_array((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, n))
    graph.sort_indices()
    degree = np.diff(graph.indptr)
    holds = np.ones((n, 3), dtype=bool)
    holds[::7, 1] = False
    holds[0] = False
    member = np.ones((n, 1), dtype=bool)
    leakage = np.array([0.1, 0.2, 0.3])
    got = contact_exposure(graph, degree, holds, member, _r2_table(leakage, degree))
    _assert_same(got, _plain_contact_exposure(graph, degree, holds, member, leakage))
    # Holder 1 lacks users 0, 7, …, 994: 142 of the hub's contacts (7 … 994).
    assert got[0][0, 0] == 1_000 and got[0][0, 1] == 1_000 - 142 and got[1][0, 0] == 1.0


@pytest.mark.parametrize("n_edges", [0, 1, 3, 40])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_contact_exposure_pass_near_the_end_of_the_contacts(n_edges, n_threads, restore_threads):
    """Fewer contacts than the prefetch look-ahead (none at all included), a hub, and empty
    rows last: the look-ahead past the last contact is clamped, and prefetching changes no
    value."""
    kernels.set_threads(n_threads)
    graph = _small_graph(n_edges)
    n = graph.shape[0]
    assert graph.nnz < kernels.PREFETCH_AHEAD or n_edges == 40
    rng = np.random.default_rng(n_edges)
    degree = np.diff(graph.indptr)
    holds, member = rng.random((n, 10)) < 0.3, rng.random((n, 2)) < 0.6
    leakage = rng.random(10)
    got = kernels.contact_exposure_pass(
        graph.indptr.astype(np.int32),
        graph.indices.astype(np.int32),
        kernels.pack_flag_pair(holds, member),
        12,
        _r2_table(leakage, degree),
        np.array([0, 1, 5, n]),
    )
    _assert_same(got, _plain_contact_exposure(graph, degree, holds, member, leakage))
    assert np.all(got[0][n - 2 :] == 0)


def _small_graph(n_edges: int) -> sp.csr_array:
    """12 users: a hub (user 0) with up to 9 contacts, other pairs at random up to `n_edges`
    edges, users 10 and 11 alone."""
    rng = np.random.default_rng(n_edges)
    n = 12
    hub_contacts = rng.permutation(np.arange(1, n - 2))[: min(n_edges, n - 3)]
    pairs = {(0, int(c)) for c in hub_contacts}
    while len(pairs) < n_edges:
        a, b = sorted(rng.integers(0, n - 2, size=2))  # users n − 2, n − 1 stay alone
        if a != b:
            pairs.add((int(a), int(b)))
    lo, hi = np.array([[a, b] for a, b in sorted(pairs)], dtype=np.int64).reshape(-1, 2).T
    rows, cols = np.concatenate([lo, hi]), np.concatenate([hi, lo])
    graph = sp.csr_array((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, n))
    graph.sort_indices()
    return graph


def test_prefetch_reads_and_writes_nothing():
    """`prefetch` is a hint: prefetching every element (and past the end) leaves the array, and
    what is read after it, as they were."""
    import numba

    @numba.njit
    def sum_after_prefetch(values, ahead):
        total = 0.0
        for i in range(values.size):
            kernels.prefetch(values, i + ahead)
            total += values[i]
        return total

    values = np.random.default_rng(1).random(1_000)
    before = values.copy()
    want = 0.0
    for x in values.tolist():  # in order (Python's sum() of floats compensates since 3.12)
        want += x
    for ahead in (0, 16, 5_000):
        assert sum_after_prefetch(values, ahead) == want
    np.testing.assert_array_equal(values, before)


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


# --- Phases 3 and 4 ---------------------------------------------------------------------------


def _users(seed, n=3_001, n_platforms=2, n_makers=5, n_holders=10):
    """Random per-user state in the model's layout (platform columns first, then makers)."""
    rng = np.random.default_rng(seed)
    device = rng.integers(0, n_makers, size=n)
    return dict(
        rng=rng,
        member=rng.random((n, n_platforms)) < 0.6,
        device=device,
        device_col=n_platforms + device,
        holds=rng.random((n, n_holders)) < 0.4,
        consented=rng.random((n, n_holders)) < 0.5,
        trust_member=rng.random(n) < 0.2,
        pairs=[rng.random((n_platforms, n_makers)) < 0.5 for _ in range(3)],
    )


@pytest.mark.parametrize("seed", range(4))
def test_pair_users_and_column_counts_equal_numpy(seed):
    u = _users(seed, n_platforms=1 + seed)
    pairs = u["pairs"][0]
    np.testing.assert_array_equal(
        kernels.pair_users(u["member"], u["device"], pairs),
        (u["member"] & pairs[:, u["device"]].T).any(axis=1),
    )
    counts = kernels.column_counts(u["holds"])
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, u["holds"].sum(axis=0))


def _plain_flow_quality(u, licensed, taking, blocked, platform_terms, quality_taken, factor):
    holds, consented, member = u["holds"].copy(), u["consented"].copy(), u["member"]
    n, n_platforms = member.shape
    rows, device, col = np.arange(n), u["device"], u["device_col"]
    holds[:, :n_platforms] |= member
    consented[:, :n_platforms] = member
    free = ~u["trust_member"]
    consent = np.ones(n, dtype=bool) if platform_terms else consented[rows, col]
    lic = (member & licensed[:, device].T).any(axis=1) & consent & free
    quality = np.zeros(n)
    quality[lic] = 1.0
    for p in range(n_platforms):
        taking_p = taking[p, device] & member[:, p] & consented[rows, col] & free
        value = quality_taken * np.where(blocked[p, device], factor, 1)
        quality = np.where(taking_p, np.maximum(quality, value), quality)
    return quality, lic, holds, consented


@pytest.mark.parametrize("platform_terms", [False, True])
@pytest.mark.parametrize("n_threads", [1, 3])
def test_flow_quality_equals_numpy(platform_terms, n_threads, restore_threads):
    kernels.set_threads(n_threads)
    kernels_min = kernels.MIN_BLOCK_WORK
    kernels.MIN_BLOCK_WORK = 1_000  # three uneven blocks of 3,001 rows
    try:
        for seed in range(3):
            u = _users(seed, n_platforms=2 + seed)
            licensed, taking, blocked = u["pairs"]
            args = (licensed, taking, blocked, platform_terms, 0.7, 1 - 0.35)
            want = _plain_flow_quality(u, *args)
            holds, consented = u["holds"].copy(), u["consented"].copy()
            quality, lic = kernels.flow_quality(
                u["member"],
                u["device"],
                u["device_col"],
                holds,
                consented,
                u["trust_member"],
                *args,
            )
            _assert_same((quality, lic, holds, consented), want)
            assert 0.7 * (1 - 0.35) in quality and 1.0 in quality  # both paths taken
    finally:
        kernels.MIN_BLOCK_WORK = kernels_min


def test_consent_kernels_equal_numpy():
    u = _users(9)
    n, rows, col = u["device"].size, np.arange(u["device"].size), u["device_col"]
    refused_at = u["rng"].integers(-10_000, 30, size=(n, 10)).astype(np.int32)
    pairs = u["pairs"][0] | u["pairs"][1]
    for month, reask in ((30, 6), (12, 1), (5, 40)):
        want = (
            (u["member"] & pairs[:, u["device"]].T).any(axis=1)
            & ~u["trust_member"]
            & ~u["consented"][rows, col]
            & (month - refused_at[rows, col] >= reask)
        )
        got = kernels.consent_askers(
            u["member"],
            u["device"],
            col,
            pairs,
            u["trust_member"],
            u["consented"],
            refused_at,
            month,
            reask,
        )
        np.testing.assert_array_equal(got, want)
        assert 0 < got.sum() < n
    draws, attention = u["rng"].random(n), u["rng"].random(n)
    np.testing.assert_array_equal(
        kernels.consent_reviews(u["consented"], col, draws, 0.4, attention),
        u["consented"][rows, col] & (draws < 0.4 * attention),
    )


def test_no_kernel_thread_outlives_a_call_and_errors_reach_the_caller(restore_threads):
    """Helper threads end with the call (a process may fork between passes: no warning, no
    inherited pool), and an exception in any block is raised in the calling thread."""
    import threading

    kernels.set_threads(3)
    before = threading.active_count()
    seen = []

    def kernel(out, start, stop):
        seen.append((start, stop))
        if start == 40:
            raise RuntimeError("block 40")

    bounds = np.array([0, 10, 40, 41, 41, 100])
    kernels.run_blocks(lambda out, a, b: seen.append((a, b)), bounds[:4], None)
    assert sorted(seen) == [(0, 10), (10, 40), (40, 41)]  # each non-empty block once
    assert threading.active_count() == before
    with pytest.raises(RuntimeError, match="block 40"):
        kernels.run_blocks(kernel, bounds, None)
    assert threading.active_count() == before
