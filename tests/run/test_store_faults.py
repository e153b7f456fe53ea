"""Faults injected into a chunked run's store: every one ends in the identical result or one error naming
the damaged piece (`stochpop.results.store`, `stochpop.run.chunks`, `stochpop.run.lock`)."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import dask
import pytest
import xarray as xr
from toy_store import toy_paths

import stochpop.results.store as store_module
from stochpop.results.integrity import RECORD, IntegrityError, StoreError
from stochpop.results.store import chunk_store, open_results, require_whole, verify_store
from stochpop.run.chunks import run_chunks
from stochpop.run.cluster import dask_client
from stochpop.run.lock import RunLockedError, run_lock

N_PATHS, CHUNK = 20, 4


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> xr.Dataset:
    """The undamaged run, for comparison."""
    return open_results(run_chunks(toy_paths, N_PATHS, CHUNK, tmp_path_factory.mktemp("whole"))).load()


def stored_file(store: Path, start: int, name: str) -> Path:
    """The first stored data file of variable `name` in the chunk starting at path `start`."""
    return next(
        p for p in sorted((chunk_store(store, start, start + CHUNK) / name).iterdir()) if p.name[0] != "."
    )


def test_every_kind_of_damage_is_named_with_its_chunk_variable_and_paths(tmp_path):
    store = run_chunks(toy_paths, N_PATHS, CHUNK, tmp_path / "run")
    assert verify_store(store) == []
    stored_file(store, 4, "level").unlink()
    truncated = stored_file(store, 8, "start")
    truncated.write_bytes(truncated.read_bytes()[:5])
    flipped = stored_file(store, 12, "level")
    content = bytearray(flipped.read_bytes())
    content[-1] ^= 0xFF  # same size, other content
    flipped.write_bytes(bytes(content))
    (chunk_store(store, 16, 20) / RECORD).unlink()
    found = {d.start: (d.stop, d.problem) for d in verify_store(store)}
    assert sorted(found) == [4, 8, 12, 16]
    assert found[4][0] == 8 and found[4][1].startswith("level: level/") and found[4][1].endswith("missing")
    assert found[8][1].startswith("start: start/") and "5 bytes" in found[8][1]
    assert found[12][1].startswith("level: ") and "content changed" in found[12][1]
    assert f"no {RECORD}" in found[16][1]
    # a cheap check (no file read) sees only what is missing from the layout
    assert [d.start for d in verify_store(store, contents=False)] == [16]
    with pytest.raises(IntegrityError, match=r"4 of 5 chunks damaged or missing: paths 4-7 \(") as error:
        require_whole(store)
    assert "\n" not in str(error.value) and "and 1 more" in str(error.value)


def test_a_rerun_recomputes_exactly_the_damaged_and_missing_chunks(tmp_path, whole):
    store = run_chunks(toy_paths, N_PATHS, CHUNK, tmp_path / "run")
    untouched = chunk_store(store, 0, 4).stat().st_mtime_ns
    stored_file(store, 4, "level").unlink()
    truncated = stored_file(store, 8, "level")
    truncated.write_bytes(truncated.read_bytes()[:100])
    shutil.rmtree(chunk_store(store, 16, 20))
    repaired: list = []
    run_chunks(toy_paths, N_PATHS, CHUNK, store, on_repair=repaired.extend)
    assert [(d.start, d.stop) for d in repaired] == [(4, 8), (8, 12)]  # the missing one is just computed
    assert chunk_store(store, 0, 4).stat().st_mtime_ns == untouched
    assert verify_store(store) == []
    xr.testing.assert_identical(open_results(store).load(), whole)


def test_a_full_disk_keeps_nothing_of_the_chunk_and_the_run_resumes(tmp_path, monkeypatch, whole):
    write_file = store_module.write_file
    writes = {"n": 0}

    def disk_fills(path: Path, content: bytes) -> None:
        writes["n"] += 1
        if writes["n"] > 30:  # within the third chunk
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        write_file(path, content)

    monkeypatch.setattr(store_module, "write_file", disk_fills)
    store = tmp_path / "run"
    with pytest.raises(StoreError, match="No space left on device") as error:
        run_chunks(toy_paths, N_PATHS, CHUNK, store)
    assert "\n" not in str(error.value) and "paths 8-11 could not be written" in str(error.value)
    assert not list((store / "chunks").glob("*.partial"))
    assert [d.start for d in verify_store(store)] == [8, 12, 16]  # missing, not half-written
    assert all(d.problem == "missing" for d in verify_store(store))
    monkeypatch.setattr(store_module, "write_file", write_file)  # space is back
    xr.testing.assert_identical(open_results(run_chunks(toy_paths, N_PATHS, CHUNK, store)).load(), whole)


def paths_with_nan(start: int, stop: int) -> xr.Dataset:
    paths = toy_paths(start, stop)
    return paths.assign(level=paths["level"].where(paths["draw"] != 6)) if start <= 6 < stop else paths


def test_a_chunk_with_nan_is_not_written(tmp_path):
    with pytest.raises(StoreError, match=r"paths 4-7: NaN in \['level'\]; not written"):
        run_chunks(paths_with_nan, N_PATHS, CHUNK, tmp_path / "run")
    assert not chunk_store(tmp_path / "run", 4, 8).exists()


def killed_once(start: int, stop: int, marker: Path) -> xr.Dataset:
    """Kills the worker process computing paths 4..7 the first time (like the kernel's OOM killer)."""
    if start == 4 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return toy_paths(start, stop)


def killed_always(start: int, stop: int) -> xr.Dataset:
    if start == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return toy_paths(start, stop)


def test_a_killed_worker_is_replaced_and_its_chunk_retried(tmp_path, whole):
    with dask_client(workers=1) as client:
        store = run_chunks(
            partial(killed_once, marker=tmp_path / "killed"), N_PATHS, CHUNK, tmp_path / "run", client
        )
    assert (tmp_path / "killed").exists()  # the worker did die
    xr.testing.assert_identical(open_results(store).load(), whole)


def test_a_chunk_whose_workers_keep_dying_stops_the_run_which_then_resumes(tmp_path, whole):
    store = tmp_path / "run"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), dask_client(workers=1) as client:
        # the worker died holding 4-7 and maybe other chunks (queued, or finished and not yet gathered, as
        # 0-3 may be): any of them may be named
        with pytest.raises(
            StoreError, match=r"workers died while they held paths \d+-\d+, as often"
        ) as error:
            run_chunks(killed_always, N_PATHS, CHUNK, store, client)
    assert "\n" not in str(error.value)
    assert 4 in [d.start for d in verify_store(store)]
    xr.testing.assert_identical(open_results(run_chunks(toy_paths, N_PATHS, CHUNK, store)).load(), whole)


def test_a_copied_store_verifies_and_reads_the_same(tmp_path, whole):
    store = run_chunks(toy_paths, N_PATHS, CHUNK, tmp_path / "run")
    copy = Path(shutil.copytree(store, tmp_path / "elsewhere" / "copy.zarr"))
    shutil.rmtree(store)
    assert verify_store(copy) == []
    xr.testing.assert_identical(open_results(copy).load(), whole)


HOLD_LOCK = """
import sys, time
from pathlib import Path
from stochpop.run.lock import run_lock
with run_lock(Path(sys.argv[1]), "project"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=rf"in use by `stochpop project` \(process {holder.pid} on "):
            with run_lock(tmp_path, "summary"):
                pass
        holder.kill()  # kill -9: the system releases the lock
        holder.wait()
        with run_lock(tmp_path, "summary"), run_lock(tmp_path, "plot"):  # re-entrant in one process
            holding = json.loads((tmp_path / "lock").read_text())
        assert holding["command"] == "summary" and holding["pid"] == os.getpid()
    finally:
        holder.kill()
        holder.wait()
