"""No connection out of the machine (issue 14): the browser lab, served each of the three ways
the README gives, and a sweep on the local Dask backend.

How connections are traced. Each command runs with a `sitecustomize` module on its PYTHONPATH
(`TRACER`, written by the `tracer` fixture), so every Python process it starts, including the
one `datamarket viz` execs into and the processes those spawn, registers an audit hook
(`sys.addaudithook`) before any other code runs. The hook sees each `socket.connect`,
`socket.sendto`, `socket.sendmsg` and host-name look-up (`socket.getaddrinfo`,
`socket.gethostbyname`, `socket.gethostbyaddr`) that Python code makes; it writes down every one
whose target is not the loopback interface (127.0.0.0/8, ::1, localhost) or a unix socket, and
refuses it (an OSError, as if the network were unreachable), so nothing leaves the machine and no
test waits on a time-out. It needs nothing installed, unlike strace, which a fresh CI machine may
not have.

Why that suffices: Solara's calls home (its telemetry thread, its version check, its Jupyter
check, its CDN proxy) and Dask's connections all go through Python's socket module (requests,
urllib3, tornado, asyncio); none of the packages the lab or the runner uses connects from C
code of its own. A look-up is caught before the resolver is asked, so a call home is seen even
where DNS fails. `test_the_tracer_sees_and_refuses_outbound_attempts` checks the harness on a
script that does try to connect out, so the other tests cannot pass by tracing nothing, and each
of them checks that the traced process was indeed one of the lab's.

What the page asks the browser to load is checked too: no `src` of the served page's HTML, and
no output or widget of the notebook display, points off the machine (Solara's hidden iframe to
solara.dev was one).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import psutil
import pytest

from experiments.labserver import ROOT, USERS_ENV, LabServerError, running_lab

LAB_USERS = 300  # the page's market: small, so that it builds quickly
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost", ""}

#: The audit hook, as a `sitecustomize` module: Python imports it at start-up, before `-c`, `-m`
#: or a script's own code, in every process whose PYTHONPATH holds its folder.
TRACER = '''
"""Test harness (tests/test_no_network.py): log and refuse connections that leave the machine."""
import errno, ipaddress, json, os, socket, sys

_LOG = os.environ.get("DATAMARKET_NET_TRACE")


def _write(record):
    record["pid"] = os.getpid()
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(record, default=repr) + "\\n")


def _loopback(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%")[0]
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hook(event, args):
    if not event.startswith("socket."):
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        if address is None or sock.family == getattr(socket, "AF_UNIX", None):
            return
        host = address[0] if isinstance(address, tuple) else address
        lookup = False
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        host, lookup = args[0], True
    else:
        return
    if _loopback(host):
        return
    _write({"event": event, "host": host, "args": args[1:] if lookup else args[1]})
    if lookup:
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: refused by the no-network test")
    raise OSError(errno.ENETUNREACH, f"{host}: refused by the no-network test")


if _LOG:
    _write({"event": "tracer.start", "argv": sys.argv})
    sys.addaudithook(_hook)
'''


@dataclass
class Tracer:
    """The harness: `env` puts the audit hook in every Python process; `log` is what it saw."""

    env: dict[str, str]
    log: Path

    def records(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def attempts(self) -> list[dict]:
        """Every connection or look-up that was not for the loopback interface."""
        return [r for r in self.records() if r["event"] != "tracer.start"]

    def traced(self) -> list[list[str]]:
        """The command line of each traced process."""
        return [r["argv"] for r in self.records() if r["event"] == "tracer.start"]

    def assert_traced(self, program: str) -> None:
        """The hook ran in a process of `program` (else the test would have traced nothing)."""
        argvs = self.traced()
        assert any(Path(argv[0]).name == program for argv in argvs if argv), argvs

    def assert_nothing_outbound(self) -> None:
        attempts = self.attempts()
        lines = [json.dumps(attempt) for attempt in attempts]
        if any("cdn" in str(attempt["host"]) for attempt in attempts):
            lines.append("(a CDN: Solara's asset cache lacks a file; run scripts/setup_lab.sh)")
        assert attempts == [], "connections out of the machine:\n" + "\n".join(lines)


@pytest.fixture
def tracer(tmp_path: Path) -> Tracer:
    folder = tmp_path / "tracer"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(TRACER)
    log = tmp_path / "net-trace.jsonl"
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    env = {
        "PYTHONPATH": path,
        "DATAMARKET_NET_TRACE": str(log),
        # A home of its own, as on a machine where Solara never ran: its calls home that happen
        # once per machine (a file there records them) are then due.
        "SOLARA_HOME": str(tmp_path / "solara-home"),
    }
    return Tracer(env=env, log=log)


def _run_python(code: str, tracer: Tracer, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**env, **tracer.env, USERS_ENV: str(LAB_USERS)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _Loads(HTMLParser):
    """What an HTML page makes the browser load by itself: every `src`, and `<link href>`
    (an `<a href>` is loaded only when clicked)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name == "src" or (tag == "link" and name == "href")):
                self.urls.append(value)


def _off_machine(urls: list[str]) -> list[str]:
    return [u for u in urls if urlparse(u).scheme and urlparse(u).hostname not in LOCAL_HOSTS]


def test_the_tracer_sees_and_refuses_outbound_attempts(tracer):
    # A server on the loopback interface, which the script may reach.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        result = _run_python(
            f"""
            import socket, urllib.request
            # Allowed: loopback, by address and by name.
            socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
            socket.create_connection(("localhost", {port}), timeout=5).close()
            refused = []
            for attempt in (
                lambda: socket.socket().connect(("10.255.255.1", 443)),
                lambda: socket.getaddrinfo("api.mixpanel.com", 443),
                lambda: urllib.request.urlopen("https://api.ipify.org", timeout=1),
            ):
                try:
                    attempt()
                except OSError:
                    refused.append(True)
            print(len(refused))
            """,
            tracer,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3"], "each outbound attempt is refused"
    hosts = [(a["event"], a["host"]) for a in tracer.attempts()]
    assert hosts == [
        ("socket.connect", "10.255.255.1"),
        ("socket.getaddrinfo", "api.mixpanel.com"),
        ("socket.getaddrinfo", "api.ipify.org"),
    ]
    tracer.assert_traced("-c")


@pytest.mark.parametrize("solara_run", [False, True], ids=["datamarket-viz", "solara-run-app"])
def test_serving_the_lab_makes_no_outbound_connection(tracer, tmp_path, solara_run):
    # `datamarket viz` (production mode) and `solara run app.py --no-check-version` (development
    # mode, where Solara's page would embed its call home): from start-up to shut-down, with the
    # page fetched, no connection leaves the machine.
    try:
        with running_lab(
            LAB_USERS, tmp_path / "server.log", solara_run=solara_run, env=tracer.env
        ) as url:
            with urllib.request.urlopen(url, timeout=30) as response:
                html = response.read().decode()
            loads = _Loads()
            loads.feed(html)
            # What the browser loads first, Solara's own scripts and styles among them: from the
            # asset cache (scripts/setup_lab.sh fills it); a file missing there would make
            # the server fetch it from Solara's CDN.
            fetched = [u for u in loads.urls if not urlparse(u).scheme]
            for path in fetched:
                with contextlib.suppress(urllib.error.HTTPError):
                    urllib.request.urlopen(urljoin(url, path), timeout=30).close()
            time.sleep(1.0)  # Solara's telemetry runs in a thread started with the server
    except LabServerError as error:
        pytest.fail(str(error))
    tracer.assert_traced("solara")
    tracer.assert_nothing_outbound()
    assert any("require" in u for u in fetched), loads.urls
    assert _off_machine(loads.urls) == [], "the page makes the browser load these"


def test_the_page_inline_in_jupyter_makes_no_outbound_connection(tracer):
    # `from app import page; page` in an IPython shell, which renders the page as a notebook
    # does (reacton wraps it in Solara's notebook layout, whose effects call home).
    result = _run_python(
        """
        import json, time
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.utils.capture import capture_output
        from ipywidgets.widgets.widget import _instances

        shell = InteractiveShell.instance()
        with capture_output() as captured:
            result = shell.run_cell("from app import page\\npage")
        result.raise_error()
        time.sleep(1.0)  # Solara's notebook telemetry runs in a thread
        shown = [output.data for output in captured.outputs]
        widgets = [widget.get_state() for widget in list(_instances.values())]
        print(json.dumps({"shown": shown, "widgets": widgets}, default=repr))
        """,
        tracer,
    )
    assert result.returncode == 0, result.stderr
    tracer.assert_traced("-c")
    tracer.assert_nothing_outbound()
    page = json.loads(result.stdout.splitlines()[-1])
    assert any("application/vnd.jupyter.widget-view+json" in d for d in page["shown"]), page
    # What the browser would load: iframes and images among the widgets, and scripts shown.
    urls = [
        value
        for widget in page["widgets"]
        for name, value in (widget.get("attributes") or {}).items()
        if name in ("src", "href") and isinstance(value, str)
    ]
    urls += [u for d in page["shown"] for u in d.get("application/javascript", "").split('"')]
    assert _off_machine(urls) == []


def test_a_local_dask_sweep_opens_no_http_server(tmp_path):
    # `backend = "dask"` without a scheduler starts a cluster for the sweep: while it runs, the
    # only sockets listening are Dask's own connections (scheduler, nannies, workers), all on
    # 127.0.0.1; no dashboard, on 8787 or elsewhere, and no worker's HTTP server.
    from distributed import Scheduler

    from experiments.api import run

    me = psutil.Process()
    before = {c.laddr for c in me.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    seen: dict[tuple, set[str]] = {}  # (host, port) listening -> the processes
    comms: set[tuple] = set()
    services: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for scheduler in list(Scheduler._instances):
                workers = list(scheduler.workers.values())
                comms.update(_host_port(a) for a in [scheduler.address] if a)
                comms.update(_host_port(w.address) for w in workers)
                comms.update(_host_port(w.nanny) for w in workers if w.nanny)
                services.extend(f"scheduler {name}" for name in scheduler.services)
                services.extend(f"worker {name}" for w in workers for name in w.services)
                pids = {w.pid for w in workers}
                for pid in [me.pid, *pids]:
                    try:
                        connections = psutil.Process(pid).net_connections("inet")
                    except psutil.Error:
                        continue
                    for c in connections:
                        if c.status == psutil.CONN_LISTEN and c.laddr not in before:
                            seen.setdefault((c.laddr.ip, c.laddr.port), set()).add(str(pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        results = run(
            {
                "experiment": {"name": "tiny", "steps": 12, "replications": 2, "seed": 1},
                "scenario": {"preset": "baseline", "n_users": 200},
                "policies": [{"regime": "click_through"}],
                "execution": {"backend": "dask", "workers": 1},
            },
            out=tmp_path / "out",
        )
    finally:
        done.set()
        watcher.join(timeout=10)
    assert len(results.runs) == 2 and set(results.runs["status"]) == {"ok"}
    assert len(comms) == 3, comms  # the scheduler, the nanny and its worker
    assert all(host == "127.0.0.1" for host, _ in seen), seen
    assert ("127.0.0.1", 8787) not in seen, "a dashboard on 8787"
    others = {address: pids for address, pids in seen.items() if address not in comms}
    assert others == {}, f"listening besides Dask's connections (HTTP servers): {others}"
    assert services == [], "the scheduler or a worker names an HTTP service"


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.split("://")[-1].rsplit(":", 1)
    return host, int(port)


def test_viz_refuses_to_serve_while_solaras_browser_files_are_missing(tmp_path, monkeypatch):
    # With an empty cache the page would have the server fetch its scripts from Solara's CDN:
    # `datamarket viz` stops first, naming the files, the cache and the set-up that fills it.
    from typer.testing import CliRunner

    from experiments import cli, lab_assets

    monkeypatch.setattr(lab_assets, "cache_dir", lambda: tmp_path)
    served = []
    monkeypatch.setattr(cli.os, "execv", lambda *args: served.append(args))
    result = CliRunner().invoke(cli.app, ["viz", "--port", "8999"])
    assert result.exit_code == 2, result.output
    assert "requirejs@" in result.output
    assert str(tmp_path) in result.output
    assert "scripts/setup_lab.sh" in result.output
    assert served == []
    # Once every file is there, it serves.
    for package in lab_assets.wanted():
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "package.json").write_text("{}")
    result = CliRunner().invoke(cli.app, ["viz", "--port", "8999"])
    assert result.exit_code == 0, result.output
    assert len(served) == 1 and "--no-check-version" in served[0][1]
