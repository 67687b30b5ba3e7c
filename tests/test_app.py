"""The browser lab without a browser: its figures show what the model has, and its controls
build the market they say (tests/browser/ drives the real page)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.viz import (
    AS_REGIME,
    NO_VALUE,
    LabScenario,
    MarketLab,
    all_figures,
    compare_regimes,
    comparison_figure,
    comparison_rows,
    first_best_figure,
    lab_regime,
    maker_shares,
    network_figure,
    network_sample,
    parse_seed,
    status_text,
    welfare_figure,
)
from model import HEADLINE, REGIMES, DataMarket, get_regime

N = 400
MONTHS = 3


@pytest.fixture(scope="module")
def lab() -> MarketLab:
    lab = MarketLab(scenario="baseline", regime="informed_consent", n_users=N, rng=7)
    for _ in range(MONTHS):
        lab.step()
    return lab


def test_lab_market_equals_a_direct_run(lab):
    direct = DataMarket("baseline", regime="informed_consent", n_users=N, rng=7)
    direct.run_for(MONTHS)
    ours = lab.market.datacollector.get_model_vars_dataframe()
    pd.testing.assert_frame_equal(ours, direct.datacollector.get_model_vars_dataframe())


def test_reset_path_takes_a_lab_scenario():
    # SolaraViz's Reset passes the settings as one Scenario object and the seed as text.
    built = MarketLab(scenario=LabScenario(rng="11", regime="ban", n_users=N, leakage=0.5))
    assert built.seed == 11
    assert built.market.regime == get_regime("ban")
    assert built.market.p.leakage == 0.5 and built.market.p.n_users == N


def test_levers_make_a_custom_regime():
    assert lab_regime("portability", consent_standard=AS_REGIME) == "portability"
    custom = lab_regime(
        "click_through", platform_may_block="no", access_fee_cap="0.5", fine_rate="0.05"
    )
    assert custom == get_regime("click_through").replace(
        platform_may_block=False, access_fee_cap=0.5, fine_rate=0.05
    )
    assert lab_regime("ban", access_fee_cap="no cap").access_fee_cap == math.inf


@pytest.mark.parametrize(("text", "seed"), [("42", 42), (" 7 ", 7), ("", 42), (None, 42)])
def test_seed_text(text, seed):
    assert parse_seed(text) == seed
    assert parse_seed("abc") == parse_seed("abc")  # any text is a reproducible seed


def test_welfare_figure_ends_at_the_models_values(lab):
    frame = lab.market.datacollector.get_model_vars_dataframe()
    fig = welfare_figure(lab.market)
    for trace in fig.data:
        name = trace.name.replace(" ", "_")
        assert list(trace.x) == list(range(1, MONTHS + 1))
        assert trace.y[-1] == pytest.approx(frame[name].iloc[-1])


def test_first_best_figure_shows_the_gap_its_parts_and_the_prices(lab):
    frame = lab.market.datacollector.get_model_vars_dataframe()
    traces = {
        trace.name.replace(" (right axis)", "").replace(" ", "_"): trace
        for trace in first_best_figure(lab.market).data
    }
    assert set(traces) == {
        "welfare_gap",
        "oversharing_loss",
        "undersharing_loss",
        "mean_device_price",
        "mean_data_price",
    }
    for name, trace in traces.items():
        assert list(trace.x) == list(range(1, MONTHS + 1))
        want = frame[name].to_numpy()
        got = np.array([math.nan if y is None else y for y in trace.y], dtype=float)
        # A month nobody is paid is a gap in the line, not a zero.
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)])
    assert traces["mean_device_price"].yaxis == "y2"
    assert np.all(np.array(traces["welfare_gap"].y) >= 0)


def test_every_figure_has_data(lab):
    figures = all_figures(lab)
    assert set(figures) == {"welfare", "privacy", "market", "first_best", "shares", "network"}
    for fig in figures.values():
        assert fig.data


def test_maker_shares_sum_to_one(lab):
    shares = maker_shares(lab.market)
    assert shares.shape == (MONTHS, len(lab.market.makers))
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    last = [maker.market_share for maker in lab.market.makers]
    np.testing.assert_allclose(shares.iloc[-1], last)


def test_network_sample_is_users_with_their_contacts_among_them():
    market = DataMarket(n_users=2_000, rng=3)
    nodes, edges = network_sample(market, size=300, seed=1)
    assert len(nodes) == 300 == len(np.unique(nodes))
    graph = market.users.graph
    assert len(edges) > 150  # a snowball keeps contacts together
    for a, b in edges:
        assert graph[nodes[a], nodes[b]] != 0
    # every contact pair inside the sample is drawn
    sub = graph[nodes][:, nodes]
    assert len(edges) == (sub.nnz - np.count_nonzero(sub.diagonal())) // 2


def test_network_colours_are_the_users_exposure_and_rings_the_never_consenting(lab):
    market = lab.market
    fig = network_figure(market, lab.sample_nodes, lab.sample_edges, lab.sample_positions)
    users = next(t for t in fig.data if t.name == "users")
    rings = next(t for t in fig.data if t.name.startswith("exposed, never consented"))
    n_platforms = market.holders.n_platforms  # holder columns 0 .. n_platforms - 1
    expected_colour, expected_rings = [], []
    for position, user in enumerate(lab.sample_nodes):
        # Third parties: every holder but the platforms she uses.
        third = [
            h
            for h in range(market.exposure.shape[1])
            if not (h < n_platforms and market.users.member[user, h])
        ]
        unexposed = np.prod([1.0 - market.exposure[user, h] for h in third])
        expected_colour.append(1.0 - unexposed)
        if unexposed < 1.0 and not any(market.users.consented[user, h] for h in third):
            expected_rings.append(position)
    np.testing.assert_allclose(users.marker.color, expected_colour)
    np.testing.assert_array_equal(rings.x, lab.sample_positions[expected_rings, 0])
    assert f"({len(expected_rings)} of {len(lab.sample_nodes)})" in rings.name
    # Under informed consent some users decline every third party and are exposed all the same.
    assert 0 < len(expected_rings) < len(lab.sample_nodes)


def test_comparison_equals_direct_runs(lab):
    table = compare_regimes(lab.settings, lab.seed, MONTHS, regimes=("click_through", "ban"))
    assert list(table.index) == ["click_through", "ban"]
    for regime in table.index:
        direct = DataMarket("baseline", regime=regime, n_users=N, rng=7)
        direct.run_for(MONTHS)
        for name in HEADLINE:
            got, want = table.loc[regime, name], direct.metrics[name]
            assert got == want or (math.isnan(got) and math.isnan(want)), (regime, name)
    # Nobody is asked for consent under a ban: its consent rate is missing, and shown so.
    assert math.isnan(table.loc["ban", "consent_rate"])
    shown = comparison_rows(table).to_html(float_format="{:.3f}".format, na_rep=NO_VALUE)
    assert shown.count(NO_VALUE) == 1 and NO_VALUE == "no consent requests"


def test_comparison_covers_every_regime_and_this_run(lab):
    table = compare_regimes(lab.settings, lab.seed, 1)
    assert list(table.index) == list(REGIMES)
    rows = comparison_rows(table, lab.market.metrics)
    assert list(rows.columns) == ["this run", *REGIMES]
    assert rows["this run"].iloc[0] == lab.market.metrics[HEADLINE[0]]
    assert len(comparison_figure(table, lab.market.metrics).data) == 2


def test_status_text(lab):
    metrics = lab.market.metrics
    assert status_text(lab.market) == (
        f"Month {MONTHS} · total welfare {metrics['total_welfare']:.2f} CNY per user per month"
        f" · consent rate {metrics['consent_rate']:.2f}"
    )
    assert status_text(DataMarket(n_users=N, rng=1)).startswith("Month 0 ")
    banned = DataMarket(n_users=N, rng=1, regime="ban")
    banned.step()
    assert math.isnan(banned.metrics["consent_rate"])
    assert status_text(banned).endswith(" · consent rate — (no requests this month)")


def test_app_page_controls():
    import app

    params = app.model_params
    assert params["scenario"]["label"] == "Scenario" and params["regime"]["label"] == "Regime"
    assert params["rng"]["label"] == "Seed"
    for name in ("consent_standard", "platform_may_block", "portability", "access_fee_cap"):
        assert params[name]["value"] == AS_REGIME
    for name in ("fine_rate", "leakage", "mean_degree", "n_users", "privacy_cost_sigma"):
        assert name in params
    assert "attention_mean" in params
    assert app.page is not None


INLINE_CELLS = (
    # 1: display the page as a notebook user would.
    """import os, sys
sys.path.insert(0, {root!r})
os.environ["DATAMARKET_VIZ_USERS"] = "300"
from app import page
page""",
    # 2: press the page's Step button from the kernel, as a click in the notebook would.
    """import warnings
import ipywidgets

def shown():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return list(ipywidgets.Widget.widgets.values())

def texts():
    return [c for w in shown() for c in getattr(w, "children", ()) if isinstance(c, str)]

step = next(w for w in shown() if type(w).__name__ == "Btn" and "Step" in w.children)
step.fire_event("click", {{}})
print([t for t in texts() if t.startswith("Month ")])
charts = [w for w in shown() if type(w).__name__ == "FigureWidget"]
print(len(charts), "charts")
welfare = [len(t.y) for c in charts for t in c.data if t.name == "total welfare"]
print("welfare months:", welfare)""",
)


def test_page_displays_inline_in_jupyter():
    import nbclient
    import nbformat

    root = Path(__file__).resolve().parents[1]
    cells = [nbformat.v4.new_code_cell(code.format(root=str(root))) for code in INLINE_CELLS]
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    display, step = notebook.cells
    mimetypes = {key for output in display.outputs for key in output.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in mimetypes, display.outputs
    printed = "".join(o.get("text", "") for o in step.outputs if o["output_type"] == "stream")
    assert "['Month 1 · total welfare" in printed, printed
    assert "6 charts" in printed, printed  # the five time series and the network sample
    assert "welfare months: [1]" in printed, printed  # the chart redrawn in place, once


def test_every_slider_starts_on_one_of_its_stops():
    # A browser slider snaps its value to min + k·step: a default between two stops would make
    # the page's first Reset run a parameter the sidebar never showed.
    import app

    sliders = {k: p for k, p in app.model_params.items() if p["type"].startswith("Slider")}
    assert {"leakage", "mean_degree", "n_users", "privacy_cost_sigma", "attention_mean"} <= set(
        sliders
    )
    for name, slider in sliders.items():
        stops = (slider["value"] - slider["min"]) / slider["step"]
        assert stops == pytest.approx(round(stops), abs=1e-6), (name, slider)
        assert slider["min"] <= slider["value"] <= slider["max"], (name, slider)


def test_the_fewest_users_on_the_slider_take_the_most_contacts_on_it():
    # The model refuses a mean degree its graph cannot realise; no pair of slider positions may
    # end in that error on Reset. At the corner the market builds, one user fewer is refused.
    import app

    users, degree = app.model_params["n_users"], app.model_params["mean_degree"]
    lab = MarketLab(n_users=users["min"], mean_degree=degree["max"], rng=1)
    assert lab.market.p.n_users == users["min"]
    with pytest.raises(ValueError, match="mean_degree"):
        DataMarket(n_users=users["min"] - 1, mean_degree=degree["max"], rng=1)


def _plain(figure) -> dict:
    """A figure's traces and layout as plain JSON (numpy arrays as lists), trace ids aside."""
    import json

    from plotly.io.json import to_json_plotly

    data = json.loads(to_json_plotly(figure.to_plotly_json()))
    for trace in data["data"]:
        trace.pop("uid", None)
    return data


def test_a_step_sends_only_what_changed():
    import app

    lab = MarketLab(n_users=N, rng=5)
    lab.step()
    before = {k: f.to_plotly_json() for k, f in all_figures(lab).items()}
    lab.step()
    after = {k: f.to_plotly_json() for k, f in all_figures(lab).items()}
    for name in ("welfare", "privacy", "market", "shares"):
        traces, layout = app.figure_update(before[name], after[name])
        # A month more on every line; the layout (axes, legend, size) stays.
        for changes, new in zip(traces, after[name]["data"], strict=True):
            assert {"x", "y"} <= set(changes), (name, sorted(changes))
            assert list(changes["y"]) == list(new["y"]) and len(new["y"]) == 2
        assert layout == {}, (name, layout)
    traces, layout = app.figure_update(before["network"], after["network"])
    contacts, users, _rings = traces
    assert contacts == {}, "the fixed contacts went to the browser again"
    assert set(users) <= {"marker", "customdata"} and layout == {}
    # Another shape (a trace more) is drawn anew; so is a chart not drawn yet.
    more = welfare_figure(lab.market)
    more.add_scatter(x=[1], y=[1], name="extra")
    assert app.figure_update(after["welfare"], more.to_plotly_json()) is None
    assert app.figure_update(None, after["welfare"]) is None


def test_live_figure_holds_each_months_figure():
    # The page's chart, updated in place month by month, holds what the month's figure has.
    import solara
    from plotly.graph_objs import FigureWidget

    import app

    lab = MarketLab(n_users=N, rng=5)
    figure = solara.reactive(app.network_figure(lab.market, *_sample(lab)))
    figures = {"network": lambda: app.network_figure(lab.market, *_sample(lab))}
    figures["welfare"] = lambda: welfare_figure(lab.market)

    @solara.component
    def Chart():
        return app.live_figure(figure.value)

    _box, rc = solara.render(Chart(), handle_error=False)
    try:
        widget = rc.find(FigureWidget).widget
        for month, name in enumerate(["network", "network", "welfare", "welfare", "network"]):
            lab.step()
            figure.value = figures[name]()
            assert _plain(widget) == _plain(figure.value), (month + 1, name)
            assert widget is rc.find(FigureWidget).widget, "the chart was created anew"
    finally:
        rc.close()


def _sample(lab):
    return lab.sample_nodes, lab.sample_edges, lab.sample_positions


def test_missing_months_are_gaps_a_widget_update_can_carry():
    """Under a ban nobody is asked or paid: those lines are gaps (None, JSON null), never NaN,
    which is not JSON, so the browser would drop the whole chart update."""
    lab = MarketLab(scenario="baseline", regime="ban", n_users=N, rng=7)
    lab.step()
    for name, fig in all_figures(lab).items():
        if name == "network":  # NaN breaks its contact lines apart; they are drawn once
            continue
        for trace in fig.data:
            values = [] if trace.y is None else list(trace.y)
            assert not any(isinstance(v, float) and v != v for v in values), (name, trace.name)
    rate = next(t for t in all_figures(lab)["privacy"].data if t.name == "consent rate")
    assert list(rate.y) == [None]
