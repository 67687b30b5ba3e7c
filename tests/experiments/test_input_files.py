"""Inputs from files and from Python that were accepted silently, or refused in the wrong words
(issue 14.6, 14.8).

- A mean degree the social graph cannot realise is refused from a file (exit 2, naming the file
  and the field), also when it is the corner of two uncertainty ranges; the degree realised is a
  column of runs.parquet.
- ``--out ""`` is refused like ``[output] dir = ""``, instead of writing into the current folder.
- A file starting with a UTF-8 byte-order mark is refused saying so, not "Invalid statement".
- An experiment given as a dict may hold numpy integers, floats and bools where Python's are
  accepted; a bool is still not a whole number.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from experiments.api import run
from experiments.cli import app
from experiments.config import ConfigError, experiment_from_dict, load_experiment
from experiments.spec import REALISED_MEAN_DEGREE
from model import DataMarket

SMALL = """\
[experiment]
name = "small"
steps = 2
replications = 1
seed = 3

[scenario]
{scenario}

[[policies]]
regime = "click_through"
{uncertainties}
[execution]
workers = 1
{output}"""


def _file(tmp_path: Path, scenario="n_users = 300", uncertainties="", output=None) -> Path:
    if output is None:
        output = f'\n[output]\ndir = "{tmp_path / "out"}"\n'
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(scenario=scenario, uncertainties=uncertainties, output=output))
    return path


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# --- the social graph's mean degree


@pytest.mark.parametrize(
    ("scenario", "uncertainties", "field", "shown"),
    [
        ("n_users = 50\nmean_degree = 500.0", "", "scenario.mean_degree", "mean_degree=500.0"),
        ("n_users = 1000\nmean_degree = 999.0", "", "scenario.mean_degree", "n_users=1000"),
        (
            "",  # each range is fine with the other at its default; their corner is not
            '[uncertainties]\nmethod = "lhs"\nsamples = 4\nn_users = [1000, 20000]\n'
            "mean_degree = [5.0, 300.0]\n",
            "uncertainties.mean_degree",
            "n_users = 1000, mean_degree = 300.0",
        ),
        (
            "n_users = 400",
            '[uncertainties]\nmethod = "grid"\nmean_degree = { values = [20.0, 120.0] }\n',
            "uncertainties.mean_degree",
            "mean_degree = 120.0",
        ),
    ],
    ids=["impossible", "half-short", "corner-of-ranges", "grid-value"],
)
def test_a_mean_degree_the_graph_cannot_realise_is_refused_from_a_file(
    tmp_path, scenario, uncertainties, field, shown
):
    path = _file(tmp_path, scenario=scenario, uncertainties=uncertainties)
    for command in (["validate", path], ["run", path, "--no-progress"]):
        result = _invoke(*command)
        assert result.exit_code == 2, result.output
        assert f"error: {path}: {field}: " in result.output
        assert shown in result.output and "(n_users - 1) / 4" in result.output
    assert not (tmp_path / "out").exists()


def test_runs_parquet_reports_the_realised_mean_degree(tmp_path):
    path = _file(tmp_path, scenario="n_users = 300\nmean_degree = 40.0")
    result = _invoke("run", path, "--no-progress")
    assert result.exit_code == 0, result.output
    import pandas as pd

    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    assert list(runs.columns[-4:]) == [REALISED_MEAN_DEGREE, "status", "error", "seconds"]
    seed = int(runs["seed"].iloc[0])
    expected = DataMarket(n_users=300, mean_degree=40.0, rng=seed).realised_mean_degree
    assert runs[REALISED_MEAN_DEGREE].tolist() == [expected]
    assert 0.8 * 40 < expected < 40


# --- --out ""


def test_an_empty_out_is_refused_like_an_empty_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _file(tmp_path, output="")
    result = _invoke("run", path, "--out", "", "--no-progress")
    assert result.exit_code == 2, result.output
    assert "error: command line: output.dir: dir is empty: give a folder path" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.toml"]  # nothing written here
    # ... as in the file itself, and from Python.
    in_file = _file(tmp_path, output='\n[output]\ndir = ""\n')
    result = _invoke("run", in_file, "--no-progress")
    assert result.exit_code == 2 and f"{in_file}: output.dir: dir is empty" in result.output
    with pytest.raises(ConfigError, match=r"output\.dir: dir is empty"):
        run(path, out="")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.toml"]


# --- a byte-order mark


def test_a_byte_order_mark_is_named(tmp_path):
    path = _file(tmp_path)
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    for command in (["validate", path], ["run", path, "--no-progress"]):
        result = _invoke(*command)
        assert result.exit_code == 2, result.output
        assert f"error: {path}: starts with a UTF-8 byte-order mark" in result.output
        assert "save it as UTF-8 without BOM" in result.output
        assert "Invalid statement" not in result.output
    with pytest.raises(ConfigError, match="byte-order mark"):
        load_experiment(path)
    path.write_bytes(path.read_bytes()[len(codecs.BOM_UTF8) :])
    assert load_experiment(path).name == "small"  # the same file without it is fine


def test_a_utf16_file_is_named(tmp_path):
    path = _file(tmp_path)
    path.write_bytes(path.read_text().encode("utf-16"))  # with its byte-order mark
    with pytest.raises(ConfigError, match="is UTF-16 text"):
        load_experiment(path)


# --- numpy scalars in an experiment built in Python


def _numpy_experiment(**override) -> dict:
    return {
        "experiment": {
            "name": "numpy",
            "steps": np.int64(2),
            "replications": np.int32(1),
            "seed": np.uint16(3),
            **override,
        },
        "scenario": {"n_users": np.int64(300), "leakage": np.float64(0.5)},
        "policies": [
            {"regime": "click_through", "levers": {"fine_rate": np.float64(0.02)}},
            {"regime": "data_trust", "schedule": {"2": "ban"}},
        ],
        "uncertainties": {
            "method": "grid",
            "opening_dispute": {"values": [np.True_, np.False_]},
            "attention_mean": {"values": [np.float32(0.25)]},
        },
        "execution": {"workers": np.int64(1)},
    }


def _plain_experiment() -> dict:
    return {
        "experiment": {"name": "numpy", "steps": 2, "replications": 1, "seed": 3},
        "scenario": {"n_users": 300, "leakage": 0.5},
        "policies": [
            {"regime": "click_through", "levers": {"fine_rate": 0.02}},
            {"regime": "data_trust", "schedule": {"2": "ban"}},
        ],
        "uncertainties": {
            "method": "grid",
            "opening_dispute": {"values": [True, False]},
            "attention_mean": {"values": [float(np.float32(0.25))]},
        },
        "execution": {"workers": 1},
    }


def test_numpy_scalars_are_accepted_where_python_ones_are(tmp_path):
    experiment = experiment_from_dict(_numpy_experiment())
    plain = experiment_from_dict(_plain_experiment())
    assert experiment.resolved() == plain.resolved()
    assert experiment.fingerprint() == plain.fingerprint()
    assert type(experiment.steps) is int and type(experiment.seed) is int
    results = run(_numpy_experiment(), out=tmp_path / "out", workers=np.int64(1))
    assert len(results.runs) == 4 and (results.runs["status"] == "ok").all()


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [("steps", np.True_, "true/false"), ("replications", np.float64(2.0), "a number")],
)
def test_a_numpy_bool_or_float_is_still_not_a_whole_number(field, value, kind):
    with pytest.raises(ConfigError) as raised:
        experiment_from_dict(_numpy_experiment(**{field: value}))
    assert raised.value.field == f"experiment.{field}"
    assert f"is {kind}; expected a whole number" in str(raised.value)
