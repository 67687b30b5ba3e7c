"""Speed and scale: one command measures the model and writes docs/performance.md.

    .venv/bin/python benchmarks/scale.py            # the full benchmark (about 7–8 min on 2 cores)
    .venv/bin/python benchmarks/scale.py --quick    # a smoke test of the same (about 1 min)

It measures, each configuration in a fresh process (so that peak memory is its own):

1. one run of `tencent_huawei_2017` (mean degree 20) under click_through and portability, at
   10,000, 100,000 and 1,000,000 users for 120 months: set-up time, time per step, user-steps
   per second and peak memory (RSS);
2. the reference for plain Mesa: the Boltzmann wealth model written the usual way (one
   `mesa.Agent` per agent, `shuffle_do`) at 100,000 agents: agent-steps per second, and the
   ratio of the model's user-steps per second to it;
3. a sweep of 16 runs of 50,000 users through the project's runner (`experiments.runner`):
   serially, on 2 local worker processes and on a 2-worker Dask cluster on 127.0.0.1: runs per
   minute and the speed-up over serial.

It prints a table and writes it, with the machine it ran on and its load, between the markers
of docs/performance.md (the rest of that file is prose, kept as it is). Never run as a test:
timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
REGIMES = ("click_through", "portability")


# --------------------------------------------------------------------------------------------
# What runs in a child process


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def child_model(n_users: int, regime: str, months: int) -> dict[str, Any]:
    """One run of the model: set-up and stepping timed separately."""
    from model import DataMarket

    start = time.perf_counter()
    market = DataMarket(regime=regime, n_users=n_users, mean_degree=20.0, rng=20170803)
    built = time.perf_counter()
    market.run_for(months)
    done = time.perf_counter()
    market.datacollector.get_model_vars_dataframe()  # what an analyst reads at the end
    return {
        "setup_s": built - start,
        "step_s": (done - built) / months,
        "total_s": time.perf_counter() - start,
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_mesa(n_agents: int, steps: int) -> dict[str, Any]:
    """Mesa's Boltzmann wealth model, the tutorial's way: one Agent each, shuffle_do."""
    import mesa

    class MoneyAgent(mesa.Agent):
        def __init__(self, model: mesa.Model) -> None:
            super().__init__(model)
            self.wealth = 1

        def step(self) -> None:
            if self.wealth > 0:
                other = self.random.choice(self.model.agent_list)
                other.wealth += 1
                self.wealth -= 1

    class BoltzmannWealth(mesa.Model):
        def __init__(self, n: int, rng: int) -> None:
            super().__init__(rng=rng)
            MoneyAgent.create_agents(self, n)
            self.agent_list = list(self.agents)

        def step(self) -> None:
            self.agents.shuffle_do("step")

    start = time.perf_counter()
    model = BoltzmannWealth(n_agents, rng=1)
    built = time.perf_counter()
    for _ in range(steps):
        model.step()
    done = time.perf_counter()
    return {
        "setup_s": built - start,
        "step_s": (done - built) / steps,
        "agent_steps_per_s": n_agents * steps / (done - built),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _sweep_specs(n_users: int, months: int, runs: int) -> list[Any]:
    """`runs` runs of `n_users` for `months`, alternating click_through and portability."""
    import numpy as np

    from experiments.spec import RunSpec
    from model import DEFAULT_SCENARIO, get_regime

    children = np.random.SeedSequence(20170803).spawn(max(runs // len(REGIMES), 1))
    specs = [
        RunSpec(
            run_id=len(REGIMES) * replication + k,
            policy=regime,
            regime=get_regime(regime),
            replication=replication,
            sample=0,
            seed=int(child.generate_state(1, dtype=np.uint32)[0]),
            scenario=DEFAULT_SCENARIO,
            fixed={"n_users": n_users},
            steps=months,
        )
        for replication, child in enumerate(children)
        for k, regime in enumerate(REGIMES)
    ]
    return specs[:runs]


def _timed_sweep(specs: list[Any], mode: str, scheduler: str | None) -> tuple[float, list[float]]:
    """Wall seconds of one `run_experiment` call, and each run's own seconds."""
    import pandas as pd

    from experiments.runner import run_experiment

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_experiment(
            specs,
            Path(out) / "sweep",
            resolved={"benchmark": mode},
            fingerprint=f"benchmark-{mode}",
            workers=2 if mode == "processes" else 1,
            scheduler=scheduler,
            progress=False,
        )
        seconds = time.perf_counter() - start
        runs = pd.read_parquet(Path(out) / "sweep" / "runs.parquet")
    return seconds, runs["seconds"].tolist()


def child_sweep(n_users: int, months: int, runs: int, mode: str) -> dict[str, Any]:
    """A sweep through the project's runner: serial, 2 local processes or a Dask cluster.

    Measured in two parts, so that the sweep's own rate is not mixed with one-off costs:
    *start-up*, a first sweep of one tiny run per worker (for processes: starting the
    forkserver, which imports the model once, and the workers; for Dask: connecting, and each
    worker loading the compiled kernels; the Dask cluster itself is started before, untimed,
    as an analyst's cluster would already be running), then *the sweep* on the now warm
    executor. For processes the second sweep gets a new pool, forked from the warm forkserver.
    """
    sys.path.insert(0, str(ROOT))
    import experiments.runner  # noqa: F401 - imported before the clock, as in every mode

    workers = 1 if mode == "serial" else 2
    cluster = _start_dask(2) if mode == "dask" else None
    scheduler = cluster[0] if cluster else None
    try:
        startup, _ = _timed_sweep(_sweep_specs(1_000, 1, workers), mode, scheduler)
        seconds, run_seconds = _timed_sweep(_sweep_specs(n_users, months, runs), mode, scheduler)
    finally:
        if cluster:
            _stop_dask(cluster)
    return {
        "startup_s": startup,
        "seconds": seconds,
        "runs_per_min": runs * 60 / seconds,
        "mean_run_s": sum(run_seconds) / len(run_seconds),
        # Share of the workers' time spent playing runs (the rest: waiting, overheads).
        "busy": sum(run_seconds) / (workers * seconds),
    }


def _start_dask(workers: int) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and `workers` single-threaded workers on 127.0.0.1, profiler off."""
    from dask.distributed import Client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    if not Path(dask).exists():
        dask = shutil.which("dask") or "dask"
    env = {
        **os.environ,
        "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    logs = Path(tempfile.mkdtemp(prefix="dask-bench-"))
    common = {"env": env, "cwd": logs, "start_new_session": True}
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **common,
        ),
        subprocess.Popen(
            [
                *(dask, "worker", address, "--host", "127.0.0.1"),
                *("--nworkers", str(workers), "--nthreads", "1", "--no-dashboard"),
                *("--local-directory", str(logs / "w"), "--preload", "experiments.runner"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **common,
        ),
    ]
    deadline = time.monotonic() + 120
    while True:
        try:
            client = Client(address, timeout=5, set_as_default=False)
            break
        except OSError:
            if time.monotonic() > deadline:
                _stop_dask((address, processes))
                raise
    client.wait_for_workers(workers, timeout=120)
    client.close()
    return address, processes


def _stop_dask(cluster: tuple[str, list[subprocess.Popen]]) -> None:
    for process in cluster[1]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


CHILDREN = {"model": child_model, "mesa": child_mesa, "sweep": child_sweep}


# --------------------------------------------------------------------------------------------
# The parent: run each configuration in a fresh process, tabulate, write the document


def measure(kind: str, *args: Any) -> dict[str, Any]:
    """Run one configuration in a fresh interpreter and return what it measured."""
    command = [sys.executable, __file__, "--child", kind, *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    import mesa
    import numba
    import numpy
    import scipy

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024**2:.0f} GB"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": f"numpy {numpy.__version__}, scipy {scipy.__version__}, "
        f"numba {numba.__version__}, mesa {mesa.__version__}",
    }


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        print(json.dumps(CHILDREN[kind](*(int(r) if r.isdigit() else r for r in rest))))
        return

    sizes = (2_000, 10_000) if args.quick else (10_000, 100_000, 1_000_000)
    months = 12 if args.quick else 120
    mesa_agents, mesa_steps = (10_000, 10) if args.quick else (100_000, 100)
    sweep_users, sweep_months, sweep_runs = (2_000, 12, 4) if args.quick else (50_000, 120, 16)
    load_before = load()
    started = time.perf_counter()

    rows = []
    for n in sizes:
        for regime in REGIMES:
            result = measure("model", n, regime, months)
            result["user_steps_per_s"] = n / result["step_s"]
            rows.append({"users": n, "regime": regime, **result})
            print(
                f"{n:>9,} users {regime:<14} set-up {result['setup_s']:6.2f} s  "
                f"step {result['step_s']:7.4f} s  total {result['total_s']:7.1f} s  "
                f"{result['user_steps_per_s'] / 1e6:6.2f} M user-steps/s  "
                f"peak {result['peak_rss_mb']:6.0f} MB",
                flush=True,
            )
    mesa_result = measure("mesa", mesa_agents, mesa_steps)
    print(
        f"Mesa Boltzmann, {mesa_agents:,} agents: {mesa_result['agent_steps_per_s'] / 1e6:.2f} M "
        f"agent-steps/s, peak {mesa_result['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    sweeps = {}
    for mode in ("serial", "processes", "dask"):
        sweeps[mode] = measure("sweep", sweep_users, sweep_months, sweep_runs, mode)
        result = sweeps[mode]
        print(
            f"sweep {mode:<9} start-up {result['startup_s']:5.1f} s  sweep "
            f"{result['seconds']:6.1f} s  {result['runs_per_min']:6.1f} runs/min  "
            f"a run {result['mean_run_s']:5.2f} s  busy {result['busy']:.0%}",
            flush=True,
        )
    load_after = load()
    report = render(
        rows,
        mesa_result,
        sweeps,
        sizes=sizes,
        months=months,
        mesa=(mesa_agents, mesa_steps),
        sweep=(sweep_users, sweep_months, sweep_runs),
        quick=args.quick,
        loads=(load_before, load_after),
        minutes=(time.perf_counter() - started) / 60,
    )
    print(report)
    if not args.no_write:
        write(report)
        print(f"wrote {DOC.relative_to(ROOT)}")


def render(
    rows: list[dict[str, Any]],
    mesa_result: dict[str, Any],
    sweeps: dict[str, dict[str, Any]],
    *,
    sizes: tuple[int, ...],
    months: int,
    mesa: tuple[int, int],
    sweep: tuple[int, int, int],
    quick: bool,
    loads: tuple[str, str],
    minutes: float,
) -> str:
    """The benchmark's section of docs/performance.md, in Markdown."""
    info = machine()
    mesa_rate = mesa_result["agent_steps_per_s"]
    command = "benchmarks/scale.py" + (" --quick" if quick else "")
    lines = [
        f"Measured {dt.date.today().isoformat()} with `.venv/bin/python {command}` "
        f"({minutes:.0f} min) on: {info['cpu']}, {info['cores']} cores, {info['memory']} RAM, "
        f"{info['os']}; Python {info['python']}, {info['versions']}. Load average "
        f"(1/5/15 min) before: {loads[0]}, after: {loads[1]}.",
        "",
        *targets(rows, mesa_rate, sweeps, sizes=sizes, months=months),
        "",
        f"**One run** (`tencent_huawei_2017`, mean degree 20, {months} months, each in a fresh "
        "process):",
        "",
        "| users | regime | set-up (s) | per step (s) | whole run (s) | user-steps/s "
        "| × Mesa reference | peak RSS (MB) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['users']:,} | {row['regime']} | {row['setup_s']:.2f} | {row['step_s']:.4f} "
            f"| {row['total_s']:.1f} | {row['user_steps_per_s'] / 1e6:.2f} M "
            f"| {row['user_steps_per_s'] / mesa_rate:.1f} | {row['peak_rss_mb']:.0f} |"
        )
    lines += ["", "Cost per user-step (set-up included), relative to the smallest size:", ""]
    for regime in REGIMES:
        costs = {
            row["users"]: row["total_s"] / (row["users"] * months)
            for row in rows
            if row["regime"] == regime
        }
        base = costs[sizes[0]]
        cells = ", ".join(f"{n:,}: {costs[n] / base:.2f}" for n in sizes)
        lines.append(f"- {regime}: {cells}")
    lines += [
        "",
        f"**Mesa reference**: the Boltzmann wealth model written the usual way (one `mesa.Agent` "
        f"per agent, `shuffle_do`), {mesa[0]:,} agents, {mesa[1]} steps: "
        f"{mesa_rate / 1e6:.2f} M agent-steps/s ({mesa_result['step_s']:.3f} s per step, peak "
        f"{mesa_result['peak_rss_mb']:.0f} MB).",
        "",
        f"**A sweep** of {sweep[2]} runs of {sweep[0]:,} users × {sweep[1]} months "
        "(click_through and portability) through `experiments.runner`:",
        "",
        "| executor | start-up (s) | sweep (s) | runs per minute | speed-up over serial "
        "| a run (s) | workers busy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "serial": "serial",
        "processes": "2 local worker processes",
        "dask": "Dask, 2 workers on 127.0.0.1",
    }
    for mode, result in sweeps.items():
        speedup = sweeps["serial"]["seconds"] / result["seconds"]
        lines.append(
            f"| {names[mode]} | {result['startup_s']:.1f} | {result['seconds']:.1f} "
            f"| {result['runs_per_min']:.1f} | {speedup:.2f} | {result['mean_run_s']:.2f} "
            f"| {result['busy']:.0%} |"
        )
    lines += [
        "",
        "Start-up: a first sweep of one 1,000-user run per worker (process pool: the forkserver "
        "importing the model, the workers; Dask: connecting to a cluster already running). "
        "Sweep: the runs on the warm executor. *A run*: the mean seconds one run took on its "
        "worker; *workers busy*: the share of the workers' time spent playing runs.",
    ]
    return "\n".join(lines)


def targets(
    rows: list[dict[str, Any]],
    mesa_rate: float,
    sweeps: dict[str, dict[str, Any]],
    *,
    sizes: tuple[int, ...],
    months: int,
) -> list[str]:
    """Issue 6's targets against this run's figures, as a Markdown table."""
    largest, second = sizes[-1], sizes[-2]

    def at(n: int, key: str) -> list[float]:
        return [row[key] for row in rows if row["users"] == n]

    def cost(n: int, regime: str) -> float:
        row = next(r for r in rows if r["users"] == n and r["regime"] == regime)
        return row["total_s"] / (n * months)

    def verdict(met: bool) -> str:
        return "yes" if met else "**no**"

    whole = at(largest, "total_s")
    peak = max(at(largest, "peak_rss_mb"))
    scaling = [cost(largest, regime) / cost(second, regime) for regime in REGIMES]
    versus_mesa = [row["user_steps_per_s"] / mesa_rate for row in rows if row["users"] >= second]
    pool = sweeps["serial"]["seconds"] / sweeps["processes"]["seconds"]
    dask = sweeps["dask"]["seconds"] / sweeps["processes"]["seconds"]
    return [
        "| target (issue 6) | this run | met? |",
        "|---|---|---|",
        f"| {largest:,} users × {months} months in ≤ 20 s | "
        f"{min(whole):.0f}–{max(whole):.0f} s | {verdict(max(whole) <= 20)} |",
        f"| peak memory ≤ 1.5 GB at {largest:,} users | {peak / 1024:.2f} GB "
        f"| {verdict(peak <= 1.5 * 1024)} |",
        f"| cost per user-step at {largest:,} within 1.5× of {second:,} (set-up included) | "
        f"{min(scaling):.2f}–{max(scaling):.2f}× | {verdict(max(scaling) <= 1.5)} |",
        f"| ≥ 15× the Mesa reference's agent-steps per second | {min(versus_mesa):.1f}–"
        f"{max(versus_mesa):.1f}× | {verdict(min(versus_mesa) >= 15)} |",
        f"| sweep on 2 workers ≥ 1.7× serial | {pool:.2f}× | {verdict(pool >= 1.7)} |",
        f"| Dask within 10% of local processes | Dask takes {dask:.2f}× their time "
        f"| {verdict(dask <= 1.1)} |",
    ]


def write(report: str) -> None:
    """Put `report` between the markers of docs/performance.md (creating the file if needed)."""
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{report}\n{END}{tail}")


if __name__ == "__main__":
    main()
