# The two commands of the README: `make run` (the main job) and `make test` (the whole suite).
# Both set up .venv first (scripts/setup.sh: Python >= 3.12, the project and its dev tools);
# `make test` also installs what the browser tests need (scripts/setup_browser.sh).

.PHONY: run test lint setup viz

run: setup
	.venv/bin/datamarket run experiments/tencent_huawei_2017.toml

# The browser lab on http://127.0.0.1:8765 (scripts/setup_lab.sh: Solara's browser files, once).
viz: setup
	bash scripts/setup_lab.sh
	.venv/bin/datamarket viz

test: setup lint
	bash scripts/setup_browser.sh
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

setup:
	@bash scripts/setup.sh
