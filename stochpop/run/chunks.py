"""Paths in chunks as Dask tasks (or in this process), streamed into the run's store as they finish;
resumable and self-repairing: a rerun verifies the chunks there and computes the missing and damaged ones."""

import shutil
from collections.abc import Callable
from pathlib import Path

from dask.distributed import Client, as_completed
from distributed.scheduler import KilledWorker

from stochpop.results.integrity import StoreError
from stochpop.results.store import (
    ChunkDamage,
    ChunkFn,
    check_manifest,
    chunk_store,
    compute_and_write,
    verify_store,
)


def run_chunks(
    chunk_fn: ChunkFn,
    n_paths: int,
    chunk_size: int,
    store: str | Path,
    client: Client | None = None,
    on_chunk: Callable[[Path], None] | None = None,
    identity: dict | None = None,
    on_repair: Callable[[list[ChunkDamage]], None] | None = None,
) -> Path:
    """Compute every missing or damaged chunk (on `client`'s workers, or in this process without one) into
    `store`.

    `on_chunk` is called with each chunk's path as it is written (e.g. to advance a progress bar), and
    `on_repair` with the damaged chunks found (and removed) before they are computed again; missing chunks
    of an interrupted run are simply computed. `identity` (JSON-serialisable, e.g. the seed) is recorded;
    resuming with another raises ValueError. A worker that dies computing a chunk is replaced and the chunk
    retried (Dask's `allowed-failures`); past that, StoreError names the chunk and the run resumes from
    what was written. Returns the store (`open_results` opens it).
    """
    store = Path(store)
    check_manifest(store, n_paths, chunk_size, identity)
    todo = verify_store(store)
    damaged = [d for d in todo if d.path.exists()]
    for damage in damaged:
        shutil.rmtree(damage.path)
    if damaged and on_repair:
        on_repair(damaged)
    if client is None:
        for chunk in todo:
            path = compute_and_write(chunk_fn, chunk.start, chunk.stop, store)
            if on_chunk:
                on_chunk(path)
    elif todo:
        futures = {
            client.submit(compute_and_write, chunk_fn, d.start, d.stop, store, pure=False): d for d in todo
        }
        for future in as_completed(futures):
            try:
                path = future.result()
            except KilledWorker:
                chunk = futures[future]
                raise StoreError(
                    f"{chunk_store(store, chunk.start, chunk.stop)}: Dask workers died while they held paths "
                    f"{chunk.start}-{chunk.stop - 1}, as often as Dask allows (out of memory? killed?); the "
                    "chunks written are kept, and a rerun resumes from them"
                ) from None
            if on_chunk:
                on_chunk(path)
    return store
