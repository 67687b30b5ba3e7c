"""report.html: self-contained, complete, and faithful to the results folder it is built from.

The folders are made here the way the runner lays them out, from real runs of small markets
(`experiments.spec.run_one`), one of them failing on an invalid parameter.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from experiments.report import build_report, frontier, metric_label, over_time
from experiments.spec import RunSpec, run_one
from model import DEFAULT_SCENARIO, HEADLINE, METRICS, get_regime

POLICIES = ("click_through", "informed_consent")
STEPS, N_USERS, MEASURE = 12, 300, "mean_last_3"


def _spec(run_id, policy, replication, sample=0, sampled=None, n_users=N_USERS) -> RunSpec:
    return RunSpec(
        run_id=run_id,
        policy=policy,
        regime=get_regime(policy),
        replication=replication,
        sample=sample,
        seed=1000 + run_id,
        scenario=DEFAULT_SCENARIO,
        fixed={"n_users": n_users},
        sampled=dict(sampled or {}),
        steps=STEPS,
        measure=MEASURE,
    )


def write_folder(directory: Path, specs: list[RunSpec], design: dict | None) -> dict:
    """Play the runs and write a results folder as the runner does; return its manifest."""
    rows, series, firms = [], [], []
    for spec in specs:
        row = {
            "run_id": spec.run_id,
            "policy": spec.policy,
            "regime": spec.regime.name,
            "replication": spec.replication,
            "sample": spec.sample,
            "seed": spec.seed,
            **spec.sampled,
        }
        try:
            output = run_one(spec)
        except ValueError as error:
            row.update({name: np.nan for name in METRICS})
            row.update(status="failed", error=f"ValueError: {error}", seconds=0.0)
        else:
            row.update(output.summary)
            row.update(status="ok", error="", seconds=output.seconds)
            series.append(output.timeseries)
            firms.append(output.firms)
        rows.append(row)
    runs = pd.DataFrame(rows)
    directory.mkdir(parents=True, exist_ok=True)
    runs.to_parquet(directory / "runs.parquet")
    if series:  # a sweep where every run failed has no monthly records
        pd.concat(series).to_parquet(directory / "timeseries.parquet")
        pd.concat(firms).to_parquet(directory / "firms.parquet")
    failed = int((runs["status"] == "failed").sum())
    manifest = {
        "experiment": {
            "experiment": {
                "name": f"test_{directory.name}",
                "steps": STEPS,
                "replications": int(runs["replication"].max()) + 1,
                "seed": 20170803,
                "measure": MEASURE,
            },
            "scenario": {"preset": DEFAULT_SCENARIO, "n_users": N_USERS},
            "policies": [
                {"name": p, "regime": p, "levers": {}} for p in dict.fromkeys(runs["policy"])
            ],
            "uncertainties": None,
        },
        "fingerprint": "f00dfeed",
        "design": design,
        "versions": {"python": "3.12.1", "mesa": "3.5.1"},
        "git_commit": "0123456789abcdef",
        "started": "2026-03-01T10:00:00",
        "finished": "2026-03-01T10:01:05",
        "status": "complete",
        "runs_total": len(runs),
        "runs_done": len(runs) - failed,
        "runs_failed": failed,
        "seconds_per_run": {"mean": 0.1, "median": 0.1, "max": 0.2},
        "executor": {"backend": "local", "workers": 1},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two policies × two replications, and a third informed-consent run that fails."""
    directory = tmp_path_factory.mktemp("policies")
    specs = [_spec(4 * i + r, p, r) for i, p in enumerate(POLICIES) for r in range(2)]
    specs.append(_spec(99, "informed_consent", 2, n_users=-5))
    write_folder(directory, specs, None)
    build_report(directory)
    return directory


@pytest.fixture(scope="module")
def page(folder) -> str:
    return (folder / "report.html").read_text(encoding="utf-8")


def _without_plotlyjs(text: str) -> str:
    return text.replace(get_plotlyjs(), "")


def test_the_report_embeds_plotlyjs_once_and_loads_nothing_from_outside(folder, page):
    assert (folder / "report.html").stat().st_size > len(get_plotlyjs())
    assert page.count(get_plotlyjs()) == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=", page, re.IGNORECASE)
    rest = _without_plotlyjs(page)
    for external in ("cdn.plot.ly", "https://", "http://", "//cdn"):
        assert external not in rest, f"{external} outside the embedded plotly.js"
    # Every figure is drawn by the embedded library.
    assert rest.count("Plotly.newPlot(") >= 2 * len(HEADLINE) + 1


def test_the_report_names_every_policy_and_headline_metric(page):
    rest = _without_plotlyjs(page)
    for policy in POLICIES:
        assert rest.count(policy) >= 3, f"{policy} missing from the report"
    for metric in HEADLINE:
        _, unit, meaning = METRICS[metric]
        assert unit in metric_label(metric)
        assert html.escape(metric_label(metric)) in rest
        assert html.escape(meaning) in rest, f"{metric}'s meaning is not on the page"
    assert "welfare" in rest.lower() and "exposure" in rest.lower()


def _header(page: str, key: str) -> str:
    match = re.search(rf'<td id="{key}">(.*?)</td>', page)
    assert match, f"no header row {key}"
    return html.unescape(match.group(1))


def test_the_header_says_what_was_run(folder, page):
    manifest = json.loads((folder / "manifest.json").read_text())
    experiment = manifest["experiment"]["experiment"]
    assert _header(page, "runs-done") == str(manifest["runs_done"]) == "4"
    assert _header(page, "runs-failed") == str(manifest["runs_failed"]) == "1"
    assert _header(page, "runs-total") == "5"
    assert _header(page, "failed-ids") == "99"
    assert _header(page, "experiment") == experiment["name"]
    assert _header(page, "replications") == str(experiment["replications"])
    assert _header(page, "steps") == str(STEPS)
    assert _header(page, "seed") == "20170803"
    assert _header(page, "measure").startswith(MEASURE) and "last 3 months" in page
    assert _header(page, "git-commit") == manifest["git_commit"]
    assert _header(page, "started") == manifest["started"]
    assert _header(page, "wall-time") == "1 min 5 s"
    assert "0.1 s mean" in _header(page, "time-per-run")
    for policy in POLICIES:
        assert policy in _header(page, "policies")
    assert DEFAULT_SCENARIO in _header(page, "scenario")
    # The failed run's error is shown, not hidden.
    assert "n_users=-5" in page


def test_monthly_bands_are_the_t_interval_over_the_successful_runs(folder):
    runs = pd.read_parquet(folder / "runs.parquet")
    series = pd.read_parquet(folder / "timeseries.parquet")
    stats = over_time(series, runs, ["total_welfare"])
    for policy in POLICIES:
        ids = runs[(runs["policy"] == policy) & (runs["status"] == "ok")]["run_id"]
        assert len(ids) == 2
        a, b = (series[series["run_id"] == i].set_index("step")["total_welfare"] for i in ids)
        mine = stats[stats["policy"] == policy].set_index("step")
        assert np.allclose(mine["total_welfare"], (a + b) / 2)
        # Two runs: sd/√n = |a − b| / 2; t(0.975, 1) = 12.706205 from a printed table.
        half = 12.706205 * (a - b).abs() / 2
        assert np.allclose(mine["total_welfare_high"], (a + b) / 2 + half, rtol=1e-6)
        assert np.allclose(mine["total_welfare_low"], (a + b) / 2 - half, rtol=1e-6)


def test_the_frontier_keeps_the_policies_nothing_beats_on_both():
    points = pd.DataFrame(
        {"mean_exposure": [0.5, 0.3, 0.6, 0.3], "total_welfare": [10.0, 8.0, 9.0, 7.0]},
        index=["a", "b", "c", "d"],
    )
    # c has more exposure and less welfare than a; d the same exposure as b and less welfare.
    assert list(frontier(points).index) == ["b", "a"]


def test_the_report_is_rebuilt_identically_and_written_atomically(folder, page, tmp_path):
    build_report(folder)
    assert (folder / "report.html").read_text(encoding="utf-8") == page
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    (tmp_path / "runs.parquet").write_bytes((folder / "runs.parquet").read_bytes())
    with pytest.raises(FileNotFoundError, match="manifest"):
        build_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("method", ["sobol", "morris"])
def test_sensitivity_designs_get_their_indices(tmp_path, method):
    names, bounds = ["leakage", "mean_degree"], [[0.0, 0.6], [5.0, 30.0]]
    problem = {"num_vars": 2, "names": names, "bounds": bounds}
    if method == "sobol":
        X = sobol_sample.sample(problem, 2, calc_second_order=False, seed=5)
    else:
        X = morris_sample.sample(problem, 2, num_levels=4, seed=5)
    design = {"method": method, "names": names, "bounds": bounds, "matrix": X.tolist()}
    specs = [
        _spec(i, "click_through", 0, sample=i, sampled=dict(zip(names, map(float, x), strict=True)))
        for i, x in enumerate(X)
    ]
    write_folder(tmp_path, specs, design)
    text = _without_plotlyjs(build_report(tmp_path).read_text(encoding="utf-8"))
    assert "Sensitivity to the uncertainties" in text
    assert f"{method}, {len(X)} samples" in _header(text, "uncertainties")
    indices = ("S1", "ST") if method == "sobol" else ("mu_star", "sigma")
    for column in indices:
        assert f"<th>{column}</th>" in text
    for name in names:
        assert f"<td>{name}</td>" in text  # a row of the indices table per parameter
    # One bar chart per headline metric, besides the two per metric and the frontier.
    assert text.count("Plotly.newPlot(") >= 3 * len(HEADLINE) + 1


def test_a_grid_compares_policies_cell_by_cell(tmp_path):
    cells = [0.0, 0.6]
    combinations = [(s, v, p, r) for s, v in enumerate(cells) for p in POLICIES for r in range(2)]
    specs = [
        _spec(k, policy, r, sample=s, sampled={"leakage": leakage})
        for k, (s, leakage, policy, r) in enumerate(combinations)
    ]
    design = {"method": "grid", "names": ["leakage"], "values": {"leakage": cells}}
    design["matrix"] = [[c] for c in cells]
    write_folder(tmp_path, specs, design)
    text = _without_plotlyjs(build_report(tmp_path).read_text(encoding="utf-8"))
    assert "grid of 2 cells" in _header(text, "uncertainties")
    for leakage in cells:
        assert f"leakage = {leakage}" in text  # a comparison series per cell
    # The headline table has a row per cell and policy, with the cell's value first.
    for leakage in cells:
        for policy in POLICIES:
            assert f"<tr><td>{leakage}</td><td>{policy}</td>" in text


def test_a_sweep_where_every_run_failed_still_gets_a_report(tmp_path):
    specs = [_spec(k, "click_through", k, n_users=-5) for k in range(2)]
    manifest = write_folder(tmp_path, specs, None)
    assert not (tmp_path / "timeseries.parquet").exists()
    text = _without_plotlyjs(build_report(tmp_path).read_text(encoding="utf-8"))
    assert _header(text, "runs-failed") == str(manifest["runs_failed"]) == "2"
    assert _header(text, "failed-ids") == "0, 1"
    assert "No successful run to summarise." in text
    assert "Plotly.newPlot(" not in text
    assert text.count("n_users=-5") >= 2  # each failure's message, in the failed-runs table


def test_a_policy_without_consent_requests_says_so(tmp_path):
    """Under a ban nobody is asked for consent: its consent rate is shown as "no consent
    requests", not as a number or a bare dash, with how many runs, and its monthly line has
    no points (a gap), while click-through's has."""
    specs = [
        _spec(2 * i + r, p, r) for i, p in enumerate(("click_through", "ban")) for r in range(2)
    ]
    write_folder(tmp_path, specs, None)
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    assert runs.loc[runs["policy"] == "ban", "consent_rate"].isna().all()
    assert runs.loc[runs["policy"] == "click_through", "consent_rate"].notna().all()
    text = _without_plotlyjs(build_report(tmp_path).read_text(encoding="utf-8"))
    headline = text[text.index("<h2>Headline outcomes</h2>") : text.index("<h2>Welfare")]
    ban_row = re.search(r"<tr><td>ban</td>(.*?)</tr>", headline).group(1)
    cells = re.findall(r"<td>(.*?)</td>", ban_row)
    assert cells[HEADLINE.index("consent_rate")] == "no consent requests"
    assert "Consent rate: a run has no value when it had no consent requests" in headline
    assert "ban: no consent requests (all 2 runs)" in headline
    stats = over_time(pd.read_parquet(tmp_path / "timeseries.parquet"), runs, ["consent_rate"])
    assert stats.loc[stats["policy"] == "ban", "consent_rate"].isna().all()
    assert stats.loc[stats["policy"] == "click_through", "consent_rate"].notna().any()
