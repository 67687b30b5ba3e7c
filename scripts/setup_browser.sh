#!/usr/bin/env bash
# What the browser tests (tests/browser) need, on top of scripts/setup.sh's .venv:
#   1. Debian's Chromium at /usr/bin/chromium (never `playwright install`: it downloads a browser);
#   2. in .venv: playwright, pytest-playwright, anywidget (plotly's figure widget needs it) and
#      ipyvuetify/ipyvue below 3 (with 3, SolaraViz's plot grid stays empty);
#   3. Solara's browser files in its proxy cache, packed from the npm registry, for machines that
#      cannot reach Solara's CDN. Nothing is downloaded at test or run time.
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

# 3. Solara's CDN files. The versions are the ones the installed solara asks for (its page
#    template, its font-awesome setting, its grid layout widget and its Markdown component), else
#    those of solara 1.64.1.
# One Python process, as importing solara takes seconds: the cache folder, then PKG@VER a line.
plan=$(
    "$py" - <<'EOF'
import re
from pathlib import Path

import solara
import solara.server.settings as settings

print(settings.assets.proxy_cache_dir)
root = Path(solara.__file__).parent
wanted = {
    # ipyvuetify < 3 loads the Vuetify 2 app, not solara-vuetify3-app.
    "@widgetti/solara-vuetify-app": ("server/templates/solara.html.j2", "10.1.1"),
    "requirejs": ("server/templates/solara.html.j2", "2.3.6"),
    "font-awesome": ("server/settings.py", "4.5.0"),
    "@widgetti/vue-grid-layout": ("widgets/vue/gridlayout.vue", "2.3.13-alpha.2"),
    # solara.Markdown (the page's headings) loads both when it renders.
    "katex": ("components/markdown.py", "0.16.9"),
    "mermaid": ("components/markdown.py", "10.8.0"),
}
for name, (source, fallback) in wanted.items():
    try:
        text = (root / source).read_text()
    except OSError:
        text = ""
    found = re.search(re.escape(name) + r"@(\d+\.\d+\.\d+(?:-[\w.]+)?)/", text)
    print(f"{name}@{found.group(1) if found else fallback}")
EOF
)
cache=$(head -n 1 <<<"$plan")
packages=$(tail -n +2 <<<"$plan")
for package in $packages; do
    target="$cache/$package"
    # npm pack always has package.json; Solara's own proxy, when online, caches single files only.
    if [ -f "$target/package.json" ]; then
        continue
    fi
    if ! command -v npm >/dev/null 2>&1; then
        t0=$(now)
        apt_install npm
        echo "setup_browser: apt: npm installed in $(took "$t0") s"
    fi
    t0=$(now)
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent "$package" >/dev/null)
    mkdir -p "$target"
    tar -xzf "$work"/*.tgz -C "$target" --strip-components=1
    rm -rf "$work"
    echo "setup_browser: npm: $package unpacked into the Solara cache in $(took "$t0") s"
done
