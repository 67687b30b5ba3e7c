"""The size of an experiment is estimated, and checked, before anything is allocated (issue 14.2).

`experiments.estimate` counts runs, user-months and rows by arithmetic; `validate` prints the
estimate; `validate`, `run` and `experiments.api.run` refuse with exit code 2 (a `SizeError`, a
`ConfigError`) what cannot fit this machine's memory or disk, and what is above the limits set
against mistakes unless told `--allow-large` / `allow_large=True`, naming the file, the field, the
estimate and the limit, and writing nothing.

The machine's memory and disk are replaced by fixed figures (monkeypatch), so the results do not
depend on the machine the tests run on; the absurd sizes of the issue run in a subprocess with a
timeout, since before the estimate they filled memory or ran for ever.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments import estimate as size
from experiments.api import run
from experiments.cli import app
from experiments.config import ConfigError, experiment_from_dict, load_experiment
from experiments.design import compile_runs

ROOT = Path(__file__).resolve().parents[2]
GB = 10**9

FILE = """
[experiment]
name = "limits"
steps = {steps}
replications = {replications}
seed = 1

[scenario]
n_users = {n_users}

[[policies]]
regime = "click_through"
{uncertainties}
[execution]
workers = {workers}

[output]
dir = "{out}"
"""


def _file(tmp_path: Path, *, steps=12, replications=1, n_users=1000, workers=1, unc="") -> Path:
    path = tmp_path / "limits.toml"
    path.write_text(
        FILE.format(
            steps=steps,
            replications=replications,
            n_users=n_users,
            workers=workers,
            uncertainties=unc,
            out=tmp_path / "out",
        )
    )
    return path


@pytest.fixture
def machine(monkeypatch):
    """A machine with 8 GB of memory available and 100 GB of free disk, whatever this one has."""
    monkeypatch.setattr(size, "available_memory", lambda: 8 * GB)
    monkeypatch.setattr(size, "free_disk", lambda folder: (100 * GB, Path(folder)))


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


# --- the absurd sizes: refused at once, without a traceback or an allocation

ABSURD = r"""
import json, sys
from typer.testing import CliRunner
from experiments.cli import app
results = {}
for name in sys.argv[1:]:
    run = ["run", name, "--no-progress"]
    for command in (["validate", name], run, [*run[:2], "--allow-large", run[2]]):
        done = CliRunner().invoke(app, command)
        results[" ".join(command)] = [done.exit_code, done.output, repr(done.exception)]
print(json.dumps(results))
"""


def test_absurd_sizes_are_refused_at_once_naming_the_field(tmp_path):
    """samples = 10^12 ended in a MemoryError, steps = 10^9 validated and ran, replications =
    10^9 grew memory in validate for ever; each must be refused with exit 2, quickly."""
    lhs = '[uncertainties]\nmethod = "lhs"\nsamples = 1000000000000\nleakage = [0.0, 0.5]\n'
    cases = {
        "steps": ("experiment.steps", "1,000,000,000", dict(steps=10**9)),
        "samples": ("uncertainties.samples", "1,000,000,000,000", dict(unc=lhs)),
        "replications": ("experiment.replications", "1,000,000,000", dict(replications=10**9)),
    }
    names = []
    for name, (_, _, settings) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        names.append(str(_file(folder, **settings)))
    done = subprocess.run(
        [sys.executable, "-c", ABSURD, *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # before the estimate, replications = 10^9 never returned
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for name, (field, shown, _) in cases.items():
        path = str(tmp_path / name / "limits.toml")
        for command in (f"validate {path}", f"run {path} --no-progress"):
            code, output, exception = results[command]
            assert code == 2, (command, output, exception)
            assert f"{path}: {field}:" in output and shown in output, output
            assert "Traceback" not in output and "MemoryError" not in exception
            assert "--allow-large" in output  # a soft limit is among the problems
        # --allow-large lifts the soft limits only: these cannot fit any machine.
        code, output, _ = results[f"run {path} --allow-large --no-progress"]
        assert code == 2 and f"{path}: {field}:" in output and "peak memory" in output
        assert not (tmp_path / name / "out").exists()


# --- soft limits: plausible mistakes, lifted on purpose


@pytest.mark.usefixtures("machine")
@pytest.mark.parametrize(
    ("settings", "field", "estimate", "limit"),
    [
        (dict(steps=1201, n_users=100), "experiment.steps", "1,201 months", "1,200"),
        (
            dict(replications=100_001, n_users=100, steps=1),
            "experiment.replications",
            "100,001 runs",
            "100,000 runs",
        ),
        (
            dict(steps=1000, n_users=1_000_000, replications=1001),
            "scenario.n_users",
            "1,001,000,000,000 user-months",
            "1,000,000,000,000",
        ),
    ],
    ids=["months", "runs", "user-months"],
)
def test_a_soft_limit_refuses_naming_field_estimate_and_limit(
    tmp_path, settings, field, estimate, limit
):
    path = _file(tmp_path, **settings)
    for command in (["validate", path], ["run", path, "--no-progress"]):
        result = _invoke(*command)
        assert result.exit_code == 2, result.output
        line = next(line for line in result.output.splitlines() if field in line)
        assert line.startswith(f"error: {path}: {field}: ") or line.startswith(f"{path}: {field}: ")
        assert estimate in line and limit in line and "--allow-large" in line
    assert not (tmp_path / "out").exists()
    with pytest.raises(size.SizeError) as raised:
        run(path, allow_large=False)
    assert raised.value.field == field and raised.value.soft
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("machine")
def test_allow_large_lifts_a_soft_limit_on_validate(tmp_path):
    path = _file(tmp_path, steps=1500, n_users=100)
    assert _invoke("validate", path).exit_code == 2
    result = _invoke("validate", path, "--allow-large")
    assert result.exit_code == 0, result.output
    assert "1,500 months" in result.output and "estimate:" in result.output
    size.check_size(load_experiment(path), allow_large=True)  # and from Python


# --- hard limits: what cannot fit, whatever the flag


def test_memory_that_cannot_fit_is_refused_even_with_allow_large(tmp_path, monkeypatch):
    monkeypatch.setattr(size, "available_memory", lambda: 8 * GB)
    monkeypatch.setattr(size, "free_disk", lambda folder: (100 * GB, Path(folder)))
    path = _file(tmp_path, n_users=5_000_000, workers=4, steps=12)
    estimate = size.estimate(load_experiment(path))
    assert estimate.workers == 1  # one run: a pool never starts more workers than runs
    path = _file(tmp_path, n_users=5_000_000, workers=4, steps=12, replications=8)
    estimate = size.estimate(load_experiment(path))
    assert estimate.workers == 4 and estimate.worker_bytes > 3.8 * GB
    result = _invoke("run", path, "--allow-large", "--no-progress")
    assert result.exit_code == 2, result.output
    assert f"{path}: execution.workers: the peak memory is estimated at " in result.output
    assert "above the 8.0 GB this machine has available" in result.output
    assert "use at most 1 worker (--workers), each needing 3.9 GB" in result.output
    assert not (tmp_path / "out").exists()
    # Even one worker is too many for 3 GB: the field is then the users.
    monkeypatch.setattr(size, "available_memory", lambda: 3 * GB)
    result = _invoke("validate", path, "--allow-large")
    assert result.exit_code == 2 and f"{path}: scenario.n_users: the peak memory" in result.output


def test_disk_that_cannot_fit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(size, "available_memory", lambda: 8 * GB)
    monkeypatch.setattr(size, "free_disk", lambda folder: (5_000_000, Path(folder)))
    path = _file(tmp_path, replications=100)
    result = _invoke("run", path, "--allow-large", "--no-progress")
    assert result.exit_code == 2, result.output
    assert f"{path}: experiment.replications: the results need up to " in result.output
    assert "above the 5.0 MB free at" in result.output
    assert not (tmp_path / "out").exists()


# --- the estimate itself


@pytest.mark.parametrize(
    "uncertainties",
    [
        None,
        {"method": "grid", "leakage": {"values": [0.0, 0.3, 0.6]}, "n_users": {"values": [300]}},
        {"method": "lhs", "samples": 5, "leakage": [0.0, 0.6]},
        {"method": "sobol", "samples": 4, "leakage": [0.0, 0.6], "attention_mean": [0.1, 0.5]},
        {"method": "morris", "samples": 3, "leakage": [0.0, 0.6], "mean_degree": [5.0, 20.0]},
    ],
    ids=["none", "grid", "lhs", "sobol", "morris"],
)
def test_the_estimate_counts_the_runs_compile_runs_makes(uncertainties):
    data = {
        "experiment": {"name": "count", "steps": 7, "replications": 3, "seed": 1},
        "scenario": {} if uncertainties and "n_users" in uncertainties else {"n_users": 400},
        "policies": [{"regime": "click_through"}, {"regime": "data_trust"}],
    }
    if uncertainties:
        data["uncertainties"] = uncertainties
    experiment = experiment_from_dict(data)
    runs = compile_runs(experiment)
    e = size.estimate(experiment)
    assert e.runs == len(runs) and e.n_samples == len({spec.sample for spec in runs})
    assert e.timeseries_rows == 7 * len(runs)
    assert e.user_months == 7 * sum(
        {**spec.fixed, **spec.sampled}.get("n_users", 20_000) for spec in runs
    )
    # 2 platforms + 5 makers + 2 brokers of the preset, and the data trust of one policy.
    assert e.firm_rows == e.timeseries_rows * 10


def test_the_estimate_of_a_billion_replications_is_exact_and_immediate():
    data = {
        "experiment": {"name": "big", "steps": 120, "replications": 10**9, "seed": 1},
        "policies": [{"regime": "click_through"}, {"regime": "ban"}],
        "uncertainties": {"method": "sobol", "samples": 2**40, "leakage": [0.0, 0.6]},
    }
    e = size.estimate(experiment_from_dict(data))
    assert e.runs == 2**40 * 3 * 2 * 10**9
    assert e.user_months == e.runs * 120 * 20_000  # the preset's default users


def test_validate_prints_the_estimate_of_every_shipped_file_under_the_default_limits(
    monkeypatch,
):
    """On a modest machine (4 GB available, 1 GB free) every shipped file fits, with room."""
    monkeypatch.setattr(size, "available_memory", lambda: 4 * GB)
    monkeypatch.setattr(size, "free_disk", lambda folder: (1 * GB, Path(folder)))
    files = sorted((ROOT / "experiments").glob("*.toml"))
    assert len(files) == 4
    for path in files:
        result = _invoke("validate", path)
        assert result.exit_code == 0, result.output
        experiment = load_experiment(path)
        e = size.estimate(experiment)
        assert e.runs == len(compile_runs(experiment))
        assert e.memory_bytes < 2 * GB and e.disk_bytes < 100 * 10**6
        block = result.output.split("estimate:", 1)[1]
        for word in ("runs", "user-months", "rows", "disk", "memory", "per worker", "rough"):
            assert word in block, (path, block)
        assert f"{e.runs:,}" in block and f"{e.user_months:,}" in block


def test_a_config_error_comes_before_the_estimate(tmp_path, machine):
    path = _file(tmp_path, replications=0)
    result = _invoke("validate", path)
    assert result.exit_code == 2 and "experiment.replications" in result.output
    assert "estimate" not in result.output
    with pytest.raises(ConfigError):
        load_experiment(path)
