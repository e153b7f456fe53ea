"""Dask clusters for a run: a LocalCluster of single-threaded worker processes, one core each, or any
running scheduler; every worker shares the persistent JAX compilation cache."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask
import numcodecs
from dask.distributed import Client, LocalCluster, WorkerPlugin

from stochpop.run.compilation_cache import enable_compilation_cache

WORKER_MALLOC = {"MALLOC_TRIM_THRESHOLD_": 2**34, "MALLOC_MMAP_THRESHOLD_": 2**30}
"""glibc settings for LocalCluster workers: keep freed memory for reuse instead of returning it to the OS
(Dask's default trims at 64 kB). A chunk allocates many temporaries of tens of MB; on machines with slow
page faults (VMs) re-touching fresh pages cost more than the arithmetic. Resident memory stays at the
chunk's peak working set."""


class OneCorePerWorker(WorkerPlugin):
    """Confines each LocalCluster worker process to one core (worker i to the i-th core, modulo the number
    of cores), as its single thread implies: XLA would otherwise spread every process's work over all
    cores, and workers on one machine would compete for them instead of adding up. Blosc, which compresses
    the chunks, then uses one thread too. Linux only; elsewhere workers are left as they are. Pinning
    applies to the calling thread and the threads it starts later, which is every thread that computes:
    a worker starts its executor thread and XLA its pool after the plugin's setup. Two LocalClusters alive
    at once are pinned to the same cores."""

    name = "stochpop-one-core-per-worker"

    def setup(self, worker: Any) -> None:
        if hasattr(os, "sched_setaffinity"):
            cores = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cores[int(worker.name) % len(cores)]})
            numcodecs.blosc.set_nthreads(1)


class CompilationCache(WorkerPlugin):
    """Workers read and write the persistent JAX compilation cache (`compilation_cache`), so a chunk's
    programs compile once across workers and runs."""

    name = "stochpop-compilation-cache"

    def setup(self, worker: Any) -> None:
        enable_compilation_cache()


@contextmanager
def dask_client(workers: int = 1, scheduler: str | None = None) -> Iterator[Client]:
    """A client on `scheduler` (an address) or on a LocalCluster of `workers` single-threaded processes,
    one core each (`OneCorePerWorker`); the workers share the compilation cache (`CompilationCache`)."""
    if scheduler is not None:
        with Client(scheduler) as client:
            client.register_plugin(CompilationCache())
            yield client
        return
    with (
        dask.config.set({f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC.items()}),
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(OneCorePerWorker())
        client.register_plugin(CompilationCache())
        yield client
