"""Run an experiment's runs and stream their results into its results folder.

`run_experiment` plays a list of `RunSpec`s on one of three executors, all driven by the same
loop over a `concurrent.futures.Executor`:

- serial, in this process (``workers=1``, no scheduler);
- a local process pool (``workers > 1``): `ProcessPoolExecutor` whose workers come from a
  ``forkserver`` (``spawn`` where there is none), never from forking this process, so it works
  from a notebook;
- a Dask cluster (``scheduler="tcp://host:port"``): `dask.distributed.Client` and its
  ``get_executor(pure=False)``, so each run is its own task even when two specs are equal.

Workers only play runs (`run_one`) and send back their output; this process alone writes the
results folder (see `experiments.results`), so cluster workers need no access to it. Results are
keyed by run_id, never by completion order, and each run depends only on its spec: the three
executors give identical results. At most ``2 × workers`` runs are in flight, so memory stays flat
however long the sweep.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import math
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from experiments.config import ExecutionTable
from experiments.results import (
    ResultsError,
    ResultsFolder,
    experiment_name,
    git_commit,
    now,
    package_versions,
    run_row,
    to_json,
)
from experiments.spec import RunOutput, RunSpec, run_one

__all__ = [
    "ExecutorError",
    "ResultsError",
    "RunFailure",
    "Terminated",
    "exit_with",
    "one_thread_each",
    "run_experiment",
    "scheduler_for",
    "stop_on_sigterm",
    "worker_pool",
]

#: Runs in flight per worker: enough to keep every worker busy while results are written.
IN_FLIGHT_PER_WORKER = 2
#: The error recorded for a run whose worker process died each time it played it.
WORKER_DIED = "its worker process died while playing it (killed, crashed or out of memory)"
#: Seconds to wait for a Dask scheduler to answer, and for it to have a worker.
DASK_CONNECT_TIMEOUT = 30
#: Seconds between a pool worker's checks that the process that started it still runs, where
#: the system cannot say so at once (no pidfd: not Linux, or Linux before 5.3).
PARENT_POLL_SECONDS = 1.0
#: The exit code of a pool worker that ends because the process that started it has ended.
PARENT_GONE = 1


class ExecutorError(ValueError):
    """The executor asked for cannot be used (bad worker count, unreachable Dask scheduler)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived during a sweep (see `stop_on_sigterm`). A `KeyboardInterrupt`, so the
    sweep stops exactly as after Ctrl-C: workers stopped, finished runs kept, the manifest
    ``interrupted``; ``datamarket run`` then exits with 143 (128 + SIGTERM) rather than 130."""


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Inside this block, SIGTERM stops a sweep as Ctrl-C does: it raises `Terminated` in the
    main thread instead of ending the process on the spot.

    Without it, ``kill PID`` (what ``timeout``, systemd and ``docker stop`` send first) ends the
    process at once: the manifest stays ``running`` and no one stops the workers. Python runs
    signal handlers in the main thread only, so elsewhere this does nothing; nor where SIGTERM
    already has a handler (the program's own, or this one from an enclosing block). After the
    first SIGTERM, more are ignored until the block is left, so the clean-up is not cut short
    (SIGKILL still ends it, and the workers follow: `exit_with`).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        # Not SIG_IGN: a process started from here meanwhile would inherit it through exec.
        signal.signal(signal.SIGTERM, _ignore)
        raise Terminated(f"stopped by signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _ignore(signum: int, frame: Any) -> None:
    """A signal handler that does nothing."""


@dataclass(frozen=True)
class RunFailure:
    """A run that raised: its spec, the error (type and message) and the seconds it ran."""

    spec: RunSpec
    error: str
    seconds: float


def play(spec: RunSpec) -> RunOutput | RunFailure:
    """Play one run on a worker; an exception becomes a `RunFailure` instead of escaping.

    Catching it here, not in the driver, keeps unpicklable exceptions off the wire and keeps a
    failed run from looking like a failed worker.
    """
    started = time.perf_counter()
    try:
        return run_one(spec)
    except Exception as exc:
        return RunFailure(spec, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)


# --------------------------------------------------------------------------------------------
# Executors


class _SerialExecutor(cf.Executor):
    """Runs each call at submission, in this process (a Ctrl-C reaches it directly)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(fn(*args, **kwargs))
        return future


class _Backend:
    """An executor with what the sweep needs to know about it: its size and how to stop it."""

    name = "serial"

    def __init__(self) -> None:
        self.workers = 1
        self.scheduler: str | None = None
        self.executor: cf.Executor = _SerialExecutor()

    @property
    def window(self) -> int:
        """How many runs may be in flight at once."""
        return 1 if self.name == "serial" else IN_FLIGHT_PER_WORKER * self.workers

    def submit(self, spec: RunSpec) -> cf.Future:
        return self.executor.submit(play, spec)

    def close(self, *, cancel: bool) -> None:
        """Stop the executor; with `cancel`, drop queued runs and stop running ones now."""
        self.executor.shutdown(wait=not cancel)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "workers": self.workers, "scheduler": self.scheduler}


def _pool_context() -> multiprocessing.context.BaseContext:
    """Where pool workers come from: never a fork of this process (a notebook, threads).

    ``forkserver`` (POSIX) forks workers from a clean server process that has imported the model
    once, so a pool starts, and restarts after a worker died, in a fraction of a second; ``spawn``
    (elsewhere) starts each worker as a fresh interpreter.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["experiments.runner"])
        return context
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


def worker_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A process pool for playing runs: workers from `_pool_context` (never a fork of this
    process), each with one BLAS and one kernel thread (`one_thread_each`), each ending when
    this process ends however it ends (`exit_with`). Any code that plays runs in parallel
    outside `run_experiment` (calibration, validation, tests) uses it."""
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_pool_context(),
        initializer=_set_up_pool_worker,
        initargs=(os.getpid(),),
    )


def _set_up_pool_worker(parent: int) -> None:
    """The initializer of `worker_pool`'s workers: `exit_with` the pool's process, then
    `one_thread_each`."""
    exit_with(parent)
    one_thread_each()


def exit_with(pid: int) -> None:
    """End this process as soon as process `pid` ends, whatever ends it (even ``kill -9``).

    A pool worker does not notice by itself that the process that started the pool is gone:
    it waits for its next run on a queue whose writing end it holds too, so it waits forever
    (a SIGTERM or ``kill -9`` of ``datamarket run`` left both workers, ~250 MB each, running).
    Nor can the kernel's parent-death signal help: a forkserver worker's parent is the
    forkserver, not `pid`. The forkserver and multiprocessing's resource tracker do end by
    themselves once every process holding their pipes is gone, the workers included; so once
    the workers end, all four processes end. A daemon thread here waits on a pidfd of `pid`
    (readable when it exits; Linux 5.3+), else checks every `PARENT_POLL_SECONDS`, then ends
    this process with `os._exit` (no clean-up: a half-played run is played again on resume).
    """
    threading.Thread(
        target=_exit_when_gone, args=(pid,), name="datamarket-exit-with-parent", daemon=True
    ).start()


def _exit_when_gone(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:  # already gone
        os._exit(PARENT_GONE)
    except (AttributeError, OSError):  # pragma: no cover - no pidfd here
        handle = None
    if handle is not None:
        select.select([handle], [], [])
        os._exit(PARENT_GONE)
    while _running(pid):  # pragma: no cover - no pidfd here
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(PARENT_GONE)  # pragma: no cover


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process by now
        return True
    return True


def one_thread_each() -> None:
    """In each pool or Dask worker: one thread for BLAS (numpy's matrix products) and for the
    model's compiled kernels (`model.kernels.set_threads`), since the runs themselves are spread
    over the cores. Two workers on two cores, each with threads of its own, oversubscribe the
    cores: a 14-run sweep of 50,000 users took 64 s on 2 processes against 60 s serial, and 40 s
    with one BLAS thread each. Results do not depend on it (tests/experiments compare the pool
    and Dask with serial runs, bit for bit; the kernels give the same results on any number of
    threads). Use it as the ``initializer`` of any process pool that plays runs."""
    from threadpoolctl import threadpool_limits

    from model.kernels import set_threads

    threadpool_limits(limits=1)
    set_threads(1)


#: glibc's `mallopt` settings, and the values `reuse_freed_memory` gives them: arrays up to
#: 32 MiB come from the heap (glibc's own ceiling for its dynamic threshold), and up to 64 MiB
#: of freed memory stays with the process for the next month's arrays.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 32 * 2**20
_TRIM_THRESHOLD_BYTES = 64 * 2**20


def reuse_freed_memory() -> None:
    """In each Dask worker: let glibc reuse freed memory for new arrays, as in any process.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes glibc's
    mmap threshold at 128 kB: every larger array is mapped afresh and unmapped when freed, so
    each new array page-faults again. A run of 50,000 users × 60 months took 360,000 minor page
    faults and 0.6–0.8 s of system time on a Dask worker against 10,000 and 0.02 s in a pool
    worker, and 2.3–2.9 s against 1.5–1.8 s. Not glibc (no ``mallopt``): nothing to do.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)


class _ProcessBackend(_Backend):
    name = "processes"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.scheduler = None
        self.executor = self._new()

    def _new(self) -> cf.ProcessPoolExecutor:
        return worker_pool(self.workers)

    def submit(self, spec: RunSpec) -> cf.Future:
        try:
            return self.executor.submit(play, spec)
        except BrokenProcessPool:  # a worker died: replace the pool
            self.close(cancel=True)
            self.executor = self._new()
            return self.executor.submit(play, spec)

    def close(self, *, cancel: bool) -> None:
        executor = self.executor
        if not isinstance(executor, cf.ProcessPoolExecutor):  # pragma: no cover
            return
        if not cancel:
            executor.shutdown(wait=True)
            return
        executor.shutdown(wait=False, cancel_futures=True)
        # Running runs would otherwise finish before the workers exit. Python 3.14 has
        # terminate_workers(); before that the processes are only reachable privately.
        terminate = getattr(executor, "terminate_workers", None)
        if terminate is not None:  # pragma: no cover - Python 3.14+
            terminate()
            return
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            if process.is_alive():
                process.terminate()


class _DaskBackend(_Backend):
    name = "dask"

    def __init__(self, scheduler: str) -> None:
        try:
            from dask.distributed import Client
        except ImportError as exc:  # pragma: no cover - dask is a dependency
            raise ExecutorError(
                "running on a Dask cluster needs dask[distributed]: pip install 'dask[distributed]'"
            ) from exc
        self.scheduler = scheduler
        try:
            self.client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                "`dask scheduler` and `dask worker ADDRESS`, or check the address"
            ) from exc
        try:
            self.client.wait_for_workers(1, timeout=DASK_CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.client.close()
            raise ExecutorError(
                f"the Dask scheduler at {scheduler} has no worker after {DASK_CONNECT_TIMEOUT} s; "
                f"start one with `dask worker {scheduler}`"
            ) from exc
        self.workers = max(1, sum(self.client.nthreads().values()))
        from experiments.dask_worker import WorkerSetUp

        # On the workers connected now and on any that join later (see the plugin).
        self.client.register_plugin(WorkerSetUp())
        self.executor = self.client.get_executor(pure=False)

    def close(self, *, cancel: bool) -> None:
        try:
            self.executor.shutdown(wait=not cancel)  # without wait it cancels the tasks
        finally:
            self.client.close()


def _check_workers(workers: Any) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ExecutorError(f"workers={workers!r}: allowed is a whole number >= 1")


def _backend(workers: int, scheduler: str | None) -> _Backend:
    """The executor for these settings: Dask with a scheduler, else processes or serial."""
    if scheduler:
        return _DaskBackend(scheduler)
    if workers > 1:
        return _ProcessBackend(workers)
    return _Backend()


# --------------------------------------------------------------------------------------------
# The sweep loop


def _sweep(backend: _Backend, specs: Iterable[RunSpec]) -> Iterator[RunOutput | RunFailure]:
    """Play `specs` on `backend`, yielding each outcome as it finishes (in completion order).

    New runs are submitted only as others finish, so at most ``backend.window`` are in flight.
    When a process pool breaks (a worker died: killed, out of memory, crashed), the runs that
    were in flight are played again one at a time, so the run that kills its worker is the only
    one recorded as failed. When the loop is left early (Ctrl-C, an error), pending runs are
    cancelled by the caller closing the backend.
    """
    queue = iter(specs)
    suspects: deque[RunSpec] = deque()  # in flight when a pool broke: retried alone
    in_flight: dict[cf.Future, tuple[RunSpec, bool]] = {}  # future → (spec, played alone)
    while True:
        if suspects:
            if not in_flight:
                spec = suspects.popleft()
                in_flight[backend.submit(spec)] = (spec, True)
        else:
            while len(in_flight) < backend.window:
                spec = next(queue, None)
                if spec is None:
                    break
                in_flight[backend.submit(spec)] = (spec, False)
        if not in_flight:
            return
        done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
        broken = False
        for future in sorted(done, key=lambda f: in_flight[f][0].run_id):
            spec, alone = in_flight.pop(future)
            if future.cancelled():
                raise RuntimeError(
                    f"run {spec.run_id} was cancelled by the executor (lost the Dask scheduler?); "
                    "what finished is saved: run again with --resume"
                )
            try:
                outcome = future.result()
            except BrokenProcessPool:
                broken = True
                if not alone:
                    suspects.append(spec)
                    continue
                outcome = RunFailure(spec, WORKER_DIED, math.nan)
            except Exception as exc:  # the executor failed the run, e.g. Dask's KilledWorker
                outcome = RunFailure(spec, f"{type(exc).__name__}: {exc}", math.nan)
            yield outcome
        if broken:  # every run in flight is lost; the backend replaces the pool on next submit
            suspects.extend(spec for spec, _ in in_flight.values())
            in_flight.clear()


# --------------------------------------------------------------------------------------------
# The experiment


def run_experiment(
    runs: list[RunSpec],
    out_dir: Path,
    *,
    resolved: dict[str, Any],
    fingerprint: str,
    design: dict[str, Any] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    on_run_done: Callable[[int, str], None] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Play `runs` and stream their results into the results folder `out_dir`.

    Args:
        runs: the experiment's runs, submitted in this order; run_ids must be unique. Results
            are keyed by run_id, so the order changes when runs finish, never what is saved.
        out_dir: the results folder (created if needed); see `experiments.results`.
        resolved: the experiment as resolved from its file, recorded in the manifest.
        fingerprint: identifies the experiment (resolved file and runs); resuming requires the
            same fingerprint as the folder's manifest.
        design: the uncertainty design (method, samples, ...) for the manifest, or None.
        workers: 1 plays runs in this process; more plays them in a local process pool.
        scheduler: a Dask scheduler address (``tcp://host:port``); when given, runs go to that
            cluster and `workers` is ignored (the cluster's threads decide).
        resume: continue the same experiment in `out_dir`: runs already done (ok) are kept,
            failed and missing ones are played, half-written files are removed.
        progress: show a progress bar with ETA on stderr.
        on_run_done: called as ``on_run_done(run_id, status)`` in this process once a run's
            files are on disk (status ``ok`` or ``failed``).
        source: the experiment file, recorded in the manifest so that messages about the folder
            can name the command that finishes it (None: not from a file).

    Returns:
        The final manifest (status ``complete``).

    Raises:
        ResultsError: `out_dir` cannot be created or written, is in use, holds results and
            `resume` is False, or holds another experiment.
        ExecutorError: bad `workers`, or the Dask scheduler cannot be reached or has no worker.
        KeyboardInterrupt: after Ctrl-C, once the manifest says ``interrupted``; what finished is
            kept, and the sweep continues with ``resume=True``. `Terminated` (a
            KeyboardInterrupt) after SIGTERM, in the main thread (`stop_on_sigterm`).
    """
    by_id = {spec.run_id: spec for spec in runs}
    if len(by_id) != len(runs):
        raise ValueError("run_ids must be unique within an experiment")
    to_json({"experiment": resolved, "design": design})  # refuse what cannot be recorded, early
    if scheduler is None:
        _check_workers(workers)

    with stop_on_sigterm():
        folder, previous = ResultsFolder.open(
            Path(out_dir), resolved=resolved, fingerprint=fingerprint, resume=resume
        )
        try:
            if previous is not None and folder.is_complete():
                return _settle_complete(folder, previous)
            if previous is not None:
                for problem in folder.check_parts():
                    print(f"warning: {problem}", file=sys.stderr, flush=True)
            finished = {i: s for i, s in folder.finished().items() if i in by_id}
            pending = [spec for spec in by_id.values() if finished.get(spec.run_id) != "ok"]
            manifest = _start_manifest(previous, resolved, fingerprint, design, source)
            manifest.update(folder.tally(finished), runs_total=len(by_id))
            # Before any write, so that a bad scheduler address leaves nothing behind.
            backend = _backend(workers, scheduler) if pending else _Backend()
            manifest["executor"] = backend.describe()
            return _sweep_into(folder, manifest, by_id, pending, backend, progress, on_run_done)
        finally:
            folder.close()


def _settle_complete(folder: ResultsFolder, manifest: dict[str, Any]) -> dict[str, Any]:
    """A resumed folder that is already complete: settle its manifest, leave its results."""
    if manifest.get("status") != "complete":
        manifest.update(status="complete", finished=manifest.get("finished") or now())
        folder.write_manifest(manifest)
    folder.remove_parts()
    return manifest


def _start_manifest(
    previous: dict[str, Any] | None,
    resolved: dict[str, Any],
    fingerprint: str,
    design: dict[str, Any] | None,
    source: str | None = None,
) -> dict[str, Any]:
    """The manifest of a sweep starting (or resuming) now, status ``running``."""
    return {
        "experiment": resolved,
        "fingerprint": fingerprint,
        "design": design,
        "source": source or (previous or {}).get("source"),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "started": (previous or {}).get("started") or now(),
        "finished": None,
        "status": "running",
        "runs_total": None,
        "runs_done": 0,
        "runs_failed": 0,
        "seconds_per_run": {"mean": None, "median": None, "max": None},
        "executor": None,
        "resumed": [*previous.get("resumed", []), now()] if previous else [],
    }


def _sweep_into(
    folder: ResultsFolder,
    manifest: dict[str, Any],
    by_id: dict[int, RunSpec],
    pending: list[RunSpec],
    backend: _Backend,
    progress: bool,
    on_run_done: Callable[[int, str], None] | None,
) -> dict[str, Any]:
    """Play the `pending` runs on `backend`, write each as it finishes, then the tables."""
    bar = tqdm(
        total=len(by_id),
        initial=len(by_id) - len(pending),
        desc=experiment_name(manifest["experiment"]),
        unit="run",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    failed = 0
    running = True
    try:
        folder.write_manifest(manifest)
        for outcome in _sweep(backend, pending):
            _save(folder, outcome)
            status = "ok" if isinstance(outcome, RunOutput) else "failed"
            failed += status == "failed"
            bar.update(1)
            if failed:
                bar.set_postfix(failed=failed)
            if on_run_done is not None:
                on_run_done(outcome.spec.run_id, status)
        running = False
        backend.close(cancel=False)
        tally = folder.consolidate(sorted(by_id))
    except BaseException as exc:
        if running:
            backend.close(cancel=True)
        manifest.update(folder.tally(by_id), status="interrupted", stopped=now())
        if not isinstance(exc, KeyboardInterrupt):
            manifest["error"] = f"{type(exc).__name__}: {exc}"
        folder.write_manifest(manifest)
        raise
    finally:
        bar.close()
    manifest.update(tally, status="complete", finished=now())
    folder.write_manifest(manifest)
    folder.remove_parts()
    return manifest


def _save(folder: ResultsFolder, outcome: RunOutput | RunFailure) -> None:
    """Write one run's files to parts/ (its runs row last)."""
    if isinstance(outcome, RunOutput):
        row = run_row(outcome.spec, outcome.summary, error=None, seconds=outcome.seconds)
        folder.write_run(row, outcome.timeseries, outcome.firms)
    else:
        row = run_row(outcome.spec, None, error=outcome.error, seconds=outcome.seconds)
        folder.write_run(row)


@contextmanager
def scheduler_for(execution: ExecutionTable) -> Iterator[str | None]:
    """The Dask scheduler to use: the one named, a local cluster on 127.0.0.1 started for this
    run where the backend is Dask but no scheduler is named, or none (local processes).

    The local cluster is a scheduler and one nanny and worker process per worker, one thread
    each, like ``LocalCluster(host="127.0.0.1", processes=True)``, but it opens no HTTP server:
    Dask's scheduler serves one on 127.0.0.1:8787 (and each worker one on a random port) even
    with ``dashboard_address=None``. Its only listening sockets are Dask's own connections."""
    if execution.scheduler or execution.backend != "dask":
        yield execution.scheduler
        return
    os.environ.setdefault("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "False")
    import logging

    from distributed import Nanny, SpecCluster
    from distributed.worker_memory import parse_memory_limit

    from experiments.dask_worker import SchedulerWithoutHTTP, WorkerWithoutHTTP

    host = "127.0.0.1"
    scheduler = {
        "cls": SchedulerWithoutHTTP,
        "options": {"host": host, "port": 0, "dashboard": False, "dashboard_address": None},
    }
    worker = {
        "cls": Nanny,
        "options": {
            "host": host,
            "nthreads": 1,
            "worker_class": WorkerWithoutHTTP,
            "dashboard": False,
            "dashboard_address": None,
            # LocalCluster's share: the machine's memory split evenly between the workers.
            "memory_limit": parse_memory_limit(
                "auto", 1, execution.workers, logger=logging.getLogger("distributed.worker")
            ),
            "silence_logs": logging.WARN,
        },
    }
    with SpecCluster(
        scheduler=scheduler,
        workers=dict.fromkeys(range(execution.workers), worker),
        worker=worker,
        silence_logs=logging.WARN,
    ) as cluster:
        yield cluster.scheduler_address
