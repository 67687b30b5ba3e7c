"""A killed test run leaves no Dask cluster behind.

`dask_cluster` starts its scheduler and workers with `conftest.start_dask`, which on Linux asks
the kernel to send each one SIGTERM when the process that started it dies. Here a small helper
process starts a real scheduler with `start_dask` and is killed with SIGKILL, as a test run
killed from outside would be; the scheduler must go too. (Checked by hand for the whole
fixture: after ``kill -9`` of a pytest run inside a test using `dask_cluster`, the scheduler,
the ``dask worker`` nanny process and its two worker processes were all gone within a second:
the nanny closes its workers on SIGTERM.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.experiments.conftest import ROOT, _free_port

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only"
)

#: Generous: the scheduler closes down within a second of the signal.
DEADLINE = 30

HELPER = """
import sys, time
from pathlib import Path
from tests.experiments.conftest import start_dask

folder, port = Path(sys.argv[1]), sys.argv[2]
scheduler = start_dask("scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard",
                       log=folder / "scheduler.log", env=None, cwd=folder)
(folder / "pid.tmp").write_text(str(scheduler.pid))
(folder / "pid.tmp").rename(folder / "pid")
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie nobody has reaped yet (a container's init may
    never reap orphans)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for(condition, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        time.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_scheduler_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    helper = subprocess.Popen(
        [sys.executable, "-c", HELPER, str(tmp_path), str(port)], env=env, cwd=ROOT
    )
    scheduler = None
    try:
        pid_file = tmp_path / "pid"
        _wait_for(lambda: pid_file.exists() or helper.poll() is not None, "the helper's start")
        assert helper.poll() is None, f"the helper exited with {helper.returncode}"
        scheduler = int(pid_file.read_text())
        # Kill the helper once the scheduler is really up (listening, its handlers installed).
        _wait_for(lambda: _listening(port) or _gone(scheduler), "the scheduler's start")
        assert not _gone(scheduler), (tmp_path / "scheduler.log").read_text()[-3000:]

        helper.kill()
        helper.wait(timeout=DEADLINE)
        _wait_for(lambda: _gone(scheduler), "the scheduler's end after its parent's SIGKILL")
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait(timeout=DEADLINE)
        if scheduler is not None and not _gone(scheduler):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(scheduler, signal.SIGKILL)  # started in its own session
