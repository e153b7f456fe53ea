"""Paths in chunks as Dask tasks, streamed to a zarr store as they finish, resumable.

A run is a function `chunk_fn(start, stop) -> xr.Dataset` that computes paths start..stop-1 (a `draw`
dim labelled by path index) and derives every path's randomness from (seed, path index), so results do
not depend on the chunking or on which worker runs a chunk. Each finished chunk is written to its own zarr
group under `store/chunks/` (written aside, then renamed into place, so a chunk is either whole or absent);
a rerun of an interrupted run computes only the missing chunks. `open_results` views all chunks as one
lazy (dask-backed) dataset, so memory stays bounded however many paths there are.
"""

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
import numcodecs
import numpy as np
import xarray as xr
import zarr
from dask.distributed import Client, LocalCluster, WorkerPlugin, as_completed

from stochpop.run.compilation_cache import enable_compilation_cache

ChunkFn = Callable[[int, int], xr.Dataset]
WORKER_MALLOC = {"MALLOC_TRIM_THRESHOLD_": 2**34, "MALLOC_MMAP_THRESHOLD_": 2**30}
"""glibc settings for LocalCluster workers: keep freed memory for reuse instead of returning it to the OS
(Dask's default trims at 64 kB). A chunk allocates many temporaries of tens of MB; on machines with slow
page faults (VMs) re-touching fresh pages cost more than the arithmetic. Resident memory stays at the
chunk's peak working set."""
LARGE = 2**20
"""Variables with more values than this are stored one step of their first dim (e.g. a year) per zarr
chunk, so that summaries can read them a year at a time."""
ZARR_FORMAT = 2
"""Zarr v2 stores the string coordinates (sex) with a stable specification; v3 has none for them yet."""


def chunk_bounds(n_paths: int, chunk_size: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] covering 0..n_paths-1 in chunks of `chunk_size` (the last may be shorter)."""
    if n_paths < 1 or chunk_size < 1:
        raise ValueError(f"need at least one path and a positive chunk size, got {n_paths}, {chunk_size}")
    return [(start, min(start + chunk_size, n_paths)) for start in range(0, n_paths, chunk_size)]


def chunk_store(store: Path, start: int, stop: int) -> Path:
    return store / "chunks" / f"{start:09d}-{stop:09d}.zarr"


def compute_and_write(chunk_fn: ChunkFn, start: int, stop: int, store: Path) -> Path:
    """Compute one chunk and write it into place atomically (runs on a worker)."""
    final = chunk_store(store, start, stop)
    partial = final.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    dataset = chunk_fn(start, stop)
    encoding = {
        name: {"chunks": (1, *variable.shape[1:])}
        for name, variable in dataset.data_vars.items()
        if variable.size > LARGE and variable.ndim > 1
    }
    # The store is assembled in memory and written as plain files: zarr's local store costs an event-loop
    # round trip per file (a chunk has about 80), which made writing 40% of a chunk's time.
    files: dict[str, Any] = {}
    dataset.to_zarr(
        zarr.storage.MemoryStore(files),
        mode="w",
        consolidated=True,  # one metadata file to read per chunk instead of two per variable
        zarr_format=ZARR_FORMAT,
        encoding=encoding,
    )
    for key, buffer in files.items():
        (partial / key).parent.mkdir(parents=True, exist_ok=True)
        with open(partial / key, "wb") as file:
            file.write(buffer.as_numpy_array())
    partial.rename(final)
    return final


def _check_manifest(store: Path, n_paths: int, chunk_size: int, identity: dict | None) -> None:
    """Record the run's layout (and `identity`, e.g. its seed), or check a resumed run has the same."""
    manifest = store / "manifest.json"
    layout = {"n_paths": n_paths, "chunk_size": chunk_size, **(identity or {})}
    if manifest.exists():
        found = json.loads(manifest.read_text())
        if found != layout:
            raise ValueError(f"{store}: holds a run with {found}; cannot resume it as {layout}")
    else:
        (store / "chunks").mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps(layout))


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


def run_chunks(
    chunk_fn: ChunkFn,
    n_paths: int,
    chunk_size: int,
    store: str | Path,
    client: Client | None = None,
    on_chunk: Callable[[Path], None] | None = None,
    identity: dict | None = None,
) -> Path:
    """Compute every missing chunk (on `client`'s workers, or in this process without one) into `store`.

    `on_chunk` is called with each chunk's path as it is written (e.g. to advance a progress bar).
    `identity` (JSON-serialisable, e.g. the seed) is recorded; resuming with another raises ValueError.
    Returns the store (`open_results` opens it).
    """
    store = Path(store)
    _check_manifest(store, n_paths, chunk_size, identity)
    todo = [(a, b) for a, b in chunk_bounds(n_paths, chunk_size) if not chunk_store(store, a, b).exists()]
    if client is None:
        for start, stop in todo:
            path = compute_and_write(chunk_fn, start, stop, store)
            if on_chunk:
                on_chunk(path)
    elif todo:
        futures = [client.submit(compute_and_write, chunk_fn, a, b, store, pure=False) for a, b in todo]
        for future in as_completed(futures):
            path = future.result()
            if on_chunk:
                on_chunk(path)
    return store


def chunk_paths(store: str | Path) -> list[Path]:
    """The chunk stores of a complete run, in path order; FileNotFoundError naming any missing."""
    store = Path(store)
    layout = json.loads((store / "manifest.json").read_text())
    paths = [chunk_store(store, a, b) for a, b in chunk_bounds(layout["n_paths"], layout["chunk_size"])]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{store}: run incomplete, missing chunks {missing}")
    return paths


def open_results(store: str | Path) -> xr.Dataset:
    """All chunks of a complete run as one dataset along `draw` (lazy, dask-backed)."""
    return xr.open_mfdataset(
        chunk_paths(store),
        engine="zarr",
        combine="nested",
        concat_dim="draw",
        consolidated=None,  # chunks written before consolidation are opened without it
        data_vars="minimal",
        coords="minimal",
        compat="override",
    )


def step_reader(store: str | Path, name: str) -> Callable[[int], np.ndarray]:
    """A function i -> variable `name` (stored with `draw` second, e.g. population (year, draw, ...)) at
    position i of its first dim for every path of a complete run, (draw, ...): read straight from each
    chunk's zarr array (one stored chunk each where the variable is stored a step at a time, as large ones
    are), which for many small reads is far cheaper than through dask.
    Safe to call from several threads."""
    arrays = [zarr.open_array(path / name, mode="r") for path in chunk_paths(store)]
    return lambda i: np.concatenate([array[i] for array in arrays])
