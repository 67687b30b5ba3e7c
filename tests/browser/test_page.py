"""The browser lab end to end: the real server (`datamarket viz`), Debian's Chromium.

Each test opens its own tab, so its own Solara kernel and market (300 users, set through the
page's $DATAMARKET_VIZ_USERS). The expected numbers come from `DataMarket` run directly, never
from the page's own helpers (experiments.viz), so a wrong wiring of the controls shows up.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from model import HEADLINE, MISSING, REGIMES, DataMarket
from model.flows import overall_exposure
from model.metrics import third_party_mask

from .conftest import N_USERS

pytestmark = [
    pytest.mark.usefixtures("screenshot"),
    # pytest-base-url (a pytest-playwright dependency) defines a fixture the way pytest 9
    # deprecates; nothing here can change that.
    pytest.mark.filterwarnings(
        "ignore:Session-scoped fixtures defined as instance methods:pytest.PytestRemovedIn10Warning"
    ),
]

SCENARIO = "tencent_huawei_2017"  # the page's default scenario
DEFAULT_REGIME = "click_through"  # the page's default regime
DEFAULT_SEED = 42
LOAD = 120_000  # ms to wait for the first render (dev mode compiles on first load)
WAIT = 60_000  # ms to wait for a step, a reset or the comparison
STATUS = re.compile(r"^Month \d+ ")
CHARTS = 6  # welfare, privacy, market, first best and prices, makers' shares, the network sample
TIME_SERIES = ("total welfare", "consent rate", "licensed pairs")  # one trace in each chart
# Solara's server may put a hidden "call home" iframe on the page; it is not part of
# what the page needs, and aborting it must leave the page whole.
CALL_HOME = "https://solara.dev/static/public/success.html"


# --- helpers -----------------------------------------------------------------------------------


def open_lab(page: Page, url: str) -> None:
    """Open the page and wait until the first market is drawn."""
    page.goto(url)
    expect(page.get_by_text(STATUS)).to_be_visible(timeout=LOAD)
    settle(page, 0, timeout=LOAD)


def settle(page: Page, months: int, timeout: int = WAIT) -> None:
    """Wait until the charts show `months` months and have stopped redrawing.

    Each step redraws every chart, one widget at a time, so a chart can be missing or still hold
    the previous month for a moment after the status line has moved on.
    """
    page.wait_for_function(
        """([months, names]) => {
            const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
            if (plots.length < CHARTS) return false;
            const traces = plots.flatMap(gd => gd.data || []);
            return names.every(name => {
                const found = traces.filter(t => t.name === name);
                return found.length === 1 && (found[0].y || []).length === months;
            });
        }""".replace("CHARTS", str(CHARTS)),
        arg=[months, list(TIME_SERIES)],
        timeout=timeout,
    )
    previous, current = None, figures(page)
    while current != previous:
        page.wait_for_timeout(500)
        previous, current = current, figures(page)


def status(page: Page) -> str:
    return page.get_by_text(STATUS).inner_text()


def wait_month(page: Page, month: int) -> None:
    expect(page.get_by_text(re.compile(rf"^Month {month} "))).to_be_visible(timeout=WAIT)


def step(page: Page, months: int) -> None:
    """Press Step `months` times, each time waiting for the month it plays."""
    start = int(re.match(r"^Month (\d+)", status(page)).group(1))
    for month in range(start + 1, start + months + 1):
        page.get_by_role("button", name="Step", exact=True).click()
        wait_month(page, month)
    settle(page, start + months)


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the sidebar's Select labelled `label`."""
    field = page.locator(".v-select").filter(
        has=page.locator("label", has_text=re.compile(rf"^{re.escape(label)}$"))
    )
    expect(field).to_have_count(1)
    field.locator(".v-select__slot").click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(field).to_contain_text(option)


def set_seed(page: Page, seed: int) -> None:
    box = page.get_by_label("Seed", exact=True)
    box.fill(str(seed))
    box.press("Enter")


def reset(page: Page) -> None:
    page.get_by_role("button", name="Reset", exact=True).click()
    wait_month(page, 0)
    settle(page, 0)


def figures(page: Page) -> list[dict[str, Any]]:
    """What every plotly chart on the page holds: its traces' data, as plotly.js has them."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => ({
            title: gd.layout && gd.layout.title ? gd.layout.title.text || '' : '',
            data: JSON.parse(JSON.stringify(gd.data || [], (key, value) =>
                key === 'uid' ? undefined : value)),
        }))"""
    )


def trace(page: Page, name: str) -> dict[str, Any]:
    """The one trace named `name` among the page's charts."""
    found = [t for fig in figures(page) for t in fig["data"] if t.get("name") == name]
    assert len(found) == 1, f"expected one trace named {name!r}, found {len(found)}"
    return found[0]


def same_decimals(shown: str, value: float) -> str:
    """`value` written with as many decimals as `shown` has; a missing value (NaN) as the page
    says it (`model.MISSING`: no consent requests, nobody paid)."""
    if value != value:
        return shown if shown in MISSING.values() else "nan"
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return f"{value:.{decimals}f}"


def direct(regime: str, months: int, seed: int = DEFAULT_SEED) -> DataMarket:
    """The market the page should be showing, built and run without the page."""
    market = DataMarket(SCENARIO, regime=regime, n_users=N_USERS, rng=seed)
    for _ in range(months):
        market.step()
    return market


# --- tests -------------------------------------------------------------------------------------


def test_page_loads_with_controls(page: Page, server_url: str) -> None:
    open_lab(page, server_url)
    for label in ("Scenario", "Regime"):
        field = page.locator(".v-select").filter(
            has=page.locator("label", has_text=re.compile(rf"^{label}$"))
        )
        expect(field).to_have_count(1)
    expect(page.locator(".v-select").filter(has_text=re.compile(rf"{SCENARIO}"))).to_have_count(1)
    expect(page.locator(".v-select").filter(has_text=DEFAULT_REGIME)).to_have_count(1)
    # The uncertainties are sliders, the number of users among them at the tests' small value.
    sliders = page.get_by_role("slider")
    assert sliders.count() >= 5
    values = [sliders.nth(i).get_attribute("aria-valuenow") for i in range(sliders.count())]
    assert str(N_USERS) in values, f"no slider at {N_USERS} users: {values}"
    expect(page.get_by_label("Seed", exact=True)).to_have_value(str(DEFAULT_SEED))
    for name in ("Step", "Reset", "▶", "Compare regimes"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    assert status(page).startswith("Month 0 ")
    # Welfare, privacy, market, first best, shares and the network sample are plotly charts.
    assert page.locator(".js-plotly-plot").count() == CHARTS
    names = {t.get("name") for fig in figures(page) for t in fig["data"]}
    assert {"total welfare", "consent rate"} <= names, names


def test_regime_and_steps_change_the_charts(page: Page, server_url: str) -> None:
    open_lab(page, server_url)
    before = figures(page)
    step(page, 3)
    after_click_through = figures(page)
    assert after_click_through != before, "three steps left every chart as it was"
    assert len(trace(page, "total welfare")["y"]) == 3

    choose(page, "Regime", "ban")
    reset(page)
    expect(page.get_by_text(re.compile(r"Regime ban\b"))).to_be_visible()
    assert len(trace(page, "total welfare")["y"]) == 0, "Reset left the old run's months"
    step(page, 3)
    after_ban = figures(page)
    assert len(trace(page, "total welfare")["y"]) == 3
    assert after_ban != after_click_through, "the charts show the same months under a ban"
    # Under a ban no pair licenses or takes data; under click-through some do.
    assert trace(page, "licensed pairs")["y"] == [0, 0, 0]


def test_numbers_match_the_model_run_directly(page: Page, server_url: str) -> None:
    regime, seed, months = "informed_consent", 7, 4
    open_lab(page, server_url)
    choose(page, "Regime", regime)
    set_seed(page, seed)
    reset(page)
    expect(page.get_by_text(re.compile(rf"Regime {regime}\b.*seed {seed}\b"))).to_be_visible()
    step(page, months)

    market = direct(regime, months, seed)
    expected = market.datacollector.get_model_vars_dataframe()
    text = status(page)
    found = re.match(r"^Month (\d+) · total welfare (-?[\d.]+) .* consent rate (-?[\d.]+)", text)
    assert found, f"unexpected status line {text!r}"
    month, welfare, consent = found.groups()
    assert int(month) == months
    assert welfare == same_decimals(welfare, market.metrics["total_welfare"]), text
    assert consent == same_decimals(consent, market.metrics["consent_rate"]), text
    # The charts carry the full numbers: every month of them, to the last digit.
    for name in ("total_welfare", "consent_rate", "privacy_harm", "mean_exposure"):
        shown = trace(page, name.replace("_", " "))["y"]
        assert shown == pytest.approx(expected[name].to_list(), rel=1e-12, abs=1e-12), name


def test_network_dots_show_each_months_exposure(page: Page, server_url: str) -> None:
    # Each step updates the network chart in place (only the dots' colours and rings go to the
    # browser): after several months it must hold that month's exposure, every contact still
    # drawn.
    months = 3
    open_lab(page, server_url)
    contacts_before = trace(page, "contacts")
    step(page, months)
    users, colours, rings = page.evaluate(
        """() => {
            // As plotly.js draws them (_fullData: arrays sent as base64 decoded).
            const traces = Array.from(document.querySelectorAll('.js-plotly-plot'))
                .flatMap(gd => gd._fullData || []);
            const users = traces.find(t => t.name === 'users');
            const rings = traces.find(t => t.name.startsWith('exposed, never consented'));
            return [Array.from(users.customdata, c => Number(c[0])),
                    Array.from(users.marker.color, Number), rings.name];
        }"""
    )
    market = direct(DEFAULT_REGIME, months)
    third = third_party_mask(market)
    exposure = overall_exposure(market.exposure, third)
    never = ~(market.users.consented & third).any(axis=1) & (exposure > 0)
    assert colours == pytest.approx(exposure[users].tolist(), rel=1e-12, abs=1e-12)
    assert rings == f"exposed, never consented ({int(never[users].sum())} of {len(users)})"
    assert trace(page, "contacts") == contacts_before, "the contacts moved"


def test_comparison_panel_fills_in(page: Page, server_url: str) -> None:
    months = 2
    open_lab(page, server_url)
    step(page, months)
    page.get_by_role("button", name="Compare regimes", exact=True).click()
    expect(page.get_by_text(f"after {months} months, seed {DEFAULT_SEED}")).to_be_visible(
        timeout=WAIT
    )
    table = page.locator("table", has_text="this run")
    expect(table).to_be_visible(timeout=WAIT)
    header, rows = table.evaluate(
        """t => [
            Array.from(t.querySelectorAll('thead tr:first-child th')).map(c => c.innerText.trim()),
            Array.from(t.querySelectorAll('tbody tr')).map(
                tr => Array.from(tr.children).map(c => c.innerText.trim())),
        ]"""
    )
    columns = header[1:]  # the first heading is over the metric labels
    assert set(REGIMES) | {"this run"} <= set(columns), header
    assert len(rows) == len(HEADLINE)
    shown = {
        (regime, name): row[1 + columns.index(regime)]
        for row, name in zip(rows, HEADLINE, strict=True)
        for regime in columns
    }
    for row, name in zip(rows, HEADLINE, strict=True):
        assert row[0].startswith(name.replace("_", " ")), (row[0], name)
    for regime in REGIMES:
        market = direct(regime, months)
        for name in HEADLINE:
            value = shown[regime, name]
            assert value == same_decimals(value, market.metrics[name]), (regime, name, value)
    # This run is the default regime from the same seed: its column is that regime's.
    for name in HEADLINE:
        assert shown["this run", name] == shown[DEFAULT_REGIME, name], name
    # The trade-off chart beside the table: one point per regime.
    settle(page, months)
    assert trace(page, "regimes")["text"] == list(REGIMES)


def test_page_works_without_network(page: Page, server_url: str) -> None:
    own = urlparse(server_url).hostname
    external: list[str] = []
    failed: list[str] = []
    errors: list[str] = []

    def only_local(route) -> None:
        if urlparse(route.request.url).hostname == own:
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    def on_failed(request) -> None:
        if not request.url.startswith(CALL_HOME):
            failed.append(f"{request.url}: {request.failure}")

    def on_response(response) -> None:
        if response.status >= 400:
            failed.append(f"{response.url}: HTTP {response.status}")

    def on_console(message) -> None:
        if message.type == "error" and not message.location.get("url", "").startswith(CALL_HOME):
            errors.append(message.text)

    page.route("**/*", only_local)
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))

    open_lab(page, server_url)
    step(page, 2)
    assert len(trace(page, "total welfare")["y"]) == 2
    # Solara's own files came from the asset cache, through the server on 127.0.0.1.
    assert page.evaluate("() => typeof window.requirejs") == "function"
    assert failed == [], "\n".join(failed)
    assert errors == [], "\n".join(errors)
    assert all(url.startswith(CALL_HOME) for url in external), json.dumps(external, indent=1)
