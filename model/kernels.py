"""Compiled kernels (numba) for the few loops numpy cannot express without large temporaries.

Each kernel reproduces, bit for bit, what the plain numpy/scipy expression it replaces computes:
sums run over a row's contacts in CSR order (sorted column indices), from 0.0, as scipy's
`csr_matvec` does, so the floating-point results are identical. Integer counts are exact in any
order. The plain expressions stay in `model.graph` and `model.planner` as the reference the
tests compare these kernels with.
"""

from __future__ import annotations

import numba
import numpy as np

#: Most flag columns a pass packs into one 64-bit word per user.
PACKED_COLUMNS = 63


def pack_flags(flags: np.ndarray) -> np.ndarray:
    """One word per user whose bit h is flags[i, h] (at most `PACKED_COLUMNS` columns), so that
    a pass over the graph reads one small word per contact."""
    k = flags.shape[1]
    if k > PACKED_COLUMNS:
        raise ValueError(f"at most {PACKED_COLUMNS} flag columns can be packed, got {k}")
    dtype = np.uint16 if k <= 16 else np.int64  # 2 bytes a user keeps the words in cache
    return _pack(np.ascontiguousarray(flags), np.zeros(0, dtype=dtype))


@numba.njit(cache=True, nogil=True)
def _pack(flags: np.ndarray, like: np.ndarray) -> np.ndarray:
    n, k = flags.shape
    bits = np.zeros(n, dtype=like.dtype)
    for i in range(n):
        word = 0
        for h in range(k):
            if flags[i, h]:
                word |= 1 << h
        bits[i] = word
    return bits


# Counting: each 4-bit nibble x of a flag word is spread into four 16-bit fields of an int64
# (x · (1 + 2¹⁵ + 2³⁰ + 2⁴⁵) puts bit b at 16·b, without carries; the mask keeps those bits), so
# adding spread words counts four flags in one addition. A field holds at most 65,535: the
# fields are emptied into the counts every `_FIELD_LIMIT` contacts.
_SPREAD_MULTIPLIER = 0x0000_2000_4000_8001
_SPREAD_MASK = 0x0001_0001_0001_0001
_FIELD_LIMIT = 65_535


@numba.njit(cache=True, nogil=True)
def contact_pass(
    indptr: np.ndarray,
    indices: np.ndarray,
    bits: np.ndarray,
    k: int,
    weight: np.ndarray,
    columns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the graph: (counts (N, k), unflagged (N, Q)), both float64.

    counts[i, h]: contacts j of i with flag h set in bits[j] (bits from `pack_flags`).
    unflagged[i, q]: Σ weight[j] over contacts j of i whose flag columns[i, q] is not set,
    summed in CSR order from 0.0, as scipy's ``graph @ (weight * ~flags[:, h])`` sums: flagged
    contacts add weight · 0 = +0.0 there, which leaves the sum unchanged (weight ≥ 0).

    Flags are counted 16 at a time and sums made 4 at a time, in scalar accumulators (the
    compiler keeps them in registers); a row is read again for each further group. One thread:
    numba's parallel loops use OpenMP here, and a process that has used GNU OpenMP may not
    fork (process pools fork), while runs are already parallel across workers.
    """
    n = indptr.size - 1
    q = columns.shape[1]
    counts = np.zeros((n, k))
    unflagged = np.empty((n, q))
    for i in range(n):
        start, stop = indptr[i], indptr[i + 1]
        for first in range(0, k, 16):
            for chunk in range(start, stop, _FIELD_LIMIT):
                a0 = a1 = a2 = a3 = 0
                for jj in range(chunk, min(chunk + _FIELD_LIMIT, stop)):
                    word = np.int64(bits[indices[jj]]) >> first
                    a0 += ((word & 15) * _SPREAD_MULTIPLIER) & _SPREAD_MASK
                    a1 += ((word >> 4 & 15) * _SPREAD_MULTIPLIER) & _SPREAD_MASK
                    a2 += ((word >> 8 & 15) * _SPREAD_MULTIPLIER) & _SPREAD_MASK
                    a3 += ((word >> 12 & 15) * _SPREAD_MULTIPLIER) & _SPREAD_MASK
                for h in range(first, min(first + 16, k)):
                    group = h - first
                    acc = a0 if group < 4 else a1 if group < 8 else a2 if group < 12 else a3
                    counts[i, h] += (acc >> (16 * (group % 4))) & 0xFFFF
        for first in range(0, q, 4):
            c0 = columns[i, first]
            c1 = columns[i, min(first + 1, q - 1)]
            c2 = columns[i, min(first + 2, q - 1)]
            c3 = columns[i, min(first + 3, q - 1)]
            s0 = s1 = s2 = s3 = 0.0
            for jj in range(start, stop):
                j = indices[jj]
                word = np.int64(bits[j])
                w = weight[j]
                s0 += w * (1 - ((word >> c0) & 1))
                s1 += w * (1 - ((word >> c1) & 1))
                s2 += w * (1 - ((word >> c2) & 1))
                s3 += w * (1 - ((word >> c3) & 1))
            for f, total in enumerate((s0, s1, s2, s3)):
                if first + f < q:
                    unflagged[i, first + f] = total
    return counts, unflagged


@numba.njit(cache=True, nogil=True)
def bucketed_searchsorted(cumulative: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.searchsorted(cumulative, keys, side="right")`` for keys in [0, 1), in O(1) each.

    `cumulative` is non-decreasing. Bucket b of a uniform grid over [0, 1) remembers where its
    edges fall in `cumulative`, so each key is searched for only within its bucket's range; the
    answer is the same index as a binary search over the whole array (exact, not approximate).
    """
    buckets = cumulative.size
    edges = np.arange(buckets + 1) / buckets
    # bounds[b] = (first index ≥ edge b, first index > edge b + 1), together for one cache miss.
    bounds = np.empty((buckets, 2), dtype=np.int64)
    bounds[:, 0] = np.searchsorted(cumulative, edges[:-1], side="left")
    bounds[:, 1] = np.searchsorted(cumulative, edges[1:], side="right")
    out = np.empty(keys.size, dtype=np.int64)
    for q in range(keys.size):
        x = keys[q]
        b = min(int(x * buckets), buckets - 1)
        # Guard against rounding in x · buckets: move to the bucket whose edges enclose x.
        while b > 0 and x < b / buckets:  # = edges[b], without a memory access
            b -= 1
        while b < buckets - 1 and x >= (b + 1) / buckets:
            b += 1
        lo, hi = bounds[b, 0], bounds[b, 1]  # count(cumulative ≤ x) lies in [lo, hi]
        while lo < hi:  # first index in [lo, hi) whose value exceeds x
            mid = (lo + hi) // 2
            if cumulative[mid] <= x:
                lo = mid + 1
            else:
                hi = mid
        out[q] = lo
    return out


@numba.njit(cache=True, nogil=True)
def symmetric_csr_indices(
    lo: np.ndarray, hi: np.ndarray, indptr: np.ndarray, n_nonzero: int
) -> np.ndarray:
    """Column indices of the symmetric CSR matrix of the edges (lo[e], hi[e]), lo < hi.

    The edges must be sorted by (lo, hi) without repeats. Visiting them in that order appends,
    to each row r, first its contacts below r (as edges (c, r), by increasing c), then those
    above r (edges (r, c), by increasing c): every row comes out sorted.
    """
    indices = np.empty(n_nonzero, dtype=indptr.dtype)
    cursor = indptr[:-1].copy()
    for e in range(lo.size):
        a, b = lo[e], hi[e]
        indices[cursor[a]] = b
        cursor[a] += 1
        indices[cursor[b]] = a
        cursor[b] += 1
    return indices


@numba.njit(cache=True, nogil=True)
def any_per_row(flags: np.ndarray) -> np.ndarray:
    """``flags.any(axis=1)`` for a 2-D boolean array, several times faster for few columns."""
    n, k = flags.shape
    out = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        for h in range(k):
            if flags[i, h]:
                out[i] = True
                break
    return out


@numba.njit(cache=True, nogil=True)
def overall_exposure(e: np.ndarray, third_party: np.ndarray) -> np.ndarray:
    """1 − Π_h (1 − e[i,h]) over the holders marked in `third_party`, row by row.

    Multiplies in column order from the first factor, as ``np.prod(..., axis=1)`` does (checked
    for 1 to 91 columns), without the two (N, H) temporaries of the numpy expression.
    """
    n, k = e.shape
    out = np.empty(n)
    for i in range(n):
        product = 1.0
        for h in range(k):
            product *= (1.0 - e[i, h]) if third_party[i, h] else 1.0
        out[i] = 1.0 - product
    return out
