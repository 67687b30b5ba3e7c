"""The `datamarket` command: run an experiment file, check one, rebuild a report, list the model.

    datamarket run experiments/tencent_huawei_2017.toml [--out DIR] [--workers N]
                   [--scheduler tcp://HOST:PORT] [--resume] [--allow-large]
    datamarket validate FILE [--allow-large]
    datamarket report DIR
    datamarket list [regimes|scenarios|parameters|metrics]
    datamarket calibrate [--design 128] [--seed 20170803] [--workers 2]

Exit codes:

    0    done: every run finished (`run`), or the report was written (`report`)
    1    an unexpected error (a bug): a traceback
    2    bad input: a file, a field, a value, a folder (missing, incomplete, damaged, holding
         other results); one line `error: ...` naming it and what to do
    3    `run` finished the sweep but some runs failed: which ones, and where their errors are
         (the `error` column of runs.parquet); the report is written
    130  Ctrl-C: the sweep stopped cleanly, finished runs are kept; `--resume` carries on
    143  SIGTERM (`kill PID`): as Ctrl-C
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

import model

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="datamarket: simulate markets for personal data under regulatory regimes.",
)

BAD_INPUT = 2
RUNS_FAILED = 3
INTERRUPTED = 130  # 128 + SIGINT
TERMINATED = 143  # 128 + SIGTERM


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


ALLOW_LARGE_HELP = (
    "accept an experiment above the limits against mistakes (months a run, runs, user-months; "
    "the message says which); one that cannot fit this machine's memory or disk is still refused"
)


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="the experiment file (TOML)")],
    # Text, not a Path: Path("") is ".", so --out "" would write into the current folder.
    out: Annotated[str | None, typer.Option(help="results folder (default: [output] dir)")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="local worker processes (default: [execution])")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="a Dask scheduler, tcp://HOST:PORT: run the sweep there")
    ] = None,
    resume: Annotated[bool, typer.Option(help="carry on an interrupted run in the folder")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    allow_large: Annotated[bool, typer.Option("--allow-large", help=ALLOW_LARGE_HELP)] = False,
) -> None:
    """Run every (sample × policy × replication) of FILE; write results and a report."""
    from experiments.api import execute
    from experiments.config import ConfigError, load_experiment
    from experiments.design import compile_runs
    from experiments.estimate import check_size
    from experiments.report import build_report
    from experiments.results import ResultsError, describe_failures, read_runs
    from experiments.runner import ExecutorError, Terminated

    try:
        experiment = load_experiment(file).with_overrides(
            out=out, workers=workers, scheduler=scheduler
        )
        check_size(experiment, allow_large=allow_large, resume=resume)  # before the run list
        runs = compile_runs(experiment)
    except ConfigError as error:
        _fail(str(error))
    execution = experiment.execution
    out_dir = Path(experiment.output.dir)
    where = (
        f"Dask at {execution.scheduler}"
        if execution.scheduler
        else f"a local Dask cluster of {execution.workers}"
        if execution.backend == "dask"
        else f"{execution.workers} local process(es)"
    )
    typer.echo(f"{experiment.name}: {len(runs)} runs on {where} -> {out_dir}", err=True)
    try:
        manifest = execute(experiment, runs, resume=resume, progress=progress)
    except (ResultsError, ExecutorError) as error:
        _fail(str(error))
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (Terminated)
        typer.echo(
            f"interrupted: finished runs are kept in {out_dir}; carry on with "
            f"`datamarket run {file} --out {out_dir} --resume`",
            err=True,
        )
        raise typer.Exit(TERMINATED if isinstance(stop, Terminated) else INTERRUPTED) from None
    failed = manifest.get("runs_failed", 0)
    try:
        report = build_report(out_dir)
        typer.echo(f"{manifest['runs_done']} runs done, {failed} failed")
        typer.echo(f"report: {report}")
        if failed:
            typer.echo(f"error: {describe_failures(read_runs(out_dir), out_dir)}", err=True)
    except ResultsError as error:
        _fail(str(error))
    if failed:
        raise typer.Exit(RUNS_FAILED)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="the experiment file (TOML)")],
    allow_large: Annotated[bool, typer.Option("--allow-large", help=ALLOW_LARGE_HELP)] = False,
) -> None:
    """Check FILE without running it: its keys, values, regimes, levers and parameters, and
    its size (runs, user-months, rows, disk, memory, rough time) against this machine."""
    from experiments.config import ConfigError, load_experiment
    from experiments.estimate import check_size

    try:
        experiment = load_experiment(file)
        # Counted, not built: a billion replications would otherwise fill memory here.
        size = check_size(experiment, allow_large=allow_large)
    except ConfigError as error:
        _fail(str(error))
    policies = sorted(policy.name for policy in experiment.policies)
    typer.echo(
        f"{file}: valid. {size.runs} runs = {size.n_samples} sample(s) x {len(policies)} "
        f"polic{'y' if len(policies) == 1 else 'ies'} x "
        f"{experiment.replications} replication(s), "
        f"{experiment.steps} months each; policies: {', '.join(policies)}"
    )
    typer.echo(size.describe())


@app.command()
def report(directory: Annotated[Path, typer.Argument(help="a results folder")]) -> None:
    """Rebuild summary.csv and report.html from the saved results in DIRECTORY."""
    from experiments.report import build_report
    from experiments.results import ResultsError, check_results
    from experiments.summary import write_summary

    try:
        check_results(directory)  # before writing anything: a bad folder is left as it was
        write_summary(directory)
        path = build_report(directory)
    except ResultsError as error:
        _fail(str(error))
    except OSError as error:  # summary.csv or report.html cannot be written
        _fail(f"cannot write the report in {directory}: {error.strerror or error}")
    typer.echo(f"report: {path}")


class Catalogue(StrEnum):
    regimes = "regimes"
    scenarios = "scenarios"
    parameters = "parameters"
    metrics = "metrics"


@app.command(name="list")
def list_(
    what: Annotated[
        Catalogue | None, typer.Argument(help="one table; all four when left out")
    ] = None,
) -> None:
    """Regimes with their levers, scenarios, parameters (unit, default, meaning), metrics."""
    tables = {
        Catalogue.regimes: model.list_regimes,
        Catalogue.scenarios: model.list_scenarios,
        Catalogue.parameters: model.list_parameters,
        Catalogue.metrics: model.list_metrics,
    }
    chosen = [what] if what else list(Catalogue)
    with pd.option_context(
        "display.max_rows", None, "display.max_colwidth", 80, "display.width", 250
    ):
        for name in chosen:
            frame = tables[name]()
            if name is Catalogue.regimes:
                frame = frame.T  # levers down the side, one column per regime
            typer.echo(f"\n== {name.value} ==\n{frame.to_string()}")


@app.command()
def viz(
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to serve on")] = 8765,
    host: Annotated[str, typer.Option(help="address to bind (loopback by default)")] = "127.0.0.1",
    users: Annotated[
        int | None, typer.Option(min=10, help="the page's starting number of users")
    ] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="reload the page when a source file changes")
    ] = False,
) -> None:
    """Serve the browser lab (app.py) with `solara run`; open http://HOST:PORT in a browser."""
    from experiments.viz import MIN_LAB_USERS, USERS_ENV

    if users is not None and users < MIN_LAB_USERS:
        _fail(
            f"--users {users} is too few for the page: allowed is a whole number >= "
            f"{MIN_LAB_USERS}, enough for the social graph to realise the largest mean degree "
            "its slider offers"
        )

    app_file = Path(__file__).resolve().parents[1] / "app.py"
    solara = Path(sys.executable).with_name("solara")
    if not app_file.is_file():
        _fail(f"the app {app_file} is missing; `datamarket viz` runs from a source checkout")
    if not solara.is_file():
        _fail(f"{solara} is missing; install the project's dependencies (mesa[rec] brings solara)")
    from experiments.lab_assets import cache_dir, missing

    if absent := missing():
        _fail(
            f"Solara's browser files {', '.join(absent)} are not in its local cache "
            f"({cache_dir()}), so the page would fetch them from the internet while served; "
            "fill the cache once with `bash scripts/setup_lab.sh` (or `make viz`)"
        )
    if users is not None:
        os.environ[USERS_ENV] = str(users)
    # No call home: app.py turns Solara's telemetry off in code; the variable also keeps it off
    # from the server's first import on, and --no-check-version stops `solara run` asking PyPI
    # for its latest version, which it does before it loads app.py.
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    command = [str(solara), "run", str(app_file), "--host", host, "--port", str(port), "--no-open"]
    command.append("--no-check-version")
    if not dev:
        command.append("--production")  # no file watcher: an edit elsewhere cannot restart it
    typer.echo(f"serving the lab on http://{host}:{port} (Ctrl-C stops it)", err=True)
    os.execv(command[0], command)  # the server replaces this process: signals reach it directly


@app.command()
def calibrate(
    design: Annotated[int, typer.Option(min=1, help="Latin-hypercube points")] = 128,
    seed: Annotated[int, typer.Option(help="root seed of the design and the runs")] = 20170803,
    reps: Annotated[int, typer.Option(min=1, help="replications per candidate")] = 2,
    users: Annotated[int, typer.Option(min=10, help="users per run")] = 2000,
    months: Annotated[int, typer.Option(min=13, help="months per run")] = 24,
    max_evals: Annotated[int, typer.Option(min=1, help="Nelder-Mead evaluations")] = 80,
    workers: Annotated[int, typer.Option(min=1, help="local worker processes")] = 2,
    out: Annotated[Path, typer.Option(help="result (JSON)")] = Path("experiments/calibration.json"),
    report: Annotated[Path, typer.Option(help="report (Markdown)")] = Path("docs/calibration.md"),
) -> None:
    """Calibrate the behavioural parameters to the published targets (docs/ODD.md)."""
    from experiments.calibrate import main as run_calibration

    result = run_calibration(
        design=design,
        seed=seed,
        reps=reps,
        n_users=users,
        months=months,
        max_evals=max_evals,
        workers=workers,
        out=out,
        report=report,
        log=lambda message: typer.echo(message, err=True),
    )
    for name, value in result.chosen.items():
        typer.echo(f"{name} = {value:g}")
    typer.echo(f"objective {result.objective:.3f}; wrote {out} and {report}")


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    main()
