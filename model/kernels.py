"""Compiled kernels (numba) for the few loops numpy cannot express without large temporaries.

Each kernel reproduces, bit for bit, what the plain numpy/scipy expression it replaces computes:
sums run over a row's contacts in CSR order (sorted column indices), from 0.0, as scipy's
`csr_matvec` does, so the floating-point results are identical. Integer counts are exact in any
order. The plain expressions stay in `model.graph` and `model.planner` (and in each kernel's
docstring) as the reference the tests compare these kernels with.

Row-wise kernels run blocks of rows on `threads()` threads (`set_threads(n)`; default: the CPUs
this process may use; an experiment runner with several worker processes sets 1 in each). Every
row is computed by one thread in the same order whatever the split, so results never depend on
the thread count.
"""

from __future__ import annotations

import itertools
import os
import threading

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

#: Most flag columns a pass packs into one 64-bit word per user.
PACKED_COLUMNS = 63

# --- Threads ----------------------------------------------------------------------------------
#
# The row-wise kernels release the GIL (``nogil=True``), so blocks of rows run on the calling
# thread and a few helper threads started for the call. Each row is computed by exactly one
# thread, by the same code in the same order, so results are identical for any thread count.
# There are a few blocks per thread, taken in turn by whichever thread is free, so that a thread
# the operating system pauses (a shared machine) does not hold up the whole pass. The helpers
# end with the call: no thread outlives a pass, so a process may fork at any other time (process
# pools fork). Not numba's ``parallel=True``: its GNU OpenMP layer breaks process pools forked
# later.

_threads = len(os.sched_getaffinity(0))

#: Fewest contacts (or rows, for row-only kernels) per block worth a thread of its own.
MIN_BLOCK_WORK = 200_000
#: Blocks per thread: more balance the threads, fewer cost less handing out.
BLOCKS_PER_THREAD = 4


def set_threads(n: int | None = None) -> None:
    """Set how many threads the compiled kernels use (default: the CPUs this process may use).

    Results do not depend on it. An experiment runner with N worker processes sets 1 in each.
    """
    global _threads
    if n is None:
        n = len(os.sched_getaffinity(0))
    if n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    _threads = int(n)


def threads() -> int:
    """How many threads the compiled kernels use (see `set_threads`)."""
    return _threads


def block_bounds(work: np.ndarray, blocks: int) -> np.ndarray:
    """Row boundaries (blocks + 1 of them, from 0 to n) splitting rows into `blocks` ranges of
    about equal work; `work` is cumulative (an `indptr`, or ``np.arange(n + 1)`` for rows).
    Blocks may be empty; every row lies in exactly one."""
    n = work.size - 1
    targets = work[0] + (work[-1] - work[0]) * np.arange(1, blocks) / blocks
    inner = np.searchsorted(work, targets, side="left").clip(0, n)
    return np.concatenate(([0], inner, [n])).astype(np.int64)


def _block_count(total: int) -> int:
    """One block on one thread; else `BLOCKS_PER_THREAD` a thread, each of `MIN_BLOCK_WORK`."""
    if threads() <= 1:
        return 1
    return max(1, min(BLOCKS_PER_THREAD * threads(), total // MIN_BLOCK_WORK))


def auto_blocks(work: np.ndarray) -> np.ndarray:
    """`block_bounds` for the current thread count (see `_block_count`)."""
    return block_bounds(work, _block_count(int(work[-1] - work[0])))


def row_blocks(n: int) -> np.ndarray:
    """`auto_blocks` for n rows of equal work: ``auto_blocks(np.arange(n + 1))``."""
    blocks = _block_count(n)
    return (np.arange(blocks + 1) * n) // blocks


def run_blocks(kernel, bounds: np.ndarray, *args) -> None:
    """Call ``kernel(*args, start, stop)`` once for each block [bounds[b], bounds[b + 1]), on
    the calling thread and up to `threads()` − 1 helper threads, each taking the next block not
    yet taken (inline when there is one block or one thread). The kernel writes its rows into
    arrays it is given; blocks never share a row. An exception in a block is raised here."""
    spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    helpers = min(threads(), len(spans)) - 1
    if helpers <= 0:
        for start, stop in spans:
            kernel(*args, start, stop)
        return
    taken = itertools.count()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while True:
                with lock:
                    b = next(taken)
                if b >= len(spans) or errors:
                    return
                kernel(*args, *spans[b])
        except BaseException as error:  # re-raised in the calling thread
            errors.append(error)

    started = [threading.Thread(target=work, name="kernels") for _ in range(helpers)]
    for thread in started:
        thread.start()
    work()
    for thread in started:
        thread.join()
    if errors:
        raise errors[0]


def run_each_block(kernel, bounds: np.ndarray, *args) -> None:
    """`run_blocks` with one call per block, told which: ``kernel(bounds, *args, b, b + 1)``
    handles block b's rows bounds[b] … bounds[b + 1] − 1, so that it can write what it sums
    over its rows (counts) into row b of an array of its own, for the caller to add up."""
    run_blocks(kernel, np.arange(bounds.size), bounds, *args)


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


def pack_flag_pair(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """`pack_flags` of ``np.concatenate([first, second], axis=1)``, without the concatenation,
    on `threads()` threads (bit h is flags[i, h]; words are uint16 up to 16 columns)."""
    k = first.shape[1] + second.shape[1]
    if k > PACKED_COLUMNS:
        raise ValueError(f"at most {PACKED_COLUMNS} flag columns can be packed, got {k}")
    n = first.shape[0]
    bits = np.empty(n, dtype=np.uint16 if k <= 16 else np.int64)
    first, second = np.ascontiguousarray(first), np.ascontiguousarray(second)
    run_blocks(_pack_rows, auto_blocks(np.arange(n + 1)), first, second, bits)
    return bits


@numba.njit(cache=True, nogil=True)
def _pack_rows(first: np.ndarray, second: np.ndarray, bits: np.ndarray, start: int, stop: int):
    """Rows [start, stop) of `pack_flag_pair`."""
    a, b = first.shape[1], second.shape[1]
    for i in range(start, stop):
        word = 0
        for h in range(a):
            if first[i, h]:
                word |= 1 << h
        for h in range(b):
            if second[i, h]:
                word |= 1 << (a + h)
        bits[i] = word


def contact_exposure_pass(
    indptr: np.ndarray,
    indices: np.ndarray,
    bits: np.ndarray,
    k: int,
    r2: np.ndarray,
    bounds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the graph, each contact read once: (held, other, exposure).

    With count[i, h] = the contacts j of i with flag h set in bits[j] (whole numbers, what the
    scipy product ``graph @ flags`` gives) and H = r2.shape[0]:

    * held (N, H) int32 = count[:, :H];
    * other (N, k − H) = count[:, H:] / max(deg i, 1), the share ``contact_share`` gives (one
      IEEE division, as numpy's);
    * exposure (N, H) = 1.0 where flag h is set in bits[i] (the user's own data), else
      r2[h, count[i, h]] (R² looked up in `model.flows.inference_table`).

    Counts are exact in any order, so the results do not depend on it. Rows are split into
    `bounds` blocks (default: `auto_blocks` over the contacts) run on `threads()` threads; each
    row is computed by one thread whatever the split, so the split changes nothing.
    """
    n = indptr.size - 1
    n_held = r2.shape[0]
    held = np.empty((n, n_held), dtype=np.int32)
    other = np.empty((n, k - n_held))
    exposure = np.empty((n, n_held))
    if bounds is None:
        bounds = auto_blocks(indptr)
    run_blocks(_contact_exposure_rows, bounds, indptr, indices, bits, k, r2, held, other, exposure)
    return held, other, exposure


# Byte lanes: _BYTE_SPREAD[b] has bit t of b at bit 8t, so adding spread bytes of flag words
# counts eight flags per addition (one table load, no multiply); a lane holds at most 255, so
# the lanes are emptied into the counts every `_BYTE_LIMIT` contacts.
_BYTE_SPREAD = np.array(
    [sum(1 << (8 * t) for t in range(8) if b >> t & 1) for b in range(256)], dtype=np.uint64
)
_BYTE_LIMIT = 255

#: How many contacts ahead the passes over the graph ask for a contact's data (her flags; her θ
#: and counts in the planner's pass): far enough for the load to arrive in time, near enough not
#: to be evicted first (8–64 measured the same at a million users).
PREFETCH_AHEAD = 16


@intrinsic
def prefetch(typingctx, array, index):
    """``prefetch(array, i)``: ask the CPU to start loading ``array[i]`` into cache (LLVM's
    ``llvm.prefetch``, read, high locality). A hint only: it reads and writes nothing, cannot
    fault, and changes no result; `index` is not bounds-checked (an address past the end is
    harmless). Lets a loop over random contacts keep many loads in flight."""
    sig = numba.types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type, index_type = signature.args
        items = context.make_array(array_type)(context, builder, args[0])
        i = context.cast(builder, args[1], index_type, numba.types.intp)
        address = cgutils.get_item_pointer(context, builder, array_type, items, [i])
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        hint = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        function = cgutils.get_or_insert_function(builder.module, hint, "llvm.prefetch.p0")
        read, high_locality, data = ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)
        builder.call(function, [builder.bitcast(address, byte_pointer), read, high_locality, data])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _contact_exposure_rows(indptr, indices, bits, k, r2, held, other, exposure, start, stop):
    """Rows [start, stop) of `contact_exposure_pass`.

    Pass p over a row counts flags 16p … 16p + 15 (two byte-lane counters), so with at most 16
    flags (the model's 12) each contact's index and word are read once. Indices are handled as
    unsigned (they are ≥ 0), which spares numba's wraparound code.

    The contacts' words are read at random over the whole population, so each read waits for
    memory; while handling contact jj the loop `prefetch`es the word of the contact
    `PREFETCH_AHEAD` places further in `indices` (next row's included), so that about that many
    loads are in flight. A prefetch only warms the cache: the same values are read in the same
    order, so the results are those without it, bit for bit.
    """
    spread = _BYTE_SPREAD
    n_held = r2.shape[0]
    passes = (k + 15) // 16
    one = np.uint64(1)
    byte = np.uint64(255)
    counts = np.zeros(16, dtype=np.uint64)
    last = np.uint64(max(indices.size, 1) - 1)  # the last contact (there is one if a row has)
    ahead = np.uint64(PREFETCH_AHEAD)
    for i in range(start, stop):
        lo, hi = np.uint64(indptr[i]), np.uint64(indptr[i + 1])
        safe = float(max(hi - lo, one))
        own = np.uint64(bits[i])
        for p in range(passes):
            first = np.uint64(16 * p)
            counts[:] = 0
            chunk = lo
            while chunk < hi:
                end = min(chunk + np.uint64(_BYTE_LIMIT), hi)
                low = high = np.uint64(0)
                for jj in range(chunk, end):
                    prefetch(bits, np.uint64(indices[min(jj + ahead, last)]))
                    word = np.uint64(bits[np.uint64(indices[jj])]) >> first
                    low += spread[word & byte]
                    high += spread[(word >> np.uint64(8)) & byte]
                for g in range(8):
                    counts[g] += (low >> np.uint64(8 * g)) & byte
                    counts[8 + g] += (high >> np.uint64(8 * g)) & byte
                chunk = end
            for h in range(16 * p, min(16 * p + 16, k)):
                count = counts[h - 16 * p]
                if h < n_held:
                    held[i, h] = count
                    exposure[i, h] = 1.0 if (own >> np.uint64(h)) & one else r2[h, count]
                else:
                    other[i, h - n_held] = count / safe


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
    """``flags.any(axis=1)`` for a 2-D boolean array, several times faster for few columns (an
    OR over the row without a branch per flag)."""
    n, k = flags.shape
    out = np.empty(n, dtype=np.bool_)
    for i in range(n):
        found = False
        for h in range(k):
            found |= flags[i, h]
        out[i] = found
    return out


@numba.njit(cache=True, nogil=True)
def any_per_column(flags: np.ndarray) -> np.ndarray:
    """``flags.any(axis=0)`` for a 2-D boolean array; stops after the block of 1,024 rows in
    which the last column still unset is seen set."""
    n, k = flags.shape
    out = np.zeros(k, dtype=np.bool_)
    for first in range(0, n, 1024):  # OR blocks of rows; stop once every column is set
        for i in range(first, min(first + 1024, n)):
            for h in range(k):
                out[h] |= flags[i, h]
        if out.all():
            break
    return out


def overall_exposure(e: np.ndarray, third_party: np.ndarray) -> np.ndarray:
    """1 − Π_h (1 − e[i,h]) over the holders marked in `third_party`, row by row.

    Multiplies in column order from the first factor, as ``np.prod(..., axis=1)`` does (checked
    for 1 to 91 columns), without the two (N, H) temporaries of the numpy expression; a factor
    1.0 for an unmarked holder is skipped (x · 1.0 = x exactly). Rows run in blocks on
    `threads()` threads.
    """
    n = e.shape[0]
    out = np.empty(n)
    run_blocks(_overall_exposure_rows, row_blocks(n), e, third_party, out)
    return out


@numba.njit(cache=True, nogil=True)
def _overall_exposure_rows(e, third_party, out, start, stop):
    """Rows [start, stop) of `overall_exposure`."""
    k = e.shape[1]
    for i in range(start, stop):
        product = 1.0
        for h in range(k):
            if third_party[i, h]:
                product *= 1.0 - e[i, h]
        out[i] = 1.0 - product


# --- Phases 3 and 4: per-user rules over a few holder columns ---------------------------------
#
# Each replaces a chain of numpy expressions over N users (gathers such as consented[rows, col],
# (N, P) temporaries, masks combined one after another) by one pass over the rows. They compute
# booleans, whole-number counts, comparisons and single products exactly as numpy does, so the
# results are identical. Booleans are combined with & | ^ rather than `and`/`if`: the flags are
# unpredictable, and a branch per flag costs more than the whole numpy expression.


@numba.njit(cache=True, nogil=True)
def pair_users(member: np.ndarray, device: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """``(member & pairs[:, device].T).any(axis=1)``: users on some platform p whose pair (p,
    their device's maker) is marked in `pairs` (P, M)."""
    n, n_platforms = member.shape
    out = np.empty(n, dtype=np.bool_)
    for i in range(n):
        d = device[i]
        found = False
        for p in range(n_platforms):
            found |= member[i, p] & pairs[p, d]
        out[i] = found
    return out


@numba.njit(cache=True, nogil=True)
def column_counts(flags: np.ndarray) -> np.ndarray:
    """``flags.sum(axis=0)`` for a 2-D boolean array (int64 counts, exact in any order)."""
    n, k = flags.shape
    out = np.zeros(k, dtype=np.int64)
    for i in range(n):
        for h in range(k):
            out[h] += flags[i, h]
    return out


@numba.njit(cache=True, nogil=True)
def _flow_quality_rows(
    member,
    device,
    device_col,
    holds,
    consented,
    trust_member,
    licensed,
    taking,
    blocked,
    platform_terms,
    taking_quality,
    blocked_factor,
    quality,
    licensed_users,
    start,
    stop,
):
    """Rows [start, stop) of `flow_quality`."""
    n_platforms = member.shape[1]
    for i in range(start, stop):
        d, col = device[i], device_col[i]
        for p in range(n_platforms):  # platform p's column is p
            holds[i, p] |= member[i, p]
            consented[i, p] = member[i, p]
        own_consent = consented[i, col]
        free = trust_member[i] ^ True
        via_licence = False
        for p in range(n_platforms):
            via_licence |= member[i, p] & licensed[p, d]
        via_licence &= (platform_terms | own_consent) & free
        q = 1.0 if via_licence else 0.0
        for p in range(n_platforms):
            takes = taking[p, d] & member[i, p] & own_consent & free
            value = taking_quality * (blocked_factor if blocked[p, d] else 1.0)
            q = max(q, value) if takes else q
        quality[i] = q
        licensed_users[i] = via_licence


def flow_quality(
    member: np.ndarray,
    device: np.ndarray,
    device_col: np.ndarray,
    holds: np.ndarray,
    consented: np.ndarray,
    trust_member: np.ndarray,
    licensed: np.ndarray,
    taking: np.ndarray,
    blocked: np.ndarray,
    platform_terms: bool,
    taking_quality: float,
    blocked_factor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The start of phase 4 in one pass (platform columns of `holds` are 0 … P − 1); returns
    (quality, licensed_users) and updates `holds` and `consented` in place. Equals::

        holds[:, :P] |= member; consented[:, :P] = member
        own = consented[rows, device_col]; free = ~trust_member
        licensed_users = pair_users(member, device, licensed) & (platform_terms | own) & free
        quality = np.where(licensed_users, 1.0, 0.0)
        for p in range(P):
            taking_p = taking[p, device] & member[:, p] & own & free
            value = taking_quality * np.where(blocked[p, device], blocked_factor, 1)
            quality = np.where(taking_p, np.maximum(quality, value), quality)

    Bit-identical: the same single product per user, and a maximum of non-NaN values is the
    same whatever the order it is taken in. Rows run in blocks on `threads()` threads.
    """
    n = member.shape[0]
    quality = np.empty(n)
    licensed_users = np.empty(n, dtype=np.bool_)
    run_blocks(
        _flow_quality_rows,
        row_blocks(n),
        member,
        device,
        device_col,
        holds,
        consented,
        trust_member,
        licensed,
        taking,
        blocked,
        platform_terms,
        float(taking_quality),
        float(blocked_factor),
        quality,
        licensed_users,
    )
    return quality, licensed_users


@numba.njit(cache=True, nogil=True)
def consent_askers(
    member: np.ndarray,
    device: np.ndarray,
    device_col: np.ndarray,
    pairs: np.ndarray,
    trust_member: np.ndarray,
    consented: np.ndarray,
    refused_at: np.ndarray,
    month: int,
    reask_interval: int,
) -> np.ndarray:
    """The users a maker asks for consent in phase 3::

        pair_users(member, device, pairs) & ~trust_member & ~consented[rows, device_col]
        & (month - refused_at[rows, device_col] >= reask_interval)

    (integer months: the difference is exact)."""
    n, n_platforms = member.shape
    out = np.empty(n, dtype=np.bool_)
    for i in range(n):
        col, d = device_col[i], device[i]
        reachable = False
        for p in range(n_platforms):
            reachable |= member[i, p] & pairs[p, d]
        due = np.int64(month) - np.int64(refused_at[i, col]) >= reask_interval
        out[i] = reachable & (trust_member[i] ^ True) & (consented[i, col] ^ True) & due
    return out


@numba.njit(cache=True, nogil=True)
def consent_reviews(
    consented: np.ndarray,
    device_col: np.ndarray,
    draws: np.ndarray,
    review: float,
    attention: np.ndarray,
) -> np.ndarray:
    """``consented[rows, device_col] & (draws < review * attention)`` (one product per user, as
    numpy's)."""
    n = consented.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        out[i] = consented[i, device_col[i]] & (draws[i] < review * attention[i])
    return out
