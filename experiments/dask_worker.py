"""What every Dask worker running the model's runs is set up with, including workers that join
the cluster after the runner connected.

A `distributed.WorkerPlugin` registered with the scheduler runs `setup` on each worker there now
and on each that connects later (``Client.run`` would reach only the first), so a cluster grown
during a sweep still gives every worker one BLAS and one kernel thread and glibc's memory reuse.
Kept apart from `experiments.runner` so that importing the runner does not import Dask.
"""

from __future__ import annotations

from distributed import WorkerPlugin

from experiments.runner import one_thread_each, reuse_freed_memory


class WorkerSetUp(WorkerPlugin):
    """`one_thread_each` and `reuse_freed_memory` on each worker (see `experiments.runner`)."""

    #: The plugin's name on the scheduler: registering it again replaces it, never doubles it.
    name = "datamarket-worker-set-up"

    def setup(self, worker) -> None:
        one_thread_each()
        reuse_freed_memory()
