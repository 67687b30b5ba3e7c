"""The notebooks in notebooks/: committed without outputs, and each runs top to bottom.

Outputs are stripped before a commit (`scripts/strip_notebooks.py`) so that the repository stays
small and diffs show code and prose only. Each notebook is then executed with nbclient in this
environment's kernel, from its own folder, as a reader would run it. Its cells assert their own
findings, so a model change that breaks what a notebook says fails here. Each notebook is sized to
run in about a minute on 2 cores; `-m "not notebooks"` skips the executions.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = {
    "01_quickstart.ipynb",
    "02_tencent_huawei_case.ipynb",
    "03_regime_comparison.ipynb",
    "04_sensitivity.ipynb",
    "05_extending.ipynb",
}
#: Seconds a cell may run: a guard against a hang, far above what any cell needs.
CELL_TIMEOUT = 600
PLOTLY_JSON = "application/vnd.plotly.v1+json"
#: An executed notebook's outputs stay small: plotly.js (about 4.8 MB) is never embedded.
MAX_OUTPUT_BYTES = 3_000_000
STRIP = "run `.venv/bin/python scripts/strip_notebooks.py`"


def _name(path: Path) -> str:
    return path.name


def _tree(folder: Path) -> set[str]:
    """Every file under `folder`, relative to it (empty if it does not exist)."""
    if not folder.is_dir():
        return set()
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def test_the_notebooks_of_the_readme_are_there():
    assert {path.name for path in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; {STRIP}"
    assert "widgets" not in notebook.metadata, f"{path.name} keeps widget state; {STRIP}"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_runs_top_to_bottom(path):
    notebook = nbformat.read(path, as_version=4)
    repository_before = _tree(NOTEBOOKS_DIR), _tree(ROOT / "results")
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, at the first error

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "every code cell ran"
    assert any("assert " in cell.source for cell in code), "the notebook checks its findings"
    outputs = [output for cell in code for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any(PLOTLY_JSON in output.get("data", {}) for output in outputs), "figures are drawn"
    size = len(json.dumps([cell.outputs for cell in code]))
    assert size < MAX_OUTPUT_BYTES, f"{path.name}: outputs are {size:,} bytes; plotly.js embedded?"
    # Results go to temporary folders, never into the repository.
    assert (_tree(NOTEBOOKS_DIR), _tree(ROOT / "results")) == repository_before
