"""The browser lab's model and figures: pure functions from a DataMarket to plotly figures.

`app.py` lays these out with Mesa's SolaraViz; everything here runs without a browser, so the
tests and `benchmarks/viz_step.py` call it directly.

- `LabScenario` / `MarketLab`: what the page's controls set (a scenario preset, a regime, lever
  overrides, uncertainties, a seed) and the Mesa model SolaraViz steps, which holds one
  `DataMarket` built from them (`MarketLab.market`).
- `welfare_figure`, `privacy_figure`, `market_figure`, `shares_figure`: metrics over time, read
  from the market's DataCollector (x is the month, 1 = the first month played).
- `network_sample`, `network_layout`, `network_figure`: a snowball sample of users with the
  contacts among them, coloured by third-party exposure.
- `compare_regimes`, `comparison_figure`: every preset regime's headline metrics, from the same
  seed, scenario and uncertainties, beside the current run's.
- `status_text`: the line "Month 3 · total welfare 14.21 CNY per user per month · consent rate
  0.97" the page shows ("consent rate — (no requests this month)" in a month without any).
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from typing import Any

import mesa
import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from mesa.experimental.scenarios import Scenario

from model import HEADLINE, METRICS, MISSING, PARAMETERS, REGIMES, DataMarket, get_regime
from model.flows import overall_exposure
from model.metrics import third_party_mask
from model.parameters import MAX_GRAPH_DENSITY

AS_REGIME = "as in the regime"  # a lever left at the chosen regime's own setting
NO_CAP = "no cap"
DEFAULT_SEED = 42
USERS_ENV = "DATAMARKET_VIZ_USERS"  # the page's default number of users (tests set it smaller)
_DEFAULTS = {p.name: p.default for p in PARAMETERS}

# The levers the page exposes, with the values a Select offers (AS_REGIME first).
LEVER_CHOICES: dict[str, tuple[str, ...]] = {
    "consent_standard": (AS_REGIME, "platform_terms", "click_through", "informed"),
    "platform_may_block": (AS_REGIME, "yes", "no"),
    "portability": (AS_REGIME, "none", "on_request", "realtime"),
    "access_fee_cap": (AS_REGIME, NO_CAP, "0", "0.25", "0.5", "1", "2"),
    "fine_rate": (AS_REGIME, "0", "0.01", "0.02", "0.05", "0.1"),
}
UNCERTAINTIES = ("leakage", "mean_degree", "n_users", "privacy_cost_sigma", "attention_mean")
#: The page's range of contacts per user (its slider).
LAB_DEGREE_RANGE = (2.0, 60.0)
#: The fewest users the page offers: enough for the graph to realise its largest mean degree
#: (the model refuses mean_degree > MAX_GRAPH_DENSITY · (n_users − 1)), so that no pair of the
#: sliders' values is refused on Reset.
MIN_LAB_USERS = math.ceil(LAB_DEGREE_RANGE[1] / MAX_GRAPH_DENSITY) + 1


def default_users() -> int:
    """The page's starting number of users: $DATAMARKET_VIZ_USERS, else the model's 20,000."""
    return int(os.environ.get(USERS_ENV, _DEFAULTS["n_users"]))


class LabScenario(Scenario):
    """What the page's controls set. ``scenario`` is a preset name of `model.SCENARIOS`; each
    lever is `AS_REGIME` or a value (as the page's Selects give it, i.e. a string)."""

    scenario: str = "tencent_huawei_2017"
    regime: str = "click_through"
    consent_standard: str = AS_REGIME
    platform_may_block: str = AS_REGIME
    portability: str = AS_REGIME
    access_fee_cap: str = AS_REGIME
    fine_rate: str = AS_REGIME
    leakage: float = _DEFAULTS["leakage"]
    mean_degree: float = _DEFAULTS["mean_degree"]
    n_users: int = _DEFAULTS["n_users"]
    privacy_cost_sigma: float = _DEFAULTS["privacy_cost_sigma"]
    attention_mean: float = _DEFAULTS["attention_mean"]


LAB_FIELDS = tuple(LabScenario._scenario_defaults)


def parse_seed(value: Any) -> int:
    """The seed typed on the page as a whole number: digits as they are, blank → 42, any other
    text → a stable number derived from it (so every text is a reproducible seed)."""
    if value is None:
        return DEFAULT_SEED
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if not text:
        return DEFAULT_SEED
    try:
        return int(text)
    except ValueError:
        return zlib.crc32(text.encode())


def lever_overrides(**levers: str) -> dict[str, Any]:
    """The lever overrides in the model's types, leaving out those set to `AS_REGIME`."""
    out: dict[str, Any] = {}
    for lever, value in levers.items():
        if value is None or value == AS_REGIME:
            continue
        if lever == "platform_may_block":
            out[lever] = value in ("yes", True)
        elif lever == "access_fee_cap":
            out[lever] = math.inf if value == NO_CAP else float(value)
        elif lever == "fine_rate":
            out[lever] = float(value)
        else:
            out[lever] = value
    return out


def lab_regime(regime: str, **levers: str) -> Any:
    """The regime of the run: the preset's name, or `get_regime(regime).replace(**levers)` when
    a lever is overridden (a custom regime)."""
    overrides = lever_overrides(**levers)
    return get_regime(regime).replace(**overrides) if overrides else regime


def build_market(settings: dict[str, Any], seed: int) -> DataMarket:
    """A DataMarket from the page's settings (the fields of `LabScenario`) and a seed."""
    levers = {k: settings[k] for k in LEVER_CHOICES if k in settings}
    params = {k: settings[k] for k in UNCERTAINTIES if k in settings}
    if "n_users" in params:
        params["n_users"] = int(params["n_users"])
    return DataMarket(
        settings.get("scenario", "tencent_huawei_2017"),
        regime=lab_regime(settings.get("regime", "click_through"), **levers),
        rng=seed,
        **params,
    )


class MarketLab(mesa.Model):
    """The model SolaraViz steps: one DataMarket, built from the page's settings.

    Takes the fields of `LabScenario` as keywords and ``rng`` (the seed; text allowed), or, as
    SolaraViz passes them on Reset, one ``scenario=LabScenario(...)``. The network sample and its
    layout are drawn once per run, so stepping only recolours it.
    """

    def __init__(self, **kwargs: Any) -> None:
        given = kwargs.pop("scenario", None)
        if isinstance(given, LabScenario):
            settings = {k: v for k, v in given if k in LAB_FIELDS}
            seed = kwargs.pop("rng", None)
            seed = given.rng if seed is None else seed
        else:
            settings = {} if given is None else {"scenario": given}
            seed = kwargs.pop("rng", None)
        unknown = set(kwargs) - set(LAB_FIELDS)
        if unknown:
            raise ValueError(f"unknown lab setting(s) {sorted(unknown)}; allowed: {LAB_FIELDS}")
        settings.update(kwargs)
        self.seed = parse_seed(seed)
        super().__init__(scenario=LabScenario(rng=self.seed, **settings))
        self.settings = {k: getattr(self.scenario, k) for k in LAB_FIELDS}
        self.market = build_market(self.settings, self.seed)
        self.sample_nodes, self.sample_edges = network_sample(self.market, seed=self.seed)
        self.sample_positions = network_layout(self.sample_nodes, self.sample_edges, self.seed)

    def step(self) -> None:
        """One month of the market."""
        self.market.step()


# --- metrics over time ---------------------------------------------------------------------


def metrics_frame(market: DataMarket) -> pd.DataFrame:
    """Every metric, one row per month played, indexed by month (1 = the first)."""
    frame = market.datacollector.get_model_vars_dataframe()
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="month")
    return frame


def _label(name: str) -> str:
    return name.replace("_", " ")


MONTH_TICKS = (1, 2, 3, 6, 12, 24, 60)  # months between the month axis's ticks, by run length


def month_axis(months: int) -> dict[str, Any]:
    """The x axis of a chart over `months` months: whole months, at most ten ticks."""
    step = next((s for s in MONTH_TICKS if months <= 10 * s), MONTH_TICKS[-1])
    return dict(title="month", tick0=0, dtick=step)


def _with_gaps(values: pd.Series) -> list[float | None]:
    """A line's values with None for a missing month (NaN): plotly.js draws a gap there, and a
    widget update carries it as JSON null (NaN is not JSON, and the browser would drop the whole
    update)."""
    return [None if value != value else value for value in values.to_list()]


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A metric's months, or none before the first month is measured."""
    return frame[name] if name in frame else pd.Series(dtype=float)


def _right_axis_line(
    fig: go.Figure, values: pd.Series, name: str, dash: str, hovertemplate: str
) -> None:
    """Add a dashed line on the right axis (`yaxis2`) to `fig`, gaps where months are missing."""
    fig.add_trace(
        go.Scatter(
            x=list(values.index),
            y=_with_gaps(values),
            name=f"{name} (right axis)",
            yaxis="y2",
            line=dict(dash=dash),
            hovertemplate=hovertemplate,
        )
    )


def _lines(frame: pd.DataFrame, names: tuple[str, ...], y_title: str, **layout: Any) -> go.Figure:
    fig = go.Figure()
    for name in names:
        values = _column(frame, name)
        fig.add_trace(
            go.Scatter(
                x=list(values.index),
                y=_with_gaps(values),
                mode="lines+markers" if len(values) < 2 else "lines",  # a lone month: a dot
                name=_label(name),
                hovertemplate=f"{_label(name)}: %{{y:.3f}} ({METRICS[name][1]})<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis=month_axis(len(frame)),
        yaxis_title=y_title,
        margin=dict(l=50, r=10, t=10, b=40),
        legend=dict(orientation="h", y=-0.25),
        height=300,
        **layout,
    )
    return fig


WELFARE = (
    "total_welfare",
    "consumer_surplus",
    "platform_profit",
    "maker_profit",
    "broker_profit",
    "privacy_harm",
)
PRIVACY = (
    "consent_rate",
    "mean_exposure",
    "exposed_without_consent_share",
    "mean_unconsented_exposure",
    "broker_reach_share",
)
#: The distance from the first best and its two parts (CNY per user per month), beside the
#: prices users pay and are paid (CNY per month).
FIRST_BEST = ("welfare_gap", "oversharing_loss", "undersharing_loss")
PRICES = ("mean_device_price", "mean_data_price")
MARKET_PAIRS = ("licensed_pairs", "blocked_pairs", "taking_pairs", "open_disputes")


def welfare_figure(market: DataMarket) -> go.Figure:
    """Welfare decomposition by month: total, consumer surplus, each kind of profit, privacy
    harm (CNY per user per month; privacy harm is already inside consumer surplus)."""
    return _lines(metrics_frame(market), WELFARE, "CNY per user per month")


def privacy_figure(market: DataMarket) -> go.Figure:
    """Consent rate, mean exposure, exposed without consent, broker reach by month (shares);
    the consent rate's line has a gap in a month without consent requests (NaN)."""
    fig = _lines(metrics_frame(market), PRIVACY, "share")
    fig.update_yaxes(range=[0, 1.02])
    return fig


def first_best_figure(market: DataMarket) -> go.Figure:
    """The welfare gap to the planner's first best and its over- and undersharing parts (left
    axis), and the mean device price and the mean payment for consent (right axis; the data
    price's line has a gap in a month nobody is paid, NaN), by month."""
    frame = metrics_frame(market)
    fig = _lines(frame, FIRST_BEST, "CNY per user per month")
    for name, dash in zip(PRICES, ("dot", "dash"), strict=True):
        hover = f"{_label(name)}: %{{y:.2f}} CNY per month<extra></extra>"
        _right_axis_line(fig, _column(frame, name), _label(name), dash, hover)
    fig.update_layout(
        yaxis2=dict(title="CNY per month", overlaying="y", side="right", rangemode="tozero"),
        margin=dict(l=50, r=60, t=10, b=40),
    )
    return fig


def market_figure(market: DataMarket) -> go.Figure:
    """Licensed, blocked and taking platform–maker pairs and open disputes (left axis, pairs)
    and the mean access fee (right axis, CNY per shared user per month), by month."""
    frame = metrics_frame(market)
    fig = _lines(frame, MARKET_PAIRS, "platform–maker pairs")
    hover = "mean fee: %{y:.3f} CNY per shared user per month<extra></extra>"
    _right_axis_line(fig, _column(frame, "mean_access_fee"), "mean access fee", "dot", hover)
    fig.update_layout(
        yaxis2=dict(title="CNY per shared user per month", overlaying="y", side="right"),
        margin=dict(l=50, r=60, t=10, b=40),
    )
    return fig


def maker_shares(market: DataMarket) -> pd.DataFrame:
    """Device makers' market shares by month: one column per maker ("maker 1", ...)."""
    agents = market.datacollector.get_agent_vars_dataframe()
    names = {m.unique_id: f"maker {m.index + 1}" for m in market.makers}
    columns = list(dict.fromkeys(names.values()))
    if agents.empty:
        return pd.DataFrame(columns=columns, index=pd.RangeIndex(1, 1, name="month"), dtype=float)
    makers = agents[agents["kind"] == "maker"].reset_index()
    makers["maker"] = makers["AgentID"].map(names)
    shares = makers.pivot(index="Step", columns="maker", values="market_share")
    shares = shares.reindex(columns=columns)
    shares.index = pd.RangeIndex(1, len(shares) + 1, name="month")
    return shares


def shares_figure(market: DataMarket) -> go.Figure:
    """Each device maker's share of device users, by month (stacked, sums to 1)."""
    shares = maker_shares(market)
    fig = go.Figure()
    for name in shares.columns:
        fig.add_trace(
            go.Scatter(
                x=list(shares.index),
                y=shares[name].to_list(),
                name=name,
                stackgroup="shares",
                hovertemplate=f"{name}: %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis=month_axis(len(shares)),
        yaxis_title="share of device users",
        yaxis_range=[0, 1],
        margin=dict(l=50, r=10, t=10, b=40),
        legend=dict(orientation="h", y=-0.25),
        height=300,
    )
    return fig


# --- the network view -------------------------------------------------------------------------


def network_sample(
    market: DataMarket, size: int = 300, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A snowball sample of about `size` users and the contacts among them.

    Starts from a few random users and adds their contacts breadth-first, so the sample keeps
    the local structure through which data about contacts leaks.

    Returns:
        nodes: (n,) user indices, sorted; edges: (m, 2) pairs of positions in `nodes` (i < j).
    """
    graph = market.users.graph
    n = graph.shape[0]
    size = min(size, n)
    rng = np.random.default_rng(seed)
    chosen: dict[int, None] = {}
    frontier: list[int] = []
    while len(chosen) < size:
        if not frontier:
            start = int(rng.integers(n))
            if start in chosen:
                continue
            chosen[start] = None
            frontier.append(start)
            continue
        user = frontier.pop(0)
        contacts = graph.indices[graph.indptr[user] : graph.indptr[user + 1]]
        for contact in rng.permutation(contacts)[:8]:  # a few per user: a wider, flatter sample
            if len(chosen) >= size:
                break
            if int(contact) not in chosen:
                chosen[int(contact)] = None
                frontier.append(int(contact))
    nodes = np.sort(np.fromiter(chosen, dtype=np.int64))
    sub = graph[nodes][:, nodes].tocoo()
    upper = sub.row < sub.col
    edges = np.column_stack([sub.row[upper], sub.col[upper]]).astype(np.int64)
    return nodes, edges


def network_layout(nodes: np.ndarray, edges: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, 2) positions of the sampled users (a spring layout, drawn once per run)."""
    g = nx.Graph()
    g.add_nodes_from(range(len(nodes)))
    g.add_edges_from(map(tuple, edges))
    pos = nx.spring_layout(g, seed=seed, iterations=40)
    return np.array([pos[i] for i in range(len(nodes))])


def user_exposure(market: DataMarket) -> tuple[np.ndarray, np.ndarray]:
    """Per user: third-party exposure 1 − Π(1 − e[i,h]) (share), and whether she is exposed to a
    third party without ever having consented to any third party: the contacts who were never
    asked, and those who said no, whose data reached a firm through the people they talk to.

    (The `exposed_without_consent_share` metric counts anyone exposed to some holder she did not
    consent to, which under most regimes is nearly everyone: it would ring every dot.)
    """
    third = third_party_mask(market)
    exposure = overall_exposure(market.exposure, third)
    never_agreed = ~(market.users.consented & third).any(axis=1)
    return exposure, never_agreed & (exposure > 0)


def network_figure(
    market: DataMarket, nodes: np.ndarray, edges: np.ndarray, positions: np.ndarray
) -> go.Figure:
    """The sampled users coloured by exposure; a ring marks those exposed without ever consenting
    to any third party."""
    exposure, never_asked = user_exposure(market)
    exposure, never_asked = exposure[nodes], never_asked[nodes]
    xs = np.full(3 * len(edges), np.nan)
    ys = np.full(3 * len(edges), np.nan)
    xs[0::3], xs[1::3] = positions[edges[:, 0], 0], positions[edges[:, 1], 0]
    ys[0::3], ys[1::3] = positions[edges[:, 0], 1], positions[edges[:, 1], 1]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line=dict(width=0.5, color="rgba(120,120,120,0.4)"),
            hoverinfo="skip",
            name="contacts",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=positions[:, 0],
            y=positions[:, 1],
            mode="markers",
            marker=dict(
                size=8,
                color=exposure,
                cmin=0,
                cmax=1,
                colorscale="Reds",
                colorbar=dict(title="exposure", thickness=10),
                line=dict(width=0.5, color="rgba(80,80,80,0.5)"),
            ),
            customdata=np.column_stack([nodes, np.where(never_asked, "never", "yes")]),
            hovertemplate="user %{customdata[0]}<br>exposure %{marker.color:.2f}"
            "<br>consented to a third party: %{customdata[1]}<extra></extra>",
            name="users",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=positions[never_asked, 0],
            y=positions[never_asked, 1],
            mode="markers",
            marker=dict(size=13, symbol="circle-open", color="black", line=dict(width=1.5)),
            hoverinfo="skip",
            name=f"exposed, never consented ({int(never_asked.sum())} of {len(nodes)})",
        )
    )
    fig.update_layout(
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        margin=dict(l=10, r=10, t=10, b=10),
        legend=dict(orientation="h", y=-0.05),
        height=340,
    )
    return fig


# --- the comparison panel ---------------------------------------------------------------------


def compare_regimes(
    settings: dict[str, Any],
    seed: int,
    months: int,
    regimes: tuple[str, ...] | None = None,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Every preset regime's headline metrics after `months` months, from the same scenario,
    uncertainties and seed as the run (common random numbers: the differences are the regime's).

    Lever overrides in `settings` are ignored: each row is the preset as named.

    Returns:
        One row per regime (index), one column per `model.HEADLINE` metric, the last month's.
    """
    regimes = tuple(REGIMES) if regimes is None else regimes
    base = {k: v for k, v in settings.items() if k not in LEVER_CHOICES}
    rows = {}
    for done, regime in enumerate(regimes):
        if cancelled is not None and cancelled():
            break
        market = build_market({**base, "regime": regime}, seed)
        market.run_for(months)
        rows[regime] = {name: market.metrics[name] for name in HEADLINE}
        if progress is not None:
            progress(100.0 * (done + 1) / len(regimes))
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(HEADLINE))


#: How the comparison table shows a missing consent rate (a month without requests).
NO_VALUE = MISSING["consent_rate"]


def comparison_rows(table: pd.DataFrame, current: dict[str, float] | None = None) -> pd.DataFrame:
    """Headline metrics (rows, labelled with units) for this run and every regime (columns);
    NaN where a metric is missing (the consent rate of a month without requests: the page
    shows `NO_VALUE` there)."""
    columns = {}
    if current is not None:
        columns["this run"] = [current.get(name, np.nan) for name in HEADLINE]
    for regime, row in table.iterrows():
        columns[str(regime)] = [row[name] for name in HEADLINE]
    index = [f"{_label(n)} ({METRICS[n][1]})" for n in HEADLINE]
    return pd.DataFrame(columns, index=pd.Index(index, name="metric (unit)"))


def comparison_figure(table: pd.DataFrame, current: dict[str, float] | None = None) -> go.Figure:
    """The welfare–privacy trade-off: total welfare against mean exposure, one point per regime
    (and one for this run)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=table["mean_exposure"].to_list(),
            y=table["total_welfare"].to_list(),
            text=[str(r) for r in table.index],
            mode="markers+text",
            textposition="top center",
            name="regimes",
            hovertemplate="%{text}<br>exposure %{x:.3f}<br>welfare %{y:.2f}<extra></extra>",
        )
    )
    if current is not None:
        fig.add_trace(
            go.Scatter(
                x=[current["mean_exposure"]],
                y=[current["total_welfare"]],
                mode="markers",
                marker=dict(size=14, symbol="star", color="black"),
                name="this run",
            )
        )
    fig.update_layout(
        xaxis_title="mean exposure (share)",
        yaxis_title="total welfare (CNY per user per month)",
        margin=dict(l=50, r=10, t=10, b=40),
        height=340,
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


# --- the status line --------------------------------------------------------------------------


def status_text(market: DataMarket) -> str:
    """ "Month 3 · total welfare 14.21 CNY per user per month · consent rate 0.97" (the latest
    month played; dashes before the first)."""
    months = int(market.steps)
    if not market.metrics:
        return f"Month {months} · total welfare — CNY per user per month · consent rate —"
    welfare, consent = market.metrics["total_welfare"], market.metrics["consent_rate"]
    rate = f"{consent:.2f}" if math.isfinite(consent) else "— (no requests this month)"
    return (
        f"Month {months} · total welfare {welfare:.2f} CNY per user per month · consent rate {rate}"
    )


def all_figures(lab: MarketLab) -> dict[str, go.Figure]:
    """Every figure the page draws each step (the comparison panel is drawn on demand)."""
    market = lab.market
    return {
        "welfare": welfare_figure(market),
        "privacy": privacy_figure(market),
        "market": market_figure(market),
        "first_best": first_best_figure(market),
        "shares": shares_figure(market),
        "network": network_figure(market, lab.sample_nodes, lab.sample_edges, lab.sample_positions),
    }
