"""summary.csv: means and 95% t-intervals per policy (and grid cell), checked by hand.

The expected numbers are worked out by hand from the tables below. Student-t quantiles from a
printed table: t(0.975, 1) = 12.706205, t(0.975, 2) = 4.302653, t(0.975, 3) = 3.182446.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from experiments.summary import summarise_runs, write_summary
from model import METRICS

T1, T2 = 12.706205, 4.302653


def _runs(rows: list[tuple]) -> pd.DataFrame:
    """A runs table from (policy, status, total_welfare, mean_exposure[, extra columns]) rows."""
    frame = pd.DataFrame(
        [r[:4] for r in rows], columns=["policy", "status", "total_welfare", "mean_exposure"]
    )
    frame.insert(0, "run_id", range(len(frame)))
    frame["error"] = np.where(frame["status"] == "failed", "ValueError: boom", "")
    return frame


# Hand-made: click_through has three good runs and one failed run with a wild value;
# informed_consent two runs; data_trust one; ban only a failed run.
POOLED = _runs(
    [
        ("click_through", "ok", 1.0, 0.2),
        ("click_through", "ok", 2.0, 0.4),
        ("click_through", "failed", 1000.0, 9.0),
        ("click_through", "ok", 3.0, 0.6),
        ("informed_consent", "ok", 10.0, 0.1),
        ("informed_consent", "ok", 14.0, 0.3),
        ("data_trust", "ok", 5.0, 0.5),
        ("ban", "failed", np.nan, np.nan),
    ]
)


def _row(table: pd.DataFrame, policy: str, metric: str, **cell) -> pd.Series:
    mask = (table["policy"] == policy) & (table["metric"] == metric)
    for name, value in cell.items():
        mask &= table[name] == value
    assert mask.sum() == 1, f"expected one row for {policy}, {metric}, {cell}"
    return table[mask].iloc[0]


def test_means_and_intervals_match_a_hand_computation():
    table = summarise_runs(POOLED, None)
    row = _row(table, "click_through", "total_welfare")
    # mean 2, sd 1, half-width t(0.975, 2) · 1 / √3
    assert row["mean"] == pytest.approx(2.0)
    assert row["sd"] == pytest.approx(1.0)
    assert row["ci_half_width"] == pytest.approx(T2 / math.sqrt(3), rel=1e-6)
    assert row["ci_low"] == pytest.approx(2.0 - 2.484138, rel=1e-5)
    assert row["ci_high"] == pytest.approx(2.0 + 2.484138, rel=1e-5)
    assert (row["n"], row["n_failed"]) == (3, 1)

    row = _row(table, "click_through", "mean_exposure")  # mean 0.4, sd 0.2
    assert row["mean"] == pytest.approx(0.4)
    assert row["ci_half_width"] == pytest.approx(T2 * 0.2 / math.sqrt(3), rel=1e-6)

    row = _row(table, "informed_consent", "total_welfare")  # sd √8, sd/√2 = 2
    assert row["mean"] == pytest.approx(12.0)
    assert row["sd"] == pytest.approx(math.sqrt(8))
    assert row["ci_half_width"] == pytest.approx(2 * T1, rel=1e-6)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((12 - 25.41241, 12 + 25.41241))
    assert (row["n"], row["n_failed"]) == (2, 0)

    row = _row(table, "informed_consent", "mean_exposure")  # sd √0.02, sd/√2 = 0.1
    assert row["ci_half_width"] == pytest.approx(0.1 * T1, rel=1e-6)


def test_failed_runs_are_left_out_and_counted():
    table = summarise_runs(POOLED, None)
    welfare = _row(table, "click_through", "total_welfare")
    assert welfare["mean"] < 10  # the failed run's 1000 would pull the mean to 251.5
    assert welfare["n_failed"] == 1
    ban = _row(table, "ban", "total_welfare")
    assert (ban["n"], ban["n_failed"]) == (0, 1)
    assert math.isnan(ban["mean"]) and math.isnan(ban["ci_low"])
    assert ban["note"] == "no successful run"


def test_a_single_run_has_no_interval_and_says_so():
    row = _row(summarise_runs(POOLED, None), "data_trust", "total_welfare")
    assert row["mean"] == pytest.approx(5.0) and row["n"] == 1
    assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
    assert math.isnan(row["ci_half_width"])
    assert "n = 1" in row["note"]


def test_rows_are_long_with_units_and_in_experiment_order():
    table = summarise_runs(POOLED, None)
    assert len(table) == 4 * 2  # four policies × the two metrics in the table
    assert list(table["metric"]) == ["total_welfare"] * 4 + ["mean_exposure"] * 4
    order = ["click_through", "informed_consent", "data_trust", "ban"]
    assert list(table["policy"][:4]) == order
    for _, row in table.iterrows():
        assert row["unit"] == METRICS[row["metric"]][1]
        assert row["group"] == METRICS[row["metric"]][0]
    for column in ("mean", "ci_low", "ci_high", "n", "n_missing", "n_failed", "note"):
        assert column in table.columns


def test_grid_cells_are_summarised_separately():
    runs = _runs(
        [
            ("click_through", "ok", 1.0, 0.1),
            ("click_through", "ok", 3.0, 0.3),
            ("click_through", "ok", 5.0, 0.5),
            ("click_through", "ok", 9.0, 0.7),
            ("click_through", "failed", np.nan, np.nan),
            ("ban", "ok", 2.0, 0.0),
            ("ban", "ok", 2.0, 0.0),
        ]
    )
    runs["leakage"] = [0.0, 0.0, 0.6, 0.6, 0.6, 0.0, 0.6]
    runs["mean_degree"] = [5, 5, 5, 5, 5, 5, 5]
    design = {
        "method": "grid",
        "names": ["leakage", "mean_degree"],
        "values": {"leakage": [0.0, 0.6], "mean_degree": [5]},
        "matrix": [[0.0, 5], [0.6, 5]],
    }
    table = summarise_runs(runs, design)
    assert {"leakage", "mean_degree"} <= set(table.columns)
    assert len(table) == 2 * 2 * 2  # cells × metrics × policies
    low = _row(table, "click_through", "total_welfare", leakage=0.0)
    high = _row(table, "click_through", "total_welfare", leakage=0.6)
    assert (low["mean"], low["n"], low["n_failed"]) == (2.0, 2, 0)
    assert (high["mean"], high["n"], high["n_failed"]) == (7.0, 2, 1)
    # sd of (5, 9) is √8, so the half-width is t(0.975, 1) · 2
    assert high["ci_half_width"] == pytest.approx(2 * T1, rel=1e-6)
    single = _row(table, "ban", "total_welfare", leakage=0.6)
    assert (single["mean"], single["n"]) == (2.0, 1)
    # The cell comes first in the file: all of leakage = 0.0 before leakage = 0.6.
    assert list(table["leakage"]) == [0.0] * 4 + [0.6] * 4


def test_sampled_designs_other_than_grids_pool_per_policy():
    runs = _runs([("click_through", "ok", 1.0, 0.1), ("click_through", "ok", 3.0, 0.3)])
    runs["leakage"] = [0.1, 0.5]
    design = {"method": "lhs", "names": ["leakage"], "bounds": [[0, 1]], "matrix": [[0.1], [0.5]]}
    table = summarise_runs(runs, design)
    assert "leakage" not in table.columns
    assert _row(table, "click_through", "total_welfare")["mean"] == pytest.approx(2.0)


def _folder(tmp_path, runs, design=None):
    (tmp_path / "manifest.json").write_text(json.dumps({"experiment": {}, "design": design}))
    runs.to_parquet(tmp_path / "runs.parquet")
    return tmp_path


def test_write_summary_writes_a_complete_csv_and_no_temporary_file(tmp_path):
    path = write_summary(_folder(tmp_path, POOLED))
    assert path == tmp_path / "summary.csv"
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    row = _row(back, "informed_consent", "total_welfare")
    assert row["mean"] == pytest.approx(12.0)
    assert row["ci_high"] == pytest.approx(12 + 25.41241, rel=1e-6)
    assert row["unit"] == "CNY per user per month"
    assert "n = 1" in _row(back, "data_trust", "mean_exposure")["note"]
    # As readable as any file made here (a temporary file alone would be private).
    (tmp_path / "plain.txt").write_text("")
    assert path.stat().st_mode == (tmp_path / "plain.txt").stat().st_mode
    (tmp_path / "plain.txt").unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json",
        "runs.parquet",
        "summary.csv",
    ]


def test_write_summary_refuses_a_folder_without_runs(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"runs\.parquet"):
        write_summary(tmp_path)
    assert not (tmp_path / "summary.csv").exists()


def test_runs_without_consent_requests_are_counted_not_averaged():
    """consent_rate is NaN in a run whose measured months had no consent requests: such runs
    are left out of the mean and interval, counted in n_missing, and the note says so; a policy
    where no run had requests has no mean, and its note says why."""
    runs = _runs(
        [
            ("click_through", "ok", 1.0, 0.2),
            ("click_through", "ok", 2.0, 0.4),
            ("click_through", "ok", 3.0, 0.6),
            ("informed_consent", "ok", 10.0, 0.1),
            ("informed_consent", "ok", 14.0, 0.3),
            ("ban", "ok", 2.0, 0.0),
            ("ban", "ok", 2.5, 0.0),
            ("ban", "failed", np.nan, np.nan),
        ]
    )
    runs["consent_rate"] = [0.9, np.nan, 0.7, 0.5, 0.6, np.nan, np.nan, np.nan]
    table = summarise_runs(runs, None)
    click = _row(table, "click_through", "consent_rate")
    assert click["mean"] == pytest.approx(0.8)  # (0.9 + 0.7) / 2: the NaN run is left out
    assert click["ci_half_width"] == pytest.approx(T1 * math.sqrt(0.02) / math.sqrt(2))
    assert (click["n"], click["n_missing"], click["n_failed"]) == (2, 1, 0)
    assert click["note"] == "no consent requests in 1 of 3 runs (left out)"
    informed = _row(table, "informed_consent", "consent_rate")
    assert (informed["n"], informed["n_missing"], informed["note"]) == (2, 0, "")
    ban = _row(table, "ban", "consent_rate")
    assert math.isnan(ban["mean"]) and math.isnan(ban["ci_low"])
    assert (ban["n"], ban["n_missing"], ban["n_failed"]) == (0, 2, 1)
    assert ban["note"] == "no consent requests (all 2 runs)"
    # Other metrics of the same runs are untouched.
    assert _row(table, "ban", "total_welfare")["n_missing"] == 0


def test_a_run_is_missing_consent_rate_only_when_no_measured_month_had_requests():
    """`summarise` over the last K months: months without requests (NaN) are left out of the
    run's mean; a run all of whose K months had none gets NaN, not 0."""
    from experiments.spec import summarise

    months = pd.DataFrame({name: np.linspace(0.1, 0.6, 6) for name in METRICS})
    months["consent_rate"] = [0.5, np.nan, 0.9, 0.7, np.nan, np.nan]
    assert summarise(months, "mean_last_4")["consent_rate"] == pytest.approx((0.9 + 0.7) / 2)
    assert math.isnan(summarise(months, "mean_last_2")["consent_rate"])
    assert math.isnan(summarise(months, "final")["consent_rate"])
    assert summarise(months, "mean_last_2")["total_welfare"] == pytest.approx(0.55)
