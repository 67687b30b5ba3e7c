"""Start and stop the browser lab's server from Python: for the browser tests and the browser
benchmark (`tests/browser/conftest.py`, `benchmarks/viz_browser.py`).

`running_lab` runs `datamarket viz` on a free port of 127.0.0.1 in a process group of its own
(setsid), waits until the page answers, yields its URL and kills the whole group at the end.

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


@contextlib.contextmanager
def running_lab(users: int, log_path: Path, timeout: float = START_TIMEOUT) -> Iterator[str]:
    """`datamarket viz --users USERS` on 127.0.0.1:<free port>; yields the page's URL.

    Raises:
        LabServerError: the server exited or did not answer within `timeout` seconds.
    """
    if not DATAMARKET.is_file():
        raise LabServerError(f"{DATAMARKET} is missing: run `bash scripts/setup.sh`")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # Without PYTEST_CURRENT_TEST (pytest's own variable) Solara serves the page as it would to a
    # user, including its hidden call home, which the no-network test must then survive.
    env = {
        **{key: value for key, value in os.environ.items() if key != "PYTEST_CURRENT_TEST"},
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
        "PYTHONUNBUFFERED": "1",
    }
    command = [str(DATAMARKET), "viz", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--users", str(users)]
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
