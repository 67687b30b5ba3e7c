"""Tests of `model.graph`: the heavy-tailed social graph and shares of contacts.

Checks:

* `social_graph` returns a symmetric 0/1 matrix without self-loops; at 50,000 users its mean
  degree is within a few percent of the target and never above it (duplicates and self-loops are
  only ever dropped); its degrees are heavy-tailed (max far above the mean) where a thin tail
  is not; the same seed gives the same graph and another seed another graph;
* degenerate sizes (fewer than two users, mean degree 0) give an empty graph;
* `degrees` and `contact_share` on a small hand-drawn graph, for one flag column and several.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model.graph import contact_share, degrees, social_graph

N_LARGE = 50_000
MEAN_DEGREE = 20.0
TAIL = 2.5


@pytest.fixture(scope="module")
def large_graph() -> sp.csr_array:
    return social_graph(N_LARGE, MEAN_DEGREE, TAIL, np.random.default_rng(2017))


def test_graph_is_square_symmetric_with_unit_entries(large_graph):
    """Undirected: A = Aᵀ, every stored entry is 1."""
    assert large_graph.shape == (N_LARGE, N_LARGE)
    assert (large_graph != large_graph.T).nnz == 0
    np.testing.assert_array_equal(large_graph.data, 1.0)


def test_graph_has_no_self_loops(large_graph):
    """Nobody is her own contact."""
    assert not large_graph.diagonal().any()


def test_mean_degree_is_close_to_and_not_above_target(large_graph):
    """Realised mean degree within 3% below the target (MODEL.md §9: mean degree a parameter)."""
    mean = degrees(large_graph).mean()
    assert mean <= MEAN_DEGREE
    assert mean == pytest.approx(MEAN_DEGREE, rel=0.03)


def test_degree_distribution_is_heavy_tailed(large_graph):
    """Heavy tail: the best-connected user has far more than 5× the mean number of contacts
    (a Poisson degree with mean 20 would almost never exceed 45 among 50,000 users)."""
    degree = degrees(large_graph)
    assert degree.max() > 5 * degree.mean()


def test_thin_tail_gives_no_hubs():
    """Contrast: with a tail exponent of 50 the weights are nearly equal, so no hubs appear."""
    degree = degrees(social_graph(N_LARGE, MEAN_DEGREE, 50.0, np.random.default_rng(1)))
    assert degree.max() < 3 * degree.mean()


def test_same_seed_gives_identical_graph():
    """The graph is a function of the generator's state alone."""
    a = social_graph(5_000, 10.0, TAIL, np.random.default_rng(42))
    b = social_graph(5_000, 10.0, TAIL, np.random.default_rng(42))
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


def test_different_seeds_give_different_graphs():
    """Another seed draws another graph."""
    a = social_graph(5_000, 10.0, TAIL, np.random.default_rng(42))
    b = social_graph(5_000, 10.0, TAIL, np.random.default_rng(43))
    assert (a != b).nnz > 0


@pytest.mark.parametrize(("n_users", "mean_degree"), [(0, 20.0), (1, 20.0), (100, 0.0)])
def test_degenerate_sizes_give_an_empty_graph(n_users, mean_degree):
    """No one to connect, or no edges asked for: an empty n × n graph."""
    graph = social_graph(n_users, mean_degree, TAIL, np.random.default_rng(0))
    assert graph.shape == (n_users, n_users)
    assert graph.nnz == 0


# Hand-drawn graph: edges 0-1, 0-2, 0-3, 1-2, 2-3; user 4 alone.
EDGES = [(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]


def _hand_graph() -> sp.csr_array:
    rows = [a for a, b in EDGES] + [b for a, b in EDGES]
    cols = [b for a, b in EDGES] + [a for a, b in EDGES]
    return sp.csr_array((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(5, 5))


def test_degrees_of_hand_graph():
    """Contacts: 0 → {1, 2, 3}, 1 → {0, 2}, 2 → {0, 1, 3}, 3 → {0, 2}, 4 → {}."""
    np.testing.assert_array_equal(degrees(_hand_graph()), [3, 2, 3, 2, 0])


def test_contact_share_of_one_flag_on_hand_graph():
    """Flag users 1 and 3: shares 2/3, 0, 2/3, 0, and 0 for the user without contacts."""
    graph = _hand_graph()
    flags = np.array([False, True, False, True, False])
    share = contact_share(graph, flags, degrees(graph))
    assert share.shape == (5,)
    assert share.dtype == np.float64
    np.testing.assert_allclose(share, [2 / 3, 0.0, 2 / 3, 0.0, 0.0], rtol=1e-12)


def test_contact_share_of_several_flags_on_hand_graph():
    """Two columns at once: flag {0} and flag {0, 1, 2, 3, 4}."""
    graph = _hand_graph()
    flags = np.array([[True, True], [False, True], [False, True], [False, True], [False, True]])
    share = contact_share(graph, flags, degrees(graph))
    assert share.shape == (5, 2)
    expected = np.array([[0.0, 1.0], [1 / 2, 1.0], [1 / 3, 1.0], [1 / 2, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(share, expected, rtol=1e-12)
