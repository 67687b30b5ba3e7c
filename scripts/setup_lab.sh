#!/usr/bin/env bash
# What the browser lab (`datamarket viz`) needs on top of scripts/setup.sh's .venv: Solara's
# browser files in its local cache, packed from the npm registry, so that serving the page never
# fetches them from Solara's CDN (experiments/lab_assets.py lists them, by the installed solara).
# Installs npm from Debian's packages when it is missing (that needs root or sudo).
# Idempotent: a package already in the cache is not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

py=.venv/bin/python
if [ ! -x "$py" ]; then
    bash scripts/setup.sh
fi

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

install_npm() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "setup_lab: npm is missing and installing it needs root; install npm and run" \
                "this again" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    local t0
    t0=$(now)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends npm
    echo "setup_lab: apt: npm installed in $(took "$t0") s"
}

# One Python process (importing solara takes seconds): the cache folder, then PKG@VER a line.
plan=$("$py" -m experiments.lab_assets)
cache=$(head -n 1 <<<"$plan")
for package in $(tail -n +2 <<<"$plan"); do
    target="$cache/$package"
    if [ -f "$target/package.json" ]; then
        continue
    fi
    command -v npm >/dev/null 2>&1 || install_npm
    t0=$(now)
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent "$package" >/dev/null)
    mkdir -p "$target"
    tar -xzf "$work"/*.tgz -C "$target" --strip-components=1
    rm -rf "$work"
    echo "setup_lab: npm: $package unpacked into the Solara cache in $(took "$t0") s"
done
