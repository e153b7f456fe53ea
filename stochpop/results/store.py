"""The store of a run's paths: one zarr group per chunk of paths, written atomically, read as one dataset.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xarray as xr
import zarr

from stochpop.results.integrity import (
    RECORD,
    Content,
    IntegrityError,
    StoreError,
    damaged_files,
    read_record,
    write_record,
)

ChunkFn = Callable[[int, int], xr.Dataset]
LARGE = 2**20
"""Variables with more values than this are stored one step of their first dim (e.g. a year) per zarr
chunk, so that summaries can read them a year at a time."""
ZARR_FORMAT = 2
"""Zarr v2 stores the string coordinates (sex) with a stable specification; v3 has none for them yet."""


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def chunk_bounds(n_paths: int, chunk_size: int) -> list[tuple[int, int]]:
    """[(start, stop), ...] covering 0..n_paths-1 in chunks of `chunk_size` (the last may be shorter)."""
    if n_paths < 1 or chunk_size < 1:
        raise ValueError(f"need at least one path and a positive chunk size, got {n_paths}, {chunk_size}")
    return [(start, min(start + chunk_size, n_paths)) for start in range(0, n_paths, chunk_size)]


def chunk_store(store: Path, start: int, stop: int) -> Path:
    return store / "chunks" / f"{start:09d}-{stop:09d}.zarr"


def compute_and_write(chunk_fn: ChunkFn, start: int, stop: int, store: Path) -> Path:
    """Compute one chunk and write it into place atomically with its integrity record (runs on a worker);
    a chunk already in place with its record is kept (Dask reruns the finished tasks of a worker that
    died, whose results it lost). StoreError if the chunk holds NaN (no path variable can) or cannot be
    written; nothing of it is kept then."""
    final = chunk_store(store, start, stop)
    if _chunk_damage(store, start, stop, contents=False) is None:
        return final
    partial = final.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    dataset = chunk_fn(start, stop)
    with_nan = [
        name for name, v in dataset.data_vars.items() if v.dtype.kind == "f" and np.isnan(v.values).any()
    ]
    if with_nan:
        raise StoreError(f"paths {start}-{stop - 1}: NaN in {with_nan}; not written")
    encoding = {
        name: {"chunks": (1, *variable.shape[1:])}
        for name, variable in dataset.data_vars.items()
        if variable.size > LARGE and variable.ndim > 1
    }
    # The store is assembled in memory and written as plain files: zarr's local store costs an event-loop
    # round trip per file (a chunk has about 80), which made writing 40% of a chunk's time.
    buffers: dict[str, Any] = {}
    dataset.to_zarr(
        zarr.storage.MemoryStore(buffers),
        mode="w",
        consolidated=True,  # one metadata file to read per chunk instead of two per variable
        zarr_format=ZARR_FORMAT,
        encoding=encoding,
    )
    files = {key: buffer.as_numpy_array() for key, buffer in buffers.items()}  # views, not copies
    variables = {
        name: {"shape": list(v.shape), "dtype": str(v.dtype)} for name, v in dataset.data_vars.items()
    }
    try:
        for key, content in files.items():
            write_file(partial / key, content)
        write_record(partial, files, paths=[start, stop], variables=variables)
        partial.rename(final)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise StoreError(
            f"{final}: paths {start}-{stop - 1} could not be written ({error}); nothing of them was kept, "
            "the run resumes from here once the cause is fixed"
        ) from None
    return final


def write_file(path: Path, content: Content) -> None:
    """Write `content` to `path`, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        file.write(content if isinstance(content, bytes) else content.data)


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


class ChunkDamage(NamedTuple):
    """What is wrong with the chunk of paths start..stop-1 stored at `path`."""

    path: Path
    start: int
    stop: int
    problem: str

    def __str__(self) -> str:
        return f"paths {self.start}-{self.stop - 1} ({self.path.name}): {self.problem}"


def _layout(store: Path) -> list[tuple[int, int]]:
    """The chunk bounds the store's manifest promises; StoreError if it has no readable manifest."""
    try:
        layout = json.loads((store / "manifest.json").read_text())
        return chunk_bounds(layout["n_paths"], layout["chunk_size"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StoreError(f"{store}: not a readable paths store (manifest.json: {error})") from None


def _chunk_damage(store: Path, start: int, stop: int, contents: bool) -> ChunkDamage | None:
    """The damage of one chunk, or None if it is whole: present, with its record (and, if `contents`,
    every recorded file of the recorded size and CRC-32C)."""
    path = chunk_store(store, start, stop)

    def damage(problem: str) -> ChunkDamage:
        return ChunkDamage(path, start, stop, problem)

    if not path.is_dir():
        return damage("missing")
    record = read_record(path)
    if record is None:
        return damage(f"no {RECORD} (unfinished, or written by a stochpop that kept no record)")
    if record.get("paths") != [start, stop]:
        return damage(f"{RECORD} is of paths {record.get('paths')}")
    problems = damaged_files(path, record) if contents else {}
    if not problems:
        return None
    by_variable: dict[str, list[str]] = {}
    for name, problem in problems.items():
        variable = name.split("/")[0] if "/" in name else "metadata"
        by_variable.setdefault(variable, []).append(f"{name} {problem}")
    return damage("; ".join(f"{variable}: {', '.join(files)}" for variable, files in by_variable.items()))


def verify_store(store: str | Path, contents: bool = True) -> list[ChunkDamage]:
    """Every chunk of the store checked against its manifest and its record: the damaged or missing ones,
    in path order (empty if the store is whole). `contents=False` checks only that each chunk is there
    with its record (no file is read). The chunks are read on a thread per usable core."""
    store = Path(store)
    return _damaged_chunks(store, _layout(store), contents)


def _damaged_chunks(store: Path, bounds: list[tuple[int, int]], contents: bool) -> list[ChunkDamage]:
    with ThreadPoolExecutor(usable_cores()) as pool:
        found = pool.map(lambda b: _chunk_damage(store, b[0], b[1], contents), bounds)
        return [d for d in found if d is not None]


def require_whole(store: str | Path, contents: bool = True) -> list[Path]:
    """The chunk stores of a whole run, in path order; IntegrityError (one line naming the damaged or
    missing chunks) otherwise. See `verify_store`."""
    store = Path(store)
    bounds = _layout(store)
    damaged = _damaged_chunks(store, bounds, contents)
    if damaged:
        shown = "; ".join(str(d) for d in damaged[:3])
        more = f"; and {len(damaged) - 3} more" if len(damaged) > 3 else ""
        raise IntegrityError(
            f"{store}: {len(damaged)} of {len(bounds)} chunks damaged or missing: {shown}{more} "
            "(`stochpop verify DIR` lists them, `stochpop project DIR` recomputes them)"
        )
    return [chunk_store(store, a, b) for a, b in bounds]


def chunk_paths(store: str | Path) -> list[Path]:
    """The chunk stores of a complete run, in path order, each present with its record (no file is read:
    `require_whole` checks the contents); IntegrityError naming any missing."""
    return require_whole(store, contents=False)


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
