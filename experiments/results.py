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
                           fees_paid, fees_received, fines, price (a maker's device price;
                           NaN for other firms); ok runs only

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
import shlex
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
            ("price", pa.float64()),
        ]
    ),
}


class ResultsError(ValueError):
    """A results folder cannot be used as asked: the message names it and says what to do."""


#: What a manifest must hold, with the JSON type of each, for a folder to be read or resumed.
MANIFEST_FIELDS = {"fingerprint": str, "experiment": dict, "status": str}
#: Failed runs named one by one in a message before "and N more".
FAILURES_SHOWN = 10
#: Differences between two experiments named one by one in a message before "and N more".
DIFFERENCES_SHOWN = 8


def _first_line(text: object) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def damaged(path: Path, exc: BaseException) -> str:
    """What to say about a file that exists but cannot be read: its name and why."""
    reason = _first_line(exc) or type(exc).__name__
    return f"{path} is damaged (truncated, or not a Parquet file: {reason})"


def read_parquet(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A Parquet file as a DataFrame; a missing or damaged file is a `ResultsError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path} is missing")
    try:
        return pd.read_parquet(path, columns=None if columns is None else list(columns))
    except (pa.ArrowException, OSError) as exc:
        raise ResultsError(
            f"{damaged(path, exc)}; the results in {path.parent} cannot be read: run the "
            "experiment again into another folder"
        ) from exc


def parquet_columns(path: str | Path) -> list[str]:
    """The column names of a Parquet file (from its footer, without reading the data)."""
    path = Path(path)
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as exc:
        raise ResultsError(
            f"{damaged(path, exc)}; the results in {path.parent} cannot be read: run the "
            "experiment again into another folder"
        ) from exc


def _parquet_problem(path: Path) -> str | None:
    """Why `path` is not a whole Parquet file (missing, or its footer unreadable), or None.

    A file cut short loses its footer, which is written last, so reading the footer finds it.
    """
    if not path.is_file():
        return f"{path} is missing"
    try:
        pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        return damaged(path, exc)
    return None


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
                f"{what_differs(previous.get('experiment') or {}, resolved)}; "
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

    def done_ids(self) -> list[int]:
        """Run ids whose runs row is in parts/ (read or not), sorted."""
        if not self.parts.is_dir():
            return []
        ids = []
        for path in self.parts.glob("run-*.run.json"):
            with contextlib.suppress(ValueError):
                ids.append(int(path.name.split(".")[0].removeprefix("run-")))
        return sorted(ids)

    def finished(self) -> dict[int, str]:
        """Runs done so far, as run_id → status (``ok`` or ``failed``)."""
        return {run_id: self.read_row(run_id)["status"] for run_id in self.done_ids()}

    def check_parts(self) -> list[str]:
        """Find the done runs whose part files are damaged, and undo them so they are played again.

        A run is damaged when its runs row is not a JSON object with a status, or when it is ok
        but one of its tables is missing or not a whole Parquet file (a disk that filled up, a
        copy cut short). Its part files are removed, so the run counts as not done. Returns one
        line per damaged run, naming the file and what is wrong with it.
        """
        problems = []
        for run_id in self.done_ids():
            problem = self._part_problem(run_id)
            if problem is None:
                continue
            for kind in (
                "run.json",
                TIMESERIES.removesuffix(".parquet"),
                FIRMS.removesuffix(".parquet"),
            ):
                with contextlib.suppress(OSError):
                    self.part(run_id, kind).unlink()
            problems.append(f"{problem}: run {run_id} will be played again")
        return problems

    def _part_problem(self, run_id: int) -> str | None:
        row_path = self.part(run_id, "run.json")
        try:
            row = json.loads(row_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"{row_path} is damaged (not a JSON runs row: {_first_line(exc)})"
        if not isinstance(row, dict) or row.get("status") not in ("ok", "failed"):
            return f"{row_path} is damaged (not a runs row with a status)"
        if row["status"] != "ok":
            return None
        for name in (TIMESERIES, FIRMS):
            problem = _parquet_problem(self.part(run_id, name.removesuffix(".parquet")))
            if problem is not None:
                return problem
        return None

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

    def _read_part(self, path: Path, read: Callable[[Path], Any] = pq.read_table) -> Any:
        """`read(path)` of a part file; a damaged one undoes its run (`--resume` plays it again)
        and raises a `ResultsError` naming it."""
        try:
            return read(path)
        except (pa.ArrowException, OSError) as exc:
            run_id = int(path.name.split(".")[0].removeprefix("run-"))
            with contextlib.suppress(OSError):
                self.part(run_id, "run.json").unlink()
            raise ResultsError(
                f"{damaged(path, exc)}; run {run_id} was set to be played again: carry on with "
                "--resume"
            ) from exc

    def _concatenate(self, parts: list[Path], name: str) -> None:
        if parts:
            schema = pa.unify_schemas(
                [self._read_part(p, pq.read_schema) for p in parts], promote_options="permissive"
            )
        else:
            schema = _EMPTY_SCHEMAS[name]

        def write(temp: Path) -> None:
            with pq.ParquetWriter(temp, schema) as writer:
                batch: list[pa.Table] = []
                rows = 0
                for path in parts:
                    table = self._read_part(path).cast(schema)
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
    """An experiment's folder in words: its name, how far it got, and how many runs are on disk.

    Called with the folder's lock held, so a manifest still saying "running" belongs to a sweep
    that was killed: nothing is writing the folder.
    """
    try:
        manifest = read_manifest(path)
    except ResultsError:
        return "(unreadable manifest)"
    return (
        f"{experiment_name(manifest.get('experiment') or {})!r} "
        f"({_state(manifest)}, {runs_on_disk(path)} of {manifest.get('runs_total')} runs done)"
    )


def _state(manifest: dict[str, Any]) -> str:
    """How far a sweep got, for a folder no sweep is writing now: a manifest that still says
    ``running`` was left by a sweep that was killed."""
    status = manifest.get("status")
    return "its sweep was killed" if status == "running" else f"status {status}"


def _being_written(folder: Path) -> bool:
    """Whether a sweep holds the folder's lock right now."""
    if fcntl is None or not (folder / LOCK).is_file():  # pragma: no cover - Windows
        return False
    try:
        with open(folder / LOCK) as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    return False


def runs_on_disk(path: str | Path) -> int:
    """Runs done in the results folder `path`, counted on disk: the rows of runs.parquet when
    the folder is complete, else the runs rows in parts/ (a manifest can lag behind: after
    ``kill -9`` it still says what it said when the sweep started)."""
    folder = Path(path)
    with contextlib.suppress(pa.ArrowException, OSError):
        return pq.read_metadata(folder / RUNS).num_rows
    return len(ResultsFolder(folder).done_ids())


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, default=str, allow_nan=True)
    return text if len(text) <= 60 else text[:57] + "..."


_ABSENT = object()


def _differences(old: Any, new: Any, where: str) -> Iterable[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            yield from _differences(
                old.get(key, _ABSENT), new.get(key, _ABSENT), f"{where}.{key}" if where else key
            )
    elif isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            yield from _differences(
                old[i] if i < len(old) else _ABSENT,
                new[i] if i < len(new) else _ABSENT,
                f"{where}[{i}]",
            )
    elif old is _ABSENT or new is _ABSENT or _canonical(old) != _canonical(new):
        yield f"{where}: {_show(old)} -> {_show(new)}"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, allow_nan=True)


def what_differs(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Where two resolved experiments differ, in what the fingerprint covers ([execution] and
    [output] are left out), as ``experiment.replications: 10 -> 12, ...`` (old -> new)."""
    skip = ("execution", "output")
    # As JSON, so that the folder's manifest (read from JSON) and this experiment compare alike.
    old = {k: v for k, v in json.loads(to_json(old)).items() if k not in skip}
    new = {k: v for k, v in json.loads(to_json(new)).items() if k not in skip}
    found = list(_differences(old, new, ""))
    if not found:
        return (
            "their files resolve to the same experiment, so the runs it compiles to differ "
            "(written by another version of datamarket?)"
        )
    shown = ", ".join(found[:DIFFERENCES_SHOWN])
    more = f", and {len(found) - DIFFERENCES_SHOWN} more" if len(found) > DIFFERENCES_SHOWN else ""
    return f"what differs (that folder's -> this one's): {shown}{more}"


def describe_failures(runs: pd.DataFrame, folder: str | Path) -> str:
    """Which runs of `runs` (runs.parquet) failed and where their errors are, in a few lines:
    run id, policy, replication and the first line of each error, up to `FAILURES_SHOWN`."""
    failed = runs.loc[runs["status"] != "ok"].sort_values("run_id")
    lines = [
        f"{len(failed)} of {len(runs)} runs failed; their errors are in the `error` column of "
        f'{Path(folder) / RUNS} (and under "Failed runs" in the report):'
    ]
    for row in failed.head(FAILURES_SHOWN).itertuples(index=False):
        lines.append(
            f"  run {row.run_id} (policy {row.policy}, replication {row.replication}): "
            f"{_first_line(row.error) or '(no error recorded)'}"
        )
    if len(failed) > FAILURES_SHOWN:
        lines.append(f"  and {len(failed) - FAILURES_SHOWN} more")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Reading


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the results folder `path`, complete or not.

    Raises:
        ResultsError: `path` is not a folder, has no manifest.json, or it cannot be read, is not
            JSON, or lacks one of `MANIFEST_FIELDS`.
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
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"{manifest_path} cannot be read: it is not JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}); the file is damaged"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{manifest_path} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ResultsError(
            f"{manifest_path} is not a results manifest: it holds a JSON "
            f"{type(manifest).__name__}, not an object"
        )
    wrong = [
        f"{name!r} ({'missing' if name not in manifest else 'not a ' + kind.__name__})"
        for name, kind in MANIFEST_FIELDS.items()
        if not isinstance(manifest.get(name), kind)
    ]
    if wrong:
        raise ResultsError(
            f"{manifest_path} is not a results manifest: it lacks {', '.join(wrong)}"
        )
    return manifest


def resume_command(folder: str | Path, manifest: dict[str, Any]) -> str:
    """The command that finishes the sweep in `folder`: with its experiment file when the
    manifest names one, else with ``FILE``."""
    source = manifest.get("source")
    file = shlex.quote(source) if isinstance(source, str) and source else "FILE"
    return f"`datamarket run {file} --out {shlex.quote(str(folder))} --resume`"


def _incomplete(folder: Path, manifest: dict[str, Any]) -> ResultsError:
    done = f"{runs_on_disk(folder)} of {manifest.get('runs_total')} runs done"
    if _being_written(folder):
        return ResultsError(
            f"results in {folder} are incomplete: a sweep is writing them right now ({done} so "
            "far); wait for it to end"
        )
    return ResultsError(
        f"results in {folder} are incomplete ({_state(manifest)}, {done}): finish them with "
        f"{resume_command(folder, manifest)}"
    )


def check_results(path: str | Path) -> dict[str, Any]:
    """Check that `path` holds a complete, readable result; return its manifest.

    Reads the manifest and the footer of each table (not the data), so it is quick however
    large the tables.

    Raises:
        ResultsError: naming the folder or the file: the folder is missing or not a results
            folder, the manifest is missing or damaged, the sweep is incomplete (with how many
            runs are done and the command that finishes it), or a table is missing or damaged.
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    if not (folder / RUNS).exists():
        raise _incomplete(folder, manifest)
    for name in (RUNS, TIMESERIES, FIRMS):
        problem = _parquet_problem(folder / name)
        if problem is not None:
            raise ResultsError(
                f"{problem}; the results in {folder} cannot be read: run the experiment "
                "again into another folder"
            )
    return manifest


def _complete_table(path: str | Path, name: str) -> pd.DataFrame:
    folder = Path(path)
    manifest = read_manifest(folder)
    if not (folder / RUNS).exists():
        raise _incomplete(folder, manifest)
    return read_parquet(folder / name)


def read_runs(path: str | Path) -> pd.DataFrame:
    """runs.parquet of a complete results folder: one row per run, sorted by run_id."""
    return _complete_table(path, RUNS)


def read_timeseries(path: str | Path) -> pd.DataFrame:
    """timeseries.parquet of a complete results folder: run_id, step, every metric."""
    return _complete_table(path, TIMESERIES)


def read_firms(path: str | Path) -> pd.DataFrame:
    """firms.parquet of a complete results folder: one row per firm per month per run."""
    return _complete_table(path, FIRMS)
