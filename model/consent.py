"""How users answer consent requests (MODEL.md §9, "Consent to a request from h").

Pure functions over numpy columns: one call answers every request of one kind in a month.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from model import kernels
from model.flows import pair_users
from model.prices import Askers, exposure_bin, nonreader_acceptance, payment_schedule

if TYPE_CHECKING:
    from model.market import DataMarket


def reading_probability(
    attention: np.ndarray, recent_requests: np.ndarray, fatigue: float
) -> np.ndarray:
    """Chance each user actually reads a request: attention · exp(−fatigue · recent requests)."""
    return attention * np.exp(-fatigue * recent_requests)


def answer_requests(
    rng: np.random.Generator,
    *,
    read_probability: np.ndarray,
    gain: np.ndarray,
    cost: np.ndarray,
    refusal_loss: float,
    refusal_costs_service: bool,
    p_click: float,
    p_neutral: float,
    noise: float,
    payment: np.ndarray | None = None,
    salience: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Answer one request per user; return (accepted, read) boolean arrays.

    A reader compares the perceived gain G (plus L, the feature lost on refusal, where refusing
    costs the service) with the perceived cost C, with logistic noise of scale `noise`. A
    non-reader clicks "accept" with `p_click` where refusal costs the service (no real reject
    option) and with `p_neutral` where it does not (a symmetric choice). The bundling lever, not
    the consent standard, decides this: click-through with a reject button on its first screen
    is `refusal_costs_service=False` (Nouwens et al. 2020's 22–23-point swing).

    Args:
        rng: the model's generator.
        read_probability: chance each user reads, in [0, 1].
        gain: G, CNY per month: the personalised service over the generic one, plus any payment.
        cost: C, CNY per month: present bias · θ · ρ_h · Δe.
        refusal_loss: L, CNY per month.
        refusal_costs_service: the regime's bundling lever.
        p_click: acceptance by a non-reader under bundling.
        p_neutral: acceptance by a non-reader with a real reject option.
        noise: logistic scale of ε, CNY per month (0 = deterministic readers).
        payment: what the buyer offers each user per month for her consent (None: nothing).
            A reader adds it to G; a non-reader responds only to its salience.
        salience: how much a salient payment raises a non-reader's log-odds of accepting, per
            CNY per month (`model.prices.nonreader_acceptance`).
    """
    n = gain.shape[0]
    payment = np.zeros(n) if payment is None else payment
    read = rng.random(n) < read_probability
    loss = refusal_loss if refusal_costs_service else 0.0
    epsilon = rng.logistic(0.0, noise, n) if noise > 0 else np.zeros(n)
    reader_accepts = gain + payment + loss + epsilon > cost
    click = p_click if refusal_costs_service else p_neutral
    clicker_accepts = rng.random(n) < nonreader_acceptance(click, salience, payment)
    return np.where(read, reader_accepts, clicker_accepts), read


def run_consent(model: DataMarket) -> None:
    """Phase 3: every maker that gets platform data by licence or by taking asks the users it
    reaches and has no consent from; the users answer per the regime's standard.

    Under `platform_terms` a licence needs no consent from users (the platform's terms cover it),
    so nobody asks. A refused request waits `reask_interval` months before it is asked again.
    """
    params, regime, users, month = model.p, model.regime, model.users, model.month
    users.recent_requests *= params.request_memory
    if regime.consent_standard == "platform_terms":
        return
    if regime.consent_standard == "informed":
        withdraw_consents(model)
    device = users.device
    col = model.holders.maker(0) + device
    # = pair_users(member, device, licensed | taking) & ~trust_member & ~consented[rows, col]
    #   & (steps − refused_at[rows, col] ≥ reask_interval), in one pass (see the kernel).
    asks = kernels.consent_askers(
        users.member,
        device,
        col,
        model.licensed | model.taking,
        users.trust_member,
        users.consented,
        users.refused_at,
        model.steps,
        params.reask_interval,
    )
    idx = np.flatnonzero(asks)
    if idx.size == 0:
        return
    dev = device[idx]
    quality = np.array([maker.quality for maker in model.makers])[dev]
    only_taking = ~pair_users(users.member[idx], dev, model.licensed)
    data_value = np.where(only_taking, params.taking_data_quality, 1.0)
    gain = (1 - params.generic_service_share) * users.value[idx] * quality * data_value
    # What the maker already learns of her through contacts who shared: her exposure before the
    # flow. Her own data adds the rest.
    leaked = model.exposure[idx, col[idx]]
    cost = users.present_bias[idx] * users.theta[idx] * params.misuse_maker * (1.0 - leaked)
    read_probability = reading_probability(
        users.attention[idx], users.recent_requests[idx], params.consent_fatigue
    )
    offer = consent_offers(model, dev, only_taking, read_probability, gain - cost, leaked)
    accepted, read = answer_requests(
        model.rng,
        read_probability=read_probability,
        gain=gain,
        cost=cost,
        refusal_loss=params.refusal_feature_value,
        refusal_costs_service=regime.refusal_costs_service,
        p_click=params.p_click,
        p_neutral=params.p_neutral,
        noise=params.consent_noise,
        payment=offer,
        salience=params.payment_salience,
    )
    users.recent_requests[idx] += 1.0
    yes, no = idx[accepted], idx[~accepted]
    users.consented[yes, col[yes]] = True
    users.informed[yes, col[yes]] = read[accepted]
    users.payment[yes] = offer[accepted]  # paid each month while the consent stands
    users.refused_at[no, col[no]] = model.steps
    month.requests += idx.size
    month.accepted += int(accepted.sum())
    month.reads[idx] += read
    for m, maker in enumerate(model.makers):
        mine = dev == m
        if mine.any():
            rate = float(accepted[mine].mean())
            if np.isnan(maker.acceptance):
                maker.acceptance = rate
            else:
                maker.acceptance += params.learning_rate * (rate - maker.acceptance)


def withdraw_consents(model: DataMarket) -> None:
    """Informed consent is withdrawable (GDPR Art. 7(3), PIPL Art. 15): each month a consenting
    user looks again with chance `withdrawal_review` · attention, and withdraws iff the service
    she got last month no longer seems worth the harm (G + ε < C); her device maker must then
    delete her data."""
    params, users = model.p, model.users
    col = model.holders.maker(0) + users.device
    # = consented[rows, col] & (draw < withdrawal_review · attention)
    looks = kernels.consent_reviews(
        users.consented,
        col,
        model.rng.random(users.n),
        params.withdrawal_review,
        users.attention,
    )
    idx = np.flatnonzero(looks)
    if idx.size == 0:
        return
    quality = np.array([maker.quality for maker in model.makers])[users.device[idx]]
    delivered = model.data_quality[idx]
    gain = (1 - params.generic_service_share) * users.value[idx] * quality * delivered
    gain = gain + users.payment[idx]
    cost = users.present_bias[idx] * users.theta[idx] * params.misuse_maker
    noise = (
        model.rng.logistic(0.0, params.consent_noise, idx.size)
        if params.consent_noise > 0
        else np.zeros(idx.size)
    )
    leaving = idx[gain + noise < cost]
    users.consented[leaving, col[leaving]] = False
    users.informed[leaving, col[leaving]] = False
    users.holds[leaving, col[leaving]] = False
    users.refused_at[leaving, col[leaving]] = model.steps
    users.payment[leaving] = 0.0
    ported_here = leaving[users.ported_to[leaving] == users.device[leaving]]
    users.ported_to[ported_here] = -1  # the maker deletes the ported snapshot too
    model.month.withdrawals = int(leaving.size)


def consent_offers(
    model: DataMarket,
    device: np.ndarray,
    only_taking: np.ndarray,
    read_probability: np.ndarray,
    net_gain: np.ndarray,
    leaked: np.ndarray,
) -> np.ndarray:
    """What each maker offers each user it asks, per month of consent (`model.prices`).

    Each maker prices by what it sees: the exposure bin of what it already learns of her through
    contacts, and whether her data would come by licence or by taking (the data is worth less
    taken, and a licensed user's data costs the fee). Within a bin it sets the payment that
    maximises expected acceptance × (marginal value − payment) over the users it asks there.
    """
    params, regime = model.p, model.regime
    offer = np.zeros(device.size)
    loss = params.refusal_feature_value if regime.refusal_costs_service else 0.0
    click = params.p_click if regime.refusal_costs_service else params.p_neutral
    bins = exposure_bin(leaked, params.leakage)
    for m in range(len(model.makers)):
        for taken in (False, True):
            rows = np.flatnonzero((device == m) & (only_taking == taken))
            if rows.size == 0:
                continue
            value = marginal_data_value(model, m, taken)
            askers = Askers(read_probability[rows], net_gain[rows] + loss, bins[rows])
            schedule = payment_schedule(
                askers,
                value,
                noise=params.consent_noise,
                p_click=click,
                salience=params.payment_salience,
            )
            offer[rows] = schedule[bins[rows]]
    return offer


def marginal_data_value(model: DataMarket, m: int, taken: bool) -> float:
    """MV: what one more consenting user's data is worth to maker m per month, CNY: the value of
    her data to it (`data_value_per_user`), less where taken data is worth less, less the
    licence fee per shared user where it comes by licence."""
    params = model.p
    data_value = params.taking_data_quality if taken else 1.0
    value = data_value_per_user(model, m, data_value)
    if not taken:
        fees = model.fee[model.licensed[:, m], m]
        value -= float(fees.mean()) if fees.size else 0.0
    return value


def data_value_per_user(model: DataMarket, m: int, data_value: float = 1.0) -> float:
    """What one more user's data (of value share `data_value`) is worth to maker m per month,
    CNY: its service revenue from personalising for her, plus what her data adds to its quality
    for all its users' service revenue (the slope of q = q0 + a(1 − exp(−D/D0)) at its data
    share), less, under recipient liability, the harm it expects to compensate. What better
    quality does to its device sales is left out."""
    params, regime, users = model.p, model.regime, model.users
    maker = model.makers[m]
    personal = 1 - params.generic_service_share
    value = params.service_revenue_rate * personal * maker.quality * data_value
    if regime.recipient_liability:
        value -= float(users.harm_theta.mean()) * params.misuse_maker * (1.0 + params.leakage)
    share = maker.market_share
    slope = params.quality_gain / params.quality_data_scale
    slope *= np.exp(-maker.data_share / params.quality_data_scale)
    personalised = params.generic_service_share + personal * maker.data_share / max(share, 1e-12)
    value += params.service_revenue_rate * min(personalised, 1.0) * share * slope * data_value
    return float(value)
