"""Data does not live for ever: the age of holdings, retention and erasure (MODEL.md §10, §11).

Every record d[i,h] (`users.holds`) carries the month h last received fresh data of i
(`users.refreshed`, 16 bits: the month modulo 2^16, `stamp`); its age in month t is
a[i,h] = t − refreshed[i,h] modulo 2^16 (`holding_ages`), exact for any record younger than
65,536 months. A live flow refreshes its record every month (a licence or an on-device taking
that delivers this month, real-time portability, the trust's licence, a platform's own members);
a one-off transfer (an on-request portability snapshot, a broker's purchase) sets it once; a
record no flow feeds any more ages. Its value share is (1 − δ)^a, with δ = `data_value_decay`: a
user's personalised service and a maker's data stock D_m use the decayed values. Its harm does
not decay: a record held is exposure e[i,h] = 1, whatever its age.

Once phase 4 knows the month's live flows to the device makers, `update_records` deletes what
the regime's levers say (`expire`):

* **retention** (`retention_months`): a lawful record older than the limit is deleted, unless a
  live flow feeds it this month, so the limit bites only on data no longer fed; consent is kept
  (it allows the next flow);
* **erasure on leaving** (`erasure_right`): a maker whose devices a user no longer uses and a
  platform she quit delete her data (in the month's flows, before any exposure or data stock is
  computed from it, so the copy of a user who left last month never counts again);
* **erasure on request** (`erasure_right`): with chance `erasure_uptake` × her attention, a user
  asks the lawful third parties that hold her data without her consent to delete it (a broker
  where broker trade is legal; a maker she does not use is covered by erasure on leaving).

A broker holding data where broker trade is illegal is out of reach of both the storage limit
and a request: only an audit finds it. Withdrawing an informed consent deletes the device
maker's copy as before (`model.consent.withdraw_consents`).

In the same pass over blocks of rows, the flows refresh what they deliver
(`refresh_device_data`: the device makers' records, and the platforms' of their members). A
broker's purchase is stamped as it is made (`refresh_where`), and phase 4 ends with
`tally_holdings`: the trust's records of its members are refreshed, and each maker's retained
stock and the mean age of third-party holdings are counted.

No Python loop over users: the rules are compiled passes over the rows, as in `model.kernels`.
Flags are read as bytes and combined with & | ^ as numbers, which numba compiles without a
branch per record (its booleans would branch).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:
    from model.market import DataMarket


#: Months a 16-bit `refreshed` tells apart: ages are counted modulo this (5,461 years).
MONTHS = 1 << 16
_MASK = MONTHS - 1  # x & _MASK is x modulo 2^16, also for x < 0 (two's complement)


def stamp(month: int) -> np.uint16:
    """What `refreshed` records for a refresh in `month`: the month modulo 2^16."""
    return np.uint16(month % MONTHS)


def holding_ages(refreshed: np.ndarray, month: int) -> np.ndarray:
    """a = month − refreshed (modulo 2^16): the age, months, of records last refreshed at
    `refreshed` (meaningful where a record is held)."""
    return (month - refreshed.astype(np.int64)) % MONTHS


@numba.njit(cache=True, nogil=True, inline="always")
def _age(now: int, refreshed: int) -> int:
    """`holding_ages` of one record, `now` being the month modulo 2^16."""
    return (np.int64(now) - np.int64(refreshed)) & _MASK


@numba.njit(cache=True, nogil=True)
def refresh_where(refreshed: np.ndarray, column: int, fresh: np.ndarray, month: int) -> None:
    """``refreshed[fresh, column] = stamp(month)`` (one pass, no index array)."""
    now = np.uint16(month & _MASK)
    for i in range(np.uint64(0), np.uint64(fresh.size)):
        refreshed[i, column] = now if fresh[i] else refreshed[i, column]


def value_share(age: np.ndarray | int, decay: float) -> np.ndarray:
    """(1 − δ)^age: the share of a record's value left after `age` months without a refresh."""
    return np.power(1.0 - decay, np.asarray(age, dtype=float))


def value_table(decay: float, month: int) -> np.ndarray:
    """`value_share` of ages 0 … month (no record is older than the month; nor than 2^16 − 1,
    the oldest age `refreshed` tells), for the compiled passes to look up by age."""
    return value_share(np.arange(min(max(int(month), 0), MONTHS - 1) + 1), decay)


def retention_limit(months: float) -> int:
    """The retention lever as the passes use it: records older than this many months are
    deleted; −1 for unlimited."""
    return -1 if math.isinf(months) else int(months)


def _bytes(flags: np.ndarray) -> np.ndarray:
    """A boolean array as bytes 0/1 (a view where it can be one)."""
    return np.ascontiguousarray(flags).view(np.uint8)


#: Rows per block of `update_records`: retention and erasure, then the refresh, go through a
#: block while its rows are in cache (a block's records take about 1.3 MB).
RECORD_BLOCK = 32_768


def update_records(model: DataMarket, quality: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Phase 4, once the month's live flows to the device makers are known (`quality`, q_i):
    retention and erasure delete what the regime says (`expire`), then the flows refresh what
    they deliver (`refresh_device_data`), block by block of rows. Returns x_i (the value share
    of the data each user's device maker can personalise with) and counts the users whose
    request to erase their data was carried out."""
    params, regime, users, holders = model.p, model.regime, model.users, model.holders
    limit = retention_limit(regime.retention_months)
    erase = regime.erasure_right
    if erase and params.erasure_uptake > 0:
        asks = model.rng.random(users.n) < params.erasure_uptake * users.attention
    else:
        asks = np.zeros(users.n, dtype=bool)
    x = np.empty(users.n)
    requests = _records_pass(
        _bytes(users.holds),
        users.refreshed,
        users.record_value,
        _bytes(users.member),
        _bytes(users.trust_member),
        _bytes(users.consented),
        users.device,
        holders.maker(0) + users.device,
        users.ported_to,
        _bytes(asks),
        quality,
        holders.makers.start,
        holders.brokers.start,
        holders.brokers.stop,
        holders.trust if model.trust is not None else -1,
        model.steps,
        _limit(limit),
        np.uint8(limit >= 0 or erase),
        np.uint8(erase),
        np.uint8(regime.broker_trade_legal),
        np.uint8(regime.recipient_liability),
        table,
        x,
        RECORD_BLOCK,
    )
    model.month.erasure_requests = int(requests)
    return x


def _limit(limit: int) -> int:
    """The limit the kernels compare ages with: unlimited (−1) as a number no age exceeds."""
    return limit if limit >= 0 else int(np.iinfo(np.int64).max)


@numba.njit(cache=True, nogil=True)
def _records_pass(
    holds,
    refreshed,
    record_value,
    member,
    trust_member,
    consented,
    device,
    device_col,
    ported_to,
    asks,
    quality,
    maker_start,
    broker_start,
    broker_stop,
    trust_col,
    month,
    limit,
    expiring,
    erase,
    brokers_lawful,
    minimise,
    table,
    x,
    block,
):
    """`expire` (where `expiring`) then `refresh_device_data` on each block of rows."""
    n = holds.shape[0]
    requests = 0
    for start in range(0, n, block):
        stop = min(start + block, n)
        if expiring:
            requests += _expire_range(
                holds,
                refreshed,
                member,
                trust_member,
                consented,
                device,
                ported_to,
                asks,
                quality,
                maker_start,
                broker_start,
                broker_stop,
                trust_col,
                month,
                limit,
                erase,
                brokers_lawful,
                start,
                stop,
            )
        _refresh_range(
            holds,
            refreshed,
            record_value,
            member,
            device,
            device_col,
            quality,
            maker_start,
            minimise,
            month,
            table,
            x,
            start,
            stop,
        )
    return requests


def expire(
    holds: np.ndarray,
    refreshed: np.ndarray,
    member: np.ndarray,
    trust_member: np.ndarray,
    device: np.ndarray,
    consented: np.ndarray,
    ported_to: np.ndarray,
    asks: np.ndarray,
    live: np.ndarray,
    maker_start: int,
    broker_start: int,
    broker_stop: int,
    trust_col: int,
    month: int,
    limit: int,
    erase: bool,
    brokers_lawful: bool,
) -> int:
    """Deletes (holds False, in place) the records retention and erasure end in `month`;
    returns the number of users whose erasure request deleted something. Columns as
    `model.population.Holders` lays them out (platforms from 0, then makers, brokers, the
    trust's column last); `trust_col` is −1 where no trust exists; `limit` −1 is unlimited.

    Live records stay: a platform's record of a member, the trust's of a member, and the device
    maker's record of a user a flow reaches this month (`live` > 0: a licence, a taking, a
    port). Any other record held, of age a (`holding_ages`), is deleted if it is lawful (not a
    broker's where `brokers_lawful` is False) and a > `limit` ≥ 0; with `erase`, also a
    platform's record of a user not a member (she left), a maker's of a user whose device it did
    not make (she left), and, where she `asks`, a lawful broker's of a user who did not consent
    to it. A deleted maker record that was the user's ported data clears `ported_to`.
    """
    return _expire_range(
        _bytes(holds),
        refreshed,
        _bytes(member),
        _bytes(trust_member),
        _bytes(consented),
        device,
        ported_to,
        _bytes(asks),
        np.asarray(live, dtype=float),
        maker_start,
        broker_start,
        broker_stop,
        trust_col,
        month,
        _limit(limit),
        np.uint8(erase),
        np.uint8(brokers_lawful),
        0,
        holds.shape[0],
    )


@numba.njit(cache=True, nogil=True)
def _expire_range(
    holds,
    refreshed,
    member,
    trust_member,
    consented,
    device,
    ported_to,
    asks,
    quality,
    maker_start,
    broker_start,
    broker_stop,
    trust_col,
    month,
    limit,
    erase,
    brokers_lawful,
    start,
    stop,
):
    """`expire` on rows [start, stop), the flags as bytes. A first look at each row finds
    whether anything in it may go (a record older than the limit; with `erase`, a record of a
    platform or maker she left, or a request); most rows have nothing, and only the others are
    gone through."""
    k = holds.shape[1]
    requests = 0
    has_trust = np.uint8(trust_col >= 0)
    now = np.int64(month & _MASK)
    # The first look runs on unsigned indices (they are ≥ 0), which spares numba's
    # negative-index wraparound code.
    zero, columns = np.uint64(0), np.uint64(k)
    platforms, makers_end = np.uint64(maker_start), np.uint64(broker_start)
    for i in range(np.uint64(start), np.uint64(stop)):
        d = device[i]
        ask = asks[i] & erase
        maybe = np.int64(ask)
        for c in range(zero, columns):
            maybe |= np.int64(holds[i, c]) & np.int64(_age(now, refreshed[i, c]) > limit)
        if erase:
            for c in range(zero, platforms):
                maybe |= np.int64(holds[i, c]) & np.int64(member[i, c] ^ 1)
            held_makers = np.int64(0)
            for c in range(platforms, makers_end):
                held_makers += np.int64(holds[i, c])
            maybe |= np.int64(held_makers > holds[i, platforms + np.uint64(d)])
        if not maybe:
            continue
        for h in range(maker_start):  # platforms: a member's record is live
            old = np.uint8(_age(now, refreshed[i, h]) > limit)
            holds[i, h] &= member[i, h] | ((erase | old) ^ 1)
        port = ported_to[i] + maker_start  # the column of the maker she ported to
        fed = np.uint8(quality[i] > 0)  # a flow refreshes her device maker's record this month
        port_dropped = np.uint8(0)
        for h in range(maker_start, broker_start):  # makers
            held = holds[i, h]
            mine = np.uint8(h - maker_start == d)
            old = np.uint8(_age(now, refreshed[i, h]) > limit) & ((mine & fed) ^ 1)
            drop = held & (old | (erase & (mine ^ 1)))
            holds[i, h] = held & (drop ^ 1)
            port_dropped |= drop & np.uint8(h == port)
        if port_dropped:
            ported_to[i] = -1
        erased = np.uint8(0)
        for h in range(broker_start, broker_stop):  # brokers: lawful only where trade is legal
            held = holds[i, h] & brokers_lawful
            requested = held & ask & (consented[i, h] ^ 1)
            drop = (held & np.uint8(_age(now, refreshed[i, h]) > limit)) | requested
            holds[i, h] &= drop ^ 1
            erased |= requested
        requests += erased
        h = broker_stop  # the trust's column: a member's record is live
        old = np.uint8(_age(now, refreshed[i, h]) > limit)
        holds[i, h] &= (has_trust & trust_member[i]) | (old ^ 1)
    return requests


def refresh_device_data(
    holds: np.ndarray,
    refreshed: np.ndarray,
    record_value: np.ndarray,
    member: np.ndarray,
    device: np.ndarray,
    device_col: np.ndarray,
    quality: np.ndarray,
    maker_start: int,
    minimise: bool,
    month: int,
    table: np.ndarray,
) -> np.ndarray:
    """The device makers' records after this month's flows; returns x, each user's value share
    of the data her device maker can personalise with (`DataMarket.data_quality`). Per user,
    with m her device's maker and q the value share this month's live flows deliver
    (`quality`):

    * the record m held before is worth ``record_value[i, m] · table[age]`` (0 if m holds
      none);
    * q > 0 (a live flow): m holds a fresh record (refreshed this month) worth the better of q
      and the old one, and x is that value;
    * q = 0: x is the old record's decayed value;
    * with `minimise` (recipient liability), every maker also deletes what it does not use this
      month: all records but the device maker's of a user with q > 0 (then x = 0 if q = 0).

    The platforms' records of their members (columns 0 … P − 1, P = `member`'s columns) are
    refreshed too: a member's use is a live flow.
    """
    x = np.empty(holds.shape[0])
    _refresh_range(
        _bytes(holds),
        refreshed,
        record_value,
        _bytes(member),
        device,
        device_col,
        quality,
        maker_start,
        np.uint8(minimise),
        month,
        table,
        x,
        0,
        holds.shape[0],
    )
    return x


@numba.njit(cache=True, nogil=True)
def _refresh_range(
    holds,
    refreshed,
    record_value,
    member,
    device,
    device_col,
    quality,
    maker_start,
    minimise,
    month,
    table,
    x,
    start,
    stop,
):
    """`refresh_device_data` on rows [start, stop), the flags as bytes. A user's record value is
    read only where her device maker holds her data and written only where a flow refreshes it:
    the pass is bound by memory, and most rows need neither."""
    n_makers = np.uint64(record_value.shape[1])
    first = np.uint64(maker_start)
    n_platforms = np.uint64(member.shape[1])
    now = np.uint16(month & _MASK)
    for i in range(np.uint64(start), np.uint64(stop)):
        for p in range(np.uint64(0), n_platforms):
            refreshed[i, p] = now if member[i, p] else refreshed[i, p]
        col, d = np.uint64(device_col[i]), np.uint64(device[i])
        q = quality[i]
        live = q > 0
        old = 0.0
        if holds[i, col]:
            old = record_value[i, d] * table[np.uint64(_age(now, refreshed[i, col]))]
        if live:
            value = max(q, old)
            holds[i, col] = 1
            refreshed[i, col] = now
            record_value[i, d] = value
            x[i] = value
        else:
            x[i] = 0.0 if minimise else old
        if minimise:
            keep = np.uint8(live)
            for m in range(np.uint64(0), n_makers):
                holds[i, first + m] &= keep & np.uint8(d == m)


def tally_holdings(model: DataMarket, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """End of phase 4: the trust's records of its members are refreshed; returns each maker's
    retained stock Σ_i d[i,m] (1 − δ)^a[i,m] (the value side) and its number of records (the
    harm side, which age does not reduce), and sets `month.mean_holding_age` (the records of
    makers, brokers and the trust)."""
    users, holders = model.users, model.holders
    stock, held, age_total, records = tally(
        users.holds,
        users.refreshed,
        users.trust_member,
        holders.makers.start,
        holders.brokers.start,
        holders.trust if model.trust is not None else -1,
        model.steps,
        table,
    )
    model.month.mean_holding_age = age_total / records if records else 0.0
    return stock, held


def tally(
    holds: np.ndarray,
    refreshed: np.ndarray,
    trust_member: np.ndarray,
    maker_start: int,
    broker_start: int,
    trust_col: int,
    month: int,
    table: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Sets refreshed = `month` for the trust's records (`trust_col`, −1 if none) of its
    members, then returns (stock, held, age_total, records): per maker, Σ table[age] and the
    count over the records it holds, and over the columns from `maker_start` on, the sum of ages
    and the count."""
    return _tally_rows(
        _bytes(holds),
        refreshed,
        _bytes(trust_member),
        maker_start,
        broker_start,
        trust_col,
        month,
        table,
    )


@numba.njit(cache=True, nogil=True)
def _tally_rows(holds, refreshed, trust_member, maker_start, broker_start, trust_col, month, table):
    """`tally` on the flags as bytes: each maker's stock summed in row order from 0.0; the
    counts and the sum of ages are whole numbers (exact in any order). Indices are unsigned
    (they are ≥ 0), which spares numba's negative-index wraparound code."""
    n, k, zero = np.uint64(holds.shape[0]), np.uint64(holds.shape[1]), np.uint64(0)
    first, n_makers = np.uint64(maker_start), np.uint64(broker_start - maker_start)
    now = np.int64(month & _MASK)
    if trust_col >= 0:  # the trust's records of its members are refreshed by its licence
        trust = np.uint64(trust_col)
        for i in range(zero, n):
            if trust_member[i]:
                refreshed[i, trust] = now
    stock = np.zeros(broker_start - maker_start)
    held = np.zeros(broker_start - maker_start, dtype=np.int64)
    ages = np.int64(0)
    records = np.int64(0)
    for i in range(zero, n):
        for m in range(zero, n_makers):
            on = np.int64(holds[i, first + m])
            age = np.uint64(_age(now, refreshed[i, first + m]) * on)  # 0 if not held
            stock[m] += table[age] * on  # adds +0.0 where not held
            held[m] += on
        for h in range(first, k):
            on = np.int64(holds[i, h])
            ages += _age(now, refreshed[i, h]) * on
            records += on
    return stock, held, int(ages), int(records)
