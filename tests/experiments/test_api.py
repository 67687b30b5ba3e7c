"""experiments.api: one call runs an experiment from Python, and its results read back as tables.

It must give what `datamarket run` gives: the same runs and seeds, into a folder the readers and
the CLI accept.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.api import Results, open_results, run
from experiments.config import ConfigError, experiment_from_dict
from experiments.design import compile_runs
from experiments.results import ResultsError
from model import METRICS

ROOT = Path(__file__).resolve().parents[2]


def small_experiment(**uncertainties) -> dict:
    """Two policies × two replications of 300 users over 6 months."""
    data = {
        "experiment": {"name": "api_test", "steps": 6, "replications": 2, "seed": 7},
        "scenario": {"preset": "tencent_huawei_2017", "n_users": 300},
        "policies": [{"regime": "click_through"}, {"regime": "ban"}],
        "execution": {"workers": 1},
    }
    if uncertainties:
        data["uncertainties"] = uncertainties
    return data


def test_run_from_a_dict_writes_a_complete_folder(tmp_path):
    results = run(small_experiment(), out=tmp_path / "out")
    assert isinstance(results, Results)
    assert (tmp_path / "out" / "runs.parquet").exists()
    assert (tmp_path / "out" / "summary.csv").exists()
    assert not (tmp_path / "out" / "report.html").exists()
    runs = results.runs
    assert len(runs) == 4 and (runs["status"] == "ok").all()
    assert set(METRICS) <= set(runs.columns)
    expected = compile_runs(experiment_from_dict(small_experiment()))
    assert runs["seed"].tolist() == [spec.seed for spec in expected]
    assert results.timeseries["step"].max() == 6
    assert set(results.firms["kind"]) >= {"platform", "maker"}
    assert set(results.summary["policy"]) == {"click_through", "ban"}
    assert results.manifest["status"] == "complete"


def test_run_from_a_file_matches_the_same_experiment_from_its_dict(tmp_path):
    text = (
        "[experiment]\nname = 'api_test'\nsteps = 6\nreplications = 2\nseed = 7\n"
        "[scenario]\npreset = 'tencent_huawei_2017'\nn_users = 300\n"
        "[[policies]]\nregime = 'click_through'\n[[policies]]\nregime = 'ban'\n"
    )
    file = tmp_path / "small.toml"
    file.write_text(text)
    from_file = run(file, out=tmp_path / "file", workers=1)
    from_dict = run(small_experiment(), out=tmp_path / "dict")
    columns = ["run_id", "policy", "seed", *METRICS]
    assert from_file.runs[columns].equals(from_dict.runs[columns])


def test_sensitivity_of_a_morris_design(tmp_path):
    data = small_experiment(method="morris", samples=2, leakage=[0.0, 0.6])
    data["experiment"]["replications"] = 1
    results = run(data, out=tmp_path / "morris")
    indices = results.sensitivity(["total_welfare"])
    assert set(indices["policy"]) == {"click_through", "ban"}
    assert set(indices["parameter"]) == {"leakage"}
    assert {"mu_star", "sigma"} <= set(indices.columns)


def test_open_results_reads_a_folder_and_refuses_what_is_not_one(tmp_path):
    run(small_experiment(), out=tmp_path / "out")
    assert len(open_results(tmp_path / "out").runs) == 4
    with pytest.raises(ResultsError, match="not a results folder"):
        open_results(tmp_path)


def test_bad_experiment_and_occupied_folder_are_refused(tmp_path):
    bad = small_experiment()
    bad["policies"][0]["regime"] = "laissez_faire"
    with pytest.raises(ConfigError, match=r"policies\[0\]\.regime"):
        run(bad, out=tmp_path / "bad")
    run(small_experiment(), out=tmp_path / "out")
    with pytest.raises(ResultsError, match="already holds results"):
        run(small_experiment(), out=tmp_path / "out")


def test_failed_runs_are_recorded_and_warned_about(tmp_path, monkeypatch):
    def broken(spec):
        raise RuntimeError("no market today")

    monkeypatch.setattr("experiments.runner.run_one", broken)
    with pytest.warns(RuntimeWarning, match="4 of 4 runs failed.*no market today"):
        results = run(small_experiment(), out=tmp_path / "out")
    assert (results.runs["status"] == "failed").all()
