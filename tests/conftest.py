"""Shared fixtures for the model-level tests: small markets and the invariants every step obeys.

The invariants come from MODEL.md, not from the code: §7 (metric names, shares in [0, 1],
Herfindahl indices in [1/n, 1], pair counts), §9 (transfers cancel, so total welfare is consumer
surplus plus all profits plus public revenue; money is conserved) and §5 (each regime's defining
rule). `run_checked` plays a market month by month and checks all of them after every month.

Helpers are exposed as session-scoped fixtures (not imported from this file) so that hypothesis
tests can use them without a function-scoped fixture.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from model import DataMarket, kernels

# MODEL.md §7, typed out from the spec: the metric names are a contract.
SPEC_METRICS: tuple[str, ...] = (
    # welfare
    "consumer_surplus",
    "privacy_harm",
    "platform_profit",
    "maker_profit",
    "broker_profit",
    "total_welfare",
    # privacy
    "consent_rate",
    "informed_consent_share",
    "regretted_consent_share",
    "mean_exposure",
    "exposed_without_consent_share",
    "broker_reach_share",
    "breaches",
    # market
    "licensed_pairs",
    "blocked_pairs",
    "taking_pairs",
    "open_disputes",
    "mean_access_fee",
    "device_hhi",
    "platform_hhi",
    "mean_ai_quality",
    # benchmark
    "oversharing_share",
    "undersharing_share",
    "welfare_gap",
)

# MODEL.md §5: the named presets.
SPEC_REGIMES: tuple[str, ...] = (
    "platform_control",
    "click_through",
    "informed_consent",
    "portability",
    "data_trust",
    "ban",
    "recipient_liability",
)

PAIR_METRICS = ("licensed_pairs", "blocked_pairs", "taking_pairs", "open_disputes")
TOL = 1e-9


def _close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL * max(1.0, scale))


def assert_metric_invariants(model: DataMarket) -> None:
    """§7 ranges and §9 accounting identities on the month just played."""
    metrics = model.metrics
    n_platforms, n_makers = len(model.platforms), len(model.makers)
    month = model.steps

    assert set(SPEC_METRICS) <= set(metrics), f"month {month}: a metric of §7 is missing"
    # consent_rate is missing (NaN) exactly in a month without consent requests.
    asked = model.month.requests > 0
    assert math.isnan(metrics["consent_rate"]) != asked, (
        f"month {month}: consent_rate={metrics['consent_rate']} with "
        f"{model.month.requests} requests"
    )
    # mean_data_price likewise, in a month without a consenting user whose data flowed.
    paid = model.month.paid_consents > 0
    assert math.isnan(metrics["mean_data_price"]) != paid, (
        f"month {month}: mean_data_price={metrics['mean_data_price']} with "
        f"{model.month.paid_consents} paid consents"
    )
    for name, value in metrics.items():
        if (name == "consent_rate" and not asked) or (name == "mean_data_price" and not paid):
            continue
        assert math.isfinite(value), f"month {month}: {name}={value} is not finite"
    # mean_data_price likewise, in a month without a consenting user whose data flowed.
    paid = model.month.paid_consents > 0
    assert math.isnan(metrics["mean_data_price"]) != paid, (
        f"month {month}: mean_data_price={metrics['mean_data_price']} with "
        f"{model.month.paid_consents} paid consents"
    )
    for name, value in metrics.items():
        if (name == "consent_rate" and not asked) or (name == "mean_data_price" and not paid):
            continue
        if name.endswith(("_share", "_rate")) or name in (
            "mean_exposure",
            "mean_unconsented_exposure",
        ):
            assert 0.0 <= value <= 1.0, f"month {month}: {name}={value} outside [0, 1]"
    # Exposure and harm from the third parties a user has no consent with are parts of the whole.
    assert metrics["mean_unconsented_exposure"] <= metrics["mean_exposure"] + TOL
    assert 0.0 <= metrics["unconsented_harm"] <= metrics["privacy_harm"] * (1 + TOL) + TOL
    for name, n in (("device_hhi", n_makers), ("platform_hhi", n_platforms)):
        value = metrics[name]
        assert 1.0 / n - TOL <= value <= 1.0 + TOL, (
            f"month {month}: {name}={value} not in [1/{n}, 1]"
        )
    for name in PAIR_METRICS:
        value = metrics[name]
        assert value == int(value), f"month {month}: {name}={value} is not a count"
        assert 0 <= value <= n_platforms * n_makers, f"month {month}: {name}={value} out of range"
    breaches = metrics["breaches"]
    assert breaches == int(breaches) and breaches >= 0, f"month {month}: breaches={breaches}"
    # Each holder (platform, maker, broker, trust) is breached at most once a month.
    assert breaches <= model.holders.count, f"month {month}: more breaches than holders"
    assert metrics["privacy_harm"] >= 0.0, f"month {month}: negative privacy harm"
    assert metrics["mean_access_fee"] >= 0.0, f"month {month}: negative access fee"

    # §9: fees, data sales, dividends and fines are transfers; total welfare counts the fines
    # once, as public revenue.
    per_user = 1.0 / model.users.n
    trust_profit = model.trust.profit * per_user if model.trust is not None else 0.0
    fines = sum(firm.fines for firm in model.firms)
    expected = (
        metrics["consumer_surplus"]
        + metrics["platform_profit"]
        + metrics["maker_profit"]
        + metrics["broker_profit"]
        + trust_profit
        + fines * per_user
    )
    scale = abs(metrics["consumer_surplus"]) + abs(expected)
    assert _close(metrics["total_welfare"], expected, scale), (
        f"month {month}: total_welfare={metrics['total_welfare']} but consumer surplus + profits"
        f" + fines per user = {expected}"
    )
    for name, kind in (
        ("platform_profit", model.platforms),
        ("maker_profit", model.makers),
        ("broker_profit", model.brokers),
    ):
        summed = sum(firm.profit for firm in kind) * per_user
        assert _close(metrics[name], summed, abs(summed)), f"month {month}: {name} != Σ profits"


def assert_money_conserved(model: DataMarket) -> None:
    """Every transfer is paid by one account and received by another (MODEL.md §3.6, §9)."""
    ledger, month = model.ledger, model.steps
    gross = sum(abs(amount) for amount in ledger.balance.values())
    assert abs(ledger.imbalance()) <= TOL * max(1.0, gross), (
        f"month {month}: ledger imbalance {ledger.imbalance()} (gross {gross})"
    )
    # Fines: what firms paid is what the public purse received.
    fines = sum(firm.fines for firm in model.firms)
    assert _close(ledger.balance.get("public", 0.0), fines, fines), f"month {month}: fines leak"
    # Data sales: what brokers paid is what sellers received.
    bought = sum(broker.purchases for broker in model.brokers)
    sold = sum(firm.sales_received for firm in (*model.platforms, *model.makers))
    assert _close(bought, sold, bought), f"month {month}: brokers paid {bought}, sellers got {sold}"
    # Access and trust fees: what makers paid is what platforms and the trust received.
    paid = sum(maker.fees_paid for maker in model.makers)
    received = sum(platform.fees_received for platform in model.platforms)
    if model.trust is not None:
        received += model.trust.fees_received
    assert _close(paid, received, paid), f"month {month}: makers paid {paid}, got {received}"


class RegimeRules:
    """Checks each month the defining rule of the regime in force (MODEL.md §5).

    Keeps, for the license-only rule of `platform_control`, every (user, maker) pair that was
    ever legitimately open: reachable through a licensed pair at the time of the flows, or held
    already when the rule came into force.
    """

    def __init__(self, model: DataMarket) -> None:
        self.model = model
        self.open = model.users.holds[:, model.holders.makers].copy()
        self._before: tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None = None

    @staticmethod
    def _license_only(model: DataMarket) -> bool:
        regime = model.regime
        return (
            regime.third_party_access
            and not regime.maker_may_take
            and regime.portability == "none"
            and not regime.data_trust
        )

    def before_step(self) -> None:
        """Snapshot what the month's flows will see: memberships, devices, holdings."""
        users = self.model.users
        self._before = (
            users.member.copy(),
            users.device.copy(),
            users.holds[:, self.model.holders.makers].copy(),
            self._license_only(self.model),
        )

    def after_step(self) -> None:
        model, users, holders = self.model, self.model.users, self.model.holders
        regime, metrics, month = model.regime, model.metrics, model.steps
        maker_holds = users.holds[:, holders.makers]

        # Exclusive pair states: a licence is an agreement, taking and blocking happen without.
        assert not (model.licensed & model.taking).any(), f"month {month}: licensed and taking"
        assert not (model.licensed & model.blocked).any(), f"month {month}: licensed and blocked"

        if not regime.third_party_access:  # ban
            assert not maker_holds.any(), f"month {month}: a maker holds data under a ban"
            assert metrics["licensed_pairs"] == 0 and metrics["taking_pairs"] == 0, (
                f"month {month}: pairs share data under a ban"
            )
            assert not model.month.data_quality.any(), (
                f"month {month}: a maker personalises with platform data under a ban"
            )
            assert all(maker.data_share == 0 for maker in model.makers)
        if not regime.platform_may_block:  # portability, data_trust
            assert not model.blocked.any() and metrics["blocked_pairs"] == 0, (
                f"month {month}: a pair is blocked where the platform may not block"
            )
        if not regime.maker_may_take:  # platform_control, portability, data_trust, ban
            assert not model.taking.any() and metrics["taking_pairs"] == 0, (
                f"month {month}: a maker takes data where the regime forbids it"
            )

        if self._before is not None:
            member, device, held_before, was_license_only = self._before
            if self._license_only(model):
                if not was_license_only:
                    self.open |= held_before  # what the previous regime let makers get
                reach = (member.astype(np.int64) @ model.licensed.astype(np.int64)) > 0
                reach &= device[:, None] == np.arange(len(model.makers))[None, :]
                self.open |= reach
                unlicensed = maker_holds & ~self.open
                assert not unlicensed.any(), (
                    f"month {month}: makers hold {int(unlicensed.sum())} users' data never "
                    "reachable through a licensed pair"
                )
            else:
                self.open |= maker_holds
        self._before = None

        if regime.data_trust:
            assert model.trust is not None, f"month {month}: data_trust regime without a trust"
            members = users.trust_member
            assert not maker_holds[members].any(), (
                f"month {month}: a maker holds a trust member's data"
            )
            assert users.holds[members, holders.trust].all(), (
                f"month {month}: the trust lacks a member's data"
            )


def run_checked(model: DataMarket, months: int) -> DataMarket:
    """Play `months` months, checking every invariant after each; return the model."""
    rules = RegimeRules(model)
    for _ in range(months):
        rules.before_step()
        model.step()
        assert_metric_invariants(model)
        assert_money_conserved(model)
        rules.after_step()
    return model


@pytest.fixture(scope="session")
def spec_metrics() -> tuple[str, ...]:
    """The metric names of MODEL.md §7."""
    return SPEC_METRICS


@pytest.fixture(scope="session")
def spec_regimes() -> tuple[str, ...]:
    """The regime presets of MODEL.md §5."""
    return SPEC_REGIMES


@pytest.fixture(scope="session")
def checked_run() -> Callable[[DataMarket, int], DataMarket]:
    """`checked_run(model, months)`: play and check every invariant after every month."""
    return run_checked


@pytest.fixture(scope="session")
def small() -> Callable[..., DataMarket]:
    """`small(**params)`: a DataMarket of 2,000 users, seed 7, unless the keywords say otherwise."""

    def build(**params) -> DataMarket:
        params.setdefault("n_users", 2_000)
        params.setdefault("rng", 7)
        return DataMarket(**params)

    return build


@pytest.fixture
def restore_threads():
    """Whatever a test sets with `model.kernels.set_threads`, put back after it."""
    before = kernels.threads()
    yield
    kernels.set_threads(before)
