"""Shared fixtures for the experiment tests: small run lists and a real Dask cluster on loopback.

`small_runs(...)` builds `RunSpec` lists directly (sample × policy × replication, seeds from a
`SeedSequence`), so executor and results tests need no experiment file. `dask_cluster` starts a
real ``dask scheduler`` and ``dask worker`` as subprocesses bound to 127.0.0.1 and yields the
scheduler's address; it stops them (and every process they started) at the end of the session.
`start_dask` starts one of them; on Linux each dies with the process that started it, so a
pytest run killed with SIGKILL leaves no cluster behind (test_cluster_cleanup.py checks it).

The model is imported only where a fixture needs it, so that importing this module (as
test_cluster_cleanup.py's helper process does) is quick.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from experiments.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]

#: Worker processes the test cluster starts (one thread each, as the project advises).
DASK_WORKERS = 2


def build_runs(
    n_policies: int = 2,
    n_reps: int = 2,
    steps: int = 12,
    n_users: int = 1000,
    *,
    n_samples: int = 1,
    root_seed: int = 20170803,
    measure: str = "mean_last_3",
) -> list[RunSpec]:
    """Runs of a small experiment: the first `n_policies` regime presets × `n_reps` replications,
    × `n_samples` values of ``leakage`` when more than one (sampled from 0.1 to 0.5).

    Run k's seed depends only on (sample, replication), as in a compiled experiment, so policies
    share their random numbers within a replication.
    """
    from experiments.spec import RunSpec
    from model import DEFAULT_SCENARIO, REGIMES, get_regime

    policies = list(REGIMES)[:n_policies]
    children = np.random.SeedSequence(root_seed).spawn(n_samples * n_reps)
    leakages = np.linspace(0.1, 0.5, n_samples) if n_samples > 1 else [None]
    runs = []
    for sample, leakage in enumerate(leakages):
        for policy in policies:
            for replication in range(n_reps):
                child = children[sample * n_reps + replication]
                runs.append(
                    RunSpec(
                        run_id=len(runs),
                        policy=policy,
                        regime=get_regime(policy),
                        replication=replication,
                        sample=sample,
                        seed=int(child.generate_state(1, dtype=np.uint32)[0]),
                        scenario=DEFAULT_SCENARIO,
                        fixed={"n_users": n_users},
                        sampled={} if leakage is None else {"leakage": float(leakage)},
                        steps=steps,
                        measure=measure,
                    )
                )
    return runs


@pytest.fixture(scope="session")
def small_runs() -> Callable[..., list[RunSpec]]:
    """`build_runs`: ``small_runs(n_policies, n_reps, steps, n_users, n_samples=1)``."""
    return build_runs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _dask_command() -> str:
    beside_python = Path(sys.executable).parent / "dask"
    found = str(beside_python) if beside_python.exists() else shutil.which("dask")
    if found is None:
        raise RuntimeError("the `dask` command is not installed: pip install 'dask[distributed]'")
    return found


#: Linux's `prctl` option that sends the caller a signal when its parent dies.
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent dies (Linux only;
    elsewhere None, and a killed test run may leave the cluster running).

    The kernel sends the signal when the *thread* that forked the child exits, not the whole
    process. pytest runs fixtures on its main thread, which lives as long as the run, so that is
    the parent here; start children from a short-lived thread and they would get SIGTERM when
    that thread ends. The signal survives the ``exec`` of the ``dask`` command (it is not
    setuid). Dask's CLI handles SIGTERM by closing down: the scheduler stops, and ``dask worker``
    (the nanny) stops the worker processes it started.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the forked child
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal us
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def start_dask(
    name: str, *args: str, log: Path, env: dict[str, str] | None, cwd: Path
) -> subprocess.Popen:
    """Start ``dask <name> <args>`` in its own session, output to `log`, environment `env`
    (None: this process's), dying with this thread on Linux (`_die_with_parent`). Stop it
    with `_stop`."""
    with open(log, "wb") as output:  # the child keeps its own copy of the file
        return subprocess.Popen(
            [_dask_command(), name, *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )


def _stop(process: subprocess.Popen) -> None:
    """Kill a process started in its own session, with everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Dask scheduler and workers on 127.0.0.1; yields the scheduler's address.

    Dashboards are off, the workers' profiler is off (it halves pure-Python throughput),
    PYTHONPATH holds the project and the workers import it as they start. Logs go to a temporary
    folder and are shown if the cluster does not come up.
    """
    from dask.distributed import Client

    logs = tmp_path_factory.mktemp("dask")
    env = {
        **os.environ,
        "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    address = f"tcp://127.0.0.1:{_free_port()}"
    processes: list[subprocess.Popen] = []
    client = None

    def start(name: str, *args: str) -> None:
        processes.append(start_dask(name, *args, log=logs / f"{name}.log", env=env, cwd=logs))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
              "--no-dashboard")  # fmt: skip
        start(
            "worker",
            address,
            "--host",
            "127.0.0.1",
            "--nworkers",
            str(DASK_WORKERS),
            "--nthreads",
            "1",
            "--no-dashboard",
            "--local-directory",
            str(logs / "workers"),
            # Import the project as workers start, not on their first run: a worker that
            # cannot import it fails here, with its log, rather than in a test.
            "--preload",
            "experiments.runner",
        )
        deadline = time.monotonic() + 120
        while client is None:
            try:
                client = Client(address, timeout=5, set_as_default=False)
            except OSError:
                if time.monotonic() > deadline or processes[0].poll() is not None:
                    raise
        client.wait_for_workers(DASK_WORKERS, timeout=120)
    except BaseException as exc:
        text = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs.glob("*.log"))
        if client is not None:
            client.close()
        for process in processes:
            _stop(process)
        raise RuntimeError(f"the test Dask cluster did not start:\n{text}") from exc

    try:
        yield address
    finally:
        try:
            client.shutdown()
        finally:
            for process in processes:
                _stop(process)
