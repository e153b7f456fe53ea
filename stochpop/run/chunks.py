"""Paths in chunks as Dask tasks (or in this process), streamed into the run's store as they finish;
resumable: a rerun computes only the chunks the store lacks."""

from collections.abc import Callable
from pathlib import Path

from dask.distributed import Client, as_completed

from stochpop.results.store import ChunkFn, check_manifest, chunk_bounds, chunk_store, compute_and_write


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
    check_manifest(store, n_paths, chunk_size, identity)
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
