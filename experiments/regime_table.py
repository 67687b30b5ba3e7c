"""The main job: the default scenario under every regime from one seed, as a table.

    python -m experiments.regime_table [--months 120] [--users 20000] [--seed 20170803]

Writes `results/regime_table/metrics.csv` (every metric, every month, every regime) and
`results/regime_table/report.md` (the headline metrics averaged over the last 12 months), and
prints the table. The report is written last, so a report on disk is a finished one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from model import DEFAULT_SCENARIO, HEADLINE, METRICS, REGIMES, DataMarket


def run_all(months: int, n_users: int, seed: int, scenario: str) -> pd.DataFrame:
    """Every metric, every month, under every regime preset, from one seed."""
    frames = []
    for regime in REGIMES:
        started = time.perf_counter()
        market = DataMarket(scenario, regime=regime, n_users=n_users, rng=seed)
        market.run_for(months)
        frame = market.datacollector.get_model_vars_dataframe()
        frame.insert(0, "month", range(1, len(frame) + 1))
        frame.insert(0, "regime", regime)
        frames.append(frame)
        print(f"  {regime:<20} {time.perf_counter() - started:5.1f} s", file=sys.stderr)
    return pd.concat(frames, ignore_index=True)


def headline_table(metrics: pd.DataFrame, window: int = 12) -> pd.DataFrame:
    """Headline metrics per regime, averaged over the last `window` months."""
    last = metrics[metrics["month"] > metrics["month"].max() - window]
    return last.groupby("regime", sort=False)[list(HEADLINE)].mean()


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (index first), numbers to three decimals."""
    header = [table.index.name or "", *table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in table.iterrows():
        lines.append("| " + " | ".join([str(label), *(f"{v:.3f}" for v in row)]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=120, help="months to simulate (120)")
    parser.add_argument("--users", type=int, default=20_000, help="number of users (20000)")
    parser.add_argument("--seed", type=int, default=20170803, help="random seed (20170803)")
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, help="scenario preset")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/regime_table"),
        help="output folder (results/regime_table)",
    )
    args = parser.parse_args(argv)
    if args.months < 1 or args.users < 10:
        parser.error("--months must be >= 1 and --users >= 10")
    print(
        f"{args.scenario}: {args.users} users, {args.months} months, seed {args.seed}, "
        f"{len(REGIMES)} regimes",
        file=sys.stderr,
    )
    try:
        metrics = run_all(args.months, args.users, args.seed, args.scenario)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = headline_table(metrics)
    args.out.mkdir(parents=True, exist_ok=True)
    metrics.to_csv(args.out / "metrics.csv", index=False)
    units = "\n".join(f"- `{name}`: {METRICS[name][2]} ({METRICS[name][1]})" for name in HEADLINE)
    report = (
        f"# {args.scenario} under every regime\n\n"
        f"{args.users} users, {args.months} months, seed {args.seed}; each figure is the mean "
        f"over the last 12 months.\n\n{markdown(table)}\n\n{units}\n"
    )
    (args.out / "report.md").write_text(report)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string())
    print(f"\nreport: {args.out / 'report.md'}\nall metrics: {args.out / 'metrics.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
