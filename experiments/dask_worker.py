"""What every Dask worker running the model's runs is set up with, including workers that join
the cluster after the runner connected, and the local cluster's nodes that serve no HTTP.

A `distributed.WorkerPlugin` registered with the scheduler runs `setup` on each worker there now
and on each that connects later (``Client.run`` would reach only the first), so a cluster grown
during a sweep still gives every worker one BLAS and one kernel thread and glibc's memory reuse.
Kept apart from `experiments.runner` so that importing the runner does not import Dask.

`SchedulerWithoutHTTP` and `WorkerWithoutHTTP` are what ``backend = "dask"`` without a scheduler
starts (`experiments.runner.scheduler_for`). Dask's own scheduler opens an HTTP server even with
``dashboard_address=None`` (on port 8787: status pages, JSON, Prometheus metrics, health), and
each worker one on a random port; these two open none. Their Dask connections (scheduler,
nannies, workers) stay on 127.0.0.1. Whoever wants a dashboard starts a scheduler of their own
(``dask scheduler --dashboard-address 127.0.0.1:8787``) and passes its address.
"""

from __future__ import annotations

from distributed import Scheduler, Worker, WorkerPlugin
from distributed.http.routing import RoutingApplication
from tornado.httpserver import HTTPServer

from experiments.runner import one_thread_each, reuse_freed_memory


class WorkerSetUp(WorkerPlugin):
    """`one_thread_each` and `reuse_freed_memory` on each worker (see `experiments.runner`)."""

    #: The plugin's name on the scheduler: registering it again replaces it, never doubles it.
    name = "datamarket-worker-set-up"

    def setup(self, worker) -> None:
        one_thread_each()
        reuse_freed_memory()


class _NoHTTP:
    """Builds the node's HTTP application, which other parts of Dask may add routes to, and a
    server for it that never listens: no port is opened and ``services`` names no dashboard."""

    def start_http_server(self, routes, dashboard_address, default_port=0, ssl_options=None):
        self.http_application = RoutingApplication(routes)
        self.http_server = HTTPServer(self.http_application, ssl_options=ssl_options)


class SchedulerWithoutHTTP(_NoHTTP, Scheduler):
    """A Dask scheduler with no HTTP server (no dashboard, no status pages, no metrics)."""


class WorkerWithoutHTTP(_NoHTTP, Worker):
    """A Dask worker with no HTTP server; its nanny, which starts it, opens none either."""
