"""`summary.csv`: each metric's mean and 95% confidence interval, per policy (and grid cell).

The file is long ("tidy"): one row per policy × metric, or, for a grid experiment, one row per
grid cell × metric × policy. A spreadsheet reads it as it is: filter on `metric` to compare the
policies on one outcome, or pivot `mean` by `policy` and `metric` for a one-screen table. Each
row carries its own unit, so no row needs a look-up elsewhere. Rows are ordered by grid cell
(in the design's sample order), then metric (in `model.METRICS` order), then policy (in the
order the experiment lists them).

Columns:
    policy: the policy's name.
    <parameter> ...: for a grid experiment only, one column per grid parameter (the cell).
    metric: the metric's name (an outcome in `model.METRICS`).
    unit: the metric's unit.
    mean: mean over the successful runs of the metric summarised by the experiment's `measure`.
    ci_low, ci_high: the 95% confidence interval, mean ± ci_half_width.
    ci_half_width: t(0.975, n − 1) · sd / √n (Student's t over the runs).
    sd: the sample standard deviation over the runs (ddof = 1).
    n: successful runs with a value of this metric.
    n_missing: successful runs without a value: a metric that can be missing (`model.MISSING`,
        e.g. `consent_rate` in months without consent requests) was missing in every month
        the run is summarised over. They are left out of mean, sd and interval, and counted.
    n_failed: runs of this policy (and cell) that failed; they are left out of every number.
    note: why an interval is missing or what it leaves out: "n = 1: no interval", "no
        successful run", or what a missing value means and in how many runs, e.g. "no consent
        requests in 3 of 10 runs (left out)" or "no consent requests (all 10 runs)"; else
        empty.
    group: the metric's group (welfare, privacy, market, benchmark, events).
    meaning: what the metric measures.

Without a grid, the runs of a policy pool every replication and every uncertainty sample (lhs,
sobol, morris): the interval then covers the spread across samples as well as across
replications.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from experiments.results import ResultsError, read_parquet
from model import METRICS, MISSING

SUMMARY_FILE = "summary.csv"
CONFIDENCE = 0.95
NOTE_SINGLE = "n = 1: no interval"
NOTE_EMPTY = "no successful run"


def missing_note(metric: str, n_missing: int, n_runs: int) -> str:
    """What the runs without a value of `metric` mean, and how many there are ("" if none):
    "no consent requests (all 10 runs)" or "no consent requests in 3 of 10 runs (left out)"."""
    if not n_missing:
        return ""
    what = MISSING.get(metric, "no value")
    if n_missing == n_runs:
        return f"{what} (all {n_runs} runs)" if n_runs > 1 else f"{what} (the one run)"
    return f"{what} in {n_missing} of {n_runs} runs (left out)"


def t_half_width(sd: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
    """Half-width of the 95% t-interval of a mean: t(0.975, n − 1) · sd / √n; NaN where n < 2."""
    sd = np.asarray(sd, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = stats.t.ppf(0.5 + CONFIDENCE / 2, np.where(n >= 2, n - 1, np.nan))
        return np.where(n >= 2, quantile * sd / np.sqrt(n), np.nan)


def grid_names(design: dict | None) -> list[str]:
    """The grid parameters of a design (empty unless the design is a grid)."""
    if not design or design.get("method") != "grid":
        return []
    return list(design.get("names") or [])


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The metrics (in `METRICS` order) that `frame` has a column for."""
    return [name for name in METRICS if name in frame.columns]


def _ordered(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs in run order, so that first appearance gives the experiment's order of policies."""
    return runs.sort_values("run_id", kind="stable") if "run_id" in runs.columns else runs


def summarise_runs(runs: pd.DataFrame, design: dict | None) -> pd.DataFrame:
    """Mean, 95% t-interval and count of each metric per policy (and grid cell).

    Args:
        runs: one row per run, as in `runs.parquet`: `policy`, `status` ("ok" or "failed"),
            the grid parameters' columns for a grid, and one column per metric.
        design: the manifest's `design` (None when nothing is varied). Only a grid splits the
            rows by cell; other designs pool their samples per policy.

    Returns:
        The long table described in this module's docstring.
    """
    runs = _ordered(runs)
    cells = grid_names(design)
    missing = [name for name in ["policy", "status", *cells] if name not in runs.columns]
    if missing:
        raise ValueError(f"runs table lacks the column(s) {missing}")
    metrics = metric_columns(runs)
    keys = [*cells, "policy"]
    ok = runs["status"] == "ok"
    rows = []
    for key, group in runs.groupby(keys, sort=False, dropna=False):
        key = dict(zip(keys, key, strict=True))
        good = group[ok.loc[group.index]]
        n_failed = int(len(group) - len(good))
        for metric in metrics:
            values = good[metric].astype(float).dropna()
            n = len(values)
            n_missing = len(good) - n
            mean = float(values.mean()) if n else np.nan
            sd = float(values.std(ddof=1)) if n >= 2 else np.nan
            half = float(t_half_width(sd, n))
            group_name, unit, meaning = METRICS[metric]
            notes = [missing_note(metric, n_missing, len(good))]
            if not n_missing or n:
                notes.insert(0, NOTE_EMPTY if n == 0 else NOTE_SINGLE if n == 1 else "")
            rows.append(
                {
                    "policy": key["policy"],
                    **{name: key[name] for name in cells},
                    "metric": metric,
                    "unit": unit,
                    "mean": mean,
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                    "ci_half_width": half,
                    "sd": sd,
                    "n": n,
                    "n_missing": n_missing,
                    "n_failed": n_failed,
                    "note": "; ".join(note for note in notes if note),
                    "group": group_name,
                    "meaning": meaning,
                }
            )
    columns = ["policy", *cells, "metric", "unit", "mean", "ci_low", "ci_high", "ci_half_width"]
    columns += ["sd", "n", "n_missing", "n_failed", "note", "group", "meaning"]
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table
    # Cell (in run order), then metric (METRICS order), then policy (run order).
    cell_rank = _first_seen_rank(table, cells) if cells else 0
    policy_rank = table["policy"].map({p: i for i, p in enumerate(runs["policy"].unique())})
    metric_rank = table["metric"].map({m: i for i, m in enumerate(metrics)})
    order = pd.DataFrame({"cell": cell_rank, "metric": metric_rank, "policy": policy_rank})
    index = order.sort_values(["cell", "metric", "policy"], kind="stable").index
    return table.loc[index].reset_index(drop=True)


def _first_seen_rank(table: pd.DataFrame, cells: list[str]) -> pd.Series:
    """Each row's grid cell, numbered in the order the cells first appear."""
    labels = table[cells].astype(str).agg("\x1f".join, axis=1)
    return labels.map({label: i for i, label in enumerate(labels.unique())})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder and a rename.

    A reader sees either the old file or the complete new one, never a partial file, and a
    failure leaves no temporary file behind.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        # mkstemp makes the file private (0600); a result is as readable as any file made here.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_results(directory: Path | str) -> tuple[dict, pd.DataFrame]:
    """The manifest and the runs table of a results folder.

    Raises:
        FileNotFoundError: the folder lacks `manifest.json` or `runs.parquet`.
        ResultsError: one of them is damaged (not a JSON object, not a whole Parquet file);
            the message names the file. `experiments.results.check_results` checks a folder
            more thoroughly, with a message for each case.
    """
    directory = Path(directory)
    for name in ("manifest.json", "runs.parquet"):
        if not (directory / name).exists():
            raise FileNotFoundError(
                f"{directory}: no {name} here; is this a results folder of `datamarket run`?"
            )
    path = directory / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResultsError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ResultsError(f"{path} is not a results manifest: not a JSON object")
    return manifest, read_parquet(directory / "runs.parquet")


def write_summary(directory: Path | str) -> Path:
    """Summarise a results folder's runs into its `summary.csv` (atomically); return its path."""
    directory = Path(directory)
    manifest, runs = read_results(directory)
    table = summarise_runs(runs, manifest.get("design"))
    return write_text_atomic(directory / SUMMARY_FILE, table.to_csv(index=False))
