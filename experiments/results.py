"""The results folder of one experiment: what is in it, how it is written, and how it is read.

A finished experiment's folder::

    <out>/
      manifest.json        what was run (the resolved experiment, its fingerprint, the design),
                           with what (package versions, git commit, executor), when, and how far
                           it got (status, runs done and failed, seconds per run)
      runs.parquet         one row per run, sorted by run_id: run_id, policy, regime, replication,
                           sample, seed, each sampled parameter, each metric summarised by the
                           experiment's measure, realised_mean_degree (the social graph's),
                           status ("ok" or "failed"), error, seconds
      timeseries.parquet   run_id, step (month, from 1), every metric; ok runs only
      firms.parquet        run_id, step, agent_id, kind, profit, market_share, strategy,
                           fees_paid, fees_received, fines; ok runs only

While a sweep is going (or after it was stopped) the folder holds the manifest and ``parts/``
instead of the three tables. Each finished run is written at once as its own files::

    parts/run-000042.timeseries.parquet
    parts/run-000042.firms.parquet
    parts/run-000042.run.json      its runs row, written last (a failed run has only this file)

Every file is written under a temporary name (``.<name>.<random>.tmp``) and renamed into place,
so a file with its final name is whole. A run counts as done when its ``.run.json`` exists. The
three tables are written only once every run is done, ``runs.parquet`` last: a folder with
``runs.parquet`` is a complete result, and nothing else is. After that ``parts/`` is removed.

``.lock`` is held (``flock``) by the process writing the folder, so two sweeps cannot write into
one folder at once; the operating system releases it when that process ends, even by ``kill -9``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import statistics
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from experiments.spec import REALISED_MEAN_DEGREE, RunSpec
from model import METRICS

try:  # POSIX; elsewhere the folder is simply not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MANIFEST = "manifest.json"
RUNS = "runs.parquet"
TIMESERIES = "timeseries.parquet"
FIRMS = "firms.parquet"
PARTS = "parts"
LOCK = ".lock"

#: The packages whose versions a manifest records (absent ones are recorded as null).
VERSIONED_PACKAGES = (
    "datamarket",
    "mesa",
    "numpy",
    "pandas",
    "scipy",
    "networkx",
    "pyarrow",
    "dask",
    "distributed",
)

#: Columns of runs.parquet that identify a run, before its sampled parameters and its metrics.
ID_COLUMNS = ("run_id", "policy", "regime", "replication", "sample", "seed")
#: Columns of runs.parquet after the metrics.
OUTCOME_COLUMNS = (REALISED_MEAN_DEGREE, "status", "error", "seconds")

# Rows per row group when parts are consolidated: bounds the memory consolidation needs.
_ROWS_PER_GROUP = 100_000

# Schemas of the two long tables when no run succeeded (there is no part to take them from).
_EMPTY_SCHEMAS = {
    TIMESERIES: pa.schema(
        [("run_id", pa.int64()), ("step", pa.int64())] + [(m, pa.float64()) for m in METRICS]
    ),
    FIRMS: pa.schema(
        [
            ("run_id", pa.int64()),
            ("step", pa.int64()),
            ("agent_id", pa.int64()),
            ("kind", pa.string()),
            ("profit", pa.float64()),
            ("market_share", pa.float64()),
            ("strategy", pa.string()),
            ("fees_paid", pa.float64()),
            ("fees_received", pa.float64()),
            ("fines", pa.float64()),
        ]
    ),
}


class ResultsError(ValueError):
    """A results folder cannot be used as asked: the message names it and says what to do."""


# --------------------------------------------------------------------------------------------
# Writing files safely


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write `path` whole or not at all: `write` fills a temporary file, which is then renamed.

    A reader (or a resumed sweep) never sees a half-written file under the final name; a process
    killed mid-write leaves only a ``*.tmp`` file, which `ResultsFolder.open` removes on resume.
    """
    temp = _temp_name(path)
    try:
        write(temp)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _json_default(value: Any) -> Any:
    """JSON for the values an experiment description holds beyond JSON's own types."""
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays
        return value.tolist()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot write a {type(value).__name__} to JSON: {value!r}")


def to_json(value: Any) -> str:
    """JSON text of `value`; floats round-trip exactly, non-finite ones as NaN/Infinity."""
    return json.dumps(value, indent=2, default=_json_default, allow_nan=True) + "\n"


def write_json(path: Path, value: Any) -> None:
    """Write `value` as JSON to `path`, atomically."""
    text = to_json(value)
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    atomic_write(path, lambda temp: pq.write_table(table, temp))


# --------------------------------------------------------------------------------------------
# What a manifest records about the machine


def package_versions() -> dict[str, str | None]:
    """Python's version and those of the packages a result depends on (null when absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The project's git commit when it runs from a git checkout, else None."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def now() -> str:
    """The current time, ISO 8601 in UTC to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def experiment_name(resolved: dict[str, Any]) -> str:
    """The experiment's name from its resolved description (``[experiment] name``)."""
    section = resolved.get("experiment")
    if isinstance(section, dict) and section.get("name"):
        return str(section["name"])
    return str(resolved.get("name") or "(unnamed)")


def seconds_per_run(seconds: Iterable[float]) -> dict[str, float | None]:
    """Mean, median and maximum wall time of the runs given, in seconds (nulls when none)."""
    values = [s for s in seconds if s is not None and math.isfinite(s)]
    if not values:
        return {"mean": None, "median": None, "max": None}
    return {
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "max": max(values),
    }


# --------------------------------------------------------------------------------------------
# One run's row


def run_row(
    spec: RunSpec,
    summary: dict[str, float] | None,
    *,
    error: str | None,
    seconds: float,
) -> dict[str, Any]:
    """The runs.parquet row of one run: who it is, what it sampled, what it measured.

    A failed run (``summary`` None) has NaN for every metric, status ``failed`` and its error.
    """
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "policy": spec.policy,
        "regime": spec.regime.name,
        "replication": spec.replication,
        "sample": spec.sample,
        "seed": spec.seed,
    }
    row.update(spec.sampled)
    for metric in METRICS:
        row[metric] = math.nan if summary is None else float(summary[metric])
    degree = math.nan if summary is None else summary.get(REALISED_MEAN_DEGREE, math.nan)
    row[REALISED_MEAN_DEGREE] = float(degree)  # the social graph's, as built
    row["status"] = "ok" if summary is not None else "failed"
    row["error"] = error
    row["seconds"] = float(seconds)
    return row


def _integer_column(values: pd.Series) -> pd.Series:
    """Whole numbers as int64 where they fit, uint64 where they need it, else as text."""
    ints = [int(v) for v in values]
    if all(-(2**63) <= v < 2**63 for v in ints):
        return pd.Series(ints, index=values.index, dtype="int64")
    if all(0 <= v < 2**64 for v in ints):
        return pd.Series(ints, index=values.index, dtype="uint64")
    return pd.Series([str(v) for v in ints], index=values.index, dtype="str")


def runs_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """runs.parquet from run rows: sorted by run_id, columns in their documented order."""
    frame = pd.DataFrame.from_records(list(rows))
    if frame.empty:
        frame = pd.DataFrame(columns=[*ID_COLUMNS, *METRICS, *OUTCOME_COLUMNS])
    sampled = [c for c in frame.columns if c not in {*ID_COLUMNS, *METRICS, *OUTCOME_COLUMNS}]
    if REALISED_MEAN_DEGREE not in frame.columns:  # rows written before it was recorded
        frame[REALISED_MEAN_DEGREE] = math.nan
    frame = frame[[*ID_COLUMNS, *sampled, *METRICS, *OUTCOME_COLUMNS]]
    frame = frame.sort_values("run_id", kind="stable").reset_index(drop=True)
    for column in ("run_id", "replication", "sample", "seed"):
        frame[column] = _integer_column(frame[column])
    for column in (*METRICS, REALISED_MEAN_DEGREE, "seconds"):
        frame[column] = frame[column].astype("float64")
    for column in ("policy", "regime", "status", "error"):
        frame[column] = _text_column(frame[column])
    return frame


def _text_column(values: pd.Series) -> pd.Series:
    """Text with missing values kept missing (not turned into the text "None")."""
    text = [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values
    ]
    return pd.Series(text, index=values.index, dtype="str")


# --------------------------------------------------------------------------------------------
# The folder


class ResultsFolder:
    """The results folder of one experiment, opened for writing by one sweep.

    Use `ResultsFolder.open`, which creates the folder, takes its lock and checks that it may be
    written (a fresh folder, or one of the same experiment when resuming).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.parts = self.path / PARTS
        self._lock: Any = None

    # ---- opening

    @classmethod
    def open(
        cls, path: Path, *, resolved: dict[str, Any], fingerprint: str, resume: bool
    ) -> tuple[ResultsFolder, dict[str, Any] | None]:
        """Open `path` to write the results of the experiment `resolved` (with `fingerprint`).

        Returns the folder and the manifest already there (None for a fresh folder).

        Raises:
            ResultsError: the folder cannot be created or written; another sweep is writing it;
                it holds results or parts and ``resume`` is False; ``resume`` is True but it
                holds another experiment (another fingerprint), or parts without a manifest.
        """
        folder = cls(path)
        folder._create()
        folder._take_lock()
        try:
            previous = folder._check_reuse(resolved, fingerprint, resume)
            if previous is not None:
                folder.remove_temp_files()
        except BaseException:
            folder.close()
            raise
        return folder, previous

    def _create(self) -> None:
        where = str(self.path)
        if self.path.exists() and not self.path.is_dir():
            raise ResultsError(
                f"output folder {where} is a file, not a folder; choose another output folder"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = _temp_name(self.path / "write-test")
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ResultsError(
                f"output folder {where} cannot be created or written "
                f"({exc.strerror or exc}); choose a folder you can write to"
            ) from exc

    def _take_lock(self) -> None:
        if fcntl is None:  # pragma: no cover - Windows
            return
        handle = open(self.path / LOCK, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise ResultsError(
                f"output folder {self.path} is being written by another sweep right now; "
                "wait for it to end, or choose another output folder"
            ) from exc
        self._lock = handle

    def _check_reuse(
        self, resolved: dict[str, Any], fingerprint: str, resume: bool
    ) -> dict[str, Any] | None:
        manifest_path = self.path / MANIFEST
        has_manifest = manifest_path.exists()
        has_parts = self.parts.exists() and any(self.parts.iterdir())
        has_tables = any((self.path / name).exists() for name in (RUNS, TIMESERIES, FIRMS))
        if not (has_manifest or has_parts or has_tables):
            return None
        if not resume:
            raise ResultsError(
                f"output folder {self.path} already holds results"
                + (f" of experiment {_describe(self.path)}" if has_manifest else "")
                + "; pass --resume (resume=True) to continue that experiment there, "
                "or choose another output folder"
            )
        if not has_manifest:
            raise ResultsError(
                f"output folder {self.path} holds results but no {MANIFEST}, so it cannot be "
                "told which experiment they belong to; choose another output folder"
            )
        previous = read_manifest(self.path)
        if previous.get("fingerprint") != fingerprint:
            raise ResultsError(
                f"cannot resume in {self.path}: it holds experiment "
                f"{experiment_name(previous.get('experiment') or {})!r} "
                f"(fingerprint {previous.get('fingerprint')}), but this is experiment "
                f"{experiment_name(resolved)!r} (fingerprint {fingerprint}); "
                "choose another output folder, or delete that one to start afresh"
            )
        return previous

    def close(self) -> None:
        """Release the folder's lock."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # ---- parts

    def remove_temp_files(self) -> None:
        """Delete the half-written files a killed sweep left behind."""
        for folder in (self.path, self.parts):
            if folder.is_dir():
                for temp in folder.glob(".*.tmp"):
                    with contextlib.suppress(OSError):
                        temp.unlink()

    def part(self, run_id: int, kind: str) -> Path:
        """The part file of run `run_id`: kind is ``run.json``, ``timeseries`` or ``firms``."""
        suffix = kind if kind.endswith(".json") else f"{kind}.parquet"
        return self.parts / f"run-{run_id:06d}.{suffix}"

    def write_run(
        self,
        row: dict[str, Any],
        timeseries: pd.DataFrame | None = None,
        firms: pd.DataFrame | None = None,
    ) -> None:
        """Put one finished run on disk: its tables first, its runs row last (the done mark)."""
        self.parts.mkdir(exist_ok=True)
        run_id = int(row["run_id"])
        if timeseries is not None:
            _write_parquet(self.part(run_id, TIMESERIES.removesuffix(".parquet")), timeseries)
        if firms is not None:
            _write_parquet(self.part(run_id, FIRMS.removesuffix(".parquet")), firms)
        write_json(self.part(run_id, "run.json"), row)

    def read_row(self, run_id: int) -> dict[str, Any]:
        """The runs row of a finished run."""
        return json.loads(self.part(run_id, "run.json").read_text(encoding="utf-8"))

    def finished(self) -> dict[int, str]:
        """Runs done so far, as run_id → status (``ok`` or ``failed``)."""
        if not self.parts.is_dir():
            return {}
        done = {}
        for path in self.parts.glob("run-*.run.json"):
            run_id = int(path.name.split(".")[0].removeprefix("run-"))
            done[run_id] = self.read_row(run_id)["status"]
        return done

    # ---- the manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write manifest.json, atomically."""
        write_json(self.path / MANIFEST, manifest)

    def tally(self, run_ids: Iterable[int]) -> dict[str, Any]:
        """Runs done and failed, and seconds per ok run, among `run_ids`, from the parts."""
        rows = [self.read_row(i) for i in sorted(run_ids) if self.part(i, "run.json").exists()]
        return _tally(rows)

    # ---- consolidation

    def consolidate(self, run_ids: Sequence[int]) -> dict[str, Any]:
        """Write the three tables from the parts of `run_ids` (all done), then remove parts/.

        The long tables are streamed part by part into row groups, so memory stays bounded by
        one row group rather than the whole experiment. ``runs.parquet`` is written last.
        Returns the tally (runs done, failed, seconds per run) for the manifest.
        """
        ids = sorted(run_ids)
        rows = [self.read_row(i) for i in ids]
        ok = [int(r["run_id"]) for r in rows if r["status"] == "ok"]
        for name in (TIMESERIES, FIRMS):
            self._concatenate([self.part(i, name.removesuffix(".parquet")) for i in ok], name)
        runs = runs_frame(rows)
        table = pa.Table.from_pandas(runs, preserve_index=False)
        atomic_write(self.path / RUNS, lambda temp: pq.write_table(table, temp))
        return _tally(rows)

    def _concatenate(self, parts: list[Path], name: str) -> None:
        if parts:
            schema = pa.unify_schemas(
                [pq.read_schema(p) for p in parts], promote_options="permissive"
            )
        else:
            schema = _EMPTY_SCHEMAS[name]

        def write(temp: Path) -> None:
            with pq.ParquetWriter(temp, schema) as writer:
                batch: list[pa.Table] = []
                rows = 0
                for path in parts:
                    table = pq.read_table(path).cast(schema)
                    batch.append(table)
                    rows += table.num_rows
                    if rows >= _ROWS_PER_GROUP:
                        writer.write_table(pa.concat_tables(batch))
                        batch, rows = [], 0
                if batch or not parts:
                    writer.write_table(pa.concat_tables(batch) if batch else schema.empty_table())

        atomic_write(self.path / name, write)

    def remove_parts(self) -> None:
        """Delete parts/ once the tables hold everything in it."""
        shutil.rmtree(self.parts, ignore_errors=True)

    def is_complete(self) -> bool:
        """Whether the folder holds a complete result (runs.parquet is written last)."""
        return (self.path / RUNS).exists()


def _tally(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs_done": len(rows),
        "runs_failed": sum(r["status"] != "ok" for r in rows),
        "seconds_per_run": seconds_per_run(r["seconds"] for r in rows if r["status"] == "ok"),
    }


def _describe(path: Path) -> str:
    try:
        manifest = read_manifest(path)
    except ResultsError:
        return "(unreadable manifest)"
    return (
        f"{experiment_name(manifest.get('experiment') or {})!r} "
        f"(status {manifest.get('status')}, {manifest.get('runs_done')} of "
        f"{manifest.get('runs_total')} runs done)"
    )


# --------------------------------------------------------------------------------------------
# Reading


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the results folder `path`, complete or not.

    Raises:
        ResultsError: `path` is not a folder, has no manifest.json, or it cannot be read.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ResultsError(f"results folder {folder} does not exist (or is not a folder)")
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise ResultsError(
            f"{folder} is not a results folder: it has no {MANIFEST} "
            "(results folders are written by `datamarket run`)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{manifest_path} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or "fingerprint" not in manifest:
        raise ResultsError(f"{manifest_path} is not a results manifest (no 'fingerprint')")
    return manifest


def _complete_table(path: str | Path, name: str) -> pd.DataFrame:
    folder = Path(path)
    manifest = read_manifest(folder)
    if not (folder / RUNS).exists():
        raise ResultsError(
            f"results in {folder} are incomplete (status {manifest.get('status')}, "
            f"{manifest.get('runs_done')} of {manifest.get('runs_total')} runs done): "
            "finish them with `datamarket run FILE --out "
            f"{folder} --resume`"
        )
    return pd.read_parquet(folder / name)


def read_runs(path: str | Path) -> pd.DataFrame:
    """runs.parquet of a complete results folder: one row per run, sorted by run_id."""
    return _complete_table(path, RUNS)


def read_timeseries(path: str | Path) -> pd.DataFrame:
    """timeseries.parquet of a complete results folder: run_id, step, every metric."""
    return _complete_table(path, TIMESERIES)


def read_firms(path: str | Path) -> pd.DataFrame:
    """firms.parquet of a complete results folder: one row per firm per month per run."""
    return _complete_table(path, FIRMS)
