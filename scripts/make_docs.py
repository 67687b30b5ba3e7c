"""Regenerate the generated tables of docs/ODD.md and README.md from the model's own catalogue.

    python scripts/make_docs.py            # rewrite the tables in docs/ODD.md and README.md
    python scripts/make_docs.py --check    # exit 1, naming the stale tables, if out of date

Each table sits between two marker comments, ``<!-- BEGIN name -->`` and ``<!-- END name -->``;
everything outside the markers is hand-written prose and is never touched. The tables come from
`model.PARAMETERS` (parameters), `model.list_scenarios()` (scenarios), `model.list_regimes()`
(regime levers and anchors) and `model.METRICS` (metrics), so a change to any of those is one
command away from the docs, and the test suite fails until it is made.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import model

ROOT = Path(__file__).resolve().parent.parent
ODD = ROOT / "docs" / "ODD.md"
README = ROOT / "README.md"
TAGS = ("[V]", "[P]", "[U]")


def format_value(value: Any) -> str:
    """A parameter default or lever value as it is printed in the tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    return str(value)


def source_cell(source: str) -> str:
    """A parameter's source as the model states it: it opens with what the value is —
    "calibrated", "set from a figure" or "assumption" (tests/test_parameters.py checks it)."""
    return source


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def allowed_cell(parameter: Any) -> str:
    """What a parameter accepts, in words (a tuple default is a list of positive numbers)."""
    if isinstance(parameter.default, tuple):
        return "a list of positive numbers, or () (empty)"
    return parameter.allowed()


def parameters_table() -> str:
    """Every parameter: name, unit, default, allowed values, meaning, source."""
    rows = [
        [
            f"`{p.name}`",
            p.unit,
            format_value(p.default),
            allowed_cell(p),
            p.meaning,
            source_cell(p.source),
        ]
        for p in model.PARAMETERS
    ]
    return _table(["name", "unit", "default", "allowed", "meaning", "source"], rows)


def scenarios_table() -> str:
    """Every scenario preset: what it describes and the parameters it sets."""
    frame = model.list_scenarios()
    rows = [[f"`{name}`", row["description"], row["sets"]] for name, row in frame.iterrows()]
    return _table(["scenario", "description", "sets"], rows)


def regimes_table() -> str:
    """Levers (rows) by preset (columns), then each preset's anchor."""
    frame = model.list_regimes()
    levers = [column for column in frame.columns if column != "anchor"]
    presets = list(frame.index)

    def lever_value(value: Any) -> str:
        value = value.item() if hasattr(value, "item") else value  # numpy scalars from pandas
        if isinstance(value, bool):
            return "yes" if value else "no"
        return format_value(value)

    def shown(lever: str, value: Any) -> str:
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float) and math.isinf(value):  # access_fee_cap, retention_months
            return "unlimited" if lever == "retention_months" else "no cap"
        return lever_value(value)

    rows = [
        [f"`{lever}`", *(shown(lever, frame.at[r, lever]) for r in presets)] for lever in levers
    ]
    levers_part = _table(["lever", *(f"`{r}`" for r in presets)], rows)
    anchors = _table(["preset", "anchor"], [[f"`{r}`", frame.at[r, "anchor"]] for r in presets])
    return f"{levers_part}\n\n{anchors}"


def regime_summary_table() -> str:
    """The README's one-line-per-preset view of the regimes: the levers a reader asks about."""
    rows = []
    for name, regime in model.REGIMES.items():
        other = []
        if not regime.third_party_access:
            other.append("no third-party access")
        if regime.data_trust:
            other.append("data trust")
        if regime.recipient_liability:
            other.append("recipient liable for harm")
        if regime.blocking_contested:
            other.append("blocking contested")
        other.append(f"disputes: {regime.dispute_resolution}")
        other.append(
            f"fines {regime.fine_rate:.0%} of turnover, audits {regime.audit_probability:.0%}/month"
        )
        if regime.compliance_cost:
            other.append(
                f"compliance {regime.compliance_cost:g} CNY/month per firm and relationship"
            )
        if not math.isinf(regime.retention_months):
            other.append(f"data kept {regime.retention_months:g} months unless refreshed")
        if regime.erasure_right:
            other.append("erasure on leaving and on request")
        rows.append(
            [
                f"`{name}`",
                regime.consent_standard,
                "yes" if regime.refusal_costs_service else "no",
                "yes" if regime.maker_may_take else "no",
                "yes" if regime.platform_may_block else "no",
                regime.portability,
                "legal/tolerated" if regime.broker_trade_legal else "illegal, audited",
                "; ".join(other),
                model.REGIME_ANCHORS[name],
            ]
        )
    header = [
        "regime",
        "consent",
        "refusal costs service",
        "maker may take",
        "platform may block",
        "portability",
        "broker trade",
        "other levers",
        "anchor",
    ]
    return _table(header, rows)


def metrics_table() -> str:
    """Every metric of MODEL.md §7: name, group, unit, meaning."""
    rows = [
        [f"`{name}`", group, unit, meaning]
        for name, (group, unit, meaning) in model.METRICS.items()
    ]
    return _table(["metric", "group", "unit", "meaning"], rows)


SECTIONS: dict[str, Callable[[], str]] = {
    "parameters": parameters_table,
    "scenarios": scenarios_table,
    "regimes": regimes_table,
    "metrics": metrics_table,
    "regime-summary": regime_summary_table,
}
# Which generated sections each document holds, by file name.
DOCUMENTS: dict[str, tuple[str, ...]] = {
    "ODD.md": ("parameters", "scenarios", "regimes", "metrics"),
    "README.md": ("regime-summary", "metrics"),
}


def sections_of(path: Path) -> tuple[str, ...]:
    """The generated sections `path` must hold (an unknown name is treated as the ODD)."""
    return DOCUMENTS.get(path.name, DOCUMENTS["ODD.md"])


def _generated(name: str) -> str:
    note = (
        f"<!-- generated by scripts/make_docs.py from the model ({name}); "
        "edit the model, then run the script, not this table -->"
    )
    return f"{note}\n{SECTIONS[name]()}"


def _pattern(name: str) -> re.Pattern[str]:
    """The block from a BEGIN marker line to its END marker line; group 1 is the content."""
    return re.compile(
        rf"^<!-- BEGIN {name} -->[ \t]*\n(.*?)^<!-- END {name} -->[ \t]*$",
        flags=re.DOTALL | re.MULTILINE,
    )


def _block(name: str) -> str:
    return f"<!-- BEGIN {name} -->\n{_generated(name)}\n<!-- END {name} -->"


def render(text: str, path: Path = ODD) -> str:
    """`text` with every generated section replaced by its current content.

    Raises:
        ValueError: a section's markers are missing or appear more than once.
    """
    for name in sections_of(path):
        pattern = _pattern(name)
        found = len(pattern.findall(text))
        if found != 1:
            raise ValueError(
                f"{path}: expected one '<!-- BEGIN {name} -->' ... '<!-- END {name} -->' block "
                f"(each marker on its own line), found {found}"
            )
        block = _block(name)
        text = pattern.sub(lambda _match, b=block: b, text)
    return text


def stale_sections(text: str, path: Path = ODD) -> list[str]:
    """Names of the generated sections of `text` that differ from what the model gives now."""
    render(text, path)  # raises on missing or repeated markers
    stale = []
    for name in sections_of(path):
        match = _pattern(name).search(text)
        if match is None or match.group(1) != _generated(name) + "\n":
            stale.append(name)
    return stale


def check(path: Path = ODD) -> list[str]:
    """Problems with the generated parts of `path`, as messages; empty when it is current."""
    if not path.exists():
        return [f"{path} does not exist; write it, then run scripts/make_docs.py"]
    try:
        stale = stale_sections(path.read_text(encoding="utf-8"), path)
    except ValueError as error:
        return [str(error)]
    return [
        f"{path}: the {name} table is stale; run `python scripts/make_docs.py` to regenerate it"
        for name in stale
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a doc is stale, and change nothing"
    )
    parser.add_argument(
        "--path", type=Path, default=None, help="one document (default: docs/ODD.md and README.md)"
    )
    args = parser.parse_args(argv)
    paths = [args.path] if args.path else [ODD, README]
    if args.check:
        problems = [problem for path in paths for problem in check(path)]
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for path in paths:
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
        text = path.read_text(encoding="utf-8")
        try:
            updated = render(text, path)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        else:
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
