"""The browser lab: pick a scenario and a regime, move the levers, watch the market month by month.

Serve it (on 127.0.0.1; nothing is fetched from the internet at run time once Solara's asset
cache is filled, see ../shared/ENVIRONMENT.md)::

    .venv/bin/datamarket viz                      # --port 8765 --host 127.0.0.1
    .venv/bin/solara run app.py --host 127.0.0.1 --port 8765 --no-check-version

In Jupyter, the same page displays inline::

    from app import page
    page

How to use it: the sidebar's "Model Parameters" set the next run (scenario, regime, levers that
override the regime's own, uncertainties, seed); **Reset** builds it, **Step** plays one month,
▶ plays on, ❚❚ pauses. Levers left at "as in the regime" keep the preset's setting; any other
choice makes a custom regime, ``get_regime(regime).replace(**levers)``. The comparison panel's
"Compare regimes" button runs every preset regime from the same seed, scenario and
uncertainties in a background thread, for as many months as the current run has played.

The page makes no connection out of the machine: `no_calls_home` turns Solara's calls home off
when this module is imported, which is before Solara's server or a notebook could make them.
Only `solara run`'s own check for a newer Solara on PyPI happens before any app is loaded, so
`--no-check-version` turns it off (``datamarket viz`` passes it).

The number of users starts at 20,000, or at $DATAMARKET_VIZ_USERS where that is set (the
end-to-end tests use it to start smaller). The figures are built by `experiments.viz`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import solara
import solara.checks
import solara.server.settings
import solara.server.telemetry
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter
from plotly.graph_objs import FigureWidget
from plotly.io.json import to_json_plotly

from experiments.viz import (
    AS_REGIME,
    DEFAULT_SEED,
    LAB_DEGREE_RANGE,
    LEVER_CHOICES,
    MIN_LAB_USERS,
    NO_VALUE,
    MarketLab,
    compare_regimes,
    comparison_figure,
    comparison_rows,
    default_users,
    first_best_figure,
    lab_regime,
    market_figure,
    metrics_frame,
    network_figure,
    privacy_figure,
    shares_figure,
    status_text,
    welfare_figure,
)
from model import HEADLINE, PARAMETERS, REGIMES, SCENARIO_DESCRIPTIONS, SCENARIOS


def no_calls_home() -> None:
    """Turn off, in code, every call home Solara makes where this page is served.

    An environment variable (``SOLARA_TELEMETRY_MIXPANEL_ENABLE=False``) would have to be set
    before solara is imported, which `solara run` does before it loads this file. What is set
    here is read later, when the call would be made:

    - the server's usage events (at start, every day, at stop: an IP look-up, then an HTTPS post
      to Solara's analytics host) are sent only while ``settings.telemetry.mixpanel_enable``;
    - in a notebook, the first display of a page looks the IP up and sends an event whatever
      that setting says (``telemetry.jupyter_start``);
    - the browser would load a hidden page of solara.dev once per machine: from the served page
      in development mode (``checks.should_perform_solara_check``) and from a notebook
      (``checks.should_perform_jupyter_check``).
    """
    solara.server.settings.telemetry.mixpanel_enable = False
    solara.server.telemetry.jupyter_start = _no_call
    solara.checks.should_perform_solara_check = _never
    solara.checks.should_perform_jupyter_check = _never


def _no_call() -> None:
    return None


def _never() -> bool:
    return False


no_calls_home()

_DEFAULTS = {p.name: p.default for p in PARAMETERS}
COMPARE_MONTHS_AT_START = 12  # months the comparison plays when the current run has not begun
HERE = Path(__file__).resolve().parent
TABLE_CSS = """
.comparison { border-collapse: collapse; border: none; }
.comparison th, .comparison td { padding: 3px 8px; border: none; border-bottom: 1px solid #ddd; }
.comparison td { text-align: right; font-variant-numeric: tabular-nums; }
.comparison tbody th { text-align: left; font-weight: normal; white-space: nowrap; }
"""


def _select(label: str, values, value) -> dict:
    return {"type": "Select", "label": label, "values": list(values), "value": value}


def _slider(kind: str, label: str, value, low, high, step) -> dict:
    return {"type": kind, "label": label, "value": value, "min": low, "max": high, "step": step}


model_params = {
    "scenario": _select("Scenario", SCENARIOS, "tencent_huawei_2017"),
    "regime": _select("Regime", REGIMES, "click_through"),
    # Levers: what policy sets.
    "consent_standard": _select(
        "Consent standard: how a firm must ask", LEVER_CHOICES["consent_standard"], AS_REGIME
    ),
    "platform_may_block": _select(
        "Platform may block a maker's phones", LEVER_CHOICES["platform_may_block"], AS_REGIME
    ),
    "portability": _select(
        "Portability: users move their data to the maker", LEVER_CHOICES["portability"], AS_REGIME
    ),
    "access_fee_cap": _select(
        "Access fee cap (CNY per shared user per month)",
        LEVER_CHOICES["access_fee_cap"],
        AS_REGIME,
    ),
    "fine_rate": _select(
        "Fine rate (share of annual turnover)", LEVER_CHOICES["fine_rate"], AS_REGIME
    ),
    # Uncertainties: what the world might be.
    "leakage": _slider(
        "SliderFloat",
        "Leakage: share of a contact's data taken along (share)",
        _DEFAULTS["leakage"],
        0.0,
        1.0,
        0.05,
    ),
    "mean_degree": _slider(
        "SliderFloat", "Contacts per user (mean)", _DEFAULTS["mean_degree"], *LAB_DEGREE_RANGE, 1.0
    ),
    # Step 1 and min MIN_LAB_USERS, as `datamarket viz --users N` allows: the slider must stop
    # at N, and every number of users on it must realise every mean degree on the one above.
    "n_users": _slider("SliderInt", "Users (people)", default_users(), MIN_LAB_USERS, 50_000, 1),
    "privacy_cost_sigma": _slider(
        "SliderFloat",
        "Spread of privacy costs (log-sd)",
        _DEFAULTS["privacy_cost_sigma"],
        0.0,
        3.0,
        0.001,  # fine enough that the calibrated default (0.959) is a stop
    ),
    "attention_mean": _slider(
        "SliderFloat",
        "Attention: chance a user reads the terms (probability)",
        _DEFAULTS["attention_mean"],
        0.0,
        1.0,
        0.001,  # the calibrated default (0.288) must be a stop of the slider
    ),
    "rng": {"type": "InputText", "label": "Seed", "value": str(DEFAULT_SEED)},
}


def _heading(title: str) -> None:
    solara.HTML(tag="h4", unsafe_innerHTML=title)  # not Markdown: it would fetch mermaid.js


def _what(text: str) -> None:
    solara.Text(text, style={"font-size": "0.85em", "color": "#555"})


def _json(value: Any) -> str:
    return to_json_plotly(value)


def _shape(figure: dict[str, Any]) -> list[tuple[str, ...]]:
    """What a figure's traces and layout set, at the top level (plotly.js's trace ids aside):
    equal for two figures drawn by the same code path from different months."""
    traces = [tuple(sorted(k for k in t if k != "uid")) for t in figure["data"]]
    return [*traces, tuple(sorted(figure["layout"]))]


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The top-level properties of `new` whose value differs from `old`'s."""
    return {
        key: value
        for key, value in new.items()
        if key != "uid" and (key not in old or _json(old[key]) != _json(value))
    }


def figure_update(
    shown: dict[str, Any] | None, figure: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """What must change to turn the chart `shown` (a plotly figure as JSON, ``{"data": [...],
    "layout": {...}}``) into `figure`: per trace, the properties whose value differs, and the
    layout's. None when the two differ in shape (other traces or settings): then the chart is
    drawn anew."""
    if shown is None or _shape(shown) != _shape(figure):
        return None
    traces = [_changed(old, new) for old, new in zip(shown["data"], figure["data"], strict=True)]
    return traces, _changed(shown["layout"], figure["layout"])


class Drawing:
    """A figure handed to `LiveFigure`, compared by identity. Each render builds new figures;
    comparing them by value (what Solara does with a component's arguments) would turn both
    into JSON, deep-copied, for nothing: a new figure is always drawn."""

    __slots__ = ("figure",)

    def __init__(self, figure: go.Figure) -> None:
        self.figure = figure


def live_figure(figure: go.Figure):
    """The chart of `figure`, drawn in place of the one the same spot held before."""
    return LiveFigure(Drawing(figure))


@solara.component
def LiveFigure(drawing: Drawing):
    """A plotly chart redrawn in place. Each step sends the browser only what changed since the
    chart was last drawn (the new month's values, the recoloured dots; never the network's fixed
    contacts, nor a layout that stayed the same) as one update, which plotly.js draws once.
    (`solara.FigurePlotly` replaces the layout, adds the new traces and deletes the old ones:
    three redraws per chart per step.) A figure of another shape (other traces or settings)
    replaces the old one whole."""
    element = FigureWidget.element()
    shown = solara.use_ref(None)  # the figure the chart holds, as JSON

    def send() -> None:
        widget: FigureWidget = solara.get_widget(element)
        figure = drawing.figure
        new = figure.to_plotly_json()
        update = figure_update(shown.current, new)
        if update is None:
            with widget.batch_update():
                widget.data = []
                widget.layout = figure.layout
            widget.add_traces(figure.data)
        else:
            traces, layout = update
            if any(traces) or layout:
                with widget.batch_update():
                    for trace, changes in zip(widget.data, traces, strict=True):
                        if changes:
                            trace.update(changes, overwrite=True)
                    if layout:
                        widget.layout.update(layout, overwrite=True)
        shown.current = new

    solara.use_effect(send, [drawing])
    return element


def _chart(title: str, what: str, figure) -> None:
    with solara.Card(margin=0, style={"height": "100%"}):
        _heading(title)
        _what(what)
        live_figure(figure)


@solara.component
def Status(lab: MarketLab):
    """The month, total welfare and consent rate now, and what the run is."""
    update_counter.get()
    market, settings = lab.market, lab.settings
    regime = lab_regime(
        settings["regime"], **{k: settings[k] for k in LEVER_CHOICES if k in settings}
    )
    overridden = getattr(regime, "levers_overridden", ())
    custom = (
        f" with {', '.join(f'{k} = {getattr(regime, k)}' for k in overridden)} (a custom regime)"
        if overridden
        else ""
    )
    with solara.Column(gap="4px") as main:
        _heading("The run now")
        solara.Text(status_text(market), style={"font-size": "1.1em", "font-weight": "bold"})
        solara.Text(
            f"Scenario {settings['scenario']}: {SCENARIO_DESCRIPTIONS[settings['scenario']]}. "
            f"Regime {settings['regime']}{custom}. {market.users.n:,} users, seed {lab.seed}.",
            style={"font-size": "0.85em", "color": "#555"},
        )
        solara.Text(
            "Set the next run in the sidebar, then press Reset; Step plays one month, "
            "▶ plays on. Money in 2017 yuan (CNY).",
            style={"font-size": "0.85em", "color": "#555"},
        )
    return main


@solara.component
def Welfare(lab: MarketLab):
    """Welfare decomposition over time."""
    update_counter.get()
    _chart(
        "Welfare over time",
        "What each side gains per user per month: total welfare is consumer surplus plus every "
        "firm's profit (and fines); privacy harm is the part of consumer surplus lost to exposure.",
        welfare_figure(lab.market),
    )


@solara.component
def Privacy(lab: MarketLab):
    """Privacy over time."""
    update_counter.get()
    _chart(
        "Privacy over time",
        "Shares of users: consent requests accepted (a gap: no requests that month), mean "
        "exposure to third parties, people exposed above the threshold to firms they have no "
        "consent with, and people whose data a broker holds.",
        privacy_figure(lab.market),
    )


@solara.component
def Market(lab: MarketLab):
    """The platform–maker market over time."""
    update_counter.get()
    _chart(
        "The market for data access",
        "How many platform–maker pairs have a licence, are blocked, or see the maker take data "
        "on the phone, how many disputes wait for the regulator, and the mean licence fee.",
        market_figure(lab.market),
    )


@solara.component
def FirstBest(lab: MarketLab):
    """The distance from the planner's first best, and prices, over time."""
    update_counter.get()
    _chart(
        "Distance from the first best, and prices",
        "The welfare gap: what the planner's allocation of the same users' data would add, per "
        "user per month, split into data that flows but should not (oversharing) and data that "
        "should flow but does not (undersharing). Right axis: the mean device price and the "
        "mean payment a consenting user gets for her data (a gap: nobody is paid that month).",
        first_best_figure(lab.market),
    )


@solara.component
def Shares(lab: MarketLab):
    """Device makers' market shares over time."""
    update_counter.get()
    _chart(
        "Device makers' market shares",
        "Each phone maker's share of device users, month by month: data access feeds AI "
        "features, which pull buyers from rivals.",
        shares_figure(lab.market),
    )


@solara.component
def Network(lab: MarketLab):
    """A sample of users and their contacts, coloured by exposure."""
    update_counter.get()
    _chart(
        "Who is exposed: a sample of users and their contacts",
        f"{len(lab.sample_nodes)} users and the contacts among them. Each dot is a user, darker "
        "red the more exposed to third parties; a black ring marks someone who never consented "
        "to any third party and is exposed all the same, through the data of the people she "
        "talks to. Hover over a dot for its numbers.",
        network_figure(lab.market, lab.sample_nodes, lab.sample_edges, lab.sample_positions),
    )


@solara.component
def ComparisonPanel(lab: MarketLab, month: int):
    """The current run's headline metrics beside every regime's, computed on demand."""
    months = month if month > 0 else COMPARE_MONTHS_AT_START
    key = (id(lab), lab.seed, months)

    def run():
        table = compare_regimes(
            lab.settings, lab.seed, months, progress=lambda p: setattr(task, "progress", p)
        )
        return key, table

    task = solara.lab.use_task(run, dependencies=None)
    _heading("Compare regimes")
    _what(
        "The same seed, scenario and uncertainties under every preset regime, after as many "
        "months as this run has played (12 before the first step): the differences are the "
        "regime's alone. It runs in the background; the page stays live."
    )
    solara.Button(
        "Compare regimes", color="primary", on_click=lambda: task(), disabled=task.pending
    )
    if task.pending:
        solara.ProgressLinear(task.progress if task.progress else True)
        solara.Text(f"running {len(REGIMES)} regimes for {months} months…")
    elif task.error:
        solara.Error(f"the comparison failed: {task.exception}")
    elif task.finished and task.value is not None:
        (lab_id, seed, done_months), table = task.value
        frame = metrics_frame(lab.market)
        current = None
        if lab_id == id(lab) and done_months in frame.index:
            current = {name: float(frame.loc[done_months, name]) for name in HEADLINE}
        note = f"after {done_months} months, seed {seed}"
        if lab_id != id(lab):
            note += " (for an earlier run: press the button again)"
        solara.Text(note, style={"font-size": "0.85em"})
        rows = comparison_rows(table, current)
        solara.Style(TABLE_CSS)
        solara.HTML(
            tag="div",
            unsafe_innerHTML=rows.to_html(
                float_format="{:.3f}".format, na_rep=NO_VALUE, classes="comparison"
            ),
            style={"overflow-x": "auto", "font-size": "0.85em"},
        )
        _heading("The trade-off: total welfare against mean exposure")
        live_figure(comparison_figure(table, current))


@solara.component
def Comparison(lab: MarketLab):
    """Redraws the panel with each step."""
    update_counter.get()
    with solara.Card(margin=0):
        ComparisonPanel(lab, int(lab.market.steps))


@solara.component_vue(str(HERE / "experiments" / "fit_charts.vue"))
def FitCharts():
    """Keeps the plotly charts as wide as their boxes (see experiments/fit_charts.vue)."""


@solara.component
def Lab(lab: MarketLab):
    """The main area: the run now beside the network sample, the five time series in two
    columns, then the comparison across regimes (one column each on narrow screens).

    Laid out here rather than in SolaraViz's draggable grid, whose fixed-height cells cut off
    the comparison table and whose late-measured widths left the plotly charts wider than their
    cells."""
    with solara.Column(gap="0px", style={"padding": "4px 12px"}):
        FitCharts()
        with solara.ColumnsResponsive(12, large=[5, 7]):
            with solara.Card(margin=0, style={"height": "100%"}):
                Status(lab)
            Network(lab)
        with solara.ColumnsResponsive(12, large=6):
            Welfare(lab)
            Privacy(lab)
            Market(lab)
            FirstBest(lab)
            Shares(lab)
        Comparison(lab)


@solara.component
def Page():
    """One lab per browser session (or notebook display), with the default settings.

    SolaraViz draws the app bar and the sidebar (controls, model parameters) and steps and
    resets the model it is given; the main area is `Lab`, redrawn whenever Reset builds a new
    market."""
    lab = solara.use_reactive(
        solara.use_memo(lambda: MarketLab(n_users=default_users(), rng=DEFAULT_SEED), [])
    )
    SolaraViz(
        lab,
        components=[],
        model_params=model_params,
        name="datamarket: the browser lab",
        play_interval=200,
    )
    Lab(lab.value)


page = Page()

__all__ = ["Lab", "Page", "model_params", "page"]
