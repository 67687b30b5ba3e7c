"""`report.html`: one self-contained page that says what an experiment ran and what it found.

The page embeds plotly.js once (no CDN, no external URL: it opens offline) and shows, in order:

1. What was run: the experiment, scenario, policies, replications, months, measure,
   uncertainties, seed, runs done and failed, start and end, time per run, git commit.
2. The headline outcomes per policy: mean and 95% interval, as a table.
3. The welfare–privacy frontier: total welfare against mean exposure, one point per policy with
   95% intervals both ways, and the policies no other policy beats on both.
4. For each headline metric (`model.HEADLINE`): its monthly path per policy with a 95% band
   (mean ± t-interval over the runs at each month), beside the policies compared on its
   summarised value with 95% error bars (one point per grid cell for a grid).
5. With a sobol or morris design: the sensitivity indices of each headline metric (SALib).
6. Folded away: the other metrics over time, every metric's summary, the failed runs.

Every figure is labelled in plain words with the metric's unit from `model.METRICS`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative, sample_colorscale, unlabel_rgb
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from experiments.results import parquet_columns, read_parquet
from experiments.sensitivity import incomplete_samples, sensitivity_indices, valueless_samples
from experiments.spec import MEASURE
from experiments.summary import (
    grid_names,
    metric_columns,
    read_results,
    summarise_runs,
    t_half_width,
    write_text_atomic,
)
from model import HEADLINE, METRICS, MISSING

REPORT_FILE = "report.html"
WELFARE, PRIVACY = "total_welfare", "mean_exposure"
ACRONYMS = {"hhi": "HHI", "ai": "AI"}
NAMES = {
    "device_hhi": "Device-market concentration (HHI)",
    "platform_hhi": "Platform concentration (HHI)",
    "exposed_without_consent_share": "Share exposed without consent",
}
PALETTE = qualitative.Safe  # colour-blind safe, one colour per policy
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
# A small template keeps each figure's JSON short (plotly's own templates are ~8 kB apiece).
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "xaxis": {"gridcolor": "#e5e5e5", "linecolor": "#999", "zeroline": False},
        "yaxis": {"gridcolor": "#e5e5e5", "linecolor": "#999", "zeroline": False},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "hovermode": "closest",
    }
)


def metric_name(metric: str) -> str:
    """The metric's name in words: `mean_ai_quality` → "Mean AI quality"."""
    if metric in NAMES:
        return NAMES[metric]
    words = [ACRONYMS.get(word, word) for word in metric.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def metric_label(metric: str) -> str:
    """The metric's name in words with its unit: "Total welfare (CNY per user per month)"."""
    return f"{metric_name(metric)} ({METRICS[metric][1]})"


def describe_measure(measure: str) -> str:
    """What the summarised value of a run is, in words."""
    match = MEASURE.match(measure or "")
    if match is None:
        return str(measure)
    if match.group(2) is None:
        return f"{measure}: the value in the last month"
    return f"{measure}: the mean over the last {match.group(2)} months"


# ---------------------------------------------------------------------------------------------
# Numbers


def policy_order(runs: pd.DataFrame, manifest: dict) -> list[str]:
    """Policies in the experiment's order (the manifest's list, then any others in run order)."""
    listed = [
        p.get("name") or p.get("regime")
        for p in manifest.get("experiment", {}).get("policies", []) or []
        if isinstance(p, dict)
    ]
    seen = list(dict.fromkeys(runs.sort_values("run_id")["policy"]))
    return [p for p in listed if p in seen] + [p for p in seen if p not in listed]


def over_time(timeseries: pd.DataFrame, runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per policy and month, each metric's mean and 95% t-interval over the successful runs.

    Returns:
        Columns `policy`, `step`, and per metric `<metric>`, `<metric>_low`, `<metric>_high`.
    """
    ok = runs.loc[runs["status"] == "ok", ["run_id", "policy"]]
    frame = timeseries[["run_id", "step", *metrics]].merge(ok, on="run_id")
    grouped = frame.groupby(["policy", "step"], sort=True)[metrics]
    mean, sd, n = grouped.mean(), grouped.std(ddof=1), grouped.count()
    half = pd.DataFrame(t_half_width(sd.to_numpy(), n.to_numpy()), index=sd.index, columns=metrics)
    low, high = (mean - half).add_suffix("_low"), (mean + half).add_suffix("_high")
    return pd.concat([mean, low, high], axis=1).reset_index()


def frontier(points: pd.DataFrame) -> pd.DataFrame:
    """The policies no other beats on both welfare (higher) and exposure (lower), by exposure."""
    keep = []
    for i, row in points.iterrows():
        better = (points[PRIVACY] <= row[PRIVACY]) & (points[WELFARE] >= row[WELFARE])
        strictly = (points[PRIVACY] < row[PRIVACY]) | (points[WELFARE] > row[WELFARE])
        if not (better & strictly).drop(index=i).any():
            keep.append(i)
    return points.loc[keep].sort_values(PRIVACY)


# ---------------------------------------------------------------------------------------------
# Figures


def _colors(policies: list[str]) -> dict[str, str]:
    return {policy: PALETTE[i % len(PALETTE)] for i, policy in enumerate(policies)}


def _fade(color: str, alpha: float) -> str:
    red, green, blue = unlabel_rgb(color)
    return f"rgba({red:g}, {green:g}, {blue:g}, {alpha})"


def _title(text: str) -> dict:
    # Left-aligned, clear of the tool bar plotly shows at the top right on hover.
    return {"text": text, "font": {"size": 13}, "x": 0, "xanchor": "left"}


def _layout(fig: go.Figure, height: int, **layout) -> go.Figure:
    fig.update_layout(template=TEMPLATE, height=height, **layout)
    return fig


def time_figure(
    stats: pd.DataFrame, metric: str, policies: list[str], steps: int, window: int
) -> go.Figure:
    """The metric's monthly mean per policy with a 95% band; the measure's window shaded."""
    colors, fig = _colors(policies), go.Figure()
    for policy in policies:
        rows = stats[stats["policy"] == policy]
        if rows.empty:
            continue
        step = rows["step"].to_numpy()
        low, high = rows[f"{metric}_low"].to_numpy(), rows[f"{metric}_high"].to_numpy()
        band = np.isfinite(low) & np.isfinite(high)
        if band.any():
            fig.add_trace(
                go.Scatter(
                    x=np.concatenate([step[band], step[band][::-1]]),
                    y=np.concatenate([high[band], low[band][::-1]]),
                    fill="toself",
                    fillcolor=_fade(colors[policy], 0.2),
                    line={"width": 0},
                    hoverinfo="skip",
                    legendgroup=policy,
                    showlegend=False,
                    name=f"{policy} (95% interval)",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=step,
                y=rows[metric].to_numpy(),
                mode="lines",
                line={"color": colors[policy], "width": 2},
                name=policy,
                legendgroup=policy,
                customdata=np.column_stack([low, high]),
                hovertemplate=f"{policy}<br>month %{{x}}: %{{y:.4g}}"
                "<br>95% interval [%{customdata[0]:.4g}, %{customdata[1]:.4g}]<extra></extra>",
            )
        )
    if steps and window:
        fig.add_vrect(
            x0=steps - window + 0.5,
            x1=steps + 0.5,
            fillcolor="#999",
            opacity=0.12,
            line_width=0,
            annotation_text="summarised",
            annotation_position="top left",
        )
    return _layout(
        fig,
        380,
        title=_title("Over time (mean and 95% interval over runs)"),
        xaxis_title="Month",
        yaxis_title=metric_label(metric),
        legend={"orientation": "h", "y": -0.2},
    )


def comparison_figure(
    table: pd.DataFrame, metric: str, policies: list[str], cells: list[str]
) -> go.Figure:
    """The policies' summarised values with 95% error bars (one point per grid cell)."""
    rows = table[table["metric"] == metric]
    fig = go.Figure()
    groups = list(rows.groupby(cells, sort=False)) if cells else [((), rows)]
    # Cells in a sequential scale, apart from the policies' colours.
    cell_colors = sample_colorscale("Viridis", np.linspace(0, 0.85, max(len(groups), 2)))
    for i, (key, group) in enumerate(groups):
        group = group.set_index("policy").reindex(policies)
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{c} = {v}" for c, v in zip(cells, key, strict=True)) or "all runs"
        marker = {"size": 10}
        marker["color"] = cell_colors[i] if cells else list(_colors(policies).values())
        fig.add_trace(
            go.Scatter(
                x=policies,
                y=group["mean"].to_numpy(dtype=float),
                error_y={"type": "data", "array": group["ci_half_width"].to_numpy(dtype=float)},
                mode="markers",
                marker=marker,
                name=name,
                showlegend=bool(cells),
                customdata=np.column_stack(
                    [
                        group["ci_low"].to_numpy(dtype=float),
                        group["ci_high"].to_numpy(dtype=float),
                        group["n"].to_numpy(dtype=float),
                    ]
                ),
                hovertemplate="%{x}: %{y:.4g}<br>95% interval [%{customdata[0]:.4g}, "
                f"%{{customdata[1]:.4g}}]<br>runs: %{{customdata[2]}}<extra>{name}</extra>",
            )
        )
    layout = {}
    if cells:
        # Side by side per policy; grouping would otherwise stretch the axis down to zero.
        low = np.fmin(rows["ci_low"].to_numpy(float), rows["mean"].to_numpy(float))
        high = np.fmax(rows["ci_high"].to_numpy(float), rows["mean"].to_numpy(float))
        if np.isfinite(low).any():
            bottom, top = np.nanmin(low), np.nanmax(high)
            pad = 0.05 * (top - bottom) or 0.05 * abs(top) or 0.05
            layout = {"scattermode": "group", "yaxis_range": [bottom - pad, top + pad]}
    return _layout(
        fig,
        380,
        title=_title("Policies compared (mean and 95% interval)"),
        yaxis_title=metric_label(metric),
        legend={"orientation": "h", "y": -0.25},
        **layout,
    )


def frontier_figure(table: pd.DataFrame, policies: list[str]) -> go.Figure:
    """Total welfare against mean exposure, one point per policy with 95% intervals both ways."""
    wide = table.pivot(index="policy", columns="metric", values=["mean", "ci_half_width"])
    points = pd.DataFrame(
        {
            WELFARE: wide[("mean", WELFARE)],
            PRIVACY: wide[("mean", PRIVACY)],
            "welfare_half": wide[("ci_half_width", WELFARE)],
            "exposure_half": wide[("ci_half_width", PRIVACY)],
        }
    ).reindex(policies)
    colors, fig = _colors(policies), go.Figure()
    best = frontier(points.dropna(subset=[WELFARE, PRIVACY]))
    if len(best) > 1:
        fig.add_trace(
            go.Scatter(
                x=best[PRIVACY].to_numpy(),
                y=best[WELFARE].to_numpy(),
                mode="lines",
                line={"color": "#777", "dash": "dash"},
                name="frontier: no policy has both less exposure and more welfare",
                hoverinfo="skip",
            )
        )
    for policy, row in points.iterrows():
        fig.add_trace(
            go.Scatter(
                x=[row[PRIVACY]],
                y=[row[WELFARE]],
                error_x={"type": "data", "array": [row["exposure_half"]]},
                error_y={"type": "data", "array": [row["welfare_half"]]},
                mode="markers+text",
                text=[policy],
                textposition="top center",
                marker={"size": 12, "color": colors[policy]},
                name=policy,
                hovertemplate=f"{policy}<br>exposure %{{x:.4g}}<br>welfare %{{y:.4g}}"
                "<extra></extra>",
            )
        )
    return _layout(
        fig,
        480,
        xaxis_title=f"{metric_label(PRIVACY)} — less is more private",
        yaxis_title=metric_label(WELFARE),
        legend={"orientation": "h", "y": -0.2},
    )


def sensitivity_figure(
    indices: pd.DataFrame, metric: str, method: str, policies: list[str]
) -> go.Figure:
    """Bars of the sensitivity indices of one metric to each parameter, one colour per policy."""
    if method == "sobol":
        panels = [("S1", "S1_conf", "first order S1 (alone)"), ("ST", "ST_conf", "total ST")]
    else:
        panels = [("mu_star", "mu_star_conf", "μ* (mean |effect|)"), ("sigma", None, "σ")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[title for *_, title in panels])
    colors = _colors(policies)
    rows = indices[indices["metric"] == metric]
    for policy in policies:
        mine = rows[rows["policy"] == policy]
        for col, (value, conf, _) in enumerate(panels, start=1):
            error = {"type": "data", "array": mine[conf].to_numpy()} if conf else None
            fig.add_trace(
                go.Bar(
                    x=mine["parameter"].to_list(),
                    y=mine[value].to_numpy(),
                    error_y=error,
                    marker_color=colors[policy],
                    name=policy,
                    legendgroup=policy,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    unit = "share of variance" if method == "sobol" else METRICS[metric][1]
    fig.update_yaxes(title_text=unit, row=1, col=1)
    return _layout(fig, 360, barmode="group", legend={"orientation": "h", "y": -0.25})


# ---------------------------------------------------------------------------------------------
# HTML


def _e(value: object) -> str:
    return html.escape(str(value))


def _fmt(value: float) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.4g}"


def _interval(row: pd.Series) -> str:
    if not np.isfinite(row["mean"]):
        # No run had a value: say why where the metric can be missing (e.g. no requests).
        metric = row["metric"] if "metric" in row.index else row.name
        return MISSING.get(metric, "—") if row.get("n_missing", 0) else "—"
    if not np.isfinite(row["ci_half_width"]):
        return f"{_fmt(row['mean'])} (n = 1)"
    return f"{_fmt(row['mean'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"


def _describe(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k} = {_describe(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return "none" if value is None else str(value)


def _describe_policy(policy: object) -> str:
    if not isinstance(policy, dict):
        return str(policy)
    name, regime = policy.get("name") or policy.get("regime"), policy.get("regime")
    details = [f"regime {regime}"] if regime and regime != name else []
    if policy.get("levers"):
        details.append(_describe(policy["levers"]))
    return f"{name} ({'; '.join(details)})" if details else str(name)


def _describe_uncertainties(manifest: dict) -> str:
    design = manifest.get("design")
    if not design or not design.get("method"):
        uncertainties = manifest.get("experiment", {}).get("uncertainties")
        return _describe(uncertainties) if uncertainties else "none: every run has the same inputs"
    method, names = design.get("method"), design.get("names") or []
    count = len(design.get("matrix") or [])
    if method == "grid":
        values = design.get("values") or {}
        ranges = [f"{name} ∈ {{{', '.join(map(str, values.get(name, [])))}}}" for name in names]
        return f"grid of {count} cells: " + "; ".join(ranges)
    bounds = design.get("bounds") or []
    ranges = [f"{name} in [{lo}, {hi}]" for name, (lo, hi) in zip(names, bounds, strict=False)]
    return f"{method}, {count} samples: " + "; ".join(ranges)


def _duration(manifest: dict) -> str:
    try:
        started = datetime.fromisoformat(manifest["started"])
        finished = datetime.fromisoformat(manifest["finished"])
    except (KeyError, TypeError, ValueError):
        return "—"
    seconds = (finished - started).total_seconds()
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def header_rows(manifest: dict, failed: list[int]) -> list[tuple[str, str, str]]:
    """The header's rows: (label, element id, value), values from the manifest."""
    resolved = manifest.get("experiment", {})
    experiment = resolved.get("experiment", {})
    per_run = manifest.get("seconds_per_run") or {}
    timing = ", ".join(
        f"{_fmt(per_run[k])} s {k}" for k in ("mean", "median", "max") if per_run.get(k) is not None
    )
    ids = ", ".join(map(str, failed[:20])) + (" …" if len(failed) > 20 else "")
    return [
        ("Experiment", "experiment", experiment.get("name", "—")),
        ("Scenario", "scenario", _describe(resolved.get("scenario"))),
        ("Policies", "policies", "; ".join(map(_describe_policy, resolved.get("policies", [])))),
        ("Replications", "replications", experiment.get("replications", "—")),
        ("Months simulated", "steps", experiment.get("steps", "—")),
        ("Measure", "measure", describe_measure(experiment.get("measure", ""))),
        ("Uncertainties", "uncertainties", _describe_uncertainties(manifest)),
        ("Seed", "seed", experiment.get("seed", "—")),
        ("Runs planned", "runs-total", manifest.get("runs_total", "—")),
        ("Runs done", "runs-done", manifest.get("runs_done", "—")),
        ("Runs failed", "runs-failed", manifest.get("runs_failed", "—")),
        ("Failed run ids", "failed-ids", ids or "none"),
        ("Status", "status", manifest.get("status", "—")),
        ("Started", "started", manifest.get("started", "—")),
        ("Finished", "finished", manifest.get("finished", "—")),
        ("Wall time", "wall-time", _duration(manifest)),
        ("Time per run", "time-per-run", timing or "—"),
        ("Executor", "executor", _describe(manifest.get("executor"))),
        ("Git commit", "git-commit", manifest.get("git_commit") or "none (not a git checkout)"),
        ("Fingerprint", "fingerprint", manifest.get("fingerprint", "—")),
        ("Versions", "versions", _describe(manifest.get("versions"))),
    ]


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class _Figures:
    """Turns figures into page fragments with stable element ids (a report is reproducible)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: go.Figure) -> str:
        self.count += 1
        return pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            config=PLOT_CONFIG,
            div_id=f"figure-{self.count}",
            default_height=f"{fig.layout.height or 400}px",
        )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1280px; padding: 1em 2em;
       color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { margin-bottom: 0.1em; } p.meaning { color: #555; margin-top: 0.2em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
thead th { background: #f3f3f3; } table.header th { background: #f7f7f7; width: 12em; }
.pair { display: grid; grid-template-columns: 3fr 2fr; gap: 1em; }
.note { color: #555; font-size: 0.9em; } details { margin: 1em 0; } summary { cursor: pointer; }
"""

RESIZE = """
document.querySelectorAll('details').forEach(function (d) {
  d.addEventListener('toggle', function () {
    if (d.open) { d.querySelectorAll('.plotly-graph-div').forEach(function (g) {
      Plotly.Plots.resize(g); }); }
  });
});
"""


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_e(title)}</title>",
            f"<style>{STYLE}</style>",
            "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>",
            f'<script type="text/javascript">{get_plotlyjs()}</script>',
            "</head><body>",
            *body,
            f"<script>{RESIZE}</script>",
            "</body></html>",
        ]
    )


@dataclass
class _Report:
    """What every section of the page draws on, worked out once from the results folder."""

    manifest: dict
    runs: pd.DataFrame
    design: dict | None
    cells: list[str]  # grid parameters (empty unless a grid)
    policies: list[str]
    metrics: list[str]
    headline: list[str]
    pooled: pd.DataFrame  # summary per policy, over every cell and sample
    by_cell: pd.DataFrame  # summary per grid cell and policy (= pooled without a grid)
    stats: pd.DataFrame | None  # monthly means and intervals
    steps: int
    window: int  # months a run is summarised over
    figure: _Figures

    @classmethod
    def make(cls, manifest: dict, runs: pd.DataFrame, timeseries: pd.DataFrame | None):
        experiment = manifest.get("experiment", {}).get("experiment", {})
        design = manifest.get("design")
        design = design if design and design.get("method") else None  # None: nothing varied
        cells = grid_names(design)
        metrics = metric_columns(runs)
        pooled = summarise_runs(runs, None)
        stats = None
        if timeseries is not None and not timeseries.empty:
            stats = over_time(timeseries, runs, [m for m in metrics if m in timeseries.columns])
        last = int(stats["step"].max()) if stats is not None and not stats.empty else 0
        match = MEASURE.match(experiment.get("measure") or "")
        return cls(
            manifest=manifest,
            runs=runs,
            design=design,
            cells=cells,
            policies=policy_order(runs, manifest),
            metrics=metrics,
            headline=[m for m in HEADLINE if m in metrics],
            pooled=pooled,
            by_cell=summarise_runs(runs, design) if cells else pooled,
            stats=stats,
            steps=int(experiment.get("steps") or last),
            window=0 if match is None else int(match.group(2) or 1),
            figure=_Figures(),
        )

    @property
    def experiment(self) -> dict:
        return self.manifest.get("experiment", {}).get("experiment", {})

    @property
    def has_results(self) -> bool:
        """Whether any run succeeded with a value of a metric."""
        return bool(self.metrics) and bool(self.pooled["n"].gt(0).any())

    @property
    def failed(self) -> pd.DataFrame:
        return self.runs.loc[self.runs["status"] != "ok"].sort_values("run_id")

    # The notes under tables and figures: how the numbers were pooled.
    @property
    def measure_note(self) -> str:
        return f"A run's value is its {describe_measure(self.experiment.get('measure', ''))}."

    interval_note = "Intervals: 95% Student-t intervals of the mean over the runs."

    @property
    def pooled_note(self) -> str:
        if self.cells:
            return "A policy's runs are pooled over every grid cell."
        if self.design:
            return "A policy's runs pool its replications and uncertainty samples."
        return "A policy's runs are its replications."

    @property
    def cell_note(self) -> str:
        if self.cells:
            return "One row per grid cell and policy, over that cell's replications."
        return self.pooled_note


def _note(*sentences: str) -> str:
    return f'<p class="note">{_e(" ".join(sentences))}</p>'


def _header_section(report: _Report) -> list[str]:
    failed = report.failed["run_id"].astype(int).tolist()
    rows = "".join(
        f'<tr><th>{_e(label)}</th><td id="{key}">{_e(value)}</td></tr>'
        for label, key, value in header_rows(report.manifest, failed)
    )
    return ["<h2>What was run</h2>", f'<table class="header"><tbody>{rows}</tbody></table>']


def _outcomes_section(report: _Report) -> list[str]:
    parts = ["<h2>Headline outcomes</h2>"]
    if not report.has_results or not report.headline:
        return [*parts, _note("No successful run to summarise.")]
    keys = [*report.cells, "policy"]
    rows = []
    for key, group in report.by_cell.groupby(keys, sort=False):
        values = group.set_index("metric")
        rows.append([*map(str, key), *(_interval(values.loc[m]) for m in report.headline)])
    return [
        *parts,
        _table([*keys, *map(metric_label, report.headline)], rows),
        _note("Mean [95% interval].", report.cell_note, report.interval_note, report.measure_note),
        *_missing_notes(report.by_cell, report.headline, report.cells),
    ]


def _missing_notes(table: pd.DataFrame, metrics: list[str], cells: list[str]) -> list[str]:
    """One note per metric that some runs have no value of (e.g. no consent requests in the
    months measured): which policies, in how many runs, left out of the numbers shown."""
    notes = []
    for metric in metrics:
        rows = table[(table["metric"] == metric) & (table["n_missing"] > 0)]
        if rows.empty:
            continue
        where = "; ".join(
            f"{', '.join(str(row[c]) for c in [*cells, 'policy'])}: {row['note']}"
            for _, row in rows.iterrows()
        )
        notes.append(
            _note(
                f"{metric_name(metric)}: a run has no value when it had "
                f"{MISSING.get(metric, 'no value')} in the months it is summarised over, and "
                f"is left out of the mean and interval. {where}."
            )
        )
    return notes


def _frontier_section(report: _Report) -> list[str]:
    parts = ["<h2>Welfare and privacy</h2>"]
    if not report.has_results or not {WELFARE, PRIVACY} <= set(report.metrics):
        return [*parts, _note("No successful run with welfare and exposure.")]
    return [
        *parts,
        _note(
            "One point per policy: mean total welfare against mean third-party exposure, with "
            "95% intervals both ways. The dashed line joins the policies that no other policy "
            "beats on both (more welfare and less exposure, on the means).",
            report.pooled_note,
            report.interval_note,
        ),
        report.figure(frontier_figure(report.pooled, report.policies)),
    ]


def _metric_section(report: _Report, metric: str, with_comparison: bool) -> str:
    group, unit, meaning = METRICS[metric]
    parts = [
        f'<h3 id="metric-{metric}">{_e(metric_label(metric))}</h3>',
        f'<p class="meaning">{_e(meaning)}. Unit: {_e(unit)}. Group: {_e(group)}. '
        f"Column: <code>{_e(metric)}</code>.</p>",
    ]
    if metric in MISSING:
        parts.append(
            _note(
                f"Missing in a month with {MISSING[metric]}: a gap in a line is a month in "
                f"which no run of that policy had any; elsewhere a month's mean is over the runs "
                f"that had some."
            )
        )
    if report.stats is not None and metric in report.stats.columns:
        fig = time_figure(report.stats, metric, report.policies, report.steps, report.window)
        left = report.figure(fig)
    else:
        left = _note("No monthly values.")
    if not with_comparison:
        return "\n".join([*parts, left])
    fig = comparison_figure(report.by_cell, metric, report.policies, report.cells)
    right = report.figure(fig)
    return "\n".join([*parts, f'<div class="pair"><div>{left}</div><div>{right}</div></div>'])


def _metrics_section(report: _Report) -> list[str]:
    if not report.has_results or not report.headline:
        return []
    compared = (
        "Right: the summarised values compared, one point per grid cell. The monthly paths "
        "pool every grid cell."
        if report.cells
        else f"Right: the summarised values compared. {report.pooled_note}"
    )
    intro = _note(
        "Left: each month's mean over the runs of a policy, with its 95% interval as a band "
        "(none where a policy has a single run); the shaded months are the ones a run is "
        "summarised over.",
        compared,
        report.interval_note,
        report.measure_note,
    )
    sections = [_metric_section(report, metric, True) for metric in report.headline]
    return ["<h2>Headline metrics</h2>", intro, *sections]


def _sensitivity_section(report: _Report) -> list[str]:
    design = report.design
    if design is None or design.get("method") not in ("sobol", "morris"):
        return []
    if not report.has_results or not report.headline:
        return []
    method = design["method"]
    if method == "sobol":
        about = (
            "Sobol indices (SALib): S1 is the share of a metric's variance across the "
            "uncertainty samples that a parameter explains alone; ST the share it explains "
            "including its interactions."
        )
    else:
        about = (
            "Morris elementary effects (SALib): μ* is the mean absolute change of the metric, in "
            "its own unit, when the parameter moves across its whole range; σ their spread "
            "(large σ: non-linear or interacting)."
        )
    parts = [
        "<h2>Sensitivity to the uncertainties</h2>",
        _note(
            about,
            "Error bars: 95% bootstrap intervals.",
            "Each sample's value is the mean over its replications.",
        ),
    ]
    missing = {p: k for p, k in incomplete_samples(report.runs, design).items() if k}
    if missing:
        listed = ", ".join(f"{p}: {k}" for p, k in missing.items())
        parts.append(
            _note(
                f"Samples without a successful run ({listed}): the indices of those policies "
                "cannot be computed until every sample has one."
            )
        )
    indices = sensitivity_indices(report.runs, design, report.headline)
    for metric in report.headline:
        parts.append(f"<h3>{_e(metric_label(metric))}</h3>")
        valueless = {p: k for p, k in valueless_samples(report.runs, design, metric).items() if k}
        if valueless:
            listed = ", ".join(f"{p}: {k}" for p, k in valueless.items())
            parts.append(
                _note(
                    f"Samples whose runs all had {MISSING.get(metric, 'no value')} ({listed}): "
                    "no indices for those policies."
                )
            )
        parts.append(report.figure(sensitivity_figure(indices, metric, method, report.policies)))
    columns = [c for c in indices.columns if c not in ("policy", "metric", "parameter")]
    rows = [
        [row.policy, metric_label(row.metric), row.parameter, *(_fmt(row[c]) for c in columns)]
        for _, row in indices.iterrows()
    ]
    return [
        *parts,
        "<details><summary>The indices as a table</summary>",
        _table(["policy", "metric", "parameter", *columns], rows),
        "</details>",
    ]


def _folded(title: str, parts: list[str]) -> list[str]:
    summary = f"<summary><h2 style='display:inline'>{_e(title)}</h2></summary>"
    return [f"<details>{summary}", *parts, "</details>"]


def _appendix(report: _Report) -> list[str]:
    parts = []
    others = [m for m in report.metrics if m not in report.headline]
    if others and report.stats is not None and report.has_results:
        sections = [_metric_section(report, metric, False) for metric in others]
        parts += _folded("Other metrics over time", sections)
    if report.has_results:
        keys = [*report.cells, "policy"]
        rows = [
            [
                *(str(row[c]) for c in keys),
                metric_label(row["metric"]),
                _interval(row),
                str(row["n"]),
                str(row.get("n_missing", 0)),
                str(row["n_failed"]),
                str(row.get("note", "")),
            ]
            for _, row in report.by_cell.iterrows()
        ]
        header = [*keys, "metric", "mean [95% interval]", "runs", "no value", "failed", "note"]
        parts += _folded("Every metric", [_table(header, rows)])
    failed = report.failed
    if not failed.empty:
        errors = failed["error"] if "error" in failed else pd.Series("", index=failed.index)
        rows = [
            [
                str(row["run_id"]),
                str(row["policy"]),
                str(row.get("replication", "")),
                str(row.get("sample", "")),
                _last_line(errors[i])[:300],
            ]
            for i, row in failed.iterrows()
        ]
        table = _table(["run", "policy", "replication", "sample", "error"], rows)
        parts += _folded("Failed runs", [table])
    return parts


def _last_line(error: object) -> str:
    """The last line of an error (a traceback ends with the exception and its message)."""
    lines = str(error or "").strip().splitlines()
    return lines[-1] if lines else ""


def render_report(manifest: dict, runs: pd.DataFrame, timeseries: pd.DataFrame | None) -> str:
    """The report page for a results folder's manifest, runs and monthly metrics."""
    report = _Report.make(manifest, runs, timeseries)
    name = report.experiment.get("name", "experiment")
    body = [f"<h1>{_e(name)}</h1>"]
    for section in (
        _header_section,
        _outcomes_section,
        _frontier_section,
        _metrics_section,
        _sensitivity_section,
        _appendix,
    ):
        body += section(report)
    return _page(f"{name}: report", body)


def build_report(directory: Path | str) -> Path:
    """Write the results folder's `report.html` (atomically) and return its path.

    Raises:
        FileNotFoundError: the folder lacks `manifest.json` or `runs.parquet`.
        ResultsError: the manifest, runs.parquet or timeseries.parquet is damaged.
    """
    directory = Path(directory)
    manifest, runs = read_results(directory)
    path = directory / "timeseries.parquet"
    timeseries = None
    if path.exists():
        # Only the columns the report draws: a large sweep's monthly table need not all load.
        present = set(parquet_columns(path))
        wanted = [c for c in ["run_id", "step", *metric_columns(runs)] if c in present]
        timeseries = read_parquet(path, columns=wanted)
    return write_text_atomic(directory / REPORT_FILE, render_report(manifest, runs, timeseries))
