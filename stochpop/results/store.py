"""The store of a run's paths: one zarr group per chunk of paths, written atomically, read as one dataset.

A run is a function `chunk_fn(start, stop) -> xr.Dataset` that computes paths start..stop-1 (a `draw`
dim labelled by path index) and derives every path's randomness from (seed, path index), so results do
not depend on the chunking or on which worker runs a chunk. Each finished chunk is written to its own zarr
group under `store/chunks/` (written aside, then renamed into place, so a chunk is either whole or absent);
a rerun of an interrupted run computes only the missing chunks. `open_results` views all chunks as one
lazy (dask-backed) dataset, so memory stays bounded however many paths there are.
"""

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

ChunkFn = Callable[[int, int], xr.Dataset]
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


def check_manifest(store: Path, n_paths: int, chunk_size: int, identity: dict | None) -> None:
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
