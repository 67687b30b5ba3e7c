"""Where a month's time goes: cProfile of a few months, the top functions by own time.

    .venv/bin/python benchmarks/profile_step.py [--users 100000] [--months 12] [--top 15]

Prints set-up time, mean time per month and, per function, its own time per month and share of
the month (numba kernels count as one function each). `pyinstrument` (a dev dependency) gives a
call tree instead: ``.venv/bin/pyinstrument benchmarks/profile_step.py --users 100000``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from model import DataMarket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--regime", default="click_through")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    start = time.perf_counter()
    market = DataMarket(regime=args.regime, n_users=args.users, rng=1)
    built = time.perf_counter() - start
    market.step()  # warm-up: numba loads its compiled kernels on first use
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    market.run_for(args.months)
    profile.disable()
    step = (time.perf_counter() - start) / args.months
    print(f"{args.users:,} users, {args.regime}: set-up {built:.2f} s, {step:.4f} s per month")
    stats = pstats.Stats(profile).stats  # (file, line, name) → (calls, _, own, cumulative, _)
    rows = sorted(stats.items(), key=lambda item: -item[1][2])[: args.top]
    print("| function | own time per month (ms) | share of the month |")
    print("|---|---:|---:|")
    for (path, line, name), (_, _, own, _, _) in rows:
        where = name if path == "~" else f"{path.rsplit('/', 2)[-2]}/{path.rsplit('/', 1)[-1]}"
        label = name if path == "~" else f"{where}:{line} {name}"
        per_month = own / args.months
        print(f"| `{label}` | {per_month * 1000:.1f} | {per_month / step:.0%} |")


if __name__ == "__main__":
    main()
