"""Strip the notebooks' outputs, execution counts and widget state, as they are committed.

    .venv/bin/python scripts/strip_notebooks.py            # strip every notebook in notebooks/
    .venv/bin/python scripts/strip_notebooks.py --check    # exit 1, naming them, if any is not
    .venv/bin/python scripts/strip_notebooks.py FILE ...   # only these

Notebooks are committed without outputs: the repository stays small (a plotly figure's data, or
a copy of plotly.js, would otherwise be committed with every run), diffs show only code and prose,
and what a reader sees is what the notebook computes on their machine. `tests/test_notebooks.py`
fails while a notebook has outputs; run this script after working in Jupyter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def stripped(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without outputs, execution counts, execution timings or widget state."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
    notebook.metadata.pop("widgets", None)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/)")
    parser.add_argument("--check", action="store_true", help="only report; change nothing")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    dirty = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        clean = nbformat.writes(stripped(nbformat.reads(text, as_version=4))) + "\n"
        if clean != text:
            dirty.append(path)
            if not args.check:
                path.write_text(clean, encoding="utf-8")
    verb = "not stripped" if args.check else "stripped"
    for path in dirty:
        print(f"{verb}: {path}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
