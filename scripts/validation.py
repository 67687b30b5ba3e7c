"""Validation: the stylised facts, theory predictions and calibration targets of MODEL.md §8, §10
and §11, as experiments.

    .venv/bin/python scripts/validation.py [--users 20000] [--months 60]
        [--reps 5] [--root 20170803] [--morris-trajectories 6] [--morris-users 3000]
        [--morris-months 48] [--workers 2] [--out docs/validation.md]

Runs every condition the six facts and the three theory predictions need (a regime, parameter
overrides and lever overrides on the default scenario `tencent_huawei_2017`), `--reps`
replications each. The facts' conditions run on the seeds `numpy.random.SeedSequence(root)
.spawn(reps)`; the predictions' on fresh seeds, `SeedSequence(root + PREDICTION_ROOT_OFFSET)
.spawn(reps)`, used by nothing else. Within each set the same seeds serve every condition (common
random numbers), so comparisons between conditions are paired by replication. Each run's metrics
are averaged over its last 12 months (and month 1 is kept for prediction 3); a comparison is the
mean over replications with a 95% t-interval. Writes `docs/validation.md` (regenerated, never
edited by hand), its machine-readable sidecar `docs/validation.json` (the verdicts that
`tests/test_validation_verdicts.py` and `tests/test_validation_predictions.py` check), and prints
progress on stderr.

The calibration targets come from `experiments.calibrate.TARGETS`, which also says which targets
`datamarket calibrate` fitted and which it held out (reported here as the out-of-sample check).
The robustness section is a Morris screen (SALib) of the ranking of the seven presets on total
welfare and on privacy harm, as in `experiments/tencent_huawei_2017.toml`, over the main
uncertainties; which assumptions the ranking hinges on is computed from the screen.

Nothing here is tuned: the model runs at its defaults, the verdict criteria are fixed in the fact
and prediction functions below (written before the runs they judge), and the prose that explains
a result is printed only where the measured diagnostics show the mechanism it describes.
Conditions marked "reference", "ablation" or "labelled" are diagnostics that explain a result;
no verdict rests on them.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from experiments.calibrate import KNOBS, TARGETS, target_verdict
from experiments.runner import worker_pool
from model import METRICS, PARAMETERS, REGIMES, DataMarket, get_regime
from model.flows import overall_exposure

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = {p.name: p.default for p in PARAMETERS}  # the calibration the prose quotes
WINDOW = 12  # months averaged at the end of each run
SHARING_REGIMES = tuple(r for r in REGIMES if r != "ban")
LEAKAGES = (0.1, 0.3, 0.6)  # fact 2, prediction 1
DEGREES = (1.0, 4.0, 20.0)  # fact 3
FAR_LOWER = 0.20  # fact 1: "far lower" = at least 20 points (Nouwens et al.'s 22–23 swing)
SATURATED = 0.99  # fact 3: a share at or above this is reported as saturated near 1
# Which θ counts in welfare (`privacy_valuation_basis`): the default, and the survey's lower end.
BASES = ("revealed", "wtp")
PREDICTION_ROOT_OFFSET = 2  # the predictions' seeds: root + 2 (root + 1 serves the Morris screen)
# Prediction 1, where buyers pay (labelled, not the default): the theory's users — every one
# reads every request (no fatigue) and decides with almost no noise (Acemoglu et al.'s informed,
# rational sellers of data). Fixed from pilots at λ = 0.3 only (5,000 users, seed 7, not a
# validation seed; λ 0.1 and 0.6 only in a 400-user smoke test of this script, after its
# criteria were written): nobody is paid at the defaults, before and
# after version 2's recalibration (nor, before it, at a privacy_cost_median of a tenth or a
# hundredth of the default), while under this condition makers pay about 1–1.6 CNY a month.
RATIONAL_USERS = {"attention_mean": 0.99, "consent_fatigue": 0.0, "consent_noise": 0.1}


@dataclass(frozen=True)
class Condition:
    """A regime preset, with parameter and lever overrides, at the default calibration.

    `stream`: "facts" (the facts' seeds) or "predictions" (the predictions' fresh seeds).
    `role`: "fact"/"prediction": a verdict rests on it; "reference", "ablation", "labelled"
    (a condition away from the defaults, reported as such), "calibration": diagnostics."""

    regime: str
    params: dict[str, float | str] = field(default_factory=dict)
    levers: dict[str, float] = field(default_factory=dict)
    role: str = "fact"
    stream: str = "facts"

    def describe(self) -> str:
        parts = [
            f"{k}={v:g}" if not isinstance(v, str) else f"{k}={v}" for k, v in self.params.items()
        ]
        parts += [f"lever {k}={v}" for k, v in self.levers.items()]
        return ", ".join(parts) or "—"


def condition_name(regime: str, stream: str = "facts", **params: float | str) -> str:
    """A condition's key: the regime, its parameter overrides that differ from the defaults
    (basis last), and "fresh:" in front for the predictions' seeds."""
    shown = {k: v for k, v in params.items() if DEFAULT[k] != v}
    basis = shown.pop("privacy_valuation_basis", None)
    parts = [f"{k}={v:g}" for k, v in shown.items()]
    if basis is not None:
        parts.append(f"basis={basis}")
    name = regime + ("@" + ",".join(parts) if parts else "")
    return f"fresh: {name}" if stream == "predictions" else name


def leakage_condition(lam: float, basis: str = "revealed") -> str:
    return condition_name("informed_consent", leakage=lam, privacy_valuation_basis=basis)


def degree_condition(deg: float) -> str:
    return condition_name("click_through", mean_degree=deg)


def fresh_regime(regime: str, basis: str) -> str:
    return condition_name(regime, "predictions", privacy_valuation_basis=basis)


def fresh_leakage(lam: float, rational: bool = False) -> str:
    extra = RATIONAL_USERS if rational else {}
    return condition_name("informed_consent", "predictions", leakage=lam, **extra)


def _with_basis(params: dict, basis: str) -> dict:
    return {**params, "privacy_valuation_basis": basis} if basis != "revealed" else params


NO_COMPLIANCE = "informed_consent@compliance_cost=0"
REJECT_BUTTON = "click_through@refusal_costs_service=False"
CONDITIONS: dict[str, Condition] = {
    # The facts' seeds.
    **{regime: Condition(regime) for regime in REGIMES},
    **{
        leakage_condition(lam, basis): Condition(
            "informed_consent",
            _with_basis({"leakage": lam} if lam != DEFAULT["leakage"] else {}, basis),
            role="reference" if lam == 0.0 else "fact",
        )
        for basis in BASES
        for lam in (0.0, *LEAKAGES)
        if (lam, basis) != (DEFAULT["leakage"], "revealed")  # the informed_consent preset
    },
    **{
        degree_condition(deg): Condition(
            "click_through", {"mean_degree": deg}, role="reference" if deg == 0.0 else "fact"
        )
        for deg in (0.0, *DEGREES)
        if deg != DEFAULT["mean_degree"]
    },
    NO_COMPLIANCE: Condition("informed_consent", levers={"compliance_cost": 0.0}, role="ablation"),
    REJECT_BUTTON: Condition(
        "click_through", levers={"refusal_costs_service": False}, role="calibration"
    ),
    # The predictions' fresh seeds.
    **{
        fresh_regime(regime, basis): Condition(
            regime, _with_basis({}, basis), role="prediction", stream="predictions"
        )
        for basis in BASES
        for regime in REGIMES
    },
    **{
        fresh_leakage(lam): Condition(
            "informed_consent", {"leakage": lam}, role="prediction", stream="predictions"
        )
        for lam in LEAKAGES
        if lam != DEFAULT["leakage"]  # λ = 0.3 is fresh: informed_consent
    },
    **{
        fresh_leakage(lam, rational=True): Condition(
            "informed_consent",
            {"leakage": lam, **RATIONAL_USERS} if lam != DEFAULT["leakage"] else RATIONAL_USERS,
            role="labelled",
            stream="predictions",
        )
        for lam in LEAKAGES
    },
}


# ---------------------------------------------------------------------------------------------
# One run: the §7 metrics plus measures read from the model's state over the last months.


def snapshot(market: DataMarket) -> dict[str, float]:
    """Measures of the month just played that the §7 metrics do not report directly."""
    users, holders, month = market.users, market.holders, market.month
    rows = np.arange(users.n)
    device_col = holders.maker(0) + users.device
    consent_device = users.consented[rows, device_col]
    theta = users.theta
    third = np.ones(users.holds.shape, dtype=bool)
    third[:, holders.platforms] = ~users.member
    # Exposed without consent as the metric counts it: unconsented exposure above the threshold,
    # split by whether some unconsented holder has her own data (e = 1) or only her contacts'.
    unconsented = third & ~users.consented
    through_contacts = overall_exposure(market.exposure, unconsented & ~users.holds)
    own_held = (unconsented & users.holds).any(axis=1)
    shares = np.bincount(users.device, minlength=len(market.makers)) / users.n
    consenters = bool(consent_device.any())
    best_makers, best_brokers = market.first_best
    return dict(
        # Fact 5: data flows to device makers, and who sells devices.
        maker_flow_share=float((month.data_quality > 0).mean()),
        no_maker_flow_month=float(not (month.data_quality > 0).any()),
        maker_reach_share=float(users.holds[:, holders.makers].any(axis=1).mean()),
        device_consent_share=float(consent_device.mean()),
        leader_share=float(shares[0]),
        top_share=float(shares.max()),
        # The planner's first best of this month: users whose data it lets a maker (a broker)
        # hold, beside the realised `maker_reach_share` (`broker_reach_share`).
        first_best_maker_share=float(best_makers.any(axis=0).mean()),
        first_best_broker_share=float(best_brokers.any(axis=0).mean()),
        # The one-off harm of this month's breaches, CNY per user (part of `privacy_harm`).
        breach_harm=float(month.breach_harm.mean()),
        # Prediction 1: users paid for their consent (a standing consent with a payment).
        paid_share=float((consent_device & (users.payment > 0)).mean()),
        # Fact 6: selection of the consenting (NaN where nobody consents, e.g. under a ban), on
        # the θ behind decisions and on the θ that counts in welfare.
        theta_ratio=float(theta[consent_device].mean() / theta.mean()) if consenters else math.nan,
        theta_median_ratio=float(np.median(theta[consent_device]) / np.median(theta))
        if consenters
        else math.nan,
        harm_theta_ratio=float(users.harm_theta[consent_device].mean() / users.harm_theta.mean())
        if consenters
        else math.nan,
        # Fact 3: where exposure without consent comes from.
        contact_only_unconsented_share=float(
            ((through_contacts > market.p.exposure_threshold) & ~own_held).mean()
        ),
        own_data_unconsented_share=float(own_held.mean()),
        former_platform_share=float(
            (users.holds[:, holders.platforms] & ~users.member).any(axis=1).mean()
        ),
        # Calibration: reading, porting.
        requests=float(month.requests),
        reads=float(month.reads.sum()),
        ports_share=float(month.ports / users.n),
        ever_ported_share=float((users.ported_to >= 0).mean()),
    )


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


MONTH1 = ("total_welfare", "welfare_gap", "breaches")  # prediction 3 reads these at month 1


def run_one(job: tuple[str, int, int, int]) -> dict[str, float]:
    """One replication of one condition: last-`WINDOW`-month means (ratios pooled over it; a
    metric's missing months, NaN, skipped), and month 1's `MONTH1` metrics as `month1_*`."""
    name, seed, n_users, months = job
    condition = CONDITIONS[name]
    regime = get_regime(condition.regime, **condition.levers)
    market = DataMarket(regime=regime, n_users=n_users, rng=seed, **condition.params)
    market.run_for(1)
    first = {f"month1_{k}": float(market.metrics[k]) for k in MONTH1}
    market.run_for(months - WINDOW - 1)
    snaps = []
    for _ in range(WINDOW):
        market.run_for(1)
        snaps.append(snapshot(market))
    frame = market.datacollector.get_model_vars_dataframe().tail(WINDOW)
    out = {name: float(frame[name].mean()) for name in METRICS}
    out.update(first)
    out["price_months"] = float(frame["mean_data_price"].notna().mean())
    parts = ("consumer_surplus", "platform_profit", "maker_profit", "broker_profit")
    out["fines_and_trust"] = out["total_welfare"] - sum(out[k] for k in parts)
    for key in snaps[0]:
        column = np.array([s[key] for s in snaps])
        finite = column[np.isfinite(column)]
        out[key] = float(finite.mean()) if finite.size else math.nan
    out["skip_share"] = 1.0 - _ratio(out["reads"], out["requests"])
    return out


# ---------------------------------------------------------------------------------------------
# Statistics


@dataclass(frozen=True)
class Estimate:
    """Mean over replications with a 95% t-interval (NaN where a replication is NaN)."""

    values: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def half_width(self) -> float:
        n = self.values.size
        sd = float(np.std(self.values, ddof=1))
        return float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n))

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def defined(self) -> bool:
        return bool(np.all(np.isfinite(self.values)))

    def record(self) -> dict[str, float | None]:
        """Mean and interval for the sidecar (None where undefined)."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return dict(mean=num(self.mean), low=num(self.low), high=num(self.high))

    def __str__(self) -> str:
        if not self.defined:
            return "n/a (NaN in " + f"{int(np.sum(~np.isfinite(self.values)))} replication(s))"
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}]"


class Results:
    """Results keyed by (condition, replication index)."""

    def __init__(self, table: dict[tuple[str, int], dict[str, float]], reps: int) -> None:
        self.table = table
        self.reps = reps

    def values(self, condition: str, key: str) -> np.ndarray:
        return np.array([self.table[condition, r][key] for r in range(self.reps)])

    def est(self, condition: str, key: str) -> Estimate:
        return Estimate(self.values(condition, key))

    def diff(self, a: str, b: str, key: str) -> Estimate:
        """Paired difference a − b over replications (same seeds)."""
        return Estimate(self.values(a, key) - self.values(b, key))


def yes(flag: bool | None) -> str:
    return {True: "yes", False: "no", None: "cannot be computed"}[flag]


def opposite(a: np.ndarray, b: np.ndarray) -> bool:
    """a orders its entries exactly opposite to b: for every pair, a's difference and b's have
    opposite signs (a tie in either is not a reversal)."""
    pairs = itertools.combinations(range(len(a)), 2)
    return all((a[i] - a[j]) * (b[i] - b[j]) < 0 for i, j in pairs)


def reversed_pairs(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(pairs that a and b order oppositely, all pairs)."""
    pairs = list(itertools.combinations(range(len(a)), 2))
    return sum((a[i] - a[j]) * (b[i] - b[j]) < 0 for i, j in pairs), len(pairs)


# ---------------------------------------------------------------------------------------------
# The facts: statement, source, experiment, evaluation (criteria fixed here), mechanism notes.


@dataclass
class Verdict:
    holds: bool | None  # None: holds in part
    text: str  # the result, in Markdown
    summary: str  # one line for the summary table
    notes: list[str] = field(default_factory=list)  # why, where the diagnostics show it
    record: dict = field(default_factory=dict)  # the figures the verdict rests on (sidecar)


def fact1(res: Results) -> Verdict:
    click = res.est("click_through", "consent_rate")
    informed = res.est("informed_consent", "consent_rate")
    diff = res.diff("informed_consent", "click_through", "consent_rate")
    near_universal = click.low >= 0.9
    far_lower = diff.high <= -FAR_LOWER
    text = (
        "| quantity | mean [95% CI] |\n|---|---|\n"
        f"| `consent_rate`, click_through | {click} |\n"
        f"| `consent_rate`, informed_consent | {informed} |\n"
        f"| difference informed − click (paired) | {diff} |\n\n"
        f"Criteria: the click-through interval lies at or above 0.9 ({yes(near_universal)}); "
        f"informed consent is lower by at least {FAR_LOWER:.2f}, the whole interval of the "
        f"difference at or below −{FAR_LOWER:.2f} ({yes(far_lower)})."
    )
    notes = [
        "Mechanism (`model/consent.py`): a user reads a request with probability attention · "
        "exp(−fatigue · recent requests), attention ~ Beta with mean "
        f"{DEFAULT['attention_mean']:g}. A non-reader accepts with `p_click` = "
        f"{DEFAULT['p_click']:g} where refusal costs the service and with `p_neutral` = "
        f"{DEFAULT['p_neutral']:g} where it does not (its log-odds raised by a salient payment, "
        "where there is one); a reader weighs the personalisation gain and any payment (plus, "
        "under click-through, the feature lost on refusal) against β·θ·ρ·(1 − ē), ē what the "
        "maker already learns of her through her contacts. With most requests unread "
        f"(skip share {res.est('click_through', 'skip_share').mean:.2f} under click_through), "
        "the interface parameters, not θ, set the rate."
    ]
    if not near_universal:
        notes.append(
            f"Near-universal fails: click-through acceptance is {click.mean:.3f}, its interval "
            f"reaching {click.high:.3f}, below 0.9 at the low end. The same quantity is a "
            "target of the calibration (90–98%, the first row of the targets below), which "
            "misses it too: it trades this acceptance against the acceptance with a real "
            "reject option and the reject-button swing, which one non-reader acceptance per "
            'interface cannot all meet (docs/calibration.md, docs/ODD.md "Calibration"). '
            f"The second half of the fact, a fall of at least {FAR_LOWER:.2f}, is shown."
            if far_lower
            else f"Near-universal fails: click-through acceptance is {click.mean:.3f}."
        )
    return Verdict(
        near_universal and far_lower,
        text,
        f"`consent_rate` click_through {click.mean:.3f}, informed_consent {informed.mean:.3f}",
        notes,
        dict(click=click.record(), informed_minus_click=diff.record()),
    )


FACT2_COLUMNS = (
    ("oversharing_share", "`oversharing_share`"),
    ("oversharing_loss", "`oversharing_loss`"),
    ("externality_oversharing_loss", "`externality_oversharing_loss`"),
    ("undersharing_loss", "`undersharing_loss`"),
    ("welfare_gap", "`welfare_gap`"),
    ("first_best_maker_share", "users whose data the first best lets a maker hold"),
    ("maker_reach_share", "users whose data some maker holds"),
    ("broker_reach_share", "`broker_reach_share`"),
)


def fact2_table(res: Results, basis: str) -> tuple[str, dict]:
    """Fact 2's table and criteria at one valuation basis."""
    rows = []
    for lam in (0.0, *LEAKAGES):
        c = leakage_condition(lam, basis)
        share = res.est(c, "oversharing_share")
        cells = [f"{share}", f"{res.values(c, 'oversharing_share').min():.4f}"]
        cells += [f"{res.est(c, k).mean:.4f}" for k, _ in FACT2_COLUMNS[1:]]
        rows.append(f"| {lam:g}{' (reference)' if lam == 0 else ''} | " + " | ".join(cells) + " |")
    steps = [(0.1, 0.3), (0.3, 0.6), (0.1, 0.6)]
    diffs = [
        (a, b, res.diff(leakage_condition(b, basis), leakage_condition(a, basis), key))
        for key in ("oversharing_share", "externality_oversharing_loss")
        for a, b in steps
    ]
    share_diffs, ext_diffs = diffs[:3], diffs[3:]
    positive = all(
        (res.values(leakage_condition(lam, basis), "oversharing_share") > 0).all()
        for lam in LEAKAGES
    )
    grows = [d.low > 0 for _, _, d in share_diffs[:2]]
    ends = share_diffs[2][2].low > 0
    holds: bool | None = positive and all(grows)
    if positive and not all(grows) and (ends or any(grows)):
        holds = None
    header = (
        "| λ | `oversharing_share` mean [95% CI] | smallest replication | "
        + " | ".join(label for _, label in FACT2_COLUMNS[1:])
        + " |\n|"
        + "---|" * (len(FACT2_COLUMNS) + 2)
    )
    text = (
        header
        + "\n"
        + "\n".join(rows)
        + "\n\n| paired difference | mean [95% CI] |\n|---|---|\n"
        + "\n".join(f"| `oversharing_share`, λ {b:g} − λ {a:g} | {d} |" for a, b, d in share_diffs)
        + "\n"
        + "\n".join(
            f"| `externality_oversharing_loss`, λ {b:g} − λ {a:g} (diagnostic) | {d} |"
            for a, b, d in ext_diffs
        )
        + f"\n\nCriteria: `oversharing_share` > 0 at every λ > 0, in every replication "
        f"({yes(positive)}); it grows with λ, the paired interval of each step above 0 "
        f"(0.1→0.3: {yes(grows[0])}; 0.3→0.6: {yes(grows[1])}; and 0.1→0.6: {yes(ends)})."
    )
    record = dict(
        verdict=verdict_word(holds),
        positive=positive,
        steps=[d.record() for _, _, d in share_diffs],
        externality_ends=ext_diffs[2][2].record(),
    )
    return text, record | {"holds": holds}


def fact2(res: Results) -> Verdict:
    tables = {basis: fact2_table(res, basis) for basis in BASES}
    default_text, default_record = tables["revealed"]
    wtp_text, wtp_record = tables["wtp"]
    holds = default_record.pop("holds")
    wtp_holds = wtp_record.pop("holds")
    text = (
        "At the default basis, `privacy_valuation_basis` = revealed (the verdict):\n\n"
        + default_text
        + "\n\nThe same at `privacy_valuation_basis` = wtp (harm counted at the surveyed "
        "willingness to pay; reported beside the verdict, which is the default's):\n\n"
        + wtp_text
        + f"\n\nAt wtp the fact's criteria give: **{verdict_word(wtp_holds)}**."
    )
    means = ", ".join(
        f"λ {lam:g}: {res.est(leakage_condition(lam), 'oversharing_share').mean:.3f}"
        for lam in LEAKAGES
    )
    wtp_means = ", ".join(
        f"{res.est(leakage_condition(lam, 'wtp'), 'oversharing_share').mean:.3f}"
        for lam in LEAKAGES
    )
    return Verdict(
        holds,
        text,
        f"`oversharing_share` {means} (at wtp: {wtp_means}; {verdict_word(wtp_holds)} there)",
        fact2_notes(res),
        dict(revealed=default_record, wtp=wtp_record),
    )


def fact2_notes(res: Results) -> list[str]:
    notes = []
    lams = (0.0, *LEAKAGES)
    at = ", ".join(f"{lam:g}" for lam in lams)

    def means(key: str, basis: str = "revealed") -> list[float]:
        return [res.est(leakage_condition(lam, basis), key).mean for lam in lams]

    def listed(values: list[float], digits: int = 3) -> str:
        return ", ".join(f"{v:.{digits}f}" for v in values)

    share = means("oversharing_share")
    best, reach = means("first_best_maker_share"), means("maker_reach_share")
    if min(share[1:]) >= 0.9 and max(best) < 0.1 * min(reach):
        notes.append(
            "**Under revealed θ the first best holds almost no maker data, so the share is "
            "saturated.** The planner lets a maker hold the data of a share "
            f"{listed(best)} of users (λ = {at}) against {listed(reach)} held in the run: at the "
            f"θ behind decisions (median {DEFAULT['privacy_cost_median']:g} CNY per unit "
            "exposure a month) a maker's misuse and breaches cost a user more than her "
            "personalised service is worth, so nearly every realised holding is one the first "
            f"best lacks (`oversharing_share` {listed(share)}), already at λ = 0. A share that "
            "starts near 1 has little room to grow with λ."
        )
    ext, over = means("externality_oversharing_loss"), means("oversharing_loss")
    ext_end = res.diff(
        leakage_condition(0.6), leakage_condition(0.1), "externality_oversharing_loss"
    )
    if ext_end.low > 0:
        trend = f"rises with λ (λ 0.6 − λ 0.1, paired: {ext_end})"
    elif ext_end.high < 0:
        trend = f"falls with λ (λ 0.6 − λ 0.1, paired: {ext_end})"
    else:
        trend = (
            f"does not move with λ in a way the replications can tell (λ 0.6 − λ 0.1: {ext_end})"
        )
    notes.append(
        "**The externality part.** MODEL.md §11 makes the fact a claim about the over-sharing "
        "the data externality causes even under perfect consent: `externality_oversharing_loss`, "
        "the over-sharing (against the first best) of the flows fully informed users without "
        "present bias or noise would choose, each ignoring only the harm to her contacts. It is "
        f"{listed(ext)} CNY per user a month at λ = {at} (of an `oversharing_loss` of "
        f"{listed(over)}), and it {trend}."
        + (
            " At λ = 0 there is no harm to contacts, so users' own choices would be the first "
            f"best's; what is left there ({ext[0]:.3f}) is where the two local searches end apart."
            if ext[0] > 0
            else ""
        )
    )
    wtp_best = means("first_best_maker_share", "wtp")
    wtp_share = means("oversharing_share", "wtp")
    notes.append(
        "At wtp the θ that counts in welfare is θ × "
        f"{wtp_scale():.3f} (the median user's harm from full exposure to a broker equals the "
        f"surveyed ${DEFAULT['privacy_wtp']:g} a month, brought to 2017 CNY at "
        f"{DEFAULT['usd_cny']:g} and × {DEFAULT['valuation_transfer']:g} for income); the "
        f"first best then lets makers hold {listed(wtp_best)} of users' data and "
        f"`oversharing_share` is {listed(wtp_share)}. Decisions use the same θ at both bases."
    )
    wtp_over, wtp_under = means("oversharing_loss", "wtp"), means("undersharing_loss", "wtp")
    if all(u > o for u, o in zip(wtp_under, wtp_over, strict=True)):
        notes.append(
            "So at wtp the realised allocation under-shares rather than over-shares: "
            f"`undersharing_loss` {listed(wtp_under)} against `oversharing_loss` "
            f"{listed(wtp_over)} CNY per user a month (λ = {at}); what over-sharing there is "
            "appears only at the larger λ, where the harm to contacts is largest."
        )
    empty = means("no_maker_flow_month")
    if max(empty) > 0:
        notes.append(
            "A source of noise: under informed_consent there are months in which no maker "
            f"gets any data (a share {listed(empty)} of the averaged months at λ = {at}). "
            "Firms revise their strategies together every `review_interval` months; when no "
            "pair strikes a licence and no maker takes data on-device, no maker flow is left."
        )
    return notes


def wtp_scale() -> float:
    """The factor from decision θ to welfare θ at basis wtp (`model.parameters.harm_scale`)."""
    valuation = DEFAULT["privacy_wtp"] * DEFAULT["usd_cny"] * DEFAULT["valuation_transfer"]
    return valuation / (DEFAULT["privacy_cost_median"] * DEFAULT["misuse_broker"])


def fact3(res: Results) -> Verdict:
    rows = []
    for deg in (0.0, *DEGREES):
        c = degree_condition(deg)
        rows.append(
            f"| {deg:g}{' (reference)' if deg == 0 else ''} | "
            f"{res.est(c, 'exposed_without_consent_share')} | "
            f"{res.est(c, 'mean_unconsented_exposure').mean:.4f} | "
            f"{res.est(c, 'unconsented_harm').mean:.3f} | "
            f"{res.est(c, 'contact_only_unconsented_share')} | "
            f"{res.est(c, 'own_data_unconsented_share').mean:.4f} | "
            f"{res.est(c, 'broker_reach_share').mean:.4f} | "
            f"{res.est(c, 'former_platform_share').mean:.4f} |"
        )
    diffs = [
        (a, b, res.diff(degree_condition(b), degree_condition(a), "exposed_without_consent_share"))
        for a, b in itertools.pairwise(DEGREES)
    ]
    continuous = [
        (key, a, b, res.diff(degree_condition(b), degree_condition(a), key))
        for key in ("mean_unconsented_exposure", "unconsented_harm")
        for a, b in itertools.pairwise(DEGREES)
    ]
    positive = all(
        (res.values(degree_condition(d), "exposed_without_consent_share") > 0).all()
        for d in DEGREES
    )
    grows = [d.low > 0 for _, _, d in diffs]
    top = res.est(degree_condition(DEGREES[-1]), "exposed_without_consent_share")
    saturated = top.mean >= SATURATED
    text = (
        "| mean degree | `exposed_without_consent_share` | `mean_unconsented_exposure` | "
        "`unconsented_harm` (CNY per user a month) | exposed above the threshold only through "
        "contacts (own data not held) | own data held by a party without consent | "
        "`broker_reach_share` | data held by a platform the user has left |\n"
        "|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n| paired difference | mean [95% CI] |\n|---|---|\n"
        + "\n".join(
            f"| `exposed_without_consent_share`, degree {b:g} − degree {a:g} | {d} |"
            for a, b, d in diffs
        )
        + "\n"
        + "\n".join(
            f"| `{key}`, degree {b:g} − degree {a:g} (diagnostic) | {d} |"
            for key, a, b, d in continuous
        )
        + f"\n\nCriteria: the share > 0 at every mean degree ≥ 1, in every replication "
        f"({yes(positive)}); it grows with mean degree, each paired interval above 0 "
        f"({', '.join(yes(g) for g in grows)}). The exposure threshold is "
        f"`exposure_threshold` = {DEFAULT['exposure_threshold']:g}."
    )
    notes = []
    if saturated:
        notes.append(
            f"At mean degree {DEGREES[-1]:g} (the default) the share is {top.mean:.4f}: "
            "saturated near 1, so the last step is small; the continuous "
            "`mean_unconsented_exposure` and `unconsented_harm` beside it show how much more "
            "exposure a user carries (the diagnostics above)."
        )
    base = res.est(degree_condition(0.0), "exposed_without_consent_share").mean
    contact = [res.est(degree_condition(d), "contact_only_unconsented_share").mean for d in DEGREES]
    brokers0 = res.est(degree_condition(0.0), "broker_reach_share").mean
    former0 = res.est(degree_condition(0.0), "former_platform_share").mean
    if base > 0.5:
        notes.append(
            f"The share is mostly not the chat-contacts effect. With no contacts at all "
            f"(mean degree 0) it is already {base:.3f}: users' *own* data sits with holders "
            f"they never consented to — brokers (`broker_reach_share` {brokers0:.3f}; broker "
            "trade is tolerated under click_through) and platforms the user has left "
            f"({former0:.3f}: a platform keeps a former member's data while her platform "
            "consent ends with her membership). The chat-contacts effect proper — exposed "
            "only through contacts — is "
            f"{res.est(degree_condition(0.0), 'contact_only_unconsented_share').mean:.3f} at "
            "degree 0 and "
            + ", ".join(f"{c:.3f}" for c in contact)
            + f" at degree {', '.join(f'{d:g}' for d in DEGREES)}."
        )
    holds: bool | None = positive and all(grows)
    summary = ", ".join(
        f"degree {d:g}: {res.est(degree_condition(d), 'exposed_without_consent_share').mean:.3f}"
        for d in DEGREES
    )
    harm = ", ".join(
        f"{res.est(degree_condition(d), 'unconsented_harm').mean:.2f}" for d in DEGREES
    )
    return Verdict(
        holds,
        text,
        f"`exposed_without_consent_share` {summary}; `unconsented_harm` {harm} CNY",
        notes,
        dict(positive=positive, steps=[d.record() for _, _, d in diffs]),
    )


def best_sharing(res: Results, name: Callable[[str], str] = lambda r: r) -> str:
    """The sharing regime with the highest mean `total_welfare` (by the condition names)."""
    return max(SHARING_REGIMES, key=lambda r: res.est(name(r), "total_welfare").mean)


WELFARE_COLUMNS = (
    "consumer_surplus",
    "privacy_harm",
    "platform_profit",
    "maker_profit",
    "broker_profit",
    "fines_and_trust",
    "mean_ai_quality",
    "maker_flow_share",
    "first_best_maker_share",
    "mean_exposure",
)


def welfare_table(res: Results, name: Callable[[str], str], best: str) -> list[str]:
    rows = [
        "| regime | `total_welfare` mean [95% CI] | consumer surplus | privacy harm | "
        "platform profit | maker profit | broker profit | fines and trust | "
        "`mean_ai_quality` | maker-flow share | first best's maker share | `mean_exposure` |",
        "|" + "---|" * (len(WELFARE_COLUMNS) + 2),
    ]
    for regime in REGIMES:
        cells = [str(res.est(name(regime), "total_welfare"))]
        cells += [f"{round(res.est(name(regime), k).mean, 3) + 0.0:.3f}" for k in WELFARE_COLUMNS]
        label = f"{regime} (best sharing)" if regime == best else regime
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows


def ban_comparison(res: Results, name: Callable[[str], str]) -> dict:
    """The fact-4 comparison on one set of conditions: the best sharing regime, ban − each."""
    best = best_sharing(res, name)
    diffs = {r: res.diff(name("ban"), name(r), "total_welfare") for r in SHARING_REGIMES}
    return dict(
        best=best,
        diffs=diffs,
        below_best=diffs[best].high < 0,
        below=[r for r, d in diffs.items() if d.high < 0],
        above=[r for r, d in diffs.items() if d.low > 0],
    )


def ban_text(res: Results, name: Callable[[str], str], cmp: dict) -> str:
    best = cmp["best"]
    return (
        "\n".join(welfare_table(res, name, best))
        + "\n\n| paired difference in `total_welfare` | mean [95% CI] |\n|---|---|\n"
        + "\n".join(f"| ban − {r} | {d} |" for r, d in cmp["diffs"].items())
        + f"\n\nThe best sharing regime (highest mean `total_welfare` among the six that allow "
        f"sharing) is `{best}`. Criterion: the paired interval of ban − {best} lies below 0 "
        f"({yes(cmp['below_best'])}). Choosing the best by its mean favours the fact a little; "
        f"ban is significantly below {', '.join(cmp['below']) or 'none'}, and significantly "
        f"above {', '.join(cmp['above']) or 'none'}."
    )


def ban_notes(res: Results, name: Callable[[str], str], cmp: dict) -> list[str]:
    """Why the ban lands where it does, where the diagnostics show it."""
    best = cmp["best"]

    def mean(regime: str, key: str) -> float:
        return res.est(name(regime), key).mean

    notes = []
    q_ban, q_best = mean("ban", "mean_ai_quality"), mean(best, "mean_ai_quality")
    cs_ban, cs_best = mean("ban", "consumer_surplus"), mean(best, "consumer_surplus")
    h_ban, h_best = mean("ban", "privacy_harm"), mean(best, "privacy_harm")
    fb_best = mean(best, "first_best_maker_share")
    flow_best = mean(best, "maker_flow_share")
    if cmp["below_best"] and q_ban < q_best:
        notes.append(
            f"Why: under the ban makers get no platform data, so their AI quality stays near "
            f"q0 (`mean_ai_quality` {q_ban:.3f} vs {q_best:.3f} under {best}) and every user "
            f"gets the generic service (γ = {DEFAULT['generic_service_share']:g} of the "
            "personalised one). "
            + (
                f"The ban has less privacy harm ({h_ban:.3f} vs {h_best:.3f} CNY) but "
                if h_ban < h_best
                else f"The ban does not even have less privacy harm ({h_ban:.3f} vs "
                f"{h_best:.3f} CNY: platforms still hold data, and breaches), and "
            )
            + f"consumer surplus is lower ({cs_ban:.3f} vs {cs_best:.3f}): the pooled-data "
            "quality gain that a sharing regime delivers to every user of a maker is the "
            "nonrival gain of Jones & Tonetti."
        )
    gap = cmp["diffs"][best]
    if not cmp["below_best"]:

        def paired(key: str) -> float:
            return res.diff(name("ban"), name(best), key).mean

        profits = sum(paired(k) for k in ("platform_profit", "maker_profit", "broker_profit"))
        if gap.low > 0:
            where = f"The ban is above {best} ({gap})"
        elif gap.mean > 0:
            where = (
                f"The ban is above {best} in the mean, but the replications cannot tell them "
                f"apart ({gap})"
            )
        else:
            where = f"The ban is below {best} in the mean, but the interval reaches 0 ({gap})"
        notes.append(
            f"Why not: {where}. Ban − {best}, paired means, CNY per user a month: consumer "
            f"surplus {paired('consumer_surplus'):+.3f}, which nets out a change in privacy "
            f"harm of {paired('privacy_harm'):+.3f} (harm is subtracted from consumer surplus, "
            "so less harm under the ban adds as much to it) from the lost personalisation; "
            f"profits {profits:+.3f}; fines and the trust {paired('fines_and_trust'):+.3f}; "
            f"`mean_ai_quality` {q_ban:.3f} vs {q_best:.3f}."
            + (
                f" The planner agrees that little data should flow: in {best}'s months its "
                f"first best lets makers hold the data of {fb_best:.3f} of users, against "
                f"{flow_best:.3f} whose device maker uses their data — at this θ the harm of "
                "a flow exceeds its nonrival gain for most users."
                if gap.mean > 0 and h_best > h_ban and fb_best < flow_best / 2
                else ""
            )
        )
        breaches = {r: 12 * mean(r, "breaches") for r in (best, "ban")}
        if max(breaches.values()) > 0:
            notes.append(
                "A source of noise: a breach costs everyone whose data the breached holder has "
                f"κ = {DEFAULT['breach_harm_multiplier']:g} months of harm at once, so one "
                "breach of a large holder moves a run's mean welfare by several CNY. Breaches "
                "per run in the averaged months: "
                + ", ".join(f"{r} {b:.1f}" for r, b in breaches.items())
                + f"; the sd of `total_welfare` over replications is "
                f"{np.std(res.values(name(best), 'total_welfare'), ddof=1):.2f} under {best} "
                f"and {np.std(res.values(name('ban'), 'total_welfare'), ddof=1):.2f} under "
                "the ban."
            )
    not_beaten = [r for r in SHARING_REGIMES if r not in cmp["below"]]
    if cmp["below_best"] and not_beaten:
        harm_best = h_best
        reasons = []
        for r in not_beaten:
            harm, flow = mean(r, "privacy_harm"), mean(r, "maker_flow_share")
            why = []
            if harm > 2 * harm_best:
                why.append(f"privacy harm {harm:.3f}, more than twice {best}'s")
            if flow < flow_best / 2:
                why.append(f"maker-flow share {flow:.3f}, less than half {best}'s")
            reasons.append(
                f"{r} (`total_welfare` {mean(r, 'total_welfare'):.3f}"
                + (f"; {'; '.join(why)}" if why else "")
                + ")"
            )
        notes.append(
            "The ban is not significantly below every sharing regime: "
            + ", ".join(reasons)
            + ". The fact, as stated, compares the ban with the *best* sharing regime."
        )
    return notes


def fact4(res: Results) -> Verdict:
    cmp = ban_comparison(res, lambda r: r)
    best = cmp["best"]
    notes = ban_notes(res, lambda r: r, cmp)
    notes.append(
        "Prediction 2 below repeats this comparison on fresh seeds at both valuation bases "
        "(revealed and wtp)."
    )
    return Verdict(
        cmp["below_best"],
        ban_text(res, lambda r: r, cmp),
        f"`total_welfare` ban {res.est('ban', 'total_welfare').mean:.3f}, best sharing "
        f"({best}) {res.est(best, 'total_welfare').mean:.3f}",
        notes,
        dict(best=best, ban_minus_best=cmp["diffs"][best].record()),
    )


def fact5(res: Results) -> Verdict:
    keys = (
        ("maker_flow_share", "users whose device maker uses their data this month"),
        ("maker_reach_share", "users whose data some maker holds"),
        ("device_consent_share", "users consenting to their device maker"),
        ("licensed_pairs", "`licensed_pairs`"),
        ("mean_exposure", "`mean_exposure`"),
        ("mean_device_price", "`mean_device_price` (CNY a month)"),
        ("device_hhi", "`device_hhi`"),
        ("top_share", "device share of the largest maker"),
        ("leader_share", "device share of maker 0 (the largest at the start)"),
    )
    rows = [
        f"| {label} | {res.est('click_through', k)} | {res.est('informed_consent', k)} | "
        f"{res.diff('informed_consent', 'click_through', k)} | "
        f"{res.est(NO_COMPLIANCE, k).mean:.4f} |"
        for k, label in keys
    ]
    flow = res.diff("informed_consent", "click_through", "maker_flow_share")
    reach = res.diff("informed_consent", "click_through", "maker_reach_share")
    hhi = res.diff("informed_consent", "click_through", "device_hhi")
    cuts = flow.high < 0 and reach.high < 0
    raises = hhi.low > 0
    text = (
        "| quantity | click_through | informed_consent | informed − click (paired) | "
        "ablation: informed_consent with `compliance_cost` = 0 (mean) |\n"
        "|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nCriteria: flows fall, the paired intervals of the maker-flow share and of the "
        f"maker-reach share below 0 ({yes(cuts)}); `device_hhi` rises, its paired interval "
        f"above 0 ({yes(raises)})."
    )
    holds: bool | None = True if cuts and raises else (None if cuts or raises else False)
    ablation = res.diff(NO_COMPLIANCE, "click_through", "device_hhi")
    cost = REGIMES["informed_consent"].compliance_cost
    notes = []
    if raises and ablation.low <= 0:
        notes.append(
            "Why concentration rises: through the compliance cost, not the consent rule. The "
            f"informed_consent preset also sets `compliance_cost` = {cost:,.0f} CNY a month per "
            f"data relationship a maker keeps ({cost / DEFAULT['market_size']:.4f} CNY per user "
            "of the market; click_through: "
            f"{REGIMES['click_through'].compliance_cost:g}). Being fixed, it weighs more on "
            "small makers (the largest maker's share: "
            f"{res.est('click_through', 'top_share').mean:.3f} under click_through, "
            f"{res.est('informed_consent', 'top_share').mean:.3f} under informed_consent). With "
            f"the same preset but `compliance_cost` = 0 (ablation), `device_hhi` − click_through "
            f"is {ablation} — no rise that the replications can tell apart from zero: in the "
            "model the consent rule alone does not concentrate the market."
        )
    elif raises:
        notes.append(
            f"With the same preset but `compliance_cost` = 0 (ablation), `device_hhi` − "
            f"click_through is {ablation}: concentration rises without the compliance cost too."
        )
    lic_c, lic_i, lic_0 = (
        res.est(c, "licensed_pairs").mean
        for c in ("click_through", "informed_consent", NO_COMPLIANCE)
    )
    if cuts:
        cause = (
            "the per-relationship compliance cost"
            if lic_0 - lic_i > lic_c - lic_0
            else "the consent rule itself"
        )
        notes.append(
            "Why flows fall: fewer users consent (a real reject option, and consent can be "
            "withdrawn), and fewer platform–maker pairs share (`licensed_pairs`: "
            f"{lic_c:.2f} under click_through, {lic_i:.2f} under informed_consent, {lic_0:.2f} "
            f"with informed consent but no compliance cost — most of the fall in licences comes "
            f"from {cause})."
        )
    return Verdict(
        holds,
        text,
        f"informed − click: maker-flow share {flow.mean:+.3f}, maker reach {reach.mean:+.3f}, "
        f"`device_hhi` {hhi.mean:+.4f}",
        notes,
        dict(flow=flow.record(), reach=reach.record(), hhi=hhi.record()),
    )


def fact6(res: Results) -> Verdict:
    informed_wtp = leakage_condition(DEFAULT["leakage"], "wtp")
    shown = (
        ("informed_consent", "informed_consent (revealed)"),
        (informed_wtp, "informed_consent (wtp)"),
        ("click_through", "click_through (revealed)"),
    )
    rows = [
        f"| {label} | {res.est(c, 'theta_ratio')} | {res.est(c, 'theta_median_ratio')} | "
        f"{res.est(c, 'harm_theta_ratio').mean:.4f} | "
        f"{res.est(c, 'device_consent_share').mean:.3f} |"
        for c, label in shown
    ]
    ratio = res.est("informed_consent", "theta_ratio")
    ratio_wtp = res.est(informed_wtp, "theta_ratio")
    below = ratio.high < 1
    below_wtp = ratio_wtp.high < 1
    text = (
        "| condition (valuation basis) | mean θ of consenters / population mean θ | median "
        "ratio | the same on the θ that counts in welfare | share consenting |\n"
        "|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nCriterion: under informed_consent the interval of the mean ratio lies below 1 "
        f"({yes(below)}; at wtp: {yes(below_wtp)}). click_through is shown for contrast. "
        "θ is the privacy cost behind decisions; the θ that counts in welfare is θ times a "
        "constant (1 at revealed), so the two ratios of a run agree. "
        + (
            "The runs at the two bases are the same, replication by replication: at "
            "informed_consent the basis changes how harm is counted, not what anyone does."
            if np.array_equal(res.values("informed_consent", "theta_ratio"), ratio_wtp.values)
            and np.array_equal(
                res.values("informed_consent", "device_consent_share"),
                res.values(informed_wtp, "device_consent_share"),
            )
            else "The runs at the two bases differ (the basis reaches some decisions), by "
            f"{res.diff(informed_wtp, 'informed_consent', 'theta_ratio')} in the ratio."
        )
    )
    notes = [
        "Mechanism: only readers select on θ (a reader refuses, or later withdraws, when "
        "β·θ·ρ_maker·(1 − ē) exceeds the personalisation gain and any payment, plus noise); "
        f"non-readers accept with probability {DEFAULT['p_neutral']:g} whatever their θ, and "
        "a refused request is asked again after `reask_interval` months, so non-readers drift "
        "into consent. Selection is therefore concentrated in the high-θ tail and diluted by "
        "the users who do not read; under click-through (non-readers accept with "
        f"{DEFAULT['p_click']:g}, refusal costs the feature) it nearly vanishes."
    ]
    return Verdict(
        below,
        text,
        f"mean θ of consenters / population {ratio.mean:.3f} [{ratio.low:.3f}, {ratio.high:.3f}]"
        f" (wtp: {ratio_wtp.mean:.3f})",
        notes,
        dict(ratio=ratio.record(), ratio_wtp=ratio_wtp.record()),
    )


@dataclass(frozen=True)
class Fact:
    title: str
    statement: str
    source: str
    experiment: str
    evaluate: Callable[[Results], Verdict]
    changed: str = ""  # what changed from version 1, and why


FACTS: tuple[Fact, ...] = (
    Fact(
        "Consent follows the interface",
        "Consent rates follow the interface, not preferences: near-universal (≥ 0.9) under "
        "click-through, far lower under separate consent.",
        "Obar & Oeldorf-Hirsch (97% agree, B15) [V]; B9 industry field study (90–98% accept "
        "without a reject option, ~50% refuse with one) [P]; Nouwens et al. CHI 2020 (a reject "
        "button moves consent 22–23 points) [V].",
        "`click_through` vs `informed_consent` at the default calibration; `consent_rate` "
        "(share of the month's consent requests accepted; a month without requests is "
        "missing and skipped).",
        fact1,
    ),
    Fact(
        "Informed consent still over-shares under the social externality",
        "`oversharing_share` > 0 under `informed_consent` when λ > 0, and it grows with λ.",
        "Choi, Jeon & Kim 2019 (J. Public Econ.) [V]; Acemoglu, Makhdoumi, Malekian & Ozdaglar "
        "2022 [V].",
        "`informed_consent` at leakage λ ∈ {0.1, 0.3, 0.6}, and λ = 0 as a reference; other "
        "parameters at their defaults; at `privacy_valuation_basis` = revealed (the default, "
        "the verdict) and = wtp (reported beside). Diagnostics: the planner's "
        "`oversharing_loss`, its externality part `externality_oversharing_loss`, and how much "
        "data the first best lets makers hold (`model.first_best`).",
        fact2,
        "Version 1 split the share into maker and broker flows with the removed "
        "`model.metrics.potential_flows`; version 2's planner (`model/planner.py`) reports the "
        "externality part itself (`externality_oversharing_loss`), which the diagnostics now "
        "use. The criterion on `oversharing_share` is unchanged. The share is now measured "
        "against the planner's first best over holdings (version 2's planner, not a flow-by-flow "
        "cost test), and it depends on which θ counts in welfare, hence the two bases.",
    ),
    Fact(
        "Non-consenters are exposed, more so with more contacts",
        "Users who never consented are exposed under click-through (the chat-contacts effect), "
        "and the share grows with mean degree.",
        "Acemoglu et al. 2022 [V]; Choi, Jeon & Kim 2019 [V]; MODEL.md §1 (the fourth point).",
        "`click_through` at mean degree ∈ {1, 4, 20}, and 0 as a reference; "
        "`exposed_without_consent_share` (unconsented exposure above `exposure_threshold`), "
        "with its parts read from the model's state, and the continuous "
        "`mean_unconsented_exposure` and `unconsented_harm` as diagnostics.",
        fact3,
        "Unchanged criterion. Version 2 counts a user as exposed only above "
        "`exposure_threshold` (version 1: any exposure above 0), and exposure through contacts "
        "is R²(k; λ) = kλ²/(1 + (k − 1)λ), which grows with the number k of sharing contacts.",
    ),
    Fact(
        "A ban loses the gains from nonrival use",
        "Total welfare under `ban` is below the best sharing regime.",
        "Jones & Tonetti 2020 (AER) [V]; 2018 WP: outlawing sharing ≈ 1/3 of the planner's "
        "welfare [P].",
        "All seven presets at the default calibration (`privacy_valuation_basis` = revealed); "
        "`total_welfare` and its parts.",
        fact4,
        "Unchanged criterion. Money is now 2017 CNY and privacy harm is counted at the θ "
        "behind decisions (the default basis); prediction 2 adds the wtp basis.",
    ),
    Fact(
        "Stronger consent rules cut flows and raise concentration",
        "Stronger consent rules (informed_consent vs click_through) cut data flows and raise "
        "the concentration of device makers (`device_hhi`).",
        "Johnson, Shriver & Goldberg 2023 (vendor use −15%, concentration +17%) [V]; Janßen et "
        "al. 2022 [V]; Peukert et al. 2022 [V].",
        "`click_through` vs `informed_consent` at the default calibration. Flows: the share of "
        "users whose device maker uses their data this month (`data_quality` > 0) and the "
        "share whose data any maker holds (`users.holds[:, makers].any(axis=1)`). Ablation: "
        "informed_consent with its `compliance_cost` lever set to 0.",
        fact5,
        "Unchanged criterion. Makers now set device prices (`mean_device_price`, shown).",
    ),
    Fact(
        "Opt-outs are selective",
        "Among users with a standing consent to their device maker under informed_consent, "
        "mean privacy cost θ is below the population mean.",
        "Aridor, Che & Salz 2023 (RAND J. Econ.) [V].",
        "`informed_consent` at the default calibration (and at `privacy_valuation_basis` = "
        "wtp, beside); θ from `users.theta`, consent from `users.consented` at each user's "
        "device maker; the ratio is taken each of the last 12 months and averaged.",
        fact6,
        "Unchanged criterion; reported at both valuation bases (decisions use the same θ).",
    ),
)


# ---------------------------------------------------------------------------------------------
# Theory predictions (issue 15, item 6): directions fixed here, before the runs, on fresh seeds.


@dataclass(frozen=True)
class Prediction:
    key: str
    title: str
    statement: str
    source: str
    experiment: str
    evaluate: Callable[[Results], Verdict]


def shown_verdict(parts: list[bool | None]) -> bool | None:
    """All shown: holds (True); some: holds in part (None); none: does not hold (False). A part
    that cannot be computed counts as not shown."""
    if all(p is True for p in parts):
        return True
    return None if any(p is True for p in parts) else False


def price_change(res: Results, low: str, high: str) -> tuple[Estimate, bool | None, str]:
    """The paired change in `mean_data_price` from `low` to `high`, whether it falls (None: it
    cannot be computed), and why not."""
    change = res.diff(high, low, "mean_data_price")
    prices = np.concatenate(
        [res.values(low, "mean_data_price"), res.values(high, "mean_data_price")]
    )
    if not np.all(np.isfinite(prices)):
        return change, None, "no consenting user's data flowed in some replication (price NaN)"
    if np.all(prices == 0):
        return change, None, "nobody is paid: the price is 0 in every replication at both λ"
    return change, change.high < 0, ""


def prediction1(res: Results) -> Verdict:
    rows = []
    for rational in (False, True):
        for lam in LEAKAGES:
            c = fresh_leakage(lam, rational)
            rows.append(
                f"| {'informed, rational users (labelled)' if rational else 'defaults'} | "
                f"{lam:g} | {res.est(c, 'oversharing_loss')} | "
                f"{res.est(c, 'externality_oversharing_loss').mean:.3f} | "
                f"{res.est(c, 'oversharing_share').mean:.3f} | {res.est(c, 'mean_data_price')} | "
                f"{res.est(c, 'paid_share').mean:.4f} | {res.est(c, 'consent_rate').mean:.3f} |"
            )
    low, high = fresh_leakage(0.1), fresh_leakage(0.6)
    over = res.diff(high, low, "oversharing_loss")
    price, falls, why = price_change(res, low, high)
    r_low, r_high = fresh_leakage(0.1, True), fresh_leakage(0.6, True)
    r_over = res.diff(r_high, r_low, "oversharing_loss")
    r_price, r_falls, r_why = price_change(res, r_low, r_high)
    rises = over.low > 0
    holds = shown_verdict([rises, falls])
    conditions = ", ".join(f"`{k}` = {v:g}" for k, v in RATIONAL_USERS.items())
    text = (
        "| condition | λ | `oversharing_loss` (CNY per user a month) | "
        "`externality_oversharing_loss` | `oversharing_share` | `mean_data_price` (CNY per "
        "consenting user a month) | users paid for consent | `consent_rate` |\n"
        "|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n| paired difference, λ 0.6 − λ 0.1 | mean [95% CI] |\n|---|---|\n"
        f"| `oversharing_loss`, defaults | {over} |\n"
        f"| `mean_data_price`, defaults | {price} |\n"
        f"| `oversharing_loss`, informed, rational users (labelled) | {r_over} |\n"
        f"| `mean_data_price`, informed, rational users (labelled) | {r_price} |\n\n"
        f"Criteria (at the defaults): `oversharing_loss` rises, the paired interval of λ 0.6 − "
        f"λ 0.1 above 0 ({yes(rises)}); `mean_data_price` falls, its paired interval below 0 "
        f"({yes(falls)}{'; ' + why if why else ''}). The labelled condition ({conditions}: "
        f"everyone reads, no fatigue, almost no noise) is where buyers pay; it is reported, "
        f"not judged: there `oversharing_loss` rises: {yes(r_over.low > 0)}; the price falls: "
        f"{yes(r_falls)}{'; ' + r_why if r_why else ''}."
    )
    notes = []
    paid = max(float(res.values(fresh_leakage(lam), "paid_share").max()) for lam in LEAKAGES)
    top_price = max(
        float(np.nanmax(res.values(fresh_leakage(lam), "mean_data_price"))) for lam in LEAKAGES
    )
    if falls is not True and paid < 1e-3:
        notes.append(
            "At the calibrated values makers pay almost nobody for consent (at most a share "
            f"{paid:.5f} of users paid, a mean price of at most {top_price:.4f} CNY per "
            "consenting user a month, in any replication and λ): a maker's payment "
            "is its optimum against acceptance (`model/prices.py`), and with most requests "
            "unread, non-readers accepting a neutral request with "
            f"{DEFAULT['p_neutral']:g} and raising their log-odds by only "
            f"{DEFAULT['payment_salience']:g} per CNY, and readers' answers noisy (scale "
            f"{DEFAULT['consent_noise']:g} CNY), a payment buys too little extra acceptance to "
            "be worth its cost on every user who accepts anyway. So the price channel is shut "
            "at the defaults; the labelled condition shows what it does where it is open."
        )
    if r_falls is True:
        notes.append(
            "Where buyers pay, the price of data falls with λ: a maker pays a user her marginal "
            "harm, β θ ρ (1 − ē), and ē, what it already learns of her through contacts who "
            "shared, grows with λ (Acemoglu et al. 2022's reason: the seller's, not the "
            "buyer's)."
        )
    return Verdict(
        holds,
        text,
        f"`oversharing_loss` λ 0.6 − 0.1: {over.mean:+.3f} CNY; `mean_data_price` "
        + (f"{price.mean:+.3f}" if falls is not None else "0 at every λ (nobody paid)")
        + (f"; where buyers pay (labelled): {r_price.mean:+.3f}" if r_falls is not None else ""),
        notes,
        dict(
            oversharing_loss=over.record(),
            oversharing_rises=rises,
            price=price.record(),
            price_falls=falls,
            rational_oversharing_loss=r_over.record(),
            rational_price=r_price.record(),
            rational_price_falls=r_falls,
        ),
    )


def prediction2(res: Results) -> Verdict:
    parts, texts, notes, record = [], [], [], {}
    for basis in BASES:

        def name(regime: str, basis: str = basis) -> str:
            return fresh_regime(regime, basis)

        cmp = ban_comparison(res, name)
        parts.append(cmp["below_best"])
        texts.append(f"At `privacy_valuation_basis` = {basis}:\n\n" + ban_text(res, name, cmp))
        notes += [f"At {basis}: {n}" for n in ban_notes(res, name, cmp)]
        record[basis] = dict(
            best=cmp["best"],
            ban_minus_best=cmp["diffs"][cmp["best"]].record(),
            below_best=cmp["below_best"],
        )
    notes.append(flip_note(res))
    notes += breach_basis_note(res)
    holds = shown_verdict(parts)
    text = (
        "\n\n".join(texts)
        + "\n\nCriterion, at each basis: the paired interval of ban − (best sharing regime) "
        "lies below 0 ("
        + "; ".join(f"{b}: {yes(p)}" for b, p in zip(BASES, parts, strict=True))
        + "). Holds at both: holds; at one: holds in part."
    )

    def figures(basis: str) -> str:
        best = record[basis]["best"]
        return (
            f"{basis}: ban {res.est(fresh_regime('ban', basis), 'total_welfare').mean:.2f} vs "
            f"{best} {res.est(fresh_regime(best, basis), 'total_welfare').mean:.2f}"
        )

    return Verdict(holds, text, "; ".join(figures(b) for b in BASES), notes, record)


def breach_basis_note(res: Results) -> list[str]:
    """Whether breach harm follows the valuation basis: the same runs at both bases (a regime
    whose decisions the basis does not reach) should show breach harm scaled like all harm."""
    same, scaled = [], []
    for regime in REGIMES:
        rev = res.values(fresh_regime(regime, "revealed"), "breach_harm")
        wtp = res.values(fresh_regime(regime, "wtp"), "breach_harm")
        if rev.max() > 0:
            (same if np.allclose(rev, wtp) else scaled).append(regime)
    if not same:
        return []
    ban = fresh_regime("ban", "wtp")
    return [
        "A model issue that bears on the wtp figures: breach harm does not follow the "
        "valuation basis. In "
        + ", ".join(same)
        + " the breach harm (`month.breach_harm`, part of `privacy_harm`) is the same at wtp "
        "as at revealed, replication by replication, where all other harm is × "
        f"{wtp_scale():.3f}: `model/flows.py::run_breaches` passes the decision θ "
        "(`users.theta`) to `breach_harm`, not the welfare θ (`users.harm_theta`). At wtp it "
        f"is {res.est(ban, 'breach_harm').mean:.3f} of the ban's privacy harm of "
        f"{res.est(ban, 'privacy_harm').mean:.3f} CNY per user a month. Reported, not "
        "corrected here; the wtp welfare of a regime with breaches is understated."
    ]


def flip_note(res: Results) -> str:
    """Where the regime with the highest `total_welfare` changes between the two bases, with
    each regime's welfare taken as linear in the welfare θ's factor f between its two runs (an
    approximation: it ignores what the basis changes in the run itself)."""
    low, high = wtp_scale(), 1.0
    grid = np.linspace(low, high, 2001)
    welfare = np.array(
        [
            [res.est(fresh_regime(r, b), "total_welfare").mean for b in ("wtp", "revealed")]
            for r in REGIMES
        ]
    )  # (regimes, 2)
    share = (grid - low) / (high - low)
    lines = welfare[:, :1] + share[None, :] * (welfare[:, 1:] - welfare[:, :1])
    leader = np.argmax(lines, axis=0)
    regimes = list(REGIMES)
    changes = np.flatnonzero(np.diff(leader)) + 1
    median = DEFAULT["privacy_cost_median"]
    steps = [
        f"at f ≈ {grid[i]:.3f} (a median welfare θ of {grid[i] * median:.1f} CNY) "
        f"{regimes[leader[i - 1]]} gives way to {regimes[leader[i]]}"
        for i in changes
    ]
    return (
        "Which regime ranks first on `total_welfare`, between the bases: with the welfare θ "
        f"= f × θ, f = {low:.3f} at wtp and 1 at revealed, and each regime's welfare taken as "
        "linear in f between its two runs (an approximation that ignores what the basis "
        f"changes in the runs themselves), {regimes[leader[0]]} ranks first at wtp and "
        f"{regimes[leader[-1]]} at revealed; "
        + ("; ".join(steps) if steps else "the leader does not change in between")
        + "."
    )


def prediction3(res: Results) -> Verdict:
    regimes = list(REGIMES)
    rows, parts, record, notes = [], [], {}, []
    for basis in BASES:
        names = [fresh_regime(r, basis) for r in regimes]

        def matrix(key: str, names: list[str] = names) -> np.ndarray:
            return np.array([res.values(n, key) for n in names])  # (regimes, reps)

        w1, g1 = matrix("month1_total_welfare"), matrix("month1_welfare_gap")
        w, g = matrix("total_welfare"), matrix("welfare_gap")
        month1 = [opposite(g1[:, r], w1[:, r]) for r in range(res.reps)]
        path_reps = [reversed_pairs(g[:, r], w[:, r]) for r in range(res.reps)]
        path = opposite(g.mean(axis=1), w.mean(axis=1))
        spread1 = (w1 + g1).max(axis=0) - (w1 + g1).min(axis=0)  # per replication
        spread_w1 = w1.max(axis=0) - w1.min(axis=0)
        spread = (w + g).mean(axis=1)
        # Month 1 without the regimes breached that month (a breach's harm is realised in W,
        # while the planner counts breaches at their expected rate).
        calm = matrix("month1_breaches") == 0
        calm_spread = [
            float(np.ptp((w1 + g1)[calm[:, r], r])) if calm[:, r].sum() > 1 else math.nan
            for r in range(res.reps)
        ]
        parts += [all(month1), path]
        order_w = [regimes[i] for i in np.argsort(-w.mean(axis=1))]
        order_g = [regimes[i] for i in np.argsort(g.mean(axis=1))]
        rows.append(
            f"| {basis} | {sum(month1)} of {res.reps} | {spread1.mean():.4f} "
            f"(largest {spread1.max():.4f}) | {np.nanmax(calm_spread):.4f} | "
            f"{int((~calm).any(axis=0).sum())} | {spread_w1.mean():.4f} | "
            f"{yes(path)} | "
            + ", ".join(f"{a}/{b}" for a, b in path_reps)
            + f" | {spread.max() - spread.min():.3f} | {' > '.join(order_w)} | "
            f"{' > '.join(order_g)} |"
        )
        breached = (~calm).any(axis=0)
        missed = [r for r in range(res.reps) if not month1[r]]
        if missed:
            notes.append(
                f"At {basis}, month 1 is not reversed in replication(s) "
                + ", ".join(str(r + 1) for r in missed)
                + (
                    ", each with a breach that month (in "
                    + "; ".join(
                        ", ".join(regimes[i] for i in np.flatnonzero(~calm[:, r])) for r in missed
                    )
                    + "): the breached regime's welfare falls by its realised breach harm "
                    "while its gap, which counts breaches at their expected rate, does not "
                    "rise with it."
                    if all(breached[r] for r in missed)
                    else "; not every such replication had a breach."
                )
            )
        record[basis] = dict(
            month1_calm_spread=float(np.nanmax(calm_spread)),
            month1_reversed_reps=int(sum(month1)),
            month1_first_best_spread=float(spread1.max()),
            path_reversed=bool(path),
            path_reversed_pairs=[int(a) for a, _ in path_reps],
            pairs=int(path_reps[0][1]),
        )
    holds = shown_verdict(parts)
    text = (
        "W + gap is the first-best total welfare of the month as the planner finds it "
        "(`welfare_gap` = first best − realised). If every regime faced the same first best "
        "(same users, graph, devices and memberships — month 1 on the same seed, before the "
        "regimes' paths part, is the closest the runs come), `welfare_gap` would order the "
        "regimes exactly opposite to `total_welfare`; over a path each regime's own state sets "
        "its own first best, so it need not. The table measures how far W + gap is shared.\n\n"
        "| basis | month 1: replications in which `welfare_gap` orders the 7 regimes exactly "
        "opposite to `total_welfare` | month 1: spread of W + gap across regimes (CNY; mean "
        "over replications) | month 1: the same, largest, over the regimes without a breach "
        "that month | month 1: replications with a breach in some regime | month 1: spread of "
        "W across regimes | path (last 12 months, means over replications): exactly opposite? "
        "| path, per replication: pairs ordered oppositely / pairs | path: spread of W + gap "
        "across regimes | path: regimes by `total_welfare` (best first) | path: regimes by "
        "`welfare_gap` (smallest first) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nCriteria, at each basis: month 1, exactly opposite in every replication; path, "
        "the regimes' mean `welfare_gap` exactly opposite to their mean `total_welfare`. "
        + "; ".join(
            f"{b}: month 1 {yes(parts[2 * i])}, path {yes(parts[2 * i + 1])}"
            for i, b in enumerate(BASES)
        )
        + ". All four: holds; some: holds in part."
    )
    spreads = [record[b]["month1_first_best_spread"] for b in BASES]
    calm = [record[b]["month1_calm_spread"] for b in BASES]
    if max(spreads) > 1e-6:
        notes.append(
            "W + gap is not the same for every regime at month 1 (largest spread "
            f"{max(spreads):.4f} CNY per user a month; without the regimes breached that month "
            f"at most {np.nanmax(calm):.4f}). Three things part it, each visible in the model: "
            "a breach's harm is realised in `total_welfare` (κ months of harm to everyone the "
            "holder has), while the planner counts breaches at their expected rate; the "
            "regimes' states already differ in month 1 (consent, flows and so makers' data "
            "shares and the service delivered, device purchases at regime-dependent prices, "
            "memberships), and what the allocation does not move is not identical across them; "
            "and the planner's search is local and starts from each regime's realised "
            "allocation, so it can end on different local optima."
        )
    return Verdict(
        holds,
        text,
        "; ".join(
            f"{b}: month 1 {record[b]['month1_reversed_reps']}/{res.reps} reps, path "
            f"{'opposite' if record[b]['path_reversed'] else 'not opposite'}"
            for b in BASES
        ),
        notes,
        record,
    )


PREDICTIONS: tuple[Prediction, ...] = (
    Prediction(
        "P1",
        "Leakage raises over-sharing and lowers the price of data",
        "Under `informed_consent`, as `leakage` λ rises from 0.1 to 0.6, `oversharing_loss` "
        "rises and `mean_data_price` falls.",
        "Acemoglu, Makhdoumi, Malekian & Ozdaglar 2022 [V] (MODEL.md §10, §11).",
        "`informed_consent` at λ ∈ {0.1, 0.3, 0.6} at the defaults; the same with informed, "
        "rational users (labelled, not the defaults), where buyers pay.",
        prediction1,
    ),
    Prediction(
        "P2",
        "A ban is below the best sharing regime, at both valuation bases",
        "`total_welfare` under `ban` is below that of the best sharing regime, at "
        "`privacy_valuation_basis` = revealed and = wtp.",
        "Jones & Tonetti 2020 (AER) [V]; MODEL.md §11 (welfare bounded by WTP and WTA).",
        "All seven presets at each basis; otherwise the defaults.",
        prediction2,
    ),
    Prediction(
        "P3",
        "The welfare gap orders regimes opposite to total welfare",
        "Where the regimes share one first best, `welfare_gap` orders them exactly opposite "
        "to `total_welfare`: checked at month 1 (same seed, same month) and over the path.",
        "MODEL.md §10 (point 3: version 1's planner ranked the lowest-welfare regimes closest "
        "to first best), §11 (the path benchmark).",
        "All seven presets at each basis (the runs of P2); month 1, and the means of the "
        "last 12 months.",
        prediction3,
    ),
)


# ---------------------------------------------------------------------------------------------
# Calibration targets (MODEL.md §8): the table in `experiments.calibrate.TARGETS`, which also
# says which targets the calibration fitted and which it held out.


def in_band(e: Estimate, lo: float, hi: float) -> str:
    """Whether the simulated mean lies in the band, and how its interval sits."""
    if lo == hi:
        return "inside (the interval covers it)" if e.low <= lo <= e.high else "outside"
    if lo <= e.mean <= hi:
        if lo <= e.low and e.high <= hi:
            return "inside"
        return "inside (the interval overlaps the edge)"
    if e.high < lo or e.low > hi:
        return "outside"
    return "outside (the interval overlaps the band)"


def target_estimates(res: Results) -> dict[str, Estimate]:
    """Each calibration moment (`experiments.calibrate.moments`) at the validation's size."""
    return {
        "click_acceptance": res.est("click_through", "consent_rate"),
        "skip_share": res.est("click_through", "skip_share"),
        "reject_button_swing": res.diff("click_through", REJECT_BUTTON, "consent_rate"),
        "informed_acceptance": res.est("informed_consent", "consent_rate"),
        "opt_in_drop": Estimate(
            1.0
            - res.values("informed_consent", "maker_reach_share")
            / res.values("click_through", "maker_reach_share")
        ),
    }


def target_results(res: Results) -> list[dict]:
    """One record per target: the estimate, the verdict and the calibration role."""
    estimates = target_estimates(res)
    out = []
    for t in TARGETS:
        e = estimates[t.moment]
        out.append(
            dict(
                key=t.key,
                used=t.used,
                simulated=e.mean,
                ci_low=e.low,
                ci_high=e.high,
                inside=target_verdict(t, e.low, e.mean, e.high),
                placement=in_band(e, t.low, t.high),
            )
        )
    return out


def calibration_rows(res: Results, records: list[dict]) -> list[str]:
    def role(t) -> str:
        return "fitted" if t.used else "**HELD OUT**"

    rows = []
    for t, r in zip(TARGETS, records, strict=True):
        e = f"{r['simulated']:.4f} [{r['ci_low']:.4f}, {r['ci_high']:.4f}]"
        rows.append(
            f"| {t.quantity} | {t.source} | {t.tag} | {t.figure} | {t.measure}: {e} | "
            f"{'**yes**' if r['inside'] else '**no**'} ({r['placement']}) | {role(t)} |"
        )
    skip_i = res.est("informed_consent", "skip_share")
    drop_flow = Estimate(
        1.0
        - res.values("informed_consent", "maker_flow_share")
        / res.values("click_through", "maker_flow_share")
    )
    ports = res.est("portability", "ports_share")
    ported = res.est("portability", "ever_ported_share")
    rows += [
        "| granular choices on the first screen | Nouwens et al. 2020 [V] | V | consent −8 to "
        "−20 points | — (the model has no granularity lever) | cannot speak to it | — |",
        "| reading time of readers | Obar & Oeldorf-Hirsch (B14) [V] | V | 73 s for a ~30 min "
        "text | — (reading costs money per request, `reading_time_cost`; the model has no "
        "reading time) | cannot speak to it | — |",
        "| portability uptake | CERRE 2020 (B27) [V], qualitative | V | very low without "
        "real-time tools | portability regime (on request): users porting per month "
        f"{ports}; share who have ever ported by the end of the run {ported}; the monthly "
        "rate follows the input `port_uptake_on_request` = "
        f"{DEFAULT['port_uptake_on_request']:g} by construction | qualitative, no band | not "
        "calibrated (no number to fit) |",
    ]
    notes = [
        f"Diagnostics beside the targets: the skip share under informed_consent is {skip_i}; "
        "the drop under opt-in measured on this month's flows (users whose device maker uses "
        f"their data) rather than on holdings is {drop_flow}.",
    ]
    return [*rows, "", *notes]


# ---------------------------------------------------------------------------------------------
# Robustness of the headline ranking (tencent_huawei_2017): a Morris screen


ROBUST_REGIMES = tuple(REGIMES)  # the seven presets, as in experiments/tencent_huawei_2017.toml
# The main uncertainties, each over a range around its default (docs/ODD.md).
# The two money scales run from half to twice their defaults (2017 CNY).
ROBUST_FACTORS: dict[str, tuple[float, float]] = {
    "leakage": (0.1, 0.6),
    "mean_degree": (5.0, 50.0),
    "privacy_cost_median": (
        0.5 * DEFAULT["privacy_cost_median"],
        2 * DEFAULT["privacy_cost_median"],
    ),
    "privacy_cost_sigma": (0.5, 2.0),
    "attention_mean": (0.1, 0.5),
    "personalisation_value_median": (
        0.5 * DEFAULT["personalisation_value_median"],
        2 * DEFAULT["personalisation_value_median"],
    ),
}
ROBUST_LEVELS = 4
# Ranking criteria: (metric, +1 if more is better, −1 if less is better, label).
ROBUST_METRICS = (("total_welfare", 1, "total welfare"), ("privacy_harm", -1, "privacy"))
FLIP_SHARE = 0.25  # a factor the ranking hinges on flips the winner in at least this share of steps
DEFAULT_SEEDS = 5  # the default point is run on this many seeds: the noise floor of the ranking


def robust_design(trajectories: int, root: int) -> np.ndarray:
    """The Morris sample (SALib), seeded from the root seed; row 0 added: all factors at default."""
    from SALib.sample import morris as morris_sample

    problem = {
        "num_vars": len(ROBUST_FACTORS),
        "names": list(ROBUST_FACTORS),
        "bounds": [list(b) for b in ROBUST_FACTORS.values()],
    }
    return morris_sample.sample(problem, trajectories, num_levels=ROBUST_LEVELS, seed=root)


def run_robust(job: tuple[str, tuple[float, ...], int, int, int]) -> dict[str, float]:
    """One regime at one design point: the ranking metrics over the last `WINDOW` months."""
    regime, point, seed, n_users, months = job
    params = dict(zip(ROBUST_FACTORS, point, strict=True)) if point else {}
    market = DataMarket(regime=regime, n_users=n_users, rng=seed, **params)
    market.run_for(months)
    frame = market.datacollector.get_model_vars_dataframe().tail(WINDOW)
    return {metric: float(frame[metric].mean()) for metric, _, _ in ROBUST_METRICS}


@dataclass
class Robustness:
    """The Morris screen's outputs: per design row (row 0 = defaults) and regime, each metric."""

    X: np.ndarray  # the Morris sample (without the default rows)
    values: dict[str, np.ndarray]  # metric -> (DEFAULT_SEEDS + samples, regimes)
    trajectories: int
    n_users: int
    months: int
    seeds: list[int]  # the default point's seeds; the first serves every Morris point
    seconds: float = 0.0

    @property
    def seed(self) -> int:
        return self.seeds[0]

    def analyse(self, metric: str, sign: int) -> dict:
        """Who wins, how often, and which factors move or flip the winner."""
        from SALib.analyze import morris as morris_analyze

        scores = sign * self.values[metric]
        base, sample = scores[:DEFAULT_SEEDS], scores[DEFAULT_SEEDS:]
        base_mean = base.mean(axis=0)
        default_winner = int(np.argmax(base_mean))

        def margin_of(rows: np.ndarray) -> np.ndarray:
            """> 0 where the default's winner still ranks first: its lead over the next."""
            return rows[:, default_winner] - np.delete(rows, default_winner, axis=1).max(axis=1)

        margin = margin_of(sample)
        base_margin = margin_of(base)
        seed_flips = float(np.mean(np.argmax(base, axis=1) != default_winner))
        noise_sd = float(base_margin.std(ddof=1))
        names = list(ROBUST_FACTORS)
        problem = {
            "num_vars": len(names),
            "names": names,
            "bounds": [list(b) for b in ROBUST_FACTORS.values()],
        }
        with np.errstate(all="ignore"):
            indices = morris_analyze.analyze(
                problem,
                self.X,
                margin,
                num_levels=ROBUST_LEVELS,
                num_resamples=200,
                conf_level=0.95,
                seed=self.seed,
            )
        win = np.argmax(sample, axis=1)
        # Elementary steps: consecutive rows of a trajectory differ in exactly one factor.
        k = len(names)
        steps = {name: 0 for name in names}
        flips = {name: 0 for name in names}
        sample_win = win
        for t in range(self.trajectories):
            rows = range(t * (k + 1), (t + 1) * (k + 1))
            for a, b in itertools.pairwise(rows):
                moved = np.flatnonzero(self.X[a] != self.X[b])
                if moved.size != 1:
                    continue
                name = names[int(moved[0])]
                steps[name] += 1
                flips[name] += int(sample_win[a] != sample_win[b])
        lead = float(base_margin.mean())
        factors = []
        for i, name in enumerate(names):
            flip_share = flips[name] / steps[name] if steps[name] else math.nan
            mu_star = float(indices["mu_star"][i])
            # Hinges: its steps flip the winner more often than a new seed does, or its typical
            # effect on the lead is larger than the lead and than twice the seed noise.
            flips_beyond_noise = flip_share >= FLIP_SHARE and flip_share > seed_flips
            undoes_lead = mu_star > abs(lead) and mu_star > 2 * noise_sd
            factors.append(
                dict(
                    factor=name,
                    mu_star=mu_star,
                    mu_star_conf=float(indices["mu_star_conf"][i]),
                    mu=float(indices["mu"][i]),
                    sigma=float(indices["sigma"][i]),
                    steps=steps[name],
                    flips=flips[name],
                    flip_share=flip_share,
                    hinges=bool(flips_beyond_noise or undoes_lead),
                )
            )
        factors.sort(key=lambda f: -f["mu_star"])
        counts = np.bincount(sample_win, minlength=len(ROBUST_REGIMES)) / sample_win.size
        top2 = np.argsort(-sample, axis=1)[:, :2]
        return dict(
            metric=metric,
            default_winner=ROBUST_REGIMES[default_winner],
            default_ranking=[ROBUST_REGIMES[i] for i in np.argsort(-base_mean)],
            default_margin=lead,
            noise_sd=noise_sd,
            seed_flips=seed_flips,
            keeps_top=float(np.mean(sample_win == default_winner)),
            in_top_two=float(np.mean((top2 == default_winner).any(axis=1))),
            winner_shares={ROBUST_REGIMES[i]: float(c) for i, c in enumerate(counts) if c > 0},
            factors=factors,
            hinges=[f["factor"] for f in factors if f["hinges"]],
        )


def run_robustness(
    trajectories: int, n_users: int, months: int, root: int, workers: int
) -> Robustness:
    """Every regime at the default point and at every Morris point, on one seed (common
    random numbers across regimes and points, so differences are not noise in who the users
    are)."""
    X = robust_design(trajectories, root)
    seeds = spawn_seeds(root + 1, DEFAULT_SEEDS)
    seed = seeds[0]  # every Morris point runs on the first
    points = [((), s) for s in seeds] + [(tuple(float(v) for v in row), seed) for row in X]
    jobs = [(r, p, s, n_users, months) for p, s in points for r in ROBUST_REGIMES]
    started = time.perf_counter()
    if workers > 1:
        with worker_pool(workers) as pool:
            outputs = list(pool.map(run_robust, jobs))
    else:
        outputs = [run_robust(job) for job in jobs]
    shape = (len(points), len(ROBUST_REGIMES))
    values = {
        metric: np.array([o[metric] for o in outputs]).reshape(shape)
        for metric, _, _ in ROBUST_METRICS
    }
    return Robustness(
        X, values, trajectories, n_users, months, seeds, time.perf_counter() - started
    )


def robustness_section(rob: Robustness, analyses: list[dict], res: Results) -> list[str]:
    k = len(ROBUST_FACTORS)
    n_points = rob.X.shape[0]
    n_runs = len(ROBUST_REGIMES) * (n_points + DEFAULT_SEEDS)
    lines = [
        "## Robustness of the headline ranking",
        "",
        "The headline of `experiments/tencent_huawei_2017.toml` is which regimes rank best on "
        "total welfare and on privacy (lowest `privacy_harm`). A Morris screen (SALib) moves "
        "the main uncertainties one at a time along random trajectories and asks how the "
        "ranking of the seven presets changes.",
        "",
        "- Factors and ranges: "
        + "; ".join(f"`{n}` ∈ [{lo:g}, {hi:g}]" for n, (lo, hi) in ROBUST_FACTORS.items())
        + f". Other parameters at their (calibrated) defaults. {rob.trajectories} trajectories "
        f"× ({k} + 1) = {n_points} points on a {ROBUST_LEVELS}-level grid; each point × each "
        f"of the {len(ROBUST_REGIMES)} regimes is one run of {rob.n_users:,} users over "
        f"{rob.months} months (last {WINDOW} averaged), all on one seed ({rob.seed}) so that "
        f"every comparison is paired. The default point is run on {DEFAULT_SEEDS} seeds "
        f"({', '.join(str(x) for x in rob.seeds)}): its mean sets the default ranking, and its "
        f"spread is the noise floor. {n_runs} runs, {rob.seconds:.0f} s.",
        "- The output screened is the lead of the regime that ranks first at the default point: "
        "its metric minus that of the best other regime (signed so that > 0 means it still "
        "ranks first; CNY per user per month). μ* is the mean absolute elementary effect of a "
        "factor's step (2/3 of its range), μ its signed mean, σ the spread (non-linearity and "
        "interactions); a flip is an elementary step that changes which regime ranks first.",
        f"- The ranking **hinges on** a factor when its steps flip the winner in at least "
        f"{FLIP_SHARE:.0%} of them and more often than a change of seed does at the default "
        "point, or when its μ* exceeds both the default lead and twice the seed noise of the "
        "lead (a typical step undoes the lead). The criterion is fixed here; the lists below "
        "are computed from the screen.",
        "",
    ]
    for a, (metric, sign, label) in zip(analyses, ROBUST_METRICS, strict=True):
        shares = ", ".join(
            f"{r} {s:.0%}" for r, s in sorted(a["winner_shares"].items(), key=lambda x: -x[1])
        )
        main = {r: sign * res.est(r, metric).mean for r in ROBUST_REGIMES}
        main_ranking = sorted(main, key=lambda r: -main[r])
        agree = main_ranking[0] == a["default_winner"]
        lines += [
            f"### Ranking on {label} (`{metric}`)",
            "",
            f"At the default point ({rob.n_users:,} users, mean of {DEFAULT_SEEDS} seeds) the "
            f"ranking is {' > '.join(a['default_ranking'])}; `{a['default_winner']}` leads by "
            f"{a['default_margin']:.3f} (seed-to-seed sd of the lead {a['noise_sd']:.3f}; a "
            f"different regime ranks first on {a['seed_flips']:.0%} of the seeds). In the "
            f"facts' runs above ({res.reps} replications at the larger size) the ranking is "
            f"{' > '.join(main_ranking)}"
            + (" — the same regime first." if agree else " — a different regime first.")
            + f" Over the {n_points} design points `{a['default_winner']}` ranks first at "
            f"{a['keeps_top']:.0%} and in the top two at {a['in_top_two']:.0%}; which regime "
            f"ranks first, share of points: {shares}.",
            "",
            "| factor | μ* [95%] | μ | σ | flips / steps | hinges on it? |",
            "|---|---|---|---|---|---|",
        ]
        for f in a["factors"]:
            lines.append(
                f"| `{f['factor']}` | {f['mu_star']:.3f} ± {f['mu_star_conf']:.3f} | "
                f"{f['mu']:+.3f} | {f['sigma']:.3f} | {f['flips']} / {f['steps']} | "
                f"{'**yes**' if f['hinges'] else 'no'} |"
            )
        hinges = ", ".join(f"`{h}`" for h in a["hinges"]) or "none of the screened factors"
        rest = [f["factor"] for f in a["factors"] if not f["hinges"]]
        lines += [
            "",
            f"**The {label} ranking hinges on: {hinges}.**"
            + (f" It is robust to {', '.join(f'`{r}`' for r in rest)}." if rest else ""),
            "",
        ]
    return lines


# ---------------------------------------------------------------------------------------------
# Report


def model_fingerprint() -> str:
    """Git commit and a digest of model/*.py (the working tree may differ from the commit)."""
    try:

        def git(*cmd: str) -> str:
            done = subprocess.run(
                ["git", *cmd], cwd=ROOT, capture_output=True, text=True, check=True
            )
            return done.stdout.strip()

        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "model")
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "model").glob("*.py")):
        digest.update(path.read_bytes())
    state = "with uncommitted changes in model/" if dirty else "model/ as committed"
    return f"commit {commit} ({state}); sha256 of model/*.py {digest.hexdigest()[:12]}"


def calibration_derived() -> list[str]:
    """The parameters `datamarket calibrate` solved from the fitted knobs rather than searched
    (experiments/calibration.json's "derived"; none in an older calibration)."""
    path = ROOT / "experiments" / "calibration.json"
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("derived", {}))
    except (OSError, ValueError):
        return []


def verdict_word(holds: bool | None) -> str:
    return {True: "holds", False: "does not hold", None: "holds in part"}[holds]


def report(
    res: Results,
    rob: Robustness,
    args: argparse.Namespace,
    seeds: dict[str, list[int]],
    elapsed: float,
    fingerprint: str,
) -> tuple[str, dict]:
    """The Markdown report and its machine-readable sidecar (the verdicts the tests check)."""
    verdicts = [fact.evaluate(res) for fact in FACTS]
    predicted = [p.evaluate(res) for p in PREDICTIONS]
    targets = target_results(res)
    analyses = [rob.analyse(metric, sign) for metric, sign, _ in ROBUST_METRICS]
    command = (
        ".venv/bin/python scripts/validation.py "
        f"--users {args.users} --months {args.months} --reps {args.reps} --root {args.root} "
        f"--morris-trajectories {args.morris_trajectories} --morris-users {args.morris_users} "
        f"--morris-months {args.morris_months} --workers {args.workers}"
    )
    n_runs = len(CONDITIONS) * args.reps
    lines = [
        "# Validation: stylised facts, theory predictions and calibration targets",
        "",
        "<!-- Generated by scripts/validation.py. Do not edit by hand: rerun the script. -->",
        "",
        "This file is generated by `scripts/validation.py`; do not edit it by hand. "
        "Regenerate it with",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Model: {fingerprint}. This report took {round(elapsed)} s of wall time "
        f"({elapsed / 60:.1f} minutes: {n_runs} runs for the facts, predictions and targets, "
        f"then the robustness screen) with {args.workers} worker process(es). The tests in "
        "`tests/test_stylised_facts.py` check each fact's verdict on fresh replications at a "
        "small size; `tests/test_validation_verdicts.py` and "
        "`tests/test_validation_predictions.py` (fast, in CI) check that this report and its "
        "sidecar, `docs/validation.json`, agree, that each verdict follows from the recorded "
        "figures by the stated criterion, and rerun a subset at a small size.",
        "",
        "Calibration: the behavioural parameters ("
        + ", ".join(f"`{k.name}`" for k in KNOBS)
        + ") are at the values `datamarket calibrate` fitted (docs/calibration.md, docs/ODD.md "
        '"Calibration"): '
        + ", ".join(f"`{k.name}` = {DEFAULT[k.name]:g}" for k in KNOBS)
        + "".join(
            f"; solved with them, `{k}` = {DEFAULT[k]:g} (docs/calibration.md)"
            for k in calibration_derived()
        )
        + f". {sum(not t.used for t in TARGETS)} targets were held out of that fit and are the "
        "out-of-sample check below.",
        "",
        "## Design",
        "",
        f"- Scenario `tencent_huawei_2017` at its default calibration (MODEL.md §6, "
        f"`model/parameters.py`), {args.users:,} users, {args.months} months; each run's "
        f"metrics averaged over its last {WINDOW} months (a metric's missing months, NaN, "
        "skipped). Money is 2017 CNY per user per month.",
        f"- {args.reps} replications per condition. The facts' seeds: `numpy.random."
        f"SeedSequence({args.root}).spawn({args.reps})`, each child's `generate_state(1)[0]`: "
        f"{', '.join(str(s) for s in seeds['facts'])}. The predictions' fresh seeds, used by "
        f"nothing else: the same from `SeedSequence({args.root + PREDICTION_ROOT_OFFSET})`: "
        f"{', '.join(str(s) for s in seeds['predictions'])}. Within each set the same seeds "
        "serve every condition (common random numbers), so differences between conditions "
        "are paired by replication.",
        "- Intervals: mean over replications ± t(0.975, reps − 1) · sd / √reps (95%). A "
        "direction counts as shown when the whole interval lies on its side of 0 (or of the "
        "threshold the fact names). A claim that a share is > 0 is checked in every "
        "replication instead (a t-interval is a poor guide for a skewed share near 0).",
        "- The verdict criteria are fixed in the script, not chosen after the results; no "
        "parameter was changed for this report. Reference, ablation and labelled conditions "
        "explain results; no verdict rests on them.",
        "- Valuation basis (`privacy_valuation_basis`): which θ counts in welfare. Decisions "
        "always use the θ behind them (revealed); at `wtp` the harm in welfare is θ × "
        f"{wtp_scale():.3f}, the surveyed willingness to pay (MODEL.md §11). The default, and "
        "every verdict on a fact, is at `revealed`; where a result depends on the basis, wtp is "
        "reported beside it.",
        "",
        "## Summary",
        "",
        "| # | fact | verdict | figures (means) |",
        "|---|---|---|---|",
    ]
    for i, (fact, v) in enumerate(zip(FACTS, verdicts, strict=True), start=1):
        lines.append(f"| {i} | {fact.title} | **{verdict_word(v.holds)}** | {v.summary} |")
    lines += [
        "",
        "| # | theory prediction (issue 15, item 6; fresh seeds) | verdict | figures (means) |",
        "|---|---|---|---|",
    ]
    for p, v in zip(PREDICTIONS, predicted, strict=True):
        lines.append(f"| {p.key} | {p.title} | **{verdict_word(v.holds)}** | {v.summary} |")
    lines.append("")
    for i, (fact, v) in enumerate(zip(FACTS, verdicts, strict=True), start=1):
        lines += [
            f"## Fact {i}: {fact.title}",
            "",
            f"**Statement.** {fact.statement}",
            "",
            f"**Source.** {fact.source}",
            "",
            f"**Experiment.** {fact.experiment} {args.users:,} users, {args.months} months, "
            f"{args.reps} replications (the facts' seeds), last {WINDOW} months averaged.",
            "",
        ]
        if fact.changed:
            lines += [f"**Since version 1.** {fact.changed}", ""]
        lines += ["**Result.**", "", v.text, "", f"**Verdict: {verdict_word(v.holds)}.**", ""]
        for note in v.notes:
            lines += [note, ""]
    for p, v in zip(PREDICTIONS, predicted, strict=True):
        lines += [
            f"## Prediction {p.key}: {p.title}",
            "",
            f"**Statement.** {p.statement} The direction was fixed in the script before the runs.",
            "",
            f"**Source.** {p.source}",
            "",
            f"**Experiment.** {p.experiment} {args.users:,} users, {args.months} months, "
            f"{args.reps} replications on the predictions' fresh seeds, last {WINDOW} months "
            "averaged.",
            "",
            "**Result.**",
            "",
            v.text,
            "",
            f"**Verdict: {verdict_word(v.holds)}.**",
            "",
        ]
        for note in v.notes:
            lines += [note, ""]
    lines += [
        "## Calibration targets (MODEL.md §8)",
        "",
        "Simulated values are means over the replications of the named conditions with 95% "
        "t-intervals, at this report's size (the calibration itself ran smaller runs: "
        "docs/calibration.md). A value is inside when its mean lies in the published range; "
        "for a point figure, when its interval covers the point. *Fitted*: the target is in "
        'the calibration\'s objective (`datamarket calibrate`, docs/ODD.md "Calibration"); '
        "**HELD OUT**: it is not, so the row is an out-of-sample check of the calibrated "
        "model. Targets tagged [U] in the literature review are never used.",
        "",
        "| quantity | source | tag | published | simulated, mean [95% CI] | inside? | "
        "calibration |",
        "|---|---|---|---|---|---|---|",
        *calibration_rows(res, targets),
        "",
        *held_out_notes(targets),
        *robustness_section(rob, analyses, res),
        "## Conditions run",
        "",
        "| condition | regime | overrides | seeds | role |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {c.regime} | {c.describe()} | {c.stream} | {c.role} |"
            for name, c in CONDITIONS.items()
        ],
        "",
    ]
    sidecar = dict(
        generated_by="scripts/validation.py",
        command=command,
        wall_seconds=round(elapsed),
        settings=dict(
            users=args.users,
            months=args.months,
            reps=args.reps,
            root=args.root,
            seeds=seeds["facts"],
            prediction_seeds=seeds["predictions"],
            morris_trajectories=args.morris_trajectories,
            morris_users=args.morris_users,
            morris_months=args.morris_months,
        ),
        facts=[
            dict(number=i, title=fact.title, verdict=verdict_word(v.holds), figures=v.record)
            for i, (fact, v) in enumerate(zip(FACTS, verdicts, strict=True), start=1)
        ],
        predictions=[
            dict(key=p.key, title=p.title, verdict=verdict_word(v.holds), figures=v.record)
            for p, v in zip(PREDICTIONS, predicted, strict=True)
        ],
        targets=targets,
        # The quantities behind fact verdicts that tests/test_validation_verdicts.py recomputes.
        fact_quantities=dict(
            click_acceptance=res.est("click_through", "consent_rate").mean,
            informed_minus_click=res.diff("informed_consent", "click_through", "consent_rate").mean,
            theta_ratio=res.est("informed_consent", "theta_ratio").mean,
        ),
        robustness=[
            {
                key: a[key]
                for key in ("metric", "default_winner", "default_ranking", "keeps_top", "hinges")
            }
            for a in analyses
        ],
    )
    return "\n".join(lines), sidecar


def held_out_notes(targets: list[dict]) -> list[str]:
    """One line on how the calibrated model does out of sample (computed, not typed)."""
    held = [(t, r) for t, r in zip(TARGETS, targets, strict=True) if not t.used]
    fitted = [r for t, r in zip(TARGETS, targets, strict=True) if t.used]
    inside_held = [t.quantity for t, r in held if r["inside"]]
    outside_held = [t.quantity for t, r in held if not r["inside"]]
    return [
        f"Out of sample: of the {len(held)} held-out targets, "
        f"{len(inside_held)} {'is' if len(inside_held) == 1 else 'are'} met"
        + (f" ({'; '.join(inside_held)})" if inside_held else "")
        + (f" and {len(outside_held)} missed ({'; '.join(outside_held)})" if outside_held else "")
        + f". In sample: {sum(r['inside'] for r in fitted)} of the {len(fitted)} fitted targets "
        "are met at this size.",
        "",
    ]


# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------


def spawn_seeds(root: int, reps: int) -> list[int]:
    """One integer seed per replication from `SeedSequence(root).spawn(reps)`."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(root).spawn(reps)]


def all_seeds(root: int, reps: int) -> dict[str, list[int]]:
    """The facts' seeds and the predictions' fresh ones."""
    return dict(
        facts=spawn_seeds(root, reps),
        predictions=spawn_seeds(root + PREDICTION_ROOT_OFFSET, reps),
    )


def run_all(
    n_users: int, months: int, seeds: dict[str, list[int]], workers: int
) -> dict[tuple[str, int], dict[str, float]]:
    """Every condition × replication, keyed by (condition, replication index)."""
    reps = len(seeds["facts"])
    keys = [(c, r) for c in CONDITIONS for r in range(reps)]
    jobs = [(c, seeds[CONDITIONS[c].stream][r], n_users, months) for c, r in keys]
    if workers > 1:
        with worker_pool(workers) as pool:
            outputs = list(pool.map(run_one, jobs))  # in the order of `jobs`
    else:
        outputs = [run_one(job) for job in jobs]
    return dict(zip(keys, outputs, strict=True))


def run_settings(args: argparse.Namespace) -> dict:
    """The settings that determine the runs (not where the report goes)."""
    return {k: v for k, v in vars(args).items() if k not in ("out", "save_runs", "from_runs")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20_000, help="users per run (20000)")
    parser.add_argument("--months", type=int, default=60, help="months per run (60)")
    parser.add_argument("--reps", type=int, default=5, help="replications (5)")
    parser.add_argument("--root", type=int, default=20170803, help="root seed (20170803)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument(
        "--morris-trajectories", type=int, default=6, help="Morris trajectories (6)"
    )
    parser.add_argument("--morris-users", type=int, default=3000, help="users per Morris run")
    parser.add_argument("--morris-months", type=int, default=48, help="months per Morris run")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "validation.md",
        help="report path (docs/validation.md); the verdicts go beside it as .json",
    )
    parser.add_argument(
        "--save-runs",
        type=Path,
        help="also pickle the runs' results here, to redraw the report with --from-runs",
    )
    parser.add_argument(
        "--from-runs",
        type=Path,
        help="redraw the report from runs saved by --save-runs (same settings), not rerun them",
    )
    args = parser.parse_args(argv)
    if args.reps < 2 or args.months <= WINDOW + 1 or args.users < 10 or args.workers < 1:
        parser.error(f"need --reps >= 2, --months > {WINDOW + 1}, --users >= 10, --workers >= 1")
    if args.morris_trajectories < 2 or args.morris_months <= WINDOW or args.morris_users < 10:
        parser.error(
            f"need --morris-trajectories >= 2, --morris-months > {WINDOW}, --morris-users >= 10"
        )
    seeds = all_seeds(args.root, args.reps)
    print(
        f"validation: {len(CONDITIONS)} conditions x {args.reps} replications, "
        f"{args.users} users, {args.months} months, {args.workers} workers",
        file=sys.stderr,
    )
    if args.from_runs is not None:
        saved = pickle.loads(args.from_runs.read_bytes())
        if saved["command"] != run_settings(args):
            parser.error(f"{args.from_runs} was run with other settings: {saved['command']}")
        fingerprint, res, rob, elapsed = (
            saved[k] for k in ("fingerprint", "results", "robustness", "elapsed")
        )
    else:
        fingerprint = model_fingerprint()  # before the runs: the code they import
        started = time.perf_counter()
        res = Results(run_all(args.users, args.months, seeds, args.workers), args.reps)
        print(
            f"facts, predictions and targets: {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        rob = run_robustness(
            args.morris_trajectories, args.morris_users, args.morris_months, args.root, args.workers
        )
        print(f"robustness screen: {rob.seconds:.0f} s", file=sys.stderr)
        elapsed = time.perf_counter() - started
        if args.save_runs is not None:
            args.save_runs.write_bytes(
                pickle.dumps(
                    dict(
                        command=run_settings(args),
                        fingerprint=fingerprint,
                        results=res,
                        robustness=rob,
                        elapsed=elapsed,
                    )
                )
            )
    text, sidecar = report(res, rob, args, seeds, elapsed, fingerprint)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.out} in {elapsed:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
