"""Speed of the browser lab in a real browser: press Step, wait until every chart shows the month.

    .venv/bin/python benchmarks/viz_browser.py [--users 20000] [--months 12]

Starts the lab (`datamarket viz`, on 127.0.0.1) with `--users` users, opens it in Debian's
Chromium (headless, through Playwright), and presses Step `--months` times. For each press it
times, in the browser, from the click until (a) the status line shows the new month and (b)
the last change to any chart's drawing, once every chart has changed and the time series hold
that many months: the step plus the redraw a user waits for. Prints the median and the worst
over the months, after one warm-up month. `bash scripts/setup_browser.sh` installs what it needs.
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
QUIET = 300  # ms without a change to any chart after which the redraw counts as finished

# In the page: click Step, then look every 10 ms until the status line reads "Month <month> ·",
# the three time-series charts each hold <month> points, every chart has been redrawn (its
# drawing changed since the click) and no chart has changed for QUIET ms. Returns [ms to the
# status line, ms to the last change of any chart].
TIME_ONE_STEP = """async (month) => {
    const status = () => document.evaluate(
        `//*[starts-with(text(), 'Month ${month} ·')]`, document, null,
        XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue !== null;
    const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
    const changed = new Map();  // chart -> time of its last change
    const observers = plots.map(gd => {
        const observer = new MutationObserver(() => changed.set(gd, performance.now()));
        observer.observe(gd, {subtree: true, childList: true, attributes: true});
        return observer;
    });
    const charted = () => changed.size === plots.length &&
        ['total welfare', 'consent rate', 'licensed pairs'].every(name => plots.some(
            gd => (gd.data || []).some(t => t.name === name && t.y.length === month)));
    const button = Array.from(document.querySelectorAll('button'))
        .find(b => b.textContent.trim().toLowerCase() === 'step');
    const start = performance.now();
    button.click();
    let shown = null;
    try {
        while (performance.now() - start < LIMIT) {
            await new Promise(resolve => setTimeout(resolve, 10));
            const now = performance.now();
            if (shown === null && status()) shown = now - start;
            if (shown === null || !charted()) continue;
            const last = Math.max(...changed.values());
            if (now - last >= QUIET) return [shown, last - start];
        }
    } finally {
        observers.forEach(observer => observer.disconnect());
    }
    throw new Error(`month ${month}: status ${shown !== null}, ${changed.size} of ` +
        `${plots.length} charts changed within LIMIT ms`);
}""".replace("LIMIT", str(STEP)).replace("QUIET", str(QUIET))


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
