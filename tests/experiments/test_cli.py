"""The `datamarket` command end to end, as a user meets it.

Checks: `run` on a small experiment file writes every result file and says where the report is;
`validate` counts the runs; `report` rebuilds the report from saved results; `list` prints each
catalogue; bad input — a missing file, an unknown key, an unknown regime, an out-of-range value,
an unwritable output folder, `--resume` on another experiment's folder — exits with code 2 and
one message naming what was wrong, leaving nothing that looks like a complete result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import model
from experiments.cli import app

SMALL = """
[experiment]
name = "{name}"
steps = 6
replications = 2
seed = 7
measure = "mean_last_3"

[scenario]
preset = "tencent_huawei_2017"
n_users = 600

[[policies]]
regime = "click_through"
[[policies]]
regime = "informed_consent"

[execution]
workers = 1

[output]
dir = "{out}"
"""


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def _write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _small(tmp_path: Path, name: str = "small", out: str = "out") -> Path:
    return _write(tmp_path, SMALL.format(name=name, out=tmp_path / out), f"{name}.toml")


def test_run_writes_every_result_and_names_the_report(cli, tmp_path):
    result = cli.invoke(app, ["run", str(_small(tmp_path)), "--no-progress"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    for name in (
        "manifest.json",
        "runs.parquet",
        "timeseries.parquet",
        "firms.parquet",
        "summary.csv",
        "report.html",
    ):
        assert (out / name).is_file(), name
    assert f"report: {out / 'report.html'}" in result.output
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 2 * 2  # policies x replications
    assert set(runs["status"]) == {"ok"}
    assert set(model.METRICS) <= set(runs.columns)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["runs_done"] == 4
    timeseries = pd.read_parquet(out / "timeseries.parquet")
    assert len(timeseries) == 4 * 6  # runs x months


def test_report_rebuilds_from_saved_results(cli, tmp_path):
    assert cli.invoke(app, ["run", str(_small(tmp_path)), "--no-progress"]).exit_code == 0
    out = tmp_path / "out"
    (out / "report.html").unlink()
    (out / "summary.csv").unlink()
    result = cli.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and (out / "summary.csv").is_file()


def test_validate_counts_the_runs_without_running(cli, tmp_path):
    result = cli.invoke(app, ["validate", str(_small(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "4 runs" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("what", ["regimes", "scenarios", "parameters", "metrics"])
def test_list_prints_each_catalogue(cli, what):
    result = cli.invoke(app, ["list", what])
    assert result.exit_code == 0, result.output
    expected = {
        "regimes": list(model.REGIMES),
        "scenarios": list(model.SCENARIOS),
        "parameters": [p.name for p in model.PARAMETERS],
        "metrics": list(model.METRICS),
    }[what]
    for name in expected:
        assert name in result.output


@pytest.mark.parametrize(
    ("edit", "field", "value"),
    [
        (("[experiment]", "[experiment]\ncolour = 3"), "colour", "3"),
        (('regime = "informed_consent"', 'regime = "anarchy"'), "regime", "anarchy"),
        (("steps = 6", "steps = -6"), "steps", "-6"),
        (("n_users = 600", "n_users = 600\nleakage = 1.5"), "leakage", "1.5"),
        (("n_users = 600", "n_users = 600\nwobble = 1"), "wobble", "wobble"),
    ],
)
def test_bad_file_exits_2_naming_file_field_and_value(cli, tmp_path, edit, field, value):
    text = SMALL.format(name="bad", out=tmp_path / "out").replace(*edit)
    path = _write(tmp_path, text)
    for command in ("validate", "run"):
        result = cli.invoke(app, [command, str(path), "--no-progress"][: 2 + (command == "run")])
        assert result.exit_code == 2, result.output
        assert str(path) in result.output and field in result.output and value in result.output
    assert not (tmp_path / "out").exists()


def test_missing_file_exits_2(cli, tmp_path):
    missing = tmp_path / "nowhere.toml"
    result = cli.invoke(app, ["run", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in result.output


def test_unwritable_output_folder_exits_2(cli, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    path = _write(tmp_path, SMALL.format(name="small", out=blocker / "out"))
    result = cli.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "a_file" in result.output


def test_resume_on_another_experiments_folder_exits_2(cli, tmp_path):
    assert cli.invoke(app, ["run", str(_small(tmp_path)), "--no-progress"]).exit_code == 0
    other = _write(
        tmp_path,
        SMALL.format(name="other", out=tmp_path / "out").replace("seed = 7", "seed = 8"),
        "other.toml",
    )
    before = (tmp_path / "out" / "runs.parquet").read_bytes()
    result = cli.invoke(app, ["run", str(other), "--resume", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "other" in result.output and "small" in result.output
    assert (tmp_path / "out" / "runs.parquet").read_bytes() == before
