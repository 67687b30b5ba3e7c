"""Start and stop the browser lab's server from Python: for the browser tests and the browser
benchmark (`tests/browser/conftest.py`, `benchmarks/viz_browser.py`).

`running_lab` runs `datamarket viz` (or, with ``solara_run=True``, `solara run app.py` as the
README gives it) on a free port of 127.0.0.1 in a process group of its own (setsid), waits until
the page answers, yields its URL and kills the whole group at the end. It runs the command as a
user would type it: nothing in its environment turns Solara's telemetry off (the no-network
test, tests/test_no_network.py, checks that the lab turns it off itself).

Chromium: both drive Debian's `/usr/bin/chromium` through Playwright (never a browser that
Playwright downloads), with `CHROMIUM_ARGS`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATAMARKET = Path(sys.executable).with_name("datamarket")
SOLARA = Path(sys.executable).with_name("solara")
USERS_ENV = "DATAMARKET_VIZ_USERS"  # as experiments.viz.USERS_ENV, which imports the model
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 180.0  # seconds to wait for the server's first answer


class LabServerError(RuntimeError):
    """The server exited or did not answer; the message holds its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _die_with_parent() -> None:
    """In the server, before exec: be sent SIGTERM if our process dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the server's whole process group: SIGTERM, then SIGKILL if it lingers."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            # The leader is gone; make sure no child of the group is left behind.
            os.killpg(pgid, signal.SIGKILL)
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return
        return


def lab_command(port: int, users: int, *, solara_run: bool = False) -> list[str]:
    """`datamarket viz` on 127.0.0.1:PORT, or the README's `solara run app.py` (development
    mode, as Solara runs it by default), starting at USERS users."""
    if solara_run:
        return [str(SOLARA), "run", "app.py", "--host", "127.0.0.1", "--port", str(port),
                "--no-open", "--no-check-version"]  # fmt: skip
    return [str(DATAMARKET), "viz", "--host", "127.0.0.1", "--port", str(port),
            "--users", str(users)]  # fmt: skip


@contextlib.contextmanager
def running_lab(
    users: int,
    log_path: Path,
    timeout: float = START_TIMEOUT,
    *,
    solara_run: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """`datamarket viz --users USERS` (or `solara run app.py`, see `lab_command`) on
    127.0.0.1:<free port>; yields the page's URL. `env`: variables to add to the server's.

    Raises:
        LabServerError: the server exited or did not answer within `timeout` seconds.
    """
    program = SOLARA if solara_run else DATAMARKET
    if not program.is_file():
        raise LabServerError(f"{program} is missing: run `bash scripts/setup.sh`")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # Without PYTEST_CURRENT_TEST (pytest's own variable) Solara serves the page as it would to a
    # user: with pytest's variable it leaves out its checks that call home.
    env = {
        **{key: value for key, value in os.environ.items() if key != "PYTEST_CURRENT_TEST"},
        USERS_ENV: str(users),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = lab_command(port, users, solara_run=solara_run)
    with log_path.open("wb") as log:
        # start_new_session=True: the child calls setsid(), so the server and everything it
        # spawns form one process group, killed as one at the end.
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # a killed parent (e.g. by `timeout`) leaves no server
        )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if proc.poll() is not None:
                raise LabServerError(
                    f"the lab exited with {proc.returncode}:\n{log_path.read_text()}"
                )
            if time.monotonic() > deadline:
                raise LabServerError(f"the lab did not answer at {url}:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        _stop_group(proc)
