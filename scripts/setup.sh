#!/usr/bin/env bash
# Make .venv with Python >= 3.12 and the project installed in it (editable, with the dev tools).
# Idempotent: a second run with nothing changed only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    # pyenv installs interpreters that its shims hide unless selected; use them directly.
    if command -v pyenv >/dev/null 2>&1; then
        for candidate in "$(pyenv root)"/versions/3.1[2-9]*/bin/python3; do
            if [ -x "$candidate" ]; then
                echo "$candidate"
                return 0
            fi
        done
    fi
    return 1
}

stamp=.venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && .venv/bin/python -c 'import model' 2>/dev/null; then
    exit 0
fi

if [ ! -x .venv/bin/python ]; then
    python=$(find_python) || {
        echo "setup: datamarket needs Python 3.12 or newer; none was found (tried python3.13," \
            "python3.12, python3 and pyenv's versions). Install one and run this again." >&2
        exit 1
    }
    echo "setup: creating .venv with $("$python" --version)"
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check uv
.venv/bin/python -m uv pip install --quiet --python .venv/bin/python -e ".[dev]"
touch "$stamp"
echo "setup: .venv is ready"
