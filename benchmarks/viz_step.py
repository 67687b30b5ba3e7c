"""Speed of the browser lab, without the browser: one month plus building every figure.

    .venv/bin/python benchmarks/viz_step.py [--users 20000] [--months 12]

Prints the median and worst time of (one step + all figures) over the months played, after a
first month that warms up imports; then the same for the page's server side: one step plus
Solara rendering the page (`app.Lab`) and updating its charts' widgets, which is what the server
does before the browser redraws. The browser's own redraw comes on top of this.
"""

from __future__ import annotations

import argparse
import statistics
import time

from experiments.viz import MarketLab, all_figures


def page_seconds(users: int, months: int) -> tuple[list[float], list[float]]:
    """Per month: the step, and Solara's render of the page with its chart updates."""
    import solara
    from mesa.visualization.utils import update_counter

    import app

    lab = MarketLab(n_users=users, rng=42)
    _box, context = solara.render(app.Lab(lab), handle_error=False)
    try:
        steps, renders = [], []
        for month in range(months + 1):
            t0 = time.perf_counter()
            lab.step()
            t1 = time.perf_counter()
            update_counter.set(update_counter.value + 1)  # what SolaraViz's Step does
            t2 = time.perf_counter()
            if month:  # the first month warms up
                steps.append(t1 - t0)
                renders.append(t2 - t1)
    finally:
        context.close()
    return steps, renders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    start = time.perf_counter()
    lab = MarketLab(n_users=args.users, rng=42)
    built = time.perf_counter() - start
    lab.step()
    all_figures(lab)  # warm-up: plotly's lazy imports
    steps, figures = [], []
    for _ in range(args.months):
        t0 = time.perf_counter()
        lab.step()
        t1 = time.perf_counter()
        all_figures(lab)
        t2 = time.perf_counter()
        steps.append(t1 - t0)
        figures.append(t2 - t1)
    totals = [a + b for a, b in zip(steps, figures, strict=True)]
    print(
        f"{args.users:,} users, {args.months} months: build {built:.2f} s; step + all figures "
        f"median {statistics.median(totals):.3f} s (step {statistics.median(steps):.3f} s, "
        f"figures {statistics.median(figures):.3f} s), worst {max(totals):.3f} s"
    )
    steps, renders = page_seconds(args.users, args.months)
    totals = [a + b for a, b in zip(steps, renders, strict=True)]
    print(
        f"the page (app.Lab rendered by Solara, no browser): step + render and chart updates "
        f"median {statistics.median(totals):.3f} s (render {statistics.median(renders):.3f} s), "
        f"worst {max(totals):.3f} s"
    )


if __name__ == "__main__":
    main()
