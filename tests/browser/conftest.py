"""Fixtures for the browser tests: the real Solara server and Debian's Chromium.

`scripts/setup_browser.sh` (run by `make test`) installs what these need: /usr/bin/chromium,
Playwright for Python, and Solara's browser files in its asset cache. The server is started once
per test module on a free port of 127.0.0.1, in its own process group (setsid), and that whole group
is killed at the end. Every test saves a screenshot under results/browser/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiments.labserver import CHROMIUM, CHROMIUM_ARGS, LabServerError, running_lab

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "results" / "browser"
# The page runs one Python kernel per browser tab; keep its market small so steps are quick.
N_USERS = 300


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`datamarket viz` (`solara run app.py --production`) on 127.0.0.1:<free port>; its URL."""
    log_path = tmp_path_factory.mktemp("server") / "solara.log"
    try:
        with running_lab(N_USERS, log_path) as url:
            yield url
    except LabServerError as error:
        pytest.fail(str(error))


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
    """A window wide enough for the sidebar and two columns of charts, and tall enough that the
    screenshots show the whole page (its main area scrolls on its own)."""
    return {**browser_context_args, "viewport": {"width": 1600, "height": 2300}}


@pytest.fixture
def screenshot(page, request: pytest.FixtureRequest) -> Iterator[None]:
    """Save a full-page screenshot of each test's last state under results/browser/."""
    yield
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
