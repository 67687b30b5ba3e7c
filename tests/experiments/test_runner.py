"""The execution engine: executors agree bit for bit, results stream to disk, sweeps survive
kill -9 and Ctrl-C, failed runs are recorded, and a results folder refuses misuse.

Sizes are small (1,000 users, 12 months) so the whole file runs in about a minute; what is
checked does not depend on size.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import experiments.runner as runner
from experiments.results import (
    FIRMS,
    MANIFEST,
    PARTS,
    RUNS,
    TIMESERIES,
    ResultsError,
    ResultsFolder,
    read_firms,
    read_manifest,
    read_runs,
    read_timeseries,
)
from experiments.runner import WORKER_DIED, ExecutorError, run_experiment
from experiments.spec import summarise
from model import METRICS, MISSING

ROOT = Path(__file__).resolve().parents[2]
RESOLVED = {"experiment": {"name": "runner_test", "steps": 12}}
FINGERPRINT = "runner-test-fingerprint-1"
# The reference experiment: 2 leakage samples × 2 policies × 2 replications = 8 runs.
REFERENCE = {"n_policies": 2, "n_reps": 2, "n_samples": 2}

# A sweep in a subprocess, for kill -9 and Ctrl-C. It sleeps after each run so that the test
# can catch it with some runs done and some not (the pause changes nothing in the results).
SWEEP_SCRIPT = """
import json, pickle, sys, time
from pathlib import Path
from experiments.runner import run_experiment
specs_file, out_dir, workers, pause, resolved, fingerprint = sys.argv[1:]
try:
    run_experiment(
        pickle.loads(Path(specs_file).read_bytes()), Path(out_dir),
        resolved=json.loads(resolved), fingerprint=fingerprint, workers=int(workers),
        progress=False, on_run_done=lambda run_id, status: time.sleep(float(pause)),
    )
except KeyboardInterrupt:
    sys.exit(130)
"""


def run(runs, out_dir, **kwargs):
    """run_experiment with this file's experiment identity and no progress bar."""
    kwargs.setdefault("resolved", RESOLVED)
    kwargs.setdefault("fingerprint", FINGERPRINT)
    kwargs.setdefault("progress", False)
    return run_experiment(runs, out_dir, **kwargs)


def assert_same_results(a: Path, b: Path) -> None:
    """Two results folders hold the same runs, time series and firms, bit for bit.

    Only `seconds` (wall time) may differ.
    """
    assert_frame_equal(
        read_runs(a).drop(columns="seconds"), read_runs(b).drop(columns="seconds"), check_exact=True
    )
    assert_frame_equal(read_timeseries(a), read_timeseries(b), check_exact=True)
    assert_frame_equal(read_firms(a), read_firms(b), check_exact=True)


def part_ids(out_dir: Path) -> list[int]:
    """Run ids whose runs row is in parts/ (done runs)."""
    names = (out_dir / PARTS).glob("run-*.run.json") if (out_dir / PARTS).is_dir() else []
    return sorted(int(p.name.split(".")[0].removeprefix("run-")) for p in names)


def start_sweep(tmp_path: Path, runs, out_dir: Path, *, workers: int, pause: float):
    """Start `SWEEP_SCRIPT` in its own process group."""
    specs = tmp_path / "specs.pickle"
    specs.write_bytes(pickle.dumps(runs))
    args = [str(specs), str(out_dir), str(workers), str(pause), json.dumps(RESOLVED), FINGERPRINT]
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP_SCRIPT, *args],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_parts(process: subprocess.Popen, out_dir: Path, at_least: int, total: int) -> int:
    """Wait until the sweep has at least `at_least` runs on disk (but not all); return how many."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        done = len(part_ids(out_dir))
        if at_least <= done < total:
            return done
        if process.poll() is not None or done >= total:
            _, err = process.communicate()
            raise AssertionError(
                f"the sweep ended (code {process.returncode}) before it could be stopped "
                f"mid-way; {done} of {total} runs done\n{err.decode()[-2000:]}"
            )
        time.sleep(0.005)
    raise AssertionError(f"no {at_least} runs on disk after 180 s")


def kill_group(process: subprocess.Popen) -> None:
    """Make sure a sweep subprocess and its workers are gone."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, small_runs) -> tuple[list, Path]:
    """The reference experiment played serially, uninterrupted: its runs and its folder."""
    runs = small_runs(**REFERENCE)
    out_dir = tmp_path_factory.mktemp("reference") / "results"
    run(runs, out_dir)
    return runs, out_dir


# --------------------------------------------------------------------------------------------
# What a complete folder holds


def test_complete_folder_holds_every_run_and_nothing_half_done(reference):
    runs, out_dir = reference
    names = {p.name for p in out_dir.iterdir() if not p.name.startswith(".")}
    assert names == {MANIFEST, RUNS, TIMESERIES, FIRMS}, "parts/ is removed once consolidated"
    assert not list(out_dir.glob(".*.tmp"))

    table = read_runs(out_dir)
    assert table["run_id"].tolist() == [spec.run_id for spec in runs]
    for spec, row in zip(runs, table.itertuples(index=False), strict=True):
        assert (row.policy, row.regime, row.replication, row.sample, row.seed) == (
            spec.policy,
            spec.regime.name,
            spec.replication,
            spec.sample,
            spec.seed,
        )
        assert row.leakage == spec.sampled["leakage"]
    assert (table["status"] == "ok").all() and table["error"].isna().all()
    assert list(table.columns[-3:]) == ["status", "error", "seconds"]

    timeseries = read_timeseries(out_dir)
    assert list(timeseries.columns) == ["run_id", "step", *METRICS]
    for spec in runs:
        mine = timeseries[timeseries["run_id"] == spec.run_id]
        assert mine["step"].tolist() == list(range(1, spec.steps + 1))
        # Each summary is the run's measure applied to its own time series.
        expected = summarise(mine.reset_index(drop=True), spec.measure)
        summary = table.loc[table["run_id"] == spec.run_id, list(METRICS)].iloc[0]
        np.testing.assert_array_equal(summary.to_numpy(), [expected[m] for m in METRICS])

    firms = read_firms(out_dir)
    assert list(firms.columns) == [
        "run_id",
        "step",
        "agent_id",
        "kind",
        "profit",
        "market_share",
        "strategy",
        "fees_paid",
        "fees_received",
        "fines",
        "price",  # a maker's device price (makers set their own); NaN for other firms
    ]
    makers = firms["kind"] == "maker"
    assert (firms.loc[makers, "price"] > 0).all() and firms.loc[~makers, "price"].isna().all()
    assert set(firms["run_id"]) == {spec.run_id for spec in runs}
    assert "regulator" not in set(firms["kind"])
    assert firms["run_id"].is_monotonic_increasing


def test_manifest_of_a_complete_sweep(reference):
    runs, out_dir = reference
    manifest = read_manifest(out_dir)
    assert manifest["status"] == "complete"
    assert manifest["experiment"] == RESOLVED and manifest["fingerprint"] == FINGERPRINT
    assert manifest["runs_total"] == manifest["runs_done"] == len(runs)
    assert manifest["runs_failed"] == 0
    assert manifest["started"] <= manifest["finished"]
    assert manifest["executor"] == {"backend": "serial", "workers": 1, "scheduler": None}
    assert manifest["versions"]["python"] == platform.python_version()
    assert manifest["versions"]["pandas"] == pd.__version__
    assert manifest["versions"]["numpy"] == np.__version__

    seconds = read_runs(out_dir)["seconds"]
    assert manifest["seconds_per_run"]["mean"] == pytest.approx(seconds.mean())
    assert manifest["seconds_per_run"]["median"] == pytest.approx(seconds.median())
    assert manifest["seconds_per_run"]["max"] == seconds.max()

    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    assert manifest["git_commit"] == (head.stdout.strip() if head.returncode == 0 else None)


# --------------------------------------------------------------------------------------------
# Executors agree


def test_results_are_keyed_by_run_id_not_by_completion_order(reference, tmp_path):
    runs, out_dir = reference
    played = []
    run(list(reversed(runs)), tmp_path / "reversed", on_run_done=lambda i, s: played.append(i))
    assert played == [spec.run_id for spec in reversed(runs)], "finished last run first"
    assert_same_results(out_dir, tmp_path / "reversed")


def test_process_pool_gives_the_serial_results(reference, tmp_path):
    runs, out_dir = reference
    played: list[int] = []
    manifest = run(runs, tmp_path / "pool", workers=2, on_run_done=lambda i, s: played.append(i))
    assert sorted(played) == [spec.run_id for spec in runs], "each run reported exactly once"
    assert manifest["executor"] == {"backend": "processes", "workers": 2, "scheduler": None}
    assert_same_results(out_dir, tmp_path / "pool")


def test_dask_cluster_gives_the_serial_results(reference, tmp_path, dask_cluster):
    runs, out_dir = reference
    played: list[int] = []
    manifest = run(
        runs, tmp_path / "dask", scheduler=dask_cluster, on_run_done=lambda i, s: played.append(i)
    )
    assert sorted(played) == [spec.run_id for spec in runs]
    assert manifest["executor"]["backend"] == "dask"
    assert manifest["executor"]["scheduler"] == dask_cluster
    assert manifest["executor"]["workers"] >= 1
    assert_same_results(out_dir, tmp_path / "dask")


# --------------------------------------------------------------------------------------------
# Streaming, interruption, resumption


def test_each_run_is_on_disk_as_soon_as_it_finishes(small_runs, tmp_path):
    runs = small_runs(1, 4)
    out_dir = tmp_path / "out"
    seen = []

    def check(run_id: int, status: str) -> None:
        seen.append(run_id)
        assert part_ids(out_dir) == sorted(seen), "every finished run, and only those, on disk"
        assert (out_dir / PARTS / f"run-{run_id:06d}.timeseries.parquet").exists()
        assert (out_dir / PARTS / f"run-{run_id:06d}.firms.parquet").exists()
        assert not (out_dir / RUNS).exists()
        assert read_manifest(out_dir)["status"] == "running"

    run(runs, out_dir, on_run_done=check)
    assert len(seen) == len(runs)
    assert read_manifest(out_dir)["status"] == "complete"


def test_ctrl_c_keeps_finished_runs_and_resume_completes(reference, tmp_path):
    runs, out_dir = reference
    target = tmp_path / "out"
    stop_after = 3

    def interrupt(run_id: int, status: str) -> None:
        if len(part_ids(target)) == stop_after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(runs, target, on_run_done=interrupt)
    manifest = read_manifest(target)
    assert manifest["status"] == "interrupted" and manifest["finished"] is None
    assert manifest["runs_done"] == stop_after == len(part_ids(target))
    assert not (target / RUNS).exists()
    with pytest.raises(ResultsError, match=r"incomplete.*--resume"):
        read_runs(target)

    replayed: list[int] = []
    manifest = run(runs, target, resume=True, on_run_done=lambda i, s: replayed.append(i))
    assert replayed == [spec.run_id for spec in runs][stop_after:]
    assert manifest["status"] == "complete" and len(manifest["resumed"]) == 1
    assert_same_results(out_dir, target)


def test_kill_9_mid_sweep_then_resume_gives_the_uninterrupted_results(reference, tmp_path):
    runs, out_dir = reference
    target = tmp_path / "out"
    process = start_sweep(tmp_path, runs, target, workers=1, pause=0.3)
    try:
        wait_for_parts(process, target, at_least=2, total=len(runs))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        kill_group(process)
    assert process.returncode == -signal.SIGKILL

    done = part_ids(target)
    assert 2 <= len(done) < len(runs)
    assert not (target / RUNS).exists(), "a killed sweep must not look complete"
    assert read_manifest(target)["status"] == "running"
    # What a kill can leave besides: a temporary file, and a run's tables without its runs row.
    undone = next(spec.run_id for spec in runs if spec.run_id not in done)
    leftover = target / PARTS / f".run-{undone:06d}.firms.parquet.dead.tmp"
    leftover.write_bytes(b"half a parquet file")
    orphan = target / PARTS / f"run-{undone:06d}.timeseries.parquet"
    orphan.write_bytes(b"not the run's time series")

    replayed: list[int] = []
    manifest = run(runs, target, resume=True, on_run_done=lambda i, s: replayed.append(i))
    assert sorted(replayed) == sorted(set(spec.run_id for spec in runs) - set(done))
    assert manifest["status"] == "complete"
    assert manifest["runs_done"] == len(runs) and manifest["runs_failed"] == 0
    assert not leftover.exists()
    table = read_runs(target)
    assert table["run_id"].is_unique and len(table) == len(runs)
    assert_same_results(out_dir, target)


def test_ctrl_c_stops_a_process_pool_cleanly(reference, tmp_path):
    runs, out_dir = reference
    target = tmp_path / "out"
    process = start_sweep(tmp_path, runs, target, workers=2, pause=0.3)
    try:
        wait_for_parts(process, target, at_least=1, total=len(runs))
        os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130, err.decode()[-2000:]
        # Nothing of the sweep is left running: its workers were stopped with it.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)
    finally:
        kill_group(process)

    manifest = read_manifest(target)
    assert manifest["status"] == "interrupted"
    assert manifest["runs_done"] == len(part_ids(target)) < len(runs)
    assert not (target / RUNS).exists()
    run(runs, target, resume=True)
    assert_same_results(out_dir, target)


def test_ctrl_c_on_dask_cancels_and_resume_on_dask_completes(reference, tmp_path, dask_cluster):
    runs, out_dir = reference
    target = tmp_path / "out"

    def interrupt(run_id: int, status: str) -> None:
        if len(part_ids(target)) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(runs, target, scheduler=dask_cluster, on_run_done=interrupt)
    manifest = read_manifest(target)
    assert manifest["status"] == "interrupted" and manifest["runs_done"] == 2
    assert not (target / RUNS).exists()
    run(runs, target, scheduler=dask_cluster, resume=True)
    assert_same_results(out_dir, target)


def test_stopped_after_the_last_run_resume_only_consolidates(reference, tmp_path):
    runs, out_dir = reference
    target = tmp_path / "out"

    def interrupt(run_id: int, status: str) -> None:
        if len(part_ids(target)) == len(runs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(runs, target, on_run_done=interrupt)
    assert not (target / RUNS).exists(), "every part written, but no table yet"
    played: list[int] = []
    manifest = run(runs, target, resume=True, on_run_done=lambda i, s: played.append(i))
    assert played == []
    assert manifest["runs_done"] == len(runs) and manifest["status"] == "complete"
    assert_same_results(out_dir, target)


def test_resuming_a_complete_folder_plays_nothing(small_runs, tmp_path):
    runs = small_runs(1, 2)
    out_dir = tmp_path / "out"
    run(runs, out_dir)
    before = read_runs(out_dir)
    played: list[int] = []
    manifest = run(runs, out_dir, resume=True, on_run_done=lambda i, s: played.append(i))
    assert played == []
    assert manifest["status"] == "complete"
    assert_frame_equal(read_runs(out_dir), before, check_exact=True)


# --------------------------------------------------------------------------------------------
# Failed runs


def test_a_run_that_raises_is_recorded_failed_and_the_others_finish(small_runs, tmp_path):
    runs = small_runs(1, 3)
    bad = runs[1]
    runs[1] = type(bad)(**{**bad.__dict__, "fixed": {**bad.fixed, "n_users": -5}})
    out_dir = tmp_path / "out"
    manifest = run(runs, out_dir)

    table = read_runs(out_dir).set_index("run_id")
    assert table.loc[bad.run_id, "status"] == "failed"
    assert "n_users" in table.loc[bad.run_id, "error"]
    assert table.loc[bad.run_id, list(METRICS)].isna().all()
    others = table.drop(index=bad.run_id)
    assert (others["status"] == "ok").all() and others["error"].isna().all()
    # Every metric has a value, but consent_rate under platform_control, where nobody is asked
    # for consent: missing (NaN), not 0.
    no_requests = others["policy"] == "platform_control"
    assert no_requests.any() and others.loc[no_requests, "consent_rate"].isna().all()
    assert others.loc[~no_requests, "consent_rate"].notna().all()
    # mean_data_price is missing likewise where no consenting user's data flowed.
    assert others[[m for m in METRICS if m not in MISSING]].notna().all().all()
    assert bad.run_id not in set(read_timeseries(out_dir)["run_id"])
    assert set(read_timeseries(out_dir)["run_id"]) == set(others.index)
    assert manifest["status"] == "complete"
    assert (manifest["runs_done"], manifest["runs_failed"]) == (len(runs), 1)
    assert read_manifest(out_dir)["runs_failed"] == 1


class _KillsItsWorker:
    """A parameter value that makes the process unpickling it exit at once (a dying worker)."""

    def __reduce__(self):
        return (os._exit, (1,))


def test_a_run_that_kills_its_worker_is_failed_alone(reference, tmp_path):
    runs, out_dir = reference
    keep = runs[:3]
    killer = type(runs[3])(**{**runs[3].__dict__, "fixed": {"killer": _KillsItsWorker()}})
    manifest = run([*keep, killer], tmp_path / "out", workers=2)

    table = read_runs(tmp_path / "out").set_index("run_id")
    assert table.loc[killer.run_id, "status"] == "failed"
    assert table.loc[killer.run_id, "error"] == WORKER_DIED
    # The runs in flight when the pool broke were played again, and are not blamed.
    assert (table.loc[[s.run_id for s in keep], "status"] == "ok").all()
    assert manifest["runs_failed"] == 1
    expected = read_timeseries(out_dir)
    expected = expected[expected["run_id"].isin([s.run_id for s in keep])]
    assert_frame_equal(
        read_timeseries(tmp_path / "out"), expected.reset_index(drop=True), check_exact=True
    )


def test_seeds_beyond_int64_are_kept_exactly(small_runs, tmp_path):
    spec = small_runs(1, 1)[0]
    big = type(spec)(**{**spec.__dict__, "seed": 2**64 - 1})
    run([big], tmp_path / "out")
    assert int(read_runs(tmp_path / "out")["seed"].iloc[0]) == 2**64 - 1


# --------------------------------------------------------------------------------------------
# Refusals


def test_resume_with_another_experiment_is_refused(small_runs, tmp_path):
    runs = small_runs(1, 1)
    out_dir = tmp_path / "out"
    run(runs, out_dir)
    other = {"experiment": {"name": "another_experiment"}}
    with pytest.raises(ResultsError) as refused:
        run(runs, out_dir, resolved=other, fingerprint="other-fingerprint", resume=True)
    message = str(refused.value)
    for named in (str(out_dir), "runner_test", FINGERPRINT, "another_experiment"):
        assert named in message
    assert "other-fingerprint" in message and "another output folder" in message
    assert read_manifest(out_dir)["fingerprint"] == FINGERPRINT
    assert len(read_runs(out_dir)) == len(runs)


@pytest.mark.parametrize("state", ["complete", "interrupted"])
def test_a_folder_with_results_needs_resume(small_runs, tmp_path, state):
    runs = small_runs(1, 2)
    out_dir = tmp_path / "out"
    if state == "complete":
        run(runs, out_dir)
    else:

        def interrupt(run_id: int, status: str) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run(runs, out_dir, on_run_done=interrupt)
    manifest_before = (out_dir / MANIFEST).read_text()
    with pytest.raises(ResultsError, match=r"already holds results.*--resume") as refused:
        run(runs, out_dir)
    assert str(out_dir) in str(refused.value)
    assert (out_dir / MANIFEST).read_text() == manifest_before


def test_an_output_folder_that_cannot_be_written_is_refused(small_runs, tmp_path):
    runs = small_runs(1, 1)
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for out_dir in (a_file, a_file / "results"):
        with pytest.raises(ResultsError, match="choose") as refused:
            run(runs, out_dir)
        assert str(out_dir) in str(refused.value)
    assert a_file.read_text() == "not a folder"


def test_a_folder_being_written_by_another_sweep_is_refused(small_runs, tmp_path):
    out_dir = tmp_path / "out"
    holder, _ = ResultsFolder.open(
        out_dir, resolved=RESOLVED, fingerprint=FINGERPRINT, resume=False
    )
    try:
        with pytest.raises(ResultsError, match="being written by another sweep"):
            run(small_runs(1, 1), out_dir, resume=True)
    finally:
        holder.close()
    assert not (out_dir / MANIFEST).exists()


def test_bad_executor_settings_are_refused(small_runs, tmp_path, monkeypatch):
    runs = small_runs(1, 1)
    with pytest.raises(ExecutorError, match="workers=0"):
        run(runs, tmp_path / "zero", workers=0)
    assert not (tmp_path / "zero").exists()

    monkeypatch.setattr(runner, "DASK_CONNECT_TIMEOUT", 2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(ExecutorError, match="cannot reach the Dask scheduler") as refused:
        run(runs, tmp_path / "dask", scheduler=nobody)
    assert nobody in str(refused.value)
    assert not (tmp_path / "dask" / MANIFEST).exists(), "a bad address leaves no manifest"


def test_readers_name_a_folder_that_is_not_a_results_folder(tmp_path):
    with pytest.raises(ResultsError, match="does not exist"):
        read_runs(tmp_path / "missing")
    with pytest.raises(ResultsError, match="not a results folder"):
        read_timeseries(tmp_path)
    (tmp_path / MANIFEST).write_text("{ not json")
    with pytest.raises(ResultsError, match="cannot be read"):
        read_manifest(tmp_path)


def _worker_threads() -> tuple[list[int], int]:
    from threadpoolctl import threadpool_info

    from model.kernels import threads

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return blas, threads()


def test_pool_workers_run_blas_and_kernels_on_one_thread():
    # Two workers, each with threads of its own, oversubscribe two cores (as Dask's workers
    # avoid for BLAS by setting OPENBLAS_NUM_THREADS=1).
    backend = runner._ProcessBackend(1)
    try:
        blas, kernel_threads = backend.executor.submit(_worker_threads).result(timeout=120)
    finally:
        backend.close(cancel=False)
    assert blas and set(blas) == {1}, blas
    assert kernel_threads == 1


def test_one_thread_each_sets_the_kernels_to_one_thread():
    from threadpoolctl import threadpool_limits

    from model import kernels

    before = kernels.threads()
    kernels.set_threads(3)
    try:
        with threadpool_limits(limits=None):  # gives BLAS its threads back on leaving
            runner.one_thread_each()
            assert kernels.threads() == 1
    finally:
        kernels.set_threads(before)


def _page_faults_allocating_arrays() -> int:
    """Minor page faults of this thread while it allocates, fills and frees 200 arrays of 1 MiB
    (what a month of the model does, many times over)."""
    import resource

    import numpy as np

    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for _ in range(200):
        array = np.ones(1 << 17)
        del array
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before


def test_dask_workers_reuse_freed_memory(dask_cluster):
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc map and
    # unmap every array above 128 kB: each new array page-faults again (256 faults per MiB).
    # Runs took 50% longer on Dask workers than in a pool. The runner restores reuse.
    backend = runner._backend(1, dask_cluster)
    try:
        faults = backend.client.submit(_page_faults_allocating_arrays, pure=False).result()
    finally:
        backend.close(cancel=False)
    assert faults < 200 * 256 / 10, faults


def test_a_dask_worker_that_joins_later_is_set_up_too(dask_cluster, tmp_path):
    # Client.run would reach only the workers connected when the runner connects; a worker
    # added during a sweep kept every CPU for the kernels and the nanny's page-faulting malloc.
    from tests.experiments.conftest import DASK_WORKERS, ROOT, _stop, start_dask

    backend = runner._backend(1, dask_cluster)
    client = backend.client
    before = set(client.scheduler_info()["workers"])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    late = start_dask(
        "worker", dask_cluster, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
        "--no-dashboard", log=tmp_path / "late-worker.log", env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        client.wait_for_workers(DASK_WORKERS + 1, timeout=120)
        (joined,) = set(client.scheduler_info()["workers"]) - before
        on_it = {"workers": [joined], "allow_other_workers": False, "pure": False}
        blas, kernel_threads = client.submit(_worker_threads, **on_it).result(timeout=120)
        faults = client.submit(_page_faults_allocating_arrays, **on_it).result(timeout=120)
    finally:
        _stop(late)
        deadline = time.monotonic() + 60  # the scheduler forgets the stopped worker
        while len(client.scheduler_info()["workers"]) > DASK_WORKERS:
            assert time.monotonic() < deadline, "the late worker was not removed"
            time.sleep(0.2)
        backend.close(cancel=False)
    assert blas and set(blas) == {1}, blas
    assert kernel_threads == 1
    assert faults < 200 * 256 / 10, faults
