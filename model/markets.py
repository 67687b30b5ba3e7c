"""Phase 5: the product markets — AI-service quality, device replacement, platform use.

Users whose device is due choose a maker by multinomial logit over the device's service value,
price, how well their platforms work on it (blocking hurts here) and its privacy reputation.
Platform use has network effects: the share of one's contacts on the platform.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

from model.kernels import column_counts
from model.population import (
    PlatformTerms,
    contacts_on_platforms,
    replace_devices,
    revise_platforms,
    service_quality,
)

if TYPE_CHECKING:
    from model.market import DataMarket


def update_quality(model: DataMarket) -> None:
    """q = q0 + a(1 − exp(−D/D0)) for makers (D: share of all users whose data each can use,
    pooled across users) and platforms (D: share of all users who are members; own scale)."""
    p = model.p
    for maker in model.makers:
        maker.quality = float(
            service_quality(maker.data_share, p.quality_base, p.quality_gain, p.quality_data_scale)
        )
    # = member.mean(axis=0): a float sum of 0s and 1s is the exact count, divided by N.
    reach = column_counts(model.users.member) / model.users.n
    for index, platform in enumerate(model.platforms):
        platform.quality = float(
            service_quality(reach[index], p.quality_base, p.quality_gain, p.platform_data_scale)
        )


def device_utility(model: DataMarket, rows: np.ndarray | None = None) -> np.ndarray:
    """(N, M) money-metric utility of each maker's device for each user, CU per month.

    With `rows` (user indices), only those users' rows: the same values, for a fraction of the
    work (only the month's buyers choose a device).
    """
    p, users = model.p, model.users
    rows = slice(None) if rows is None else rows
    quality = np.array([maker.quality for maker in model.makers])
    data_quality = model.month.data_quality
    # Buyers expect the share of a maker's current users it personalises for.
    counts, personalised = _device_totals(users.device, data_quality, len(model.makers))
    counts = counts.astype(float)
    expected = personalised / np.maximum(counts, 1.0)
    holding = np.array([maker.data_share for maker in model.makers])
    service = (
        users.value[rows, None]
        * quality[None, :]
        * (p.generic_service_share + (1 - p.generic_service_share) * expected[None, :])
    )
    degraded = users.member[rows].astype(float) @ model.blocked.astype(float)  # (N, M)
    reputation = (
        p.privacy_reputation_weight * p.misuse_maker * users.theta[rows, None] * holding[None, :]
    )
    return (
        p.device_base_value + service - p.device_price - p.degradation_cost * degraded - reputation
    )


def platform_utility(model: DataMarket, contact_share: np.ndarray) -> np.ndarray:
    """(N, P) money-metric utility of using each platform, CU per month."""
    return platform_terms(model, contact_share).utility(model.users)


def platform_terms(model: DataMarket, contact_share: np.ndarray) -> PlatformTerms:
    """The parts of `platform_utility`, for a compiled pass to combine where it needs them."""
    p = model.p
    base = np.full(len(model.platforms), p.platform_base_value - p.platform_use_cost)
    base[0] += p.dominant_platform_advantage
    return PlatformTerms(
        base=base,
        quality=np.array([platform.quality for platform in model.platforms]),
        network_value=p.network_value,
        contact_share=contact_share,
        degradation_cost=p.degradation_cost,
        blocked=model.blocked,
        misuse=p.misuse_platform,
    )


def run_markets(model: DataMarket) -> None:
    """Phase 5: quality from data, device replacement, platform use."""
    p = model.p
    update_quality(model)
    model.month.buyers = replace_devices(
        model.rng,
        model.users,
        hazard=p.replacement_hazard,
        device_utility=lambda buyers: device_utility(model, buyers),
        sensitivity=p.choice_sensitivity,
    )
    contact_share = model.month.platform_contacts
    if contact_share is None:  # phase 4 did not run this month
        contact_share = contacts_on_platforms(model.users)
    revise_platforms(
        model.rng,
        model.users,
        platform_utility=platform_terms(model, contact_share),
        revision_rate=p.platform_revision_rate,
        noise=p.platform_noise,
    )
    users, platforms = model.users, model.holders.platforms
    # holds[:, platforms] |= member (a platform keeps what it has had); consented[:, platforms]
    # = member.
    _record_membership(users.holds, users.consented, users.member, platforms.start)
    model.month.contact_share = contact_share


@numba.njit(cache=True, nogil=True)
def _device_totals(
    device: np.ndarray, weights: np.ndarray, n_makers: int
) -> tuple[np.ndarray, np.ndarray]:
    """``np.bincount(device, minlength=n_makers)`` and ``np.bincount(device, weights=weights,
    minlength=n_makers)`` in one pass; bincount adds the weights one by one in index order from
    0.0, as here, so the sums are the same bit for bit."""
    counts = np.zeros(n_makers, dtype=np.int64)
    sums = np.zeros(n_makers)
    for i in range(device.size):
        counts[device[i]] += 1
        sums[device[i]] += weights[i]
    return counts, sums


@numba.njit(cache=True, nogil=True)
def _record_membership(
    holds: np.ndarray, consented: np.ndarray, member: np.ndarray, first: int
) -> None:
    """``holds[:, first:first + P] |= member`` and ``consented[:, first:first + P] = member``."""
    n, k = member.shape
    for i in range(n):
        for p in range(k):
            holds[i, first + p] |= member[i, p]
            consented[i, first + p] = member[i, p]
