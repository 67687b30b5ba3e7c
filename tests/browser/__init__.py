"""End-to-end tests of the browser lab (app.py) in Debian's Chromium, driven by Playwright."""
