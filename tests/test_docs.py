"""Tests of `docs/ODD.md` and its generator, `scripts/make_docs.py`.

Checks:

* the generated tables (parameters, scenarios, regimes, metrics) are current: the generator's own
  check finds nothing stale;
* every parameter of `model.PARAMETERS` has a row in the parameter table with its unit and default;
* every metric name of `model.METRICS`, every regime preset and every lever appears in the doc;
* the generator notices a stale table and missing markers, and leaves prose outside the markers
  alone.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

import model

ROOT = Path(__file__).resolve().parent.parent
ODD = ROOT / "docs" / "ODD.md"


def _load_make_docs() -> ModuleType:
    """Import scripts/make_docs.py (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_docs", ROOT / "scripts" / "make_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_docs", module)
    spec.loader.exec_module(module)
    return module


make_docs = _load_make_docs()


@pytest.fixture(scope="module")
def odd_text() -> str:
    return ODD.read_text(encoding="utf-8")


def _cells(line: str) -> list[str]:
    """The cells of one Markdown table row (escaped pipes stay inside their cell)."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _parameter_rows(text: str) -> dict[str, list[str]]:
    """Rows of the generated parameter table, by parameter name."""
    match = re.search(
        r"^<!-- BEGIN parameters -->\n(.*?)^<!-- END parameters -->", text, re.DOTALL | re.M
    )
    assert match is not None, "docs/ODD.md has no parameter table between its markers"
    rows = {}
    for line in match.group(1).splitlines():
        if line.startswith("| `"):
            cells = _cells(line)
            rows[cells[0].strip("`")] = cells
    return rows


def test_generated_tables_are_current() -> None:
    problems = make_docs.check(ODD)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("parameter", model.PARAMETERS, ids=lambda p: p.name)
def test_every_parameter_has_its_unit_and_default(parameter, odd_text: str) -> None:
    rows = _parameter_rows(odd_text)
    assert parameter.name in rows, f"parameter {parameter.name} is missing from docs/ODD.md"
    _, unit, default, *_ = rows[parameter.name]
    assert unit == parameter.unit
    assert default == make_docs.format_value(parameter.default)


def test_the_parameter_table_has_no_parameter_the_model_lacks(odd_text: str) -> None:
    assert set(_parameter_rows(odd_text)) == {p.name for p in model.PARAMETERS}


def test_every_parameter_source_is_tagged_or_an_assumption(odd_text: str) -> None:
    for name, cells in _parameter_rows(odd_text).items():
        source = cells[-1]
        tagged = any(tag in source for tag in ("[V]", "[P]", "[U]"))
        assert tagged or source.startswith("assumption"), f"{name}: source {source!r}"


@pytest.mark.parametrize("metric", list(model.METRICS))
def test_every_metric_is_named(metric: str, odd_text: str) -> None:
    assert f"`{metric}`" in odd_text


@pytest.mark.parametrize("name", [*model.REGIMES, *model.LEVERS])
def test_every_regime_and_lever_is_named(name: str, odd_text: str) -> None:
    assert f"`{name}`" in odd_text


def test_check_names_a_stale_table(tmp_path: Path, odd_text: str) -> None:
    cells = _parameter_rows(odd_text)["leakage"]
    old_row = "| " + " | ".join(cells) + " |"
    assert old_row in odd_text
    new_row = "| " + " | ".join([*cells[:2], "a stale default", *cells[3:]]) + " |"
    stale = tmp_path / "ODD.md"
    stale.write_text(odd_text.replace(old_row, new_row))
    problems = make_docs.check(stale)
    assert len(problems) == 1 and "parameters" in problems[0]
    assert make_docs.main(["--check", "--path", str(stale)]) == 1
    assert make_docs.main(["--path", str(stale)]) == 0  # regenerate
    assert stale.read_text() == odd_text
    assert make_docs.main(["--check", "--path", str(stale)]) == 0


def test_regeneration_leaves_prose_alone(odd_text: str) -> None:
    edited = odd_text.replace("## Overview", "## Overview\n\nA hand-written note.", 1)
    assert make_docs.render(edited) == edited


def test_missing_markers_are_reported(tmp_path: Path, odd_text: str) -> None:
    broken = tmp_path / "ODD.md"
    broken.write_text(odd_text.replace("<!-- END metrics -->", ""))
    problems = make_docs.check(broken)
    assert len(problems) == 1 and "metrics" in problems[0]
    with pytest.raises(ValueError, match="metrics"):
        make_docs.render(broken.read_text())


def test_readme_tables_are_current() -> None:
    """The README's regime and metric tables are the generator's, for the model as it is."""
    assert make_docs.check(make_docs.README) == []
    readme = make_docs.README.read_text(encoding="utf-8")
    for name in model.METRICS:
        assert f"`{name}`" in readme
    for name in model.REGIMES:
        assert f"`{name}`" in readme


def test_readme_python_example_runs_as_written() -> None:
    """The README's model example runs unchanged and gives what its comments promise (its
    experiments.api example is tests/experiments/test_api.py's business)."""
    readme = make_docs.README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    examples = [block for block in blocks if block.startswith("from model import DataMarket")]
    assert len(examples) == 1, blocks
    namespace: dict = {}
    exec(compile(examples[0], "README.md", "exec"), namespace)
    assert len(namespace["metrics"]) == 60  # one row per month
    assert set(model.METRICS) <= set(namespace["metrics"].columns)
    firms = namespace["firms"]
    assert {"profit", "market_share", "strategy", "fees_paid", "fees_received", "fines"} <= set(
        firms.columns
    )
    custom = namespace["custom"]
    assert custom.portability == "realtime" and custom.access_fee_cap == 0.0
    assert namespace["switched"].p.regime_schedule[36] is custom
