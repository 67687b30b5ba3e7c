#!/usr/bin/env bash
# What the browser tests (tests/browser) need, on top of scripts/setup.sh's .venv:
#   1. Debian's Chromium at /usr/bin/chromium (never `playwright install`: it downloads a browser);
#   2. in .venv: playwright, pytest-playwright, anywidget (plotly's figure widget needs it) and
#      ipyvuetify/ipyvue below 3 (with 3, SolaraViz's plot grid stays empty);
#   3. Solara's browser files in its local cache (scripts/setup_lab.sh). Nothing is downloaded at
#      test or run time.
# Idempotent: each step runs only when what it installs is missing, so a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

py=.venv/bin/python
if [ ! -x "$py" ]; then
    bash scripts/setup.sh
fi

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "setup_browser: '$*' needs root; run it as root or install sudo" >&2
        exit 1
    fi
}

apt_updated=no
apt_install() {
    if [ "$apt_updated" = no ]; then
        as_root apt-get update -qq
        apt_updated=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# 1. The browser.
if [ ! -x /usr/bin/chromium ]; then
    t0=$(now)
    apt_install chromium
    echo "setup_browser: apt: chromium installed in $(took "$t0") s"
fi

# 2. The Python side. Exit status 0 when every requirement is met by what is installed.
if ! "$py" - <<'EOF'; then
import sys
from importlib.metadata import PackageNotFoundError, version

def major(name):
    try:
        return int(version(name).split(".")[0])
    except PackageNotFoundError:
        return None

missing = [n for n in ("playwright", "pytest-playwright", "anywidget") if major(n) is None]
missing += [n for n in ("ipyvuetify", "ipyvue") if major(n) is None or major(n) >= 3]
sys.exit(1 if missing else 0)
EOF
    t0=$(now)
    "$py" -m uv pip install --quiet --python "$py" \
        playwright pytest-playwright anywidget "ipyvuetify<3" "ipyvue<3"
    echo "setup_browser: pip: playwright, pytest-playwright, anywidget, ipyvuetify<3, ipyvue<3" \
        "installed in $(took "$t0") s"
fi

# 3. Solara's browser files in its local cache (scripts/setup_lab.sh).
bash scripts/setup_lab.sh
