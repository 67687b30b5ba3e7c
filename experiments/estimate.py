"""How big an experiment is, estimated from the validated file before anything is allocated, and
the limits it must fit.

`estimate` counts by arithmetic, never by building the run list (`design.compile_runs`, which a
billion replications would fill memory with, or the design matrix, which 10¹² samples would):
runs = samples × policies × replications (samples: a grid's cells, lhs's points, sobol's
N · (D + 2), morris's N · (D + 1) for D varied parameters), user-months = runs × steps × the most
users a run may have, the rows of the three tables, the disk the results folder needs while the
sweep runs, the peak memory of each worker and of this process, and a rough run time.

`check_size` refuses, with a `SizeError` (a `ConfigError`, so exit code 2 from the command
line), an experiment that

- cannot fit this machine (hard limits, always checked): the peak memory of this process and of
  the local workers together above the memory available now (psutil), or the disk the folder
  needs above the free space where it goes;
- is very likely a mistake (soft limits, lifted by ``--allow-large`` / ``allow_large=True``):
  more than `MAX_STEPS` months a run, more than `MAX_RUNS` runs, more than `MAX_USER_MONTHS`
  user-months.

Each problem names the file, the field to change (e.g. ``experiment.replications``), the
estimate and the limit. The constants below were measured on the 2-core development machine
(Linux, Python 3.12, numpy 2, numba's cache warm unless said): they are deliberately rounded
up, so an estimate is an upper bound for the usual experiment, not an exact figure.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from experiments.config import ConfigError, Experiment
from model import METRICS, SCENARIOS, get_regime
from model.parameters import PARAMETER_INDEX

__all__ = [
    "MAX_RUNS",
    "MAX_STEPS",
    "MAX_USER_MONTHS",
    "Estimate",
    "SizeError",
    "check_size",
    "estimate",
]

MB = 1_000_000

# --- soft limits: sizes that are very likely a slip of the keyboard (--allow-large lifts them)

#: Months a run may simulate: 100 years, where the model's month-valued parameters stop too
#: (review_interval, reask_interval, opening_negotiation_months <= 1200).
MAX_STEPS = 1_200
#: Runs in one experiment. The shipped files have 70–200; a Sobol' design of 4,096 × 12 points
#: for 2 policies is about this many. Beyond, this process alone holds about 1 GB of run list
#: and rows (DRIVER_BYTES_PER_RUN) and parts/ holds three files per run.
MAX_RUNS = 100_000
#: User-months (runs × months × users): about a week of one worker at the measured 1.5–2
#: million user-months a second (README, Speed); the main job is 1.7 × 10⁸.
MAX_USER_MONTHS = 10**12

# --- memory of one worker process playing one run (peak resident set, ru_maxrss)
# Measured with experiments.spec.run_one in a fresh process, tencent_huawei_2017, 12 months:
# 272 MB at 10,000 users, 345 MB at 100,000, 490 MB at 300,000, 952 MB at 1,000,000 (953 MB
# at 120 months): 280 MB + 660–675 bytes a user. With numba's cache cold (the first run after
# a change to the kernels) 10,000 users peaked at 367 MB: compiling takes about 100 MB more.

#: A worker that has imported the model and compiled its kernels, before its users.
WORKER_BASE_BYTES = 380 * MB
#: Per user of the run (graph, user columns, the month's temporaries).
WORKER_BYTES_PER_USER = 700
#: Per month of the run, for its DataCollector records and its output tables: 1,000 users
#: and 9 firms (plus the regulator) grew by 6.3–7.5 KB a month from 100 to 5,000 to 20,000
#: months (267, 304, 398 MB).
MONTH_BYTES = 2_000
MONTH_BYTES_PER_AGENT = 600
#: A process that has imported the model (a worker before its first run, the forkserver a
#: process pool forks its workers from): 204 MB.
MODEL_IMPORT_BYTES = 210 * MB

# --- memory of this process (the driver), which alone writes the results folder

#: After importing the command line, runner, results and report: 279 MB.
DRIVER_BASE_BYTES = 280 * MB
#: Per run: its RunSpec in the run list (450–670 B; tracemalloc over the 70,000 and 60,000 runs
#: of the main job and of sensitivity.toml scaled up), its runs row at consolidation
#: (840–1,600 B), and the parquet schemas of one table's parts that consolidation unifies
#: (7.6 KB a run, RSS over 5,000 parts).
DRIVER_BYTES_PER_RUN = 10_000
DRIVER_BYTES_PER_RUN_PER_PARAMETER = 150
#: Per row of timeseries.parquet, when the report and summary read it back: peak RSS grew by
#: 490 B a row over 1,008,000 rows.
REPORT_BYTES_PER_ROW = 500
#: Per value of the design matrix (the matrix, SALib's copies, its lists in the manifest).
DESIGN_BYTES_PER_VALUE = 100
#: A local Dask cluster: its scheduler and nannies live in this process, and each worker
#: imports dask.distributed before the model (a bare LocalCluster: 73 MB here, 74 MB a worker).
DASK_DRIVER_BYTES = 100 * MB
DASK_WORKER_BYTES = 80 * MB
#: Runs whose output may wait in this process per worker (experiments.runner).
IN_FLIGHT_PER_WORKER = 2

# --- disk: bytes per row and per run, measured on a real results folder
# 12 runs of 1,000 users (2 policies × 2 lhs samples of 2 parameters × 3 replications) at 12,
# 120 and 600 months; the per-row figures are the growth of each file between sizes.

#: timeseries.parquet (and a run's timeseries part): 138 B a row from 12 to 120 months,
#: 100 B from 120 to 600 (31 columns of mostly incompressible floats).
TIMESERIES_ROW_BYTES = 150
#: firms.parquet (and a run's firms part): 17.2–17.8 B a row (dictionary-encoded strings).
FIRMS_ROW_BYTES = 20
#: runs.parquet: 305 B a row over 5,000 rows of random metrics, and a little per sampled column.
RUNS_ROW_BYTES = 320
RUNS_ROW_BYTES_PER_PARAMETER = 10
#: The files each run leaves in parts/ until consolidation besides its rows: the timeseries
#: part 19.7 KB, the firms part 6.1 KB, run.json 1.25 KB.
PART_BYTES_PER_RUN = 28_000
#: The three tables' own overhead (26 KB, 40 KB and 25 KB at 12 runs of 12 months), manifest.
TABLES_BYTES = 100_000
MANIFEST_BYTES = 10_000
#: report.html: 5.39 MB at 120 months of 2 policies, 7.36 MB at 600 (it embeds plotly.js).
REPORT_BYTES = 5_500_000
REPORT_BYTES_PER_POLICY_MONTH = 2_100
#: summary.csv: 182 B a row (one row per metric, policy and grid cell).
SUMMARY_ROW_BYTES = 200

# --- time of one run on one worker (rough: the machine's load changes it by half)
# README's Speed table (benchmarks/scale.py) and runs here: set-up 0.6–0.9 s at 10,000 users,
# 3.6–5.8 s at 1,000,000; a month 0.005–0.012 s at 10,000 users, 0.65–0.77 s at 1,000,000.
SETUP_SECONDS = 0.5
SETUP_SECONDS_PER_USER = 5e-6
MONTH_SECONDS = 0.002
MONTH_SECONDS_PER_USER = 7e-7

#: The main job's size, the yardstick for which field to point at when a product is too big.
_TYPICAL = {"runs": 100, "steps": 120, "users": 20_000}
ALLOW_LARGE = "--allow-large (allow_large=True from Python)"


class SizeError(ConfigError):
    """An experiment too large for this machine (hard) or very likely a mistake (soft).

    Attributes:
        soft: True when every problem is a soft limit, which ``--allow-large`` lifts.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]], soft: bool) -> None:
        super().__init__(source, problems)
        self.soft = soft


@dataclass(frozen=True)
class Estimate:
    """The size of an experiment, from its file alone (see the module docstring)."""

    n_samples: int
    n_policies: int
    replications: int
    n_parameters: int  # varied parameters (columns of the design)
    runs: int
    steps: int
    n_users: int  # the most users a run may have
    n_users_field: str
    firms: int  # the most firms a run may have (platforms, makers, brokers, the trust)
    user_months: int
    timeseries_rows: int
    firm_rows: int
    summary_rows: int
    disk_bytes: int  # the results folder at its fullest: parts and tables, before parts go
    worker_bytes: int  # peak of one worker playing one run
    driver_bytes: int  # peak of this process (playing runs too when serial)
    memory_bytes: int  # on this machine: this process and the local workers
    mode: str  # "serial", "processes", "local dask" or "remote dask"
    workers: int  # workers on this machine (processes or local Dask); 0 for remote Dask
    seconds: float  # rough wall time
    parallel: int  # runs played at once
    out_dir: str
    samples_field: str
    runs_breakdown: str

    memory_available: int | None = None  # set by check_size: what this machine has now
    disk_free: int | None = None  # ... and the free space where the folder goes

    def describe(self) -> str:
        """A short block for ``datamarket validate``: runs, user-months, rows, disk, memory."""
        if self.mode == "serial":
            memory = f"{_bytes(self.memory_bytes)}, all in this process (one worker: serial)"
        elif self.mode == "remote dask":
            memory = (
                f"{_bytes(self.worker_bytes)} per Dask worker on the cluster (not checked "
                f"here), {_bytes(self.memory_bytes)} in this process"
            )
        else:
            kind = "local processes" if self.mode == "processes" else "local Dask workers"
            memory = (
                f"{_bytes(self.worker_bytes)} per worker x {self.workers} {kind} + this "
                f"process = {_bytes(self.memory_bytes)}"
            )
        if self.memory_available is not None:
            memory += f" ({_bytes(self.memory_available)} available)"
        disk = f"up to {_bytes(self.disk_bytes)} in {self.out_dir} while running"
        if self.disk_free is not None:
            disk += f" ({_bytes(self.disk_free)} free)"
        parallel = self.parallel
        return "\n".join(
            [
                "estimate:",
                f"  runs         {_count(self.runs)} ({self.runs_breakdown})",
                f"  user-months  {_count(self.user_months)} ({_count(self.runs)} runs x "
                f"{_count(self.steps)} months x up to {_count(self.n_users)} users)",
                f"  rows         {_count(self.runs)} in runs.parquet, "
                f"{_count(self.timeseries_rows)} in timeseries.parquet, "
                f"{_count(self.firm_rows)} in firms.parquet",
                f"  disk         {disk}",
                f"  memory       peak {memory}",
                f"  time         rough: {_duration(self.seconds)} on {parallel} "
                f"worker{'' if parallel == 1 else 's'}",
            ]
        )


# --------------------------------------------------------------------------------------------
# The estimate


def _scenario_value(experiment: Experiment, name: str) -> tuple[Any, str]:
    """The largest value `name` takes in any run, and the field that sets it."""
    table = experiment.uncertainties
    if table is not None and name in table.parameters:
        spec = table.parameters[name]
        values = spec["values"] if table.method == "grid" else spec
        return max(values), f"uncertainties.{name}"
    fixed = experiment.scenario.parameters
    if name in fixed:
        return fixed[name], f"scenario.{name}"
    preset = SCENARIOS[experiment.scenario.preset]
    return preset.get(name, PARAMETER_INDEX[name].default), f"scenario.{name}"


def _n_samples(experiment: Experiment) -> tuple[int, str, str]:
    """(samples, the field that sets them, how they are counted), as `design_matrix` makes."""
    table = experiment.uncertainties
    if table is None:
        return 1, "", "1 sample"
    d = len(table.parameters)
    if table.method == "grid":
        sizes = [len(spec["values"]) for spec in table.parameters.values()]
        cells = math.prod(sizes)
        shown = f" ({' x '.join(map(str, sizes))})" if 1 < len(sizes) <= 6 else ""
        return cells, "uncertainties", f"{_plural(cells, 'grid cell')}{shown}"
    n = int(table.samples or 0)
    if table.method == "lhs":
        return n, "uncertainties.samples", f"{_plural(n, 'lhs sample')}"
    if table.method == "sobol":
        return n * (d + 2), "uncertainties.samples", f"sobol {_count(n)} x ({d} + 2) samples"
    return n * (d + 1), "uncertainties.samples", f"morris {_count(n)} x ({d} + 1) samples"


def _has_trust(experiment: Experiment) -> bool:
    """Whether any run may have a data trust (its starting or a scheduled regime has one)."""
    for policy in experiment.policies:
        if policy.to_regime().data_trust:
            return True
        if any(get_regime(name).data_trust for name in policy.schedule.values()):
            return True
    return False


def _local_workers(experiment: Experiment, runs: int) -> tuple[str, int]:
    execution = experiment.execution
    if execution.backend == "dask":
        if execution.scheduler:
            return "remote dask", 0
        return "local dask", execution.workers
    if execution.workers == 1:
        return "serial", 1
    return "processes", min(execution.workers, max(runs, 1))


def estimate(experiment: Experiment) -> Estimate:
    """The size of `experiment` (validated, overrides applied), computed without allocating it.

    Returns:
        An `Estimate`: counts are exact (Python integers, however large), bytes and seconds are
        the measured rates above applied to them.
    """
    n_samples, samples_field, samples_text = _n_samples(experiment)
    n_policies = len(experiment.policies)
    replications = experiment.replications
    runs = n_samples * n_policies * replications
    steps = experiment.steps
    n_users, n_users_field = _scenario_value(experiment, "n_users")
    firms = sum(
        int(_scenario_value(experiment, name)[0])
        for name in ("n_platforms", "n_makers", "n_brokers")
    ) + int(_has_trust(experiment))
    n_parameters = 0 if experiment.uncertainties is None else len(experiment.uncertainties.names())
    user_months = runs * steps * n_users
    timeseries_rows = runs * steps
    firm_rows = timeseries_rows * firms
    cells = (
        n_samples if experiment.uncertainties and experiment.uncertainties.method == "grid" else 1
    )
    summary_rows = cells * n_policies * len(METRICS)

    month_bytes = MONTH_BYTES + MONTH_BYTES_PER_AGENT * (firms + 1)  # + the regulator
    worker_bytes = WORKER_BASE_BYTES + WORKER_BYTES_PER_USER * n_users + steps * month_bytes
    mode, workers = _local_workers(experiment, runs)
    in_flight = 0 if mode == "serial" else IN_FLIGHT_PER_WORKER * experiment.execution.workers
    driver_bytes = (
        DRIVER_BASE_BYTES
        + runs * (DRIVER_BYTES_PER_RUN + DRIVER_BYTES_PER_RUN_PER_PARAMETER * n_parameters)
        + timeseries_rows * REPORT_BYTES_PER_ROW
        + n_samples * n_parameters * DESIGN_BYTES_PER_VALUE
        + min(in_flight, runs) * steps * month_bytes
    )
    if mode == "serial":  # this process plays the runs itself
        memory_bytes = driver_bytes + worker_bytes - MODEL_IMPORT_BYTES
    elif mode == "processes":
        memory_bytes = driver_bytes + MODEL_IMPORT_BYTES + workers * worker_bytes
    elif mode == "local dask":
        memory_bytes = (
            driver_bytes + DASK_DRIVER_BYTES + workers * (worker_bytes + DASK_WORKER_BYTES)
        )
    else:
        memory_bytes = driver_bytes

    rows_bytes = timeseries_rows * TIMESERIES_ROW_BYTES + firm_rows * FIRMS_ROW_BYTES
    parts_bytes = runs * PART_BYTES_PER_RUN + rows_bytes
    tables_bytes = (
        TABLES_BYTES
        + runs * (RUNS_ROW_BYTES + RUNS_ROW_BYTES_PER_PARAMETER * n_parameters)
        + rows_bytes
    )
    other_bytes = (
        MANIFEST_BYTES
        + n_samples * n_parameters * 25
        + summary_rows * SUMMARY_ROW_BYTES
        + REPORT_BYTES
        + n_policies * steps * REPORT_BYTES_PER_POLICY_MONTH
    )
    disk_bytes = parts_bytes + tables_bytes + other_bytes

    run_seconds = SETUP_SECONDS + SETUP_SECONDS_PER_USER * n_users
    run_seconds += steps * (MONTH_SECONDS + MONTH_SECONDS_PER_USER * n_users)
    parallel = max(1, min(experiment.execution.workers, runs))
    try:
        seconds = float(runs) * run_seconds / parallel
    except OverflowError:  # more runs than a float holds
        seconds = math.inf

    breakdown = (
        f"{samples_text} x {n_policies} polic{'y' if n_policies == 1 else 'ies'} x "
        f"{_count(replications)} replication{'' if replications == 1 else 's'}"
    )
    return Estimate(
        n_samples=n_samples,
        n_policies=n_policies,
        replications=replications,
        n_parameters=n_parameters,
        runs=runs,
        steps=steps,
        n_users=n_users,
        n_users_field=n_users_field,
        firms=firms,
        user_months=user_months,
        timeseries_rows=timeseries_rows,
        firm_rows=firm_rows,
        summary_rows=summary_rows,
        disk_bytes=disk_bytes,
        worker_bytes=worker_bytes,
        driver_bytes=driver_bytes,
        memory_bytes=memory_bytes,
        mode=mode,
        workers=workers if mode != "serial" else 1,
        seconds=seconds,
        parallel=parallel,
        out_dir=str(experiment.output.dir),
        samples_field=samples_field,
        runs_breakdown=breakdown,
    )


# --------------------------------------------------------------------------------------------
# The limits


def available_memory() -> int:
    """Bytes of memory this machine can give new processes now, without swapping (psutil)."""
    import psutil

    return int(psutil.virtual_memory().available)


def free_disk(folder: str | Path) -> tuple[int, Path]:
    """Free bytes on the file system `folder` is (or would be created) on, and where measured."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return int(shutil.disk_usage(path).free), path


def _folder_bytes(folder: str | Path) -> int:
    """Bytes already in `folder` (a results folder being resumed counts its parts as its own)."""
    path = Path(folder)
    if not path.is_dir():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _runs_field(e: Estimate) -> str:
    """The field that makes the runs many: the largest of samples, policies and replications."""
    factors = [(e.replications, "experiment.replications"), (e.n_policies, "policies")]
    if e.samples_field:
        factors.append((e.n_samples, e.samples_field))
    return max(factors, key=lambda item: item[0])[1]


def _blame(e: Estimate, *, users: bool = True) -> str:
    """Of runs, months and users, the field furthest above the main job's size (in logs: the
    counts may be larger than a float)."""
    ratios = [
        (math.log10(e.runs) - math.log10(_TYPICAL["runs"]), _runs_field(e)),
        (math.log10(e.steps) - math.log10(_TYPICAL["steps"]), "experiment.steps"),
    ]
    if users:
        ratios.append((math.log10(e.n_users) - math.log10(_TYPICAL["users"]), e.n_users_field))
    return max(ratios, key=lambda item: item[0])[1]


def check_size(
    experiment: Experiment,
    *,
    allow_large: bool = False,
    resume: bool = False,
    memory: int | None = None,
    disk: int | None = None,
) -> Estimate:
    """Estimate `experiment` and refuse it if it cannot fit this machine, or (unless
    `allow_large`) if it is larger than any plausible experiment.

    Args:
        experiment: validated, with command-line overrides applied.
        allow_large: lift the soft limits (`MAX_STEPS`, `MAX_RUNS`, `MAX_USER_MONTHS`).
        resume: the folder's contents so far count as space the sweep already has.
        memory, disk: the bytes available (default: this machine's memory available now, and
            the free space where the results folder goes).

    Returns:
        The estimate, when everything fits.

    Raises:
        SizeError: one line per limit exceeded, hard limits first, each naming the field.
    """
    e = estimate(experiment)
    hard: list[tuple[str, str]] = []
    soft: list[tuple[str, str]] = []

    available = available_memory() if memory is None else memory
    if e.memory_bytes > available:
        one_run = e.worker_bytes - WORKER_BASE_BYTES  # what the users and months add
        workers_part = max(e.workers, 1) * one_run
        fitting = (available - (e.memory_bytes - e.workers * e.worker_bytes)) // e.worker_bytes
        if e.mode in ("processes", "local dask") and e.workers > 1 and fitting >= 1:
            field = "execution.workers"
            each = _bytes(e.worker_bytes)
            fix = f"use at most {_plural(fitting, 'worker')} (--workers), each needing {each}"
        elif e.mode == "remote dask" or e.driver_bytes - DRIVER_BASE_BYTES > workers_part:
            field = _blame(e, users=False)
            fix = "make fewer runs or months"
        else:
            users_part = WORKER_BYTES_PER_USER * e.n_users
            field = e.n_users_field if users_part >= one_run - users_part else "experiment.steps"
            fix = "make fewer users or months a run"
        where = (
            f"this process: its list of {_plural(e.runs, 'run')}, their rows and the report's "
            f"{_count(e.timeseries_rows)} monthly rows"
            if e.mode == "remote dask"
            else f"{_plural(max(e.workers, 1), 'worker')} x {_bytes(e.worker_bytes)} at up to "
            f"{_count(e.n_users)} users and {_count(e.steps)} months a run, and "
            f"{_bytes(e.driver_bytes)} for this process: its list of {_plural(e.runs, 'run')}, "
            f"their rows and the report's {_count(e.timeseries_rows)} monthly rows"
        )
        hard.append(
            (
                field,
                f"the peak memory is estimated at {_bytes(e.memory_bytes)} ({where}), above "
                f"the {_bytes(available)} this machine has available; {fix}",
            )
        )

    free, measured_at = free_disk(e.out_dir) if disk is None else (disk, Path(e.out_dir))
    if resume:
        free += _folder_bytes(e.out_dir)
    if e.disk_bytes > free:
        hard.append(
            (
                _blame(e, users=False),
                f"the results need up to {_bytes(e.disk_bytes)} of disk while running "
                f"({_count(e.timeseries_rows)} timeseries rows and {_count(e.firm_rows)} firms "
                f"rows from {_plural(e.runs, 'run')} of {_plural(e.steps, 'month')}, and each "
                f"run's parts), above the {_bytes(free)} free at {measured_at}; make fewer runs or "
                "months, or choose another output folder (--out)",
            )
        )

    if not allow_large:
        if e.steps > MAX_STEPS:
            soft.append(
                (
                    "experiment.steps",
                    f"steps = {_count(e.steps)} months is above the limit of {_count(MAX_STEPS)} "
                    f"(100 years, where the model's month-valued parameters stop); if you mean "
                    f"it, pass {ALLOW_LARGE}",
                )
            )
        if e.runs > MAX_RUNS:
            soft.append(
                (
                    _runs_field(e),
                    f"{_count(e.runs)} runs ({e.runs_breakdown}) is above the limit of "
                    f"{_count(MAX_RUNS)} runs; if you mean it, pass {ALLOW_LARGE}",
                )
            )
        if e.user_months > MAX_USER_MONTHS:
            soft.append(
                (
                    _blame(e),
                    f"{_count(e.user_months)} user-months ({_count(e.runs)} runs x "
                    f"{_count(e.steps)} months x up to {_count(e.n_users)} users) is above the "
                    f"limit of {_count(MAX_USER_MONTHS)} (about a week of one worker; rough "
                    f"time here: {_duration(e.seconds)}); if you mean it, pass {ALLOW_LARGE}",
                )
            )
    if hard or soft:
        raise SizeError(experiment.source, hard + soft, soft=not hard)
    return replace(e, memory_available=available, disk_free=free)


# --------------------------------------------------------------------------------------------
# Numbers in words


def _count(n: int | float) -> str:
    """A whole number with thousands separators; in powers of ten from 10^15 (exact for any
    size: a grid of many long value lists has more cells than a float can hold)."""
    if n < 10**15:
        return f"{int(n):,}"
    exponent = int(math.log10(n))
    exponent += (n >= 10 ** (exponent + 1)) - (n < 10**exponent)  # log10's rounding
    return f"{n / 10**exponent:.3g}e{exponent}"  # int / int: exact for any size


def _bytes(n: int) -> str:
    for unit, size in (("PB", 10**15), ("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if n >= size:
            if n >= 10**18:
                return f"{_count(n // 10**15)} PB"
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:,.0f} {unit}"
    return f"{math.ceil(n / 1000):,} KB"


def _duration(seconds: float) -> str:
    if not seconds < 3e16:  # also inf, from more runs than a float holds
        return "more than a billion years"
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size or (unit == "min" and seconds >= size):
            return f"{seconds / size:,.0f} {unit}"
    return f"{max(seconds, 1):.0f} s"


def _plural(n: int, word: str) -> str:
    return f"{_count(n)} {word}{'' if n == 1 else 's'}"
