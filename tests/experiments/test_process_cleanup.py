"""Hardening (issue 14, item 4): SIGTERM stops `datamarket run` as Ctrl-C does, and nothing it
started outlives it, however it ends.

A real ``datamarket run`` plays a small experiment (two runs of several seconds each) on two
workers; once they are playing, the test records every process descended from it (for the
process pool: multiprocessing's resource tracker, the forkserver and the two workers; for a local
Dask cluster: the resource tracker and the two worker processes) and ends it:

- with SIGTERM: it must say "interrupted ... --resume", leave the manifest "interrupted", exit
  with 143, and ``--resume`` must then finish the sweep;
- with SIGKILL (the pool only: a local Dask cluster's workers already die with their parent).

Either way every recorded process must be gone within `DEADLINE` seconds (a zombie counts as
gone: a container's init may never reap orphans). Before the fix all four processes of the pool
were still there 30 s after either kill.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.experiments.conftest import ROOT

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="counts processes the Linux way (psutil, pidfd)"
)

DATAMARKET = Path(sys.executable).with_name("datamarket")
#: Generous: the processes end within a second of their parent's death.
DEADLINE = 20

# Two runs, each of several seconds (20,000 users, 96 months), so both workers are busy when
# the sweep is stopped.
EXPERIMENT = """
[experiment]
name = "cleanup"
steps = 96
replications = 2
seed = 11
measure = "final"

[scenario]
preset = "tencent_huawei_2017"
n_users = 20000

[[policies]]
regime = "click_through"

[execution]
backend = "{backend}"
workers = 2

[output]
dir = "{out}"
"""


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for(condition, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        time.sleep(0.05)


def _workers(sweep: psutil.Process, backend: str) -> list[psutil.Process]:
    """The processes that play runs: the forkserver's children, or Dask's spawned workers."""
    found = []
    for child in sweep.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            command = " ".join(child.cmdline())
            forked = child.ppid() != sweep.pid and "forkserver" in command
            spawned = "multiprocessing.spawn" in command
            if forked if backend == "local" else spawned:
                found.append(child)
    return found


class Sweep:
    """``datamarket run FILE`` in its own session, its output in files (a pipe would be held
    open by any process that outlived it)."""

    def __init__(self, tmp_path: Path, backend: str) -> None:
        self.out = tmp_path / "out"
        self.file = tmp_path / "cleanup.toml"
        self.file.write_text(EXPERIMENT.format(backend=backend, out=self.out))
        self.backend = backend
        self.log = tmp_path / "stderr.log"
        self.process = self._start()

    def _start(self, *args: str) -> subprocess.Popen:
        with open(self.log, "wb") as log:
            return subprocess.Popen(
                [str(DATAMARKET), "run", str(self.file), "--no-progress", *args],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def descendants_once_playing(self) -> list[psutil.Process]:
        """Every process descended from the sweep, once two workers play runs."""
        sweep = psutil.Process(self.process.pid)

        def playing() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the sweep ended early:\n{self.stderr()[-3000:]}")
            manifest = self.out / "manifest.json"
            if not manifest.exists() or len(_workers(sweep, self.backend)) < 2:
                return False
            return all(w.cpu_times().user > 0.5 for w in _workers(sweep, self.backend))

        _wait_for(playing, "two workers playing runs", timeout=180)
        assert not (self.out / "parts").exists() or not any((self.out / "parts").iterdir()), (
            "the runs must be long enough to stop the sweep while both are playing"
        )
        return [p for p in sweep.children(recursive=True) if not _gone(p)]

    def close(self, recorded: list[psutil.Process]) -> None:
        """Kill whatever is left (this test's processes only)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=60)
        for process in recorded:
            if not _gone(process):
                with contextlib.suppress(psutil.Error):
                    process.kill()


def _assert_all_gone(recorded: list[psutil.Process], after: str) -> None:
    def all_gone() -> bool:
        return all(_gone(p) for p in recorded)

    try:
        _wait_for(all_gone, f"the end of every process the sweep started, after {after}", DEADLINE)
    except AssertionError:
        left = []
        for p in recorded:
            if not _gone(p):
                with contextlib.suppress(psutil.Error):
                    left.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
        raise AssertionError(
            f"{len(left)} of {len(recorded)} processes outlived the sweep by {DEADLINE} s "
            f"after {after}:\n" + "\n".join(left)
        ) from None


@pytest.mark.parametrize("backend", ["local", "dask"], ids=["process-pool", "local-dask"])
def test_sigterm_stops_the_sweep_like_ctrl_c_and_leaves_no_process(tmp_path, backend):
    sweep = Sweep(tmp_path, backend)
    recorded: list[psutil.Process] = []
    try:
        recorded = sweep.descendants_once_playing()
        assert len(recorded) >= 3, [p.cmdline() for p in recorded]
        sweep.process.send_signal(signal.SIGTERM)
        assert sweep.process.wait(timeout=120) == 143, sweep.stderr()[-3000:]
        _assert_all_gone(recorded, "SIGTERM")
    finally:
        sweep.close(recorded)

    stderr = sweep.stderr()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert f"interrupted: finished runs are kept in {sweep.out}" in stderr
    assert f"`datamarket run {sweep.file} --out {sweep.out} --resume`" in stderr
    manifest = json.loads((sweep.out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert not (sweep.out / "runs.parquet").exists()

    if backend == "local":  # --resume finishes it (on Dask too, but that costs another cluster)
        resumed = sweep._start("--resume")
        assert resumed.wait(timeout=300) == 0, sweep.stderr()[-3000:]
        manifest = json.loads((sweep.out / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["runs_done"] == 2
        assert manifest["runs_failed"] == 0 and len(manifest["resumed"]) == 1


def test_kill_9_of_the_sweep_leaves_no_process(tmp_path):
    sweep = Sweep(tmp_path, "local")
    recorded: list[psutil.Process] = []
    try:
        recorded = sweep.descendants_once_playing()
        commands = [" ".join(p.cmdline()) for p in recorded]
        assert sum("forkserver" in c for c in commands) == 3, commands  # it and two workers
        assert sum("resource_tracker" in c for c in commands) == 1, commands
        sweep.process.kill()
        assert sweep.process.wait(timeout=60) == -signal.SIGKILL
        _assert_all_gone(recorded, "SIGKILL")
    finally:
        sweep.close(recorded)
