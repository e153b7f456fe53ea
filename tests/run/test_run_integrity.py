"""A damaged run directory, as the `stochpop` command meets it: `verify` names the damage, `summary` and
`plot` refuse it in one line, `project` repairs it to the identical tables; a copied directory verifies
and summarises the same."""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from stochpop.cli import main
from stochpop.projection.sampled import PATHS_FORMAT
from stochpop.results.integrity import RECORD, write_record
from stochpop.results.store import chunk_store

CHUNK = 10


@pytest.fixture(scope="module")
def projected(demo_run_dir, tmp_path_factory) -> Path:
    """A copy of the fitted demo run with its 40 paths projected (chunks of 10) and summarised."""
    run = tmp_path_factory.mktemp("integrity") / "run"
    run.mkdir()
    for name in ("spec.json", "fits.json", "posteriors"):
        copy = shutil.copytree if (demo_run_dir / name).is_dir() else shutil.copy
        copy(demo_run_dir / name, run / name)
    assert main(["project", str(run), "--paths", "40", "--chunk-size", str(CHUNK), "--workers", "0"]) == 0
    assert main(["summary", str(run)]) == 0
    return run


def tables(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "tables").iterdir())}


def data_file(run: Path, start: int, variable: str) -> Path:
    folder = chunk_store(run / "paths.zarr", start, start + CHUNK) / variable
    return next(p for p in sorted(folder.iterdir()) if not p.name.startswith("."))


def test_damage_is_named_refused_and_repaired_to_identical_tables(projected, tmp_path, capsys):
    run = Path(shutil.copytree(projected, tmp_path / "run"))
    data_file(run, 10, "births").unlink()  # a disk hiccup
    truncated = data_file(run, 30, "population")
    truncated.write_bytes(truncated.read_bytes()[:100])
    capsys.readouterr()

    assert main(["verify", str(run)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("damaged: paths 10-19 (") and "births: births/" in out[0]
    assert out[1].startswith("damaged: paths 30-39 (") and "population: population/" in out[1]
    assert "100 bytes" in out[1]

    before = {p: p.stat().st_mtime_ns for p in (run / "tables").iterdir()}
    for command in ("summary", "plot"):
        assert main([command, str(run)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err  # one line
        assert "2 of 4 chunks damaged or missing: paths 10-19" in err and "paths 30-39" in err
    assert {p: p.stat().st_mtime_ns for p in (run / "tables").iterdir()} == before  # nothing written

    untouched = chunk_store(run / "paths.zarr", 0, CHUNK).stat().st_mtime_ns
    assert main(["project", str(run)]) == 0
    assert "recomputing 2 damaged chunks: paths 10-19" in capsys.readouterr().out
    assert chunk_store(run / "paths.zarr", 0, CHUNK).stat().st_mtime_ns == untouched
    assert main(["verify", str(run)]) == 0
    assert main(["summary", str(run)]) == 0
    assert tables(run) == tables(projected)  # bit for bit


def test_a_copied_run_directory_verifies_and_summarises_the_same(projected, tmp_path, capsys):
    copy = Path(shutil.copytree(projected, tmp_path / "another" / "machine"))
    shutil.rmtree(copy / "tables")
    assert main(["verify", str(copy)]) == 0
    assert "whole" in capsys.readouterr().out
    assert main(["summary", str(copy)]) == 0
    assert tables(copy) == tables(projected)


def test_a_nan_in_a_stored_variable_is_an_integrity_error_not_an_empty_row(projected, tmp_path, capsys):
    """A chunk rewritten with NaN births and a record to match (as a foreign or buggy writer might)."""
    run = Path(shutil.copytree(projected, tmp_path / "run"))
    shutil.rmtree(run / "tables")
    chunk = chunk_store(run / "paths.zarr", 20, 20 + CHUNK)
    births = zarr.open_array(chunk / "births", mode="r+")
    births[:] = np.full(births.shape, np.nan, dtype=births.dtype)
    files = {str(p.relative_to(chunk)): p.read_bytes() for p in chunk.rglob("*") if p.is_file()}
    write_record(
        chunk, {name: content for name, content in files.items() if name != RECORD}, paths=[20, 20 + CHUNK]
    )
    assert main(["verify", str(run)]) == 0  # as written...
    capsys.readouterr()
    assert main(["summary", str(run)]) == 2  # ...but no path variable can be NaN
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NaN in the stored paths of ['births'" in err
    assert not (run / "tables").exists() or not any((run / "tables").iterdir())


def test_a_store_of_an_older_format_is_refused_with_the_reason(projected, tmp_path, capsys):
    run = Path(shutil.copytree(projected, tmp_path / "run"))
    manifest = run / "paths.zarr" / "manifest.json"
    older = PATHS_FORMAT - 1
    manifest.write_text(
        manifest.read_text().replace(f'"paths_format": {PATHS_FORMAT}', f'"paths_format": {older}')
    )
    assert main(["project", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"'paths_format': {older}" in err and "cannot resume it as" in err


HOLD_LOCK = """
import sys, time
from stochpop.run.directory import RunDirectory
with RunDirectory(sys.argv[1]).lock("project"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_command_on_a_run_directory_in_use_is_refused(projected, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(projected)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        for command in (["project", str(projected)], ["summary", str(projected)], ["plot", str(projected)]):
            assert main(command) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"in use by `stochpop project` (process {holder.pid} on " in err
        assert main(["verify", str(projected)]) == 0  # reading needs no lock
    finally:
        holder.kill()
        holder.wait()


def test_a_project_command_killed_mid_run_resumes_to_the_uninterrupted_tables(projected, tmp_path, capsys):
    """`kill -9` of `stochpop project` after some of its chunks are written; a rerun completes the store
    and leaves nothing behind; its tables equal those of a run never interrupted."""
    runs = {}
    for name in ("killed", "whole"):
        runs[name] = tmp_path / name
        runs[name].mkdir()
        for part in ("spec.json", "fits.json", "posteriors"):
            copy = shutil.copytree if (projected / part).is_dir() else shutil.copy
            copy(projected / part, runs[name] / part)
    argv = ["--paths", "200", "--chunk-size", "5", "--workers", "0"]
    command = [sys.executable, "-m", "stochpop.cli", "project", str(runs["killed"]), *argv]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = runs["killed"] / "paths.zarr" / "chunks"
    deadline = time.monotonic() + 300
    while process.poll() is None and len(list(chunks.glob("*.zarr"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(list(chunks.glob("*.zarr")))
    assert 3 <= written < 40, written  # killed mid-run
    capsys.readouterr()
    assert main(["verify", str(runs["killed"])]) == 1  # the rest is missing, and said so
    assert main(["project", str(runs["killed"])]) == 0
    assert not list(chunks.glob("*.partial"))
    assert main(["project", str(runs["whole"]), *argv]) == 0
    for run in runs.values():
        assert main(["verify", str(run)]) == 0 and main(["summary", str(run)]) == 0
    assert tables(runs["killed"]) == tables(runs["whole"])
