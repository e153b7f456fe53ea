"""Chunked runs: independent of workers and chunk sizes, streamed to zarr, resumable."""

import os

import jax
import numpy as np
import pytest
import xarray as xr
from toy_store import toy_paths

from stochpop.results.store import chunk_bounds, chunk_store, open_results, step_reader
from stochpop.run.chunks import run_chunks
from stochpop.run.cluster import dask_client
from stochpop.run.compilation_cache import cache_directory, enable_compilation_cache


class Interrupted(RuntimeError):
    pass


def interrupted_after_first_chunks(start: int, stop: int) -> xr.Dataset:
    if start >= 8:
        raise Interrupted(f"killed at chunk {start}")
    return toy_paths(start, stop)


def test_chunk_bounds_cover_every_path_once():
    bounds = chunk_bounds(23, 5)
    assert bounds[0] == (0, 5) and bounds[-1] == (20, 23)
    assert np.array_equal(np.concatenate([np.arange(a, b) for a, b in bounds]), np.arange(23))
    with pytest.raises(ValueError, match="positive chunk size"):
        chunk_bounds(10, 0)


def test_same_results_for_any_workers_and_chunk_sizes(tmp_path):
    with dask_client(workers=1) as one:
        a = open_results(run_chunks(toy_paths, 23, 4, tmp_path / "one", client=one)).load()
    with dask_client(workers=2) as two:
        b = open_results(run_chunks(toy_paths, 23, 4, tmp_path / "two", client=two)).load()
        if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2:
            cores = two.run(os.sched_getaffinity, 0)  # each worker on a core of its own
            assert [len(c) for c in cores.values()] == [1, 1] and len(set.union(*cores.values())) == 2
        caches = two.run(lambda: jax.config.jax_compilation_cache_dir)
        assert set(caches.values()) == {str(cache_directory())}
    c = open_results(run_chunks(toy_paths, 23, 10, tmp_path / "local")).load()
    xr.testing.assert_identical(a, b)  # bit-identical across worker counts
    np.testing.assert_allclose(a["level"], c["level"], rtol=1e-6)
    np.testing.assert_array_equal(a["draw"], np.arange(23))


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    store = tmp_path / "run"
    with pytest.raises(Interrupted):
        run_chunks(interrupted_after_first_chunks, 20, 4, store)
    written = sorted(p.name for p in (store / "chunks").glob("*.zarr"))
    assert written == [chunk_store(store, a, a + 4).name for a in (0, 4)]
    first_chunk_time = chunk_store(store, 0, 4).stat().st_mtime_ns
    resumed = open_results(run_chunks(toy_paths, 20, 4, store)).load()
    assert chunk_store(store, 0, 4).stat().st_mtime_ns == first_chunk_time  # not recomputed
    xr.testing.assert_identical(
        resumed, open_results(run_chunks(toy_paths, 20, 4, tmp_path / "whole")).load()
    )
    assert not list((store / "chunks").glob("*.partial"))
    with pytest.raises(ValueError, match="cannot resume it as"):
        run_chunks(toy_paths, 20, 5, store)


def test_step_reader_reads_a_year_of_every_path(tmp_path):
    def by_year(start: int, stop: int) -> xr.Dataset:
        return toy_paths(start, stop).transpose("year", "draw", "sex_age")

    stored = open_results(run_chunks(by_year, 23, 4, tmp_path / "run")).load()
    read = step_reader(tmp_path / "run", "level")
    np.testing.assert_array_equal(read(5), stored["level"].isel(year=5).transpose("draw", "sex_age").values)


def test_compilation_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STOCHPOP_JAX_CACHE", str(tmp_path / "cache"))
    assert cache_directory() == tmp_path / "cache"
    monkeypatch.setenv("STOCHPOP_JAX_CACHE", "")
    assert cache_directory() is None
    monkeypatch.delenv("STOCHPOP_JAX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_directory() == tmp_path / "xdg" / "stochpop" / "jax"


def test_an_unwritable_compilation_cache_is_only_warned_about(monkeypatch, tmp_path):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("STOCHPOP_JAX_CACHE", str(tmp_path / "a_file" / "cache"))
    with pytest.warns(UserWarning, match="no JAX compilation cache"):
        assert enable_compilation_cache() is None
