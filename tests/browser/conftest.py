"""Fixtures for the browser tests: the real Solara server and Debian's Chromium.

`scripts/setup_browser.sh` (run by `make test`) installs what these need: /usr/bin/chromium,
Playwright for Python, and Solara's browser files in its asset cache. The server is started once
per test module on a free port of 127.0.0.1, in its own process group (setsid), and that whole group
is killed at the end. Every test saves a screenshot under results/browser/.
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
from typing import Any

import pytest

from experiments.viz import USERS_ENV

ROOT = Path(__file__).resolve().parents[2]
SOLARA = Path(sys.executable).with_name("solara")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "results" / "browser"
# The page runs one Python kernel per browser tab; keep its market small so steps are quick
# (app.py starts its users slider at $DATAMARKET_VIZ_USERS).
N_USERS = 300
SERVER_START_TIMEOUT = 180.0  # seconds; a time-out for starting, not a timed assertion


def _free_port() -> int:
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
    """In the server, before exec: be sent SIGTERM if pytest dies without cleaning up (Linux)."""
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


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`solara run app.py` on 127.0.0.1:<free port>, in a new session; its URL."""
    app = ROOT / "app.py"
    assert app.is_file(), f"{app} is missing: the browser tests drive the page it serves"
    assert SOLARA.is_file(), f"{SOLARA} is missing: run `bash scripts/setup_browser.sh`"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = tmp_path_factory.mktemp("server") / "solara.log"
    # Without PYTEST_CURRENT_TEST (pytest's own variable) Solara serves the page as it would to a
    # user, including its hidden call home, which the no-network test must then survive.
    env = {
        **{key: value for key, value in os.environ.items() if key != "PYTEST_CURRENT_TEST"},
        USERS_ENV: str(N_USERS),
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
        "PYTHONUNBUFFERED": "1",
    }
    command = [str(SOLARA), "run", str(app), "--host", "127.0.0.1", "--port", str(port)]
    command.append("--no-open")
    with log_path.open("wb") as log:
        # start_new_session=True: the child calls setsid(), as `setsid solara run ...` does, so
        # the server and everything it spawns form one process group that we kill at the end.
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # a killed pytest (e.g. by `timeout`) leaves no server
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _answers(url):
            if proc.poll() is not None:
                pytest.fail(f"solara exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"solara did not answer at {url}:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        _stop_group(proc)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, never a browser that Playwright downloads."""
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: run `bash scripts/setup_browser.sh`"
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A window wide enough for SolaraViz's sidebar and plot grid side by side."""
    return {**browser_context_args, "viewport": {"width": 1600, "height": 1200}}


@pytest.fixture
def screenshot(page, request: pytest.FixtureRequest) -> Iterator[None]:
    """Save a full-page screenshot of each test's last state under results/browser/."""
    yield
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
