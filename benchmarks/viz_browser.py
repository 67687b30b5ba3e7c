"""Speed of the browser lab in a real browser: press Step, wait until every chart shows the month.

    .venv/bin/python benchmarks/viz_browser.py [--users 20000] [--months 12]

Starts the lab (`datamarket viz`, on 127.0.0.1) with `--users` users, opens it in Debian's
Chromium (headless, through Playwright), and presses Step `--months` times. For each press it
times, in the browser, from the click until (a) the status line shows the new month and (b)
every time-series chart holds that many months and the network view has been redrawn: the
step plus the redraw a user waits for. Prints the median and the worst over the months, after
one warm-up month. `bash scripts/setup_browser.sh` installs what it needs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from experiments.labserver import CHROMIUM, CHROMIUM_ARGS, running_lab

LOAD = 300_000  # ms to wait for the first page (the server builds the first market)
STEP = 120_000  # ms to wait for one month

# In the page: click Step, then look every 10 ms until the status line reads "Month <month> ·"
# and the three time-series charts each hold <month> points and the network chart's data has
# been replaced. Returns [ms to the status line, ms to the redrawn charts].
TIME_ONE_STEP = """async (month) => {
    const status = () => document.evaluate(
        `//*[starts-with(text(), 'Month ${month} ·')]`, document, null,
        XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue !== null;
    const plots = () => Array.from(document.querySelectorAll('.js-plotly-plot'));
    const network = () => plots().find(gd => (gd.data || []).some(t => t.name === 'users'));
    const before = network() && network().data;
    const charted = () => ['total welfare', 'consent rate', 'licensed pairs'].every(name =>
        plots().some(gd => (gd.data || []).some(t => t.name === name && t.y.length === month)))
        && network() && network().data !== before;
    const button = Array.from(document.querySelectorAll('button'))
        .find(b => b.textContent.trim().toLowerCase() === 'step');
    const start = performance.now();
    button.click();
    let shown = null;
    while (performance.now() - start < LIMIT) {
        await new Promise(resolve => setTimeout(resolve, 10));
        if (shown === null && status()) shown = performance.now() - start;
        if (shown !== null && charted()) return [shown, performance.now() - start];
    }
    throw new Error(`month ${month} was not drawn within LIMIT ms`);
}""".replace("LIMIT", str(STEP))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "lab.log"
        started = time.perf_counter()
        with running_lab(args.users, log) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(url)
            page.get_by_text("Month 0 ·").wait_for(timeout=LOAD)
            page.wait_for_function(
                "() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=LOAD
            )
            loaded = time.perf_counter() - started
            page.evaluate(TIME_ONE_STEP, 1)  # warm-up month
            status, redrawn = [], []
            for month in range(2, args.months + 2):
                shown, drawn = page.evaluate(TIME_ONE_STEP, month)
                status.append(shown / 1000)
                redrawn.append(drawn / 1000)
            browser.close()
    print(
        f"{args.users:,} users, {args.months} months in headless Chromium "
        f"({os.cpu_count()} cores; page ready {loaded:.1f} s after the server start): "
        f"Step to status line median {statistics.median(status):.2f} s; "
        f"Step to all charts redrawn median {statistics.median(redrawn):.2f} s, "
        f"worst {max(redrawn):.2f} s"
    )


if __name__ == "__main__":
    main()
