"""Run an experiment from Python and read its results folder: one call each.

What `datamarket run FILE` does, for a notebook or a script::

    from experiments.api import run

    results = run("experiments/externality.toml", out="/tmp/externality", workers=2)
    results.runs        # runs.parquet: one row per run, each metric summarised by `measure`
    results.summary     # summary.csv: mean and 95% interval per policy (and grid cell)
    results.timeseries  # timeseries.parquet: every metric, every month, every run
    results.firms       # firms.parquet: each firm's profit, share, strategy, fees, fines

`run` takes a file, a validated `Experiment` or the dict a TOML file parses to, so an experiment
can be written in Python. `open_results` reads a folder written earlier (by `run` or the CLI).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.config import Experiment, experiment_from_dict, load_experiment
from experiments.design import compile_runs, describe
from experiments.estimate import check_size
from experiments.results import (
    RUNS,
    check_results,
    read_firms,
    read_manifest,
    read_runs,
    read_timeseries,
)
from experiments.runner import run_experiment, scheduler_for, stop_on_sigterm
from experiments.sensitivity import sensitivity_indices
from experiments.spec import RunSpec
from experiments.summary import SUMMARY_FILE, write_summary
from model import HEADLINE


class Results:
    """A complete results folder, its tables read on first use (and then kept).

    Attributes:
        path: the folder.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """manifest.json: the resolved experiment, its design, versions, times and counts."""
        return read_manifest(self.path)

    @cached_property
    def runs(self) -> pd.DataFrame:
        """runs.parquet: one row per run (policy, regime, replication, sample, seed, sampled
        parameters, each metric summarised by the experiment's measure, status, error)."""
        return read_runs(self.path)

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """timeseries.parquet: run_id, step (month, from 1), every metric; ok runs only."""
        return read_timeseries(self.path)

    @cached_property
    def firms(self) -> pd.DataFrame:
        """firms.parquet: run_id, step, agent_id, kind, profit, market_share, strategy, fees
        paid and received, fines; ok runs only."""
        return read_firms(self.path)

    @cached_property
    def summary(self) -> pd.DataFrame:
        """summary.csv (written now if missing): per policy (and grid cell) and metric, the
        mean and 95% t-interval over runs; see `experiments.summary`."""
        path = self.path / SUMMARY_FILE
        if not path.exists():
            write_summary(self.path)
        return pd.read_csv(path)

    def sensitivity(self, metrics: Sequence[str] = HEADLINE) -> pd.DataFrame:
        """Sobol or Morris indices of `metrics` to each uncertainty, per policy.

        Raises:
            ValueError: the experiment's design is not sobol or morris.
        """
        return sensitivity_indices(self.runs, self.manifest.get("design") or {}, metrics)


def open_results(path: str | Path) -> Results:
    """The results folder `path`, written by `run` or by ``datamarket run``.

    Raises:
        ResultsError: `path` is not a results folder, its runs are not all done, or its manifest
            or one of its tables is missing or damaged; the message names the folder or file.
    """
    check_results(path)
    results = Results(path)
    results.runs  # noqa: B018 - fails now, with the file's name, if it cannot be read
    return results


def execute(
    experiment: Experiment, runs: list[RunSpec], *, resume: bool = False, progress: bool = False
) -> dict[str, Any]:
    """Play the compiled `runs` of `experiment` into its [output] folder, on its executor, and
    write summary.csv; the folder's manifest. What `run` and ``datamarket run`` both do once the
    experiment is loaded and compiled.

    Raises:
        ResultsError: the folder cannot be written, or holds results and `resume` is False.
        ExecutorError: bad workers, or the Dask scheduler cannot be reached.
    """
    out_dir = Path(experiment.output.dir)
    source = experiment.source if Path(experiment.source).is_file() else None
    # SIGTERM stops the sweep as Ctrl-C does, also while a local Dask cluster starts or stops.
    with stop_on_sigterm(), scheduler_for(experiment.execution) as address:
        manifest = run_experiment(
            runs,
            out_dir,
            resolved=experiment.resolved(),
            fingerprint=experiment.fingerprint(),
            design=describe(experiment),
            workers=experiment.execution.workers,
            scheduler=address,
            resume=resume,
            progress=progress,
            source=source,
        )
    write_summary(out_dir)
    return manifest


def run(
    experiment: str | Path | Experiment | dict[str, Any],
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = False,
    report: bool = False,
    allow_large: bool = False,
) -> Results:
    """Run every (sample × policy × replication) of an experiment into a results folder.

    The same runs, seeds and files as ``datamarket run``; see `experiments.runner`.

    Args:
        experiment: an experiment file (TOML), a validated `Experiment`, or a dict shaped like
            a parsed file (``{"experiment": {...}, "scenario": {...}, "policies": [...]}``).
        out: the results folder (default: the experiment's [output] dir). It must not hold
            results already, unless `resume` is set.
        workers: local worker processes (default: the experiment's [execution] workers).
        scheduler: a Dask scheduler ``tcp://host:port`` to run the sweep on.
        resume: carry on an interrupted experiment in `out`, keeping the runs already done.
        progress: show a progress bar on stderr.
        report: also write report.html (self-contained, about 5 MB: it embeds plotly.js).
        allow_large: accept an experiment above the limits against mistakes (more than
            `experiments.estimate.MAX_STEPS` months a run, `MAX_RUNS` runs or `MAX_USER_MONTHS`
            user-months). One that cannot fit this machine's memory or disk is still refused.

    Returns:
        The complete results folder; summary.csv is written. Failed runs are recorded in it
        (status ``failed``, their error) and left out of every summary; a `RuntimeWarning`
        says how many failed and why the first did.

    Raises:
        ConfigError: the experiment (or an override) is refused; the message names the field.
            `experiments.estimate.SizeError`, a ConfigError, when it is too large (before any
            run is built or anything written).
        ResultsError: `out` cannot be written, or already holds results and `resume` is False.
        ExecutorError: bad `workers`, or the Dask scheduler cannot be reached.
        KeyboardInterrupt: Ctrl-C, or `experiments.runner.Terminated` on SIGTERM (when called
            from the main thread); the finished runs are kept, and `resume` carries on.
    """
    if isinstance(experiment, Experiment):
        loaded = experiment
    elif isinstance(experiment, dict):
        loaded = experiment_from_dict(experiment)
    else:
        loaded = load_experiment(experiment)
    loaded = loaded.with_overrides(out=out, workers=workers, scheduler=scheduler)
    check_size(loaded, allow_large=allow_large, resume=resume)  # before the run list is built
    manifest = execute(loaded, compile_runs(loaded), resume=resume, progress=progress)
    out_dir = Path(loaded.output.dir)
    results = Results(out_dir)
    failed = manifest.get("runs_failed", 0)
    if failed:
        bad = results.runs.loc[results.runs["status"] != "ok"]
        first = bad.iloc[0]
        ids = ", ".join(str(i) for i in bad["run_id"].head(10))
        warnings.warn(
            f"{failed} of {manifest.get('runs_total')} runs failed (left out of the results): "
            f"run{'s' if len(bad) > 1 else ''} {ids}{', ...' if len(bad) > 10 else ''}; each "
            f"one's error is in the `error` column of {out_dir / RUNS} (results.runs); "
            f"run {first['run_id']}: {first['error']}",
            RuntimeWarning,
            stacklevel=2,
        )
    if report:
        from experiments.report import build_report

        build_report(out_dir)
    return results


__all__ = ["Results", "execute", "open_results", "run"]
