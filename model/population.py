"""The users: one vectorised population (numpy columns), their set-up and their choices.

No Python loop over users: every function here works on whole columns. Firms are few and are
looped over; users are many and never are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

# The standard normal CDF (scipy.stats.norm.cdf is this function): importing scipy.stats would
# add about a second to the start-up of every process that imports the model.
from scipy.special import ndtr

from model.graph import contact_share, degrees, social_graph
from model.parameters import MarketScenario, harm_scale


@dataclass
class Holders:
    """Column layout of the holder axis: platforms, then makers, then brokers, then the trust."""

    n_platforms: int
    n_makers: int
    n_brokers: int

    @property
    def platforms(self) -> slice:
        return slice(0, self.n_platforms)

    @property
    def makers(self) -> slice:
        return slice(self.n_platforms, self.n_platforms + self.n_makers)

    @property
    def brokers(self) -> slice:
        start = self.n_platforms + self.n_makers
        return slice(start, start + self.n_brokers)

    @property
    def trust(self) -> int:
        return self.n_platforms + self.n_makers + self.n_brokers

    @property
    def count(self) -> int:
        return self.trust + 1

    def maker(self, m: int) -> int:
        return self.n_platforms + m

    def broker(self, k: int) -> int:
        return self.n_platforms + self.n_makers + k


@dataclass
class Users:
    """All users as columns. Shapes: (N,) per user, (N, P) per platform, (N, H) per holder.

    Attributes:
        theta: privacy cost θ behind her decisions, CNY per unit exposure per month.
        harm_theta: the θ her harm counts with in welfare (`privacy_valuation_basis`): θ, or θ
            rescaled to a surveyed willingness to pay or to accept (`model.parameters.harm_scale`).
        value: value of personalisation v, CNY per month per unit quality.
        attention: chance of reading a request's terms.
        present_bias: β in (0, 1], weight on future harm when deciding.
        device: index of the maker of the user's device.
        member: platform memberships.
        holds: d[i, h], holder h holds i's own data.
        consented: i has a standing consent to h (platform membership counts for the platform).
        informed: that consent was given after reading (or by the user's own initiative).
        refused_at: month of i's last refusal of h (large negative if never).
        recent_requests: fatigue stock, requests weighted by recency.
        trust_member: i has delegated her rights to the data trust.
        payment: what her device's maker pays her per month for her consent (0 if nothing; paid
            while the consent stands and her data flows, `model.payoffs.settle`).
        ported_to: maker that holds i's ported data (−1 if none).
        refreshed: month h last received fresh data of i, modulo 2^16 (0: set-up); the
            record's age in month t is t − refreshed modulo 2^16 (read only where `holds`).
        record_value: (N, M) the value share of maker m's record of i when last refreshed (1
            licensed or ported, τ taken, less through a block); it decays with `age`.
        graph: symmetric CSR adjacency; degree: contacts per user.
    """

    theta: np.ndarray
    harm_theta: np.ndarray
    value: np.ndarray
    attention: np.ndarray
    present_bias: np.ndarray
    device: np.ndarray
    member: np.ndarray
    holds: np.ndarray
    consented: np.ndarray
    informed: np.ndarray
    refused_at: np.ndarray
    recent_requests: np.ndarray
    trust_member: np.ndarray
    payment: np.ndarray
    ported_to: np.ndarray
    refreshed: np.ndarray
    record_value: np.ndarray
    graph: sp.csr_array
    degree: np.ndarray

    @property
    def n(self) -> int:
        return self.theta.shape[0]


def draw_privacy_costs(p: MarketScenario, rng: np.random.Generator, n: int) -> np.ndarray:
    """θ per user: lognormal around the median, or a two-cluster mixture (bimodal valuations)."""
    if p.privacy_cost_distribution == "lognormal":
        return p.privacy_cost_median * np.exp(p.privacy_cost_sigma * rng.standard_normal(n))
    high = rng.random(n) < p.privacy_cost_high_share
    spread = p.privacy_cost_cluster_sigma
    low_median = bimodal_low_median(
        p.privacy_cost_median, p.privacy_cost_high_share, p.privacy_cost_high_ratio, spread
    )
    medians = np.where(high, low_median * p.privacy_cost_high_ratio, low_median)
    return medians * np.exp(spread * rng.standard_normal(n))


def bimodal_low_median(median: float, high_share: float, ratio: float, spread: float) -> float:
    """The low cluster's median that puts the whole mixture's median at `median`.

    The mixture is (1 − s)·LogN(ln L, spread) + s·LogN(ln(ratio·L), spread); its CDF at `median`
    must be 1/2, solved for L on the log scale.
    """
    if spread == 0 or ratio == 1:
        # Point masses (or one cluster): the median is the low cluster unless most are high.
        return median if high_share < 0.5 else median / ratio

    def below_median(log_low: float) -> float:
        z_low = (np.log(median) - log_low) / spread
        z_high = (np.log(median) - log_low - np.log(ratio)) / spread
        return (1 - high_share) * ndtr(z_low) + high_share * ndtr(z_high) - 0.5

    from scipy.optimize import brentq  # only here: half a second to import

    width = np.log(ratio) + 10 * spread
    return float(np.exp(brentq(below_median, np.log(median) - width, np.log(median) + width)))


def _beta(rng: np.random.Generator, mean: float, concentration: float, n: int) -> np.ndarray:
    if mean <= 0.0 or mean >= 1.0:
        return np.full(n, float(mean))
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, n)


def create_users(p: MarketScenario, rng: np.random.Generator, holders: Holders) -> Users:
    """Draw the population and its social graph from the scenario's distributions."""
    n = p.n_users
    graph = social_graph(n, p.mean_degree, p.degree_tail, rng)
    theta = draw_privacy_costs(p, rng, n)
    value = p.personalisation_value_median * np.exp(
        p.personalisation_value_sigma * rng.standard_normal(n)
    )
    attention = _beta(rng, p.attention_mean, p.attention_concentration, n)
    present_bias = _beta(rng, p.present_bias_mean, p.present_bias_concentration, n)
    shares = np.asarray(p.maker_shares or [1.0] * p.n_makers, dtype=float)
    device = rng.choice(p.n_makers, size=n, p=shares / shares.sum()).astype(np.int32)
    reach = np.full(p.n_platforms, p.other_platform_reach)
    reach[0] = p.dominant_platform_reach
    member = rng.random((n, p.n_platforms)) < reach
    holds = np.zeros((n, holders.count), dtype=bool)
    holds[:, holders.platforms] = member  # a platform holds its members' chats
    consented = holds.copy()
    scale = harm_scale(p)
    return Users(
        theta=theta,
        harm_theta=theta if scale == 1.0 else theta * scale,
        value=value,
        attention=attention,
        present_bias=present_bias,
        device=device,
        member=member,
        holds=holds,
        consented=consented,
        informed=np.zeros_like(holds),
        refused_at=np.full(holds.shape, -10_000, dtype=np.int32),
        recent_requests=np.zeros(n),
        trust_member=np.zeros(n, dtype=bool),
        payment=np.zeros(n),
        ported_to=np.full(n, -1, dtype=np.int32),
        # The platforms' starting holdings are their members' data, fresh at set-up (month 0).
        # 16 bits, 2 bytes a record: ages are exact below 65,536 months (`model.retention`).
        refreshed=np.zeros(holds.shape, dtype=np.uint16),
        record_value=np.zeros((n, holders.n_makers), dtype=np.float32),
        graph=graph,
        degree=degrees(graph),
    )


def service_quality(data: np.ndarray | float, base: float, gain: float, scale: float) -> np.ndarray:
    """q = q0 + a · (1 − exp(−D / D0)): quality rises with data, concavely (Hagiu & Wright)."""
    return base + gain * (1.0 - np.exp(-np.asarray(data, dtype=float) / scale))


def logit_choice(rng: np.random.Generator, utility: np.ndarray, sensitivity: float) -> np.ndarray:
    """Multinomial logit choice per row of `utility` (users × options), by Gumbel draws."""
    if sensitivity <= 0:
        return rng.integers(0, utility.shape[1], utility.shape[0])
    gumbel = rng.gumbel(size=utility.shape)
    return np.argmax(sensitivity * utility + gumbel, axis=1).astype(np.int32)


def replace_devices(
    rng: np.random.Generator,
    users: Users,
    *,
    hazard: float,
    device_utility: np.ndarray | Callable[[np.ndarray], np.ndarray],
    sensitivity: float,
) -> np.ndarray:
    """Users whose device is due choose a maker by logit; returns the mask of buyers.

    `device_utility` is (N, M): each user's money-metric utility of each maker's device; or a
    function that gives those rows for an array of user indices (so that only buyers' rows are
    computed).
    """
    due = rng.random(users.n) < hazard
    rows = np.flatnonzero(due)  # the buyers, in user order (as a mask would pick them)
    if rows.size:
        utility = device_utility(rows) if callable(device_utility) else device_utility[rows]
        chosen = logit_choice(rng, utility, sensitivity)
        # A payment for consent is the old maker's: it ends with the switch.
        users.payment[rows[chosen != users.device[rows]]] = 0.0
        users.device[rows] = chosen
    return due


@dataclass(frozen=True)
class PlatformTerms:
    """The parts of each user's money-metric utility of each platform, CNY per month:

        u[i, p] = base[p] + value[i] · quality[p] + network_value · contact_share[i, p]
                  − degradation_cost · blocked[p, device[i]] − misuse · θ[i]

    kept apart so that a compiled pass computes u[i, p] where it is used, without (N, P)
    temporaries. `utility` gives the (N, P) array.
    """

    base: np.ndarray  # (P,) stand-alone value less the cost of use
    quality: np.ndarray  # (P,)
    network_value: float
    contact_share: np.ndarray  # (N, P)
    degradation_cost: float
    blocked: np.ndarray  # (P, M) the platform degrades its app on the maker's devices
    misuse: float  # the platform's own misuse of its members' data

    def utility(self, users: Users) -> np.ndarray:
        """(N, P): u[i, p] for every user and platform."""
        return _platform_utility(
            users.value, users.theta, users.device, *self._arguments(), users.n
        )

    def _arguments(self) -> tuple:
        return (
            np.asarray(self.base, dtype=float),
            np.asarray(self.quality, dtype=float),
            float(self.network_value),
            self.contact_share,
            float(self.degradation_cost),
            self.blocked,
            float(self.misuse),
        )


def revise_platforms(
    rng: np.random.Generator,
    users: Users,
    *,
    platform_utility: np.ndarray | PlatformTerms,
    revision_rate: float,
    noise: float,
) -> None:
    """Some users reconsider each platform: use it iff its utility plus taste noise is positive.

    `platform_utility` is (N, P), money-metric, network benefit included; or its `PlatformTerms`,
    from which a compiled pass computes each entry as it needs it (the same values).
    """
    if isinstance(platform_utility, PlatformTerms):
        shape = (users.n, platform_utility.base.size)
    else:
        shape = platform_utility.shape
    draws = rng.random(shape)  # revising where below the rate
    taste = rng.logistic(0.0, noise, shape)
    if isinstance(platform_utility, PlatformTerms):
        _revise_on_terms(
            users.member,
            draws,
            revision_rate,
            taste,
            users.value,
            users.theta,
            users.device,
            *platform_utility._arguments(),
        )
    else:
        _revise(users.member, draws, revision_rate, taste, platform_utility)


@numba.njit(cache=True, nogil=True, inline="always")
def _utility_at(
    i, p, value, theta, device, base, quality, network_value, contact_share, cost, blocked, misuse
):
    """u[i, p] of `PlatformTerms`, with the operations of the plain numpy expression
    ``base[None, :] + value[:, None] * quality[None, :] + network_value * contact_share
    - cost * blocked[:, device].T - (theta * misuse)[:, None]``, in its order (left to right;
    a bool is 1.0 or 0.0 in a product)."""
    degraded = 1.0 if blocked[p, device[i]] else 0.0
    u = base[p] + value[i] * quality[p]
    u = u + network_value * contact_share[i, p]
    u = u - cost * degraded
    return u - theta[i] * misuse


@numba.njit(cache=True, nogil=True)
def _platform_utility(
    value, theta, device, base, quality, network_value, contact_share, cost, blocked, misuse, n
):
    """(N, P) `PlatformTerms.utility`: the plain expression's values (see `_utility_at`)."""
    out = np.empty((n, base.size))
    for i in range(n):
        for p in range(base.size):
            out[i, p] = _utility_at(
                i,
                p,
                value,
                theta,
                device,
                base,
                quality,
                network_value,
                contact_share,
                cost,
                blocked,
                misuse,
            )
    return out


@numba.njit(cache=True, nogil=True)
def _revise(member, draws, rate, taste, utility):
    """``revising = draws < rate; member[revising] = (utility + taste > 0)[revising]``, in place,
    without the (N, P) temporaries (the same comparisons, entry by entry)."""
    n, k = member.shape
    for i in range(n):
        for p in range(k):
            if draws[i, p] < rate:
                member[i, p] = utility[i, p] + taste[i, p] > 0
    return member


@numba.njit(cache=True, nogil=True)
def _revise_on_terms(
    member,
    draws,
    rate,
    taste,
    value,
    theta,
    device,
    base,
    quality,
    network_value,
    contact_share,
    cost,
    blocked,
    misuse,
):
    """`_revise` with each utility computed from its `PlatformTerms` where a user revises."""
    n, k = member.shape
    for i in range(n):
        for p in range(k):
            if draws[i, p] < rate:
                u = _utility_at(
                    i,
                    p,
                    value,
                    theta,
                    device,
                    base,
                    quality,
                    network_value,
                    contact_share,
                    cost,
                    blocked,
                    misuse,
                )
                member[i, p] = u + taste[i, p] > 0
    return member


def contacts_on_platforms(users: Users) -> np.ndarray:
    """(N, P): share of each user's contacts on each platform (the network effect's base)."""
    return contact_share(users.graph, users.member, users.degree)
