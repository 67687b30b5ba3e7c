"""The browser files Solara's page loads, kept in Solara's local cache so that nothing is fetched
while the lab is served.

Solara's page loads its JavaScript and CSS from a public CDN unless the files are in its proxy
cache (`solara.server.settings.assets.proxy_cache_dir`, inside the venv). `scripts/setup_lab.sh`
fills that cache at set-up time, from the npm registry, with the packages listed here;
`datamarket viz` refuses to serve while one is missing, since the page would otherwise make the
server download it.

    python -m experiments.lab_assets        # the cache folder, then one PKG@VERSION a line
"""

from __future__ import annotations

import re
from pathlib import Path

#: npm package → (the file of the installed solara that names its version, the version to use
#: where that file names none: those of solara 1.64.1).
_WANTED: dict[str, tuple[str, str]] = {
    # ipyvuetify < 3 loads the Vuetify 2 app, not solara-vuetify3-app.
    "@widgetti/solara-vuetify-app": ("server/templates/solara.html.j2", "10.1.1"),
    "requirejs": ("server/templates/solara.html.j2", "2.3.6"),
    "font-awesome": ("server/settings.py", "4.5.0"),
    "@widgetti/vue-grid-layout": ("widgets/vue/gridlayout.vue", "2.3.13-alpha.2"),
    # solara.Markdown (the page's headings) loads both when it renders.
    "katex": ("components/markdown.py", "0.16.9"),
    "mermaid": ("components/markdown.py", "10.8.0"),
}


def cache_dir() -> Path:
    """Solara's proxy cache: where it looks for a CDN file before it would fetch it."""
    import solara.server.settings as settings

    return Path(settings.assets.proxy_cache_dir)


def wanted() -> list[str]:
    """The packages the installed solara's page loads, as ``name@version``."""
    import solara

    root = Path(solara.__file__).parent
    packages = []
    for name, (source, fallback) in _WANTED.items():
        try:
            text = (root / source).read_text()
        except OSError:
            text = ""
        found = re.search(re.escape(name) + r"@(\d+\.\d+\.\d+(?:-[\w.]+)?)/", text)
        packages.append(f"{name}@{found.group(1) if found else fallback}")
    return packages


def missing() -> list[str]:
    """The wanted packages not unpacked in the cache (`npm pack` always has a package.json;
    Solara's own proxy, when online, caches single files only)."""
    cache = cache_dir()
    return [package for package in wanted() if not (cache / package / "package.json").is_file()]


if __name__ == "__main__":
    print(cache_dir())
    print("\n".join(wanted()))
