"""Calibration of the behavioural parameters to published figures (simulated method of moments).

    datamarket calibrate [--design 128] [--seed 20170803] [--workers 2] [--reps 2]
                         [--users 2000] [--months 24] [--max-evals 80]
                         [--out experiments/calibration.json] [--report docs/calibration.md]

What it fits. The targets of MODEL.md §8 that are tagged [V] or [P] in the literature review and
that the model can speak to are listed in `TARGETS`; those with `used=True` enter the objective,
the others are held out and only reported (out-of-sample check, in docs/validation.md). The
behavioural parameters in `KNOBS` move within their bounds; everything else stays at its default.

How. Each candidate parameter vector is scored by the cheapest runs that measure the moments: the
default scenario at `--users` users for `--months` months, the moments averaged over the last
`WINDOW` months, under three conditions (click-through; click-through with a reject option on the
first screen; informed consent), `--reps` replications with the same seeds at every candidate
(common random numbers). The objective is

    J(x) = Σ_k ((m_k(x) − mid_k) / s_k)²  +  PRIOR_WEIGHT · Σ_j ((x_j − x0_j) / (high_j − low_j))²

over the used targets k, with mid_k the midpoint of the published range and s_k its half-width,
floored at `MIN_HALF_WIDTH` (a published point or a narrow range is itself an estimate from a
finite sample). The second term is a weak pull toward the indicative defaults x0: the moments do
not identify every knob (six knobs, four moments), and without it the unidentified directions
would drift on simulation noise. The search is global then local: a Latin hypercube of
`--design` points over the knobs' box, then Nelder–Mead (scipy) from the best point, on the same
seeds, in coordinates scaled to the box (a step outside the box is clipped to it).

Reproducible: the hypercube and the replication seeds all come from `SeedSequence(--seed)`, the
runs are deterministic given their seed, and results are gathered in submission order, so the
same seed gives the same result whatever the number of workers.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, stats
from scipy.stats import qmc

from experiments.runner import worker_pool
from model import PARAMETERS, DataMarket, get_regime

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {p.name: p.default for p in PARAMETERS}
WINDOW = 12  # months averaged at the end of each run
MIN_HALF_WIDTH = 0.025  # floor on a target's half-width in the objective (a share)
PRIOR_WEIGHT = 1.0  # weight of the pull toward the indicative defaults
SIMPLEX_STEP = 0.1  # Nelder–Mead's first steps, as a share of each knob's box
CHECK_REPS = 5  # replications, on fresh seeds, of the fit reported at the end
DIGITS = 3  # calibrated values are rounded to this many decimals before becoming defaults
OBAR_N = 543  # Obar & Oeldorf-Hirsch's sample: the 74% comes with a binomial sampling band
_OBAR_HALF = 1.96 * math.sqrt(0.74 * 0.26 / OBAR_N)


@dataclass(frozen=True)
class Target:
    """A published figure the model can be compared with, and how it is measured in the model.

    `low`/`high` is the published range on the model's scale (a share); equal for a point figure,
    which the model meets when its 95% interval covers the point. `moment` names the simulated
    quantity (see `moments`). `used`: in the calibration objective, or held out.
    """

    key: str
    quantity: str
    figure: str
    low: float
    high: float
    source: str
    tag: str
    moment: str
    measure: str
    used: bool

    @property
    def mid(self) -> float:
        return 0.5 * (self.low + self.high)

    @property
    def scale(self) -> float:
        return max(0.5 * (self.high - self.low), MIN_HALF_WIDTH)


TARGETS: tuple[Target, ...] = (
    Target(
        "click_acceptance",
        "acceptance of a click-through request with no real reject option",
        "90–98%",
        0.90,
        0.98,
        "industry field study (B9) [P]; Obar & Oeldorf-Hirsch 97% agree (B15) [V]",
        "V/P",
        "click_acceptance",
        "`consent_rate` under click_through",
        True,
    ),
    Target(
        "skip_share",
        "users who skip the policy entirely",
        f"74% (binomial 95% band for n = {OBAR_N}: "
        f"{0.74 - _OBAR_HALF:.1%}–{0.74 + _OBAR_HALF:.1%})",
        0.74 - _OBAR_HALF,
        0.74 + _OBAR_HALF,
        "Obar & Oeldorf-Hirsch (B13) [V]",
        "V",
        "skip_share",
        "share of requests not read under click_through",
        True,
    ),
    Target(
        "reject_button_swing",
        "consent swing from a reject button on the first screen",
        "22–23 points",
        0.22,
        0.23,
        "Nouwens et al. CHI 2020 [V]",
        "V",
        "reject_button_swing",
        "`consent_rate` under click_through minus the same with lever "
        "`refusal_costs_service` = false, paired by seed",
        True,
    ),
    Target(
        "reject_option_acceptance",
        "acceptance with a real reject option",
        "~50% refuse (40–60%)",
        0.40,
        0.60,
        "industry field study (B9) [P]",
        "P",
        "informed_acceptance",
        "`consent_rate` under informed_consent",
        True,
    ),
    Target(
        "att_opt_in",
        "opt-in to cross-app tracking when asked neutrally",
        "~13–46%",
        0.13,
        0.46,
        "ATT industry figures (B26) [P]",
        "P",
        "informed_acceptance",
        "`consent_rate` under informed_consent",
        False,
    ),
    Target(
        "opt_in_drop",
        "drop in observed consumers under opt-in consent",
        "12.5%",
        0.125,
        0.125,
        "Aridor, Che & Salz 2023 [V]",
        "V",
        "opt_in_drop",
        "1 − (users whose data some maker holds under informed_consent) / (the same under "
        "click_through), paired by seed",
        False,
    ),
)
TARGET_INDEX = {t.key: t for t in TARGETS}


@dataclass(frozen=True)
class Knob:
    """A behavioural parameter the calibration moves, within [low, high]."""

    name: str
    low: float
    high: float

    @property
    def prior(self) -> float:
        """The indicative value the objective's prior term pulls toward (MODEL.md §9)."""
        return INDICATIVE[self.name]


KNOBS: tuple[Knob, ...] = (
    Knob("attention_mean", 0.10, 0.50),
    Knob("consent_fatigue", 0.0, 0.5),
    Knob("consent_noise", 0.8, 17.0),  # CNY per month: 0.1–2.0 of the old unit × 8.4
    Knob("p_click", 0.85, 1.0),
    Knob("p_neutral", 0.2, 0.9),
    Knob("privacy_cost_sigma", 0.5, 2.0),
)
# The pre-calibration values (MODEL.md §9 and the first defaults), fixed here so that the prior
# does not move when the calibrated values become the defaults.
INDICATIVE = {
    "attention_mean": 0.26,
    "consent_fatigue": 0.1,
    "consent_noise": 4.2,  # CNY per month (0.5 of the old unit × 8.4)
    "p_click": 0.97,
    "p_neutral": 0.5,
    "privacy_cost_sigma": 1.0,
}

# Conditions: name -> (regime preset, lever overrides).
CONDITIONS: dict[str, tuple[str, dict]] = {
    "click_through": ("click_through", {}),
    "reject_button": ("click_through", {"refusal_costs_service": False}),
    "informed_consent": ("informed_consent", {}),
}


# ---------------------------------------------------------------------------------------------
# The scale of θ, solved with the knobs

#: Zhou 2020 [V]: about 30% of Chinese users would disclose personal data for free services.
ZHOU_ACCEPTANCE = 0.30
#: Draws of the Monte Carlo behind `zhou_median` (fixed seed: the same knobs give the same θ).
ZHOU_DRAWS = 200_000
ZHOU_SEED = 2020
#: The AI service quality q at which the request is answered, quality units: the makers'
#: qualities run from 1.5 to 1.7 after two years of the 2017 scenario (5,000 users, seed 1);
#: the lower end, as in docs/ODD.md (Money, "Margins, not levels").
ZHOU_QUALITY = 1.5


def zhou_median(knobs: dict[str, float]) -> float:
    """The median privacy cost θ (CNY per unit exposure per month) at which `ZHOU_ACCEPTANCE`
    of readers accept a device maker's request with a real choice (refusing costs nothing),
    nothing paid, no leak and an AI service of quality `ZHOU_QUALITY`: the share of users with
    (1 − γ)·v·q + ε > β·θ·ρ_maker, with v, θ lognormal, β Beta and ε logistic as the model
    draws them (`model.population`, `model.consent.answer_requests`). It depends on the knobs
    θ's dispersion and the consent noise, so each candidate of the search is run at its own
    solved θ (docs/ODD.md, Money)."""
    p = {**DEFAULTS, **knobs}
    rng = np.random.default_rng(ZHOU_SEED)
    z_theta, z_value = rng.standard_normal(ZHOU_DRAWS), rng.standard_normal(ZHOU_DRAWS)
    mean, concentration = p["present_bias_mean"], p["present_bias_concentration"]
    beta = rng.beta(mean * concentration, (1.0 - mean) * concentration, ZHOU_DRAWS)
    epsilon = p["consent_noise"] * rng.logistic(0.0, 1.0, ZHOU_DRAWS)
    value = p["personalisation_value_median"] * np.exp(p["personalisation_value_sigma"] * z_value)
    gain = (1.0 - p["generic_service_share"]) * value * ZHOU_QUALITY
    harm = beta * p["misuse_maker"] * np.exp(p["privacy_cost_sigma"] * z_theta)

    def excess(median: float) -> float:
        return float(np.mean(gain + epsilon > median * harm)) - ZHOU_ACCEPTANCE

    return float(optimize.brentq(excess, 1e-3, 1e5, xtol=1e-6))


def with_theta(knobs: dict[str, float]) -> dict[str, float]:
    """The knobs and the θ scale they imply (`zhou_median`), rounded as a default is."""
    return {**knobs, "privacy_cost_median": round(zhou_median(knobs), 1)}


# ---------------------------------------------------------------------------------------------
# Runs and moments


def run_condition(job: tuple[str, dict, int, int, int]) -> dict[str, float]:
    """One run of one condition: what the moments need, averaged over the last `WINDOW` months."""
    condition, params, seed, n_users, months = job
    regime, levers = CONDITIONS[condition]
    market = DataMarket(regime=get_regime(regime, **levers), n_users=n_users, rng=seed, **params)
    market.run_for(months - WINDOW)
    requests = reads = reach = ports = 0.0
    for _ in range(WINDOW):
        market.run_for(1)
        users, holders, month = market.users, market.holders, market.month
        requests += month.requests
        reads += float(month.reads.sum())
        reach += float(users.holds[:, holders.makers].any(axis=1).mean())
        ports += month.ports / users.n
    frame = market.datacollector.get_model_vars_dataframe().tail(WINDOW)
    return dict(
        # The mean of the monthly rates over the months with requests (NaN in a month without
        # any, `model.MISSING`); NaN, as skip_share, if no month of the window had one.
        consent_rate=float(frame["consent_rate"].mean(skipna=True)),
        skip_share=1.0 - reads / requests if requests else math.nan,
        maker_reach_share=reach / WINDOW,
        ports_share=ports / WINDOW,
    )


def moments(runs: dict[str, Sequence[dict[str, float]]]) -> dict[str, np.ndarray]:
    """Per-replication moments from the runs of each condition (paired by replication)."""

    def col(condition: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in runs[condition]])

    return dict(
        click_acceptance=col("click_through", "consent_rate"),
        skip_share=col("click_through", "skip_share"),
        reject_button_swing=col("click_through", "consent_rate")
        - col("reject_button", "consent_rate"),
        informed_acceptance=col("informed_consent", "consent_rate"),
        opt_in_drop=1.0
        - col("informed_consent", "maker_reach_share") / col("click_through", "maker_reach_share"),
    )


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval over replications."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean, mean - half, mean + half


def target_verdict(target: Target, low: float, mean: float, high: float) -> bool:
    """Inside: the mean lies in a published range, or the interval covers a published point."""
    if target.low == target.high:
        return bool(low <= target.low <= high)
    return bool(target.low <= mean <= target.high)


def spawn_seeds(root: int, n: int) -> list[int]:
    """`n` integer seeds from `SeedSequence(root).spawn(n)`."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(root).spawn(n)]


class Simulator:
    """Evaluates moments for parameter vectors on fixed seeds, in parallel when workers > 1."""

    def __init__(self, seeds: Sequence[int], n_users: int, months: int, workers: int) -> None:
        self.seeds, self.n_users, self.months, self.workers = list(seeds), n_users, months, workers
        self.pool = None
        if workers > 1:
            self.pool = worker_pool(workers)
        self.evaluations = 0

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def map(self, fn: Callable, jobs: list) -> list:
        if self.pool is None:
            return [fn(job) for job in jobs]
        return list(self.pool.map(fn, jobs))

    def moments_many(self, params_list: Sequence[dict]) -> list[dict[str, np.ndarray]]:
        """Moments (per replication) for each parameter set, all runs submitted at once."""
        keys = [(i, c, r) for i in range(len(params_list)) for c in CONDITIONS for r in self.seeds]
        solved = [with_theta(p) for p in params_list]
        jobs = [(c, solved[i], r, self.n_users, self.months) for i, c, r in keys]
        outputs = self.map(run_condition, jobs)
        self.evaluations += len(params_list)
        grouped: list[dict[str, list]] = [{c: [] for c in CONDITIONS} for _ in params_list]
        for (i, c, _), out in zip(keys, outputs, strict=True):
            grouped[i][c].append(out)
        return [moments(g) for g in grouped]


def objective(values: dict[str, np.ndarray], params: dict[str, float]) -> float:
    """J: standardised squared distance of the used moments to the targets' midpoints, plus
    the prior pull toward the indicative values (module docstring)."""
    fit = sum(
        ((float(np.mean(values[t.moment])) - t.mid) / t.scale) ** 2 for t in TARGETS if t.used
    )
    prior = sum(((params[k.name] - k.prior) / (k.high - k.low)) ** 2 for k in KNOBS)
    return float(fit + PRIOR_WEIGHT * prior)


def to_params(unit: np.ndarray) -> dict[str, float]:
    """Map a point of the unit cube (clipped to it) to knob values."""
    unit = np.clip(np.asarray(unit, dtype=float), 0.0, 1.0)
    return {k.name: float(k.low + u * (k.high - k.low)) for k, u in zip(KNOBS, unit, strict=True)}


def to_unit(params: dict[str, float]) -> np.ndarray:
    return np.array([(params[k.name] - k.low) / (k.high - k.low) for k in KNOBS])


# ---------------------------------------------------------------------------------------------
# The procedure


@dataclass
class Calibration:
    """What `calibrate` found: the settings, the chosen values and the fit."""

    settings: dict
    chosen: dict[str, float]
    derived: dict[str, float]  # solved from the chosen knobs: privacy_cost_median
    objective: float
    objective_at_indicative: float
    design_best: dict[str, float]
    design_best_objective: float
    evaluations: int
    seconds: float
    fit: list[dict]  # one row per target, at the chosen (rounded) values
    fit_indicative: list[dict]  # the same at the indicative values


def fit_table(values: dict[str, np.ndarray]) -> list[dict]:
    rows = []
    for t in TARGETS:
        mean, low, high = interval(values[t.moment])
        rows.append(
            dict(
                target=t.key,
                used=t.used,
                low=t.low,
                high=t.high,
                simulated=mean,
                ci_low=low,
                ci_high=high,
                inside=target_verdict(t, low, mean, high),
            )
        )
    return rows


def calibrate(
    *,
    design: int = 128,
    seed: int = 20170803,
    reps: int = 2,
    n_users: int = 2000,
    months: int = 24,
    max_evals: int = 80,
    workers: int = 2,
    log: Callable[[str], None] = lambda message: None,
) -> Calibration:
    """Run the design, the local refinement, and the final evaluation; return the result."""
    if months <= WINDOW or reps < 1 or design < 1:
        raise ValueError(f"need months > {WINDOW}, reps >= 1 and design >= 1")
    started = time.perf_counter()
    design_seq, runs_seq, check_seq = np.random.SeedSequence(seed).spawn(3)
    seeds = [int(s.generate_state(1)[0]) for s in runs_seq.spawn(reps)]
    check_seeds = [int(s.generate_state(1)[0]) for s in check_seq.spawn(CHECK_REPS)]
    hypercube = qmc.LatinHypercube(d=len(KNOBS), seed=np.random.default_rng(design_seq))
    points = hypercube.random(design)
    with Simulator(seeds, n_users, months, workers) as sim:
        indicative = {k.name: k.prior for k in KNOBS}
        candidates = [to_params(u) for u in points]
        values = sim.moments_many([indicative, *candidates])
        j_indicative = objective(values[0], indicative)
        scores = [objective(v, p) for v, p in zip(values[1:], candidates, strict=True)]
        best = int(np.argmin(scores))
        log(
            f"design: {design} points, best J = {scores[best]:.3f} "
            f"(indicative values: J = {j_indicative:.3f})"
        )

        def j(unit: np.ndarray) -> float:
            params = to_params(unit)
            return objective(sim.moments_many([params])[0], params)

        start = points[best] if scores[best] <= j_indicative else to_unit(indicative)
        # A simplex a tenth of the box wide: scipy's default (5% of each coordinate) is too small
        # a step for an objective with simulation noise.
        steps = np.where(start + SIMPLEX_STEP <= 1.0, SIMPLEX_STEP, -SIMPLEX_STEP)
        simplex = np.vstack([start, start + np.diag(steps)])
        result = optimize.minimize(
            j,
            start,
            method="Nelder-Mead",
            options=dict(maxfev=max_evals, xatol=0.01, fatol=0.01, initial_simplex=simplex),
        )
        chosen = {k: round(v, DIGITS) for k, v in to_params(result.x).items()}
        j_chosen = j(to_unit(chosen))
        log(f"Nelder–Mead: {result.nfev} evaluations, J = {j_chosen:.3f} at the rounded values")
        evaluations = sim.evaluations
    # The fit is reported on fresh seeds, more of them: the search's own seeds flatter it.
    with Simulator(check_seeds, n_users, months, workers) as sim:
        final = sim.moments_many([chosen, indicative])
    return Calibration(
        settings=dict(
            design=design,
            seed=seed,
            reps=reps,
            n_users=n_users,
            months=months,
            window=WINDOW,
            max_evals=max_evals,
            min_half_width=MIN_HALF_WIDTH,
            prior_weight=PRIOR_WEIGHT,
            seeds=seeds,
            check_seeds=check_seeds,
            knobs=[asdict(k) for k in KNOBS],
            indicative=INDICATIVE,
            targets=[asdict(t) for t in TARGETS],
        ),
        chosen=chosen,
        derived={"privacy_cost_median": with_theta(chosen)["privacy_cost_median"]},
        objective=j_chosen,
        objective_at_indicative=j_indicative,
        design_best=candidates[best],
        design_best_objective=float(scores[best]),
        evaluations=evaluations,
        seconds=time.perf_counter() - started,
        fit=fit_table(final[0]),
        fit_indicative=fit_table(final[1]),
    )


# ---------------------------------------------------------------------------------------------
# Output


def write_json(result: Calibration, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(result)
    data.pop("seconds")  # the file is a pure function of the code and the seed
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _fmt(row: dict) -> str:
    mean, low, high = row["simulated"], row["ci_low"], row["ci_high"]
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def render(result: Calibration, command: str) -> str:
    s = result.settings
    lines = [
        "# Calibration of the behavioural parameters",
        "",
        "<!-- Generated by `datamarket calibrate`. Do not edit by hand: rerun the command. -->",
        "",
        "Regenerate with",
        "",
        "```bash",
        command,
        "```",
        "",
        f"It took {result.seconds:.0f} s. The procedure is described in docs/ODD.md "
        '("Calibration") and in `experiments/calibrate.py`; the machine-readable result is '
        "`experiments/calibration.json`. The chosen values are the defaults in "
        "`model/parameters.py` (a test keeps the two equal).",
        "",
        "## Design",
        "",
        f"- Moments from the default scenario at {s['n_users']:,} users, {s['months']} months, "
        f"averaged over the last {s['window']} months; {s['reps']} replications per candidate "
        f"with the same seeds at every candidate (common random numbers): "
        f"{', '.join(str(x) for x in s['seeds'])}.",
        f"- Global: a Latin hypercube of {s['design']} points over the knobs' box; local: "
        f"Nelder–Mead from the best point, at most {s['max_evals']} evaluations. "
        f"{result.evaluations} parameter vectors evaluated in all.",
        "- Objective: Σ over the used targets of ((simulated − midpoint) / half-width)², "
        f"half-widths floored at {s['min_half_width']}, plus {s['prior_weight']:g} × Σ over the "
        "knobs of ((value − indicative value) / box width)².",
        "",
        "## Chosen values",
        "",
        "| parameter | box | indicative (old default) | calibrated (new default) |",
        "|---|---|---|---|",
    ]
    for k in KNOBS:
        lines.append(
            f"| `{k.name}` | [{k.low:g}, {k.high:g}] | {k.prior:g} | {result.chosen[k.name]:g} |"
        )
    lines += [
        "",
        "Solved with them, not searched: the median privacy cost θ, `privacy_cost_median` = "
        f"{result.derived['privacy_cost_median']:g} CNY per unit exposure per month, at which "
        f"{ZHOU_ACCEPTANCE:.0%} of readers accept a device maker's request with a real choice "
        "and nothing paid (Zhou 2020 [V]; `zhou_median`). Every candidate of the search was run "
        "at its own solved θ, since θ's dispersion and the consent noise move it.",
        "",
        f"Objective J: {result.objective:.3f} at the calibrated values, "
        f"{result.objective_at_indicative:.3f} at the indicative ones (best design point: "
        f"{result.design_best_objective:.3f}).",
        "",
        "## Fit",
        "",
        f"Simulated values at the calibration's size on {len(s['check_seeds'])} fresh seeds "
        f"({', '.join(str(x) for x in s['check_seeds'])}), mean [95% t-interval]. "
        "docs/validation.md reports the same targets at the validation's (larger) size.",
        "",
        "| target | source | published | role | indicative values | calibrated values | "
        "inside (calibrated)? |",
        "|---|---|---|---|---|---|---|",
    ]
    for t, row, old in zip(TARGETS, result.fit, result.fit_indicative, strict=True):
        role = "fitted" if t.used else "**held out**"
        lines.append(
            f"| {t.quantity} | {t.source} | {t.figure} | {role} | {_fmt(old)} | {_fmt(row)} | "
            f"{'yes' if row['inside'] else 'no'} |"
        )
    lines += [
        "",
        "Not calibrated, and why: `port_uptake_on_request` (portability friction) — the only "
        'source, CERRE 2020, says "little sign" of use, a qualitative figure with no number to '
        'fit (literature.md: "Not found"); the reading time of readers (73 s, B14) and the '
        "granular-choices effect (Nouwens et al.) — the model has no reading time and no "
        "granularity lever.",
        "",
    ]
    return "\n".join(lines)


def main(
    *,
    design: int,
    seed: int,
    reps: int,
    n_users: int,
    months: int,
    max_evals: int,
    workers: int,
    out: Path,
    report: Path | None,
    log: Callable[[str], None],
) -> Calibration:
    """What `datamarket calibrate` does: calibrate, write the JSON and the Markdown report."""
    result = calibrate(
        design=design,
        seed=seed,
        reps=reps,
        n_users=n_users,
        months=months,
        max_evals=max_evals,
        workers=workers,
        log=log,
    )
    write_json(result, out)
    if report is not None:
        command = (
            f"datamarket calibrate --design {design} --seed {seed} --reps {reps} "
            f"--users {n_users} --months {months} --max-evals {max_evals} --workers {workers}"
        )
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(render(result, command), encoding="utf-8")
    return result
