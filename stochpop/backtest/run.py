"""Run a back-test: for each jump-off T, refit every component on the data known on 1 January T
(`CountryData.known_at`), project `backtest.paths` paths `backtest.horizon` years, and keep the targets
(`targets.on_horizon`) of the paths and of the SSB-like baseline (`baseline.ssb_like_lines`).

Layout of the output directory:
    spec.json                          the spec as run (a spec that changes the results clears the jump-offs)
    jump_offs/<T>/posteriors/*.nc      each refit (ArviZ InferenceData)
    jump_offs/<T>/fits.json            fit seconds and diagnostics
    jump_offs/<T>/forecast.nc          targets (draw, horizon) of the paths
    jump_offs/<T>/baseline.nc          targets (line L/M/H, horizon) of the SSB-like projection
    jump_offs/<T>/timing.json          seconds spent fitting, projecting and on the baseline
A jump-off with forecast.nc and baseline.nc is done; a rerun skips it (resumable).

Each jump-off runs in a fresh process: every refit compiles new XLA programs, and one process that kept
them all ran out of memory mappings (LLVM "Cannot allocate memory") after about 40 fits. The processes
share the persistent JAX compilation cache (`stochpop.run.compilation_cache`), so programs of the same
shapes (the kernel, the forecasts) compile once.
"""

import json
import multiprocessing
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr

from stochpop.backtest.baseline import ssb_like_lines
from stochpop.backtest.targets import TARGETS, on_horizon
from stochpop.data.container import CountryData
from stochpop.projection.sampled import PathProjection
from stochpop.results.integrity import RECORD, IntegrityError, damaged_files, read_record, write_record
from stochpop.run.compilation_cache import enable_compilation_cache
from stochpop.run.directory import RunDirectory, write_atomically
from stochpop.run.fitting import fit_and_save
from stochpop.run.inputs import build_components
from stochpop.run.spec import Spec, spec_from_dict, spec_to_dict

SPEC_FILE = "spec.json"


def jump_off_spec(spec: Spec, data: CountryData, jump_off: int) -> Spec:
    """The spec of one back-test projection: jump-off T, the back-test horizon and paths, and every
    component fitted on the `backtest.window` years before T (not before its data begin)."""
    b = spec.backtest
    first = jump_off - b.window

    def start(years: xr.DataArray | np.ndarray) -> int:
        return max(first, int(np.asarray(years)[0]))

    return replace(
        spec,
        projection=replace(spec.projection, jump_off=jump_off, horizon=b.horizon),
        paths=replace(spec.paths, n=b.paths),
        mortality=replace(spec.mortality, first_year=start(data.deaths["year"])),
        fertility=replace(spec.fertility, first_year=start(data.asfr["year"])),
        migration=replace(spec.migration, first_year=start(data.years)),
    )


def jump_off_directory(out: Path, jump_off: int) -> Path:
    return Path(out) / "jump_offs" / str(jump_off)


def backtest_jump_off(
    spec: Spec, data: CountryData, jump_off: int, directory: Path, log: Callable[[str], None] = print
) -> tuple[xr.Dataset, xr.Dataset]:
    """Refit, project and write one jump-off into `directory`; returns (forecast (draw, horizon),
    baseline (line, horizon)). Only `data.known_at(jump_off)` is used: later data cannot leak in."""
    known = data.known_at(jump_off)
    run = jump_off_spec(spec, known, jump_off)
    horizon = run.projection.horizon
    clock = time.perf_counter()
    components = build_components(run, known)
    # Unattended refits meet the occasional chain stuck after a failed adaptation: restart those.
    restart = spec.backtest.restart_rhat or None
    fit_and_save(components, known, run.fit, RunDirectory(directory), log, restart_rhat=restart)
    timing = {"fit_s": time.perf_counter() - clock}
    clock = time.perf_counter()
    p = run.projection
    files = RunDirectory(directory).posterior_files
    projection = PathProjection.create(known, components, files, p.jump_off, p.horizon, run.paths.seed)
    forecast = on_horizon(projection(0, run.paths.n), jump_off, horizon).transpose("draw", "horizon")
    timing["project_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    baseline = ssb_like_lines(known, jump_off, horizon, run.mortality.first_year, seed=run.paths.seed)
    timing["baseline_s"] = time.perf_counter() - clock
    written = {}
    for name, result in (("forecast", forecast), ("baseline", baseline)):
        partial = directory / f"{name}.partial.nc"
        result.assign_attrs(jump_off=jump_off).to_netcdf(partial)
        partial.replace(directory / f"{name}.nc")
        written[f"{name}.nc"] = (directory / f"{name}.nc").read_bytes()
    write_atomically(directory / "timing.json", json.dumps({k: round(v, 1) for k, v in timing.items()}))
    write_record(directory, written, jump_off=jump_off)  # last: a jump-off with its record is done
    return forecast, baseline


def _results_key(spec: dict) -> dict:
    """What a jump-off's results depend on: the spec but the jump-off list, the levels scored and outputs."""
    backtest = {k: v for k, v in spec["backtest"].items() if k not in ("jump_offs", "levels")}
    return {**{k: v for k, v in spec.items() if k != "outputs"}, "backtest": backtest}


def jump_off_damage(directory: Path) -> str | None:
    """What keeps a jump-off's results from being done and whole (None if they are): not computed, no
    integrity record (interrupted), or a result file missing or changed since written."""
    if not directory.is_dir():
        return "not computed"
    record = read_record(directory)
    if record is None:
        return f"no {RECORD} (not computed, or interrupted)"
    problems = damaged_files(directory, record)
    return "; ".join(f"{name} {problem}" for name, problem in problems.items()) or None


def record_spec(spec: Spec, out: Path, log: Callable[[str], None] = print) -> None:
    """Record `spec` in out/spec.json (creating `out`), first removing the jump-offs computed with a spec
    whose results differ (`_results_key`), so that a rerun resumes only what the same spec computed."""
    out.mkdir(parents=True, exist_ok=True)
    written = spec_to_dict(spec)
    spec_path = out / SPEC_FILE
    if spec_path.is_file() and (out / "jump_offs").exists():
        if _results_key(json.loads(spec_path.read_text())) != _results_key(written):
            shutil.rmtree(out / "jump_offs")
            log(f"removed {out / 'jump_offs'}: computed with a different spec")
    write_atomically(spec_path, json.dumps(written, indent=2))


def run_backtest(spec: Spec, data: CountryData, out: Path, log: Callable[[str], None] = print) -> list[int]:
    """Back-test every jump-off of `spec.backtest` into `out`, skipping those already done with the same
    spec; returns the jump-offs computed now."""
    out = Path(out)
    record_spec(spec, out, log)
    damage = {t: jump_off_damage(jump_off_directory(out, t)) for t in spec.backtest.jump_off_years}
    todo = [t for t, problem in damage.items() if problem is not None]
    for t in todo:
        if read_record(jump_off_directory(out, t)) is not None:
            log(f"jump-off {t}: recomputing, its results are damaged ({damage[t]})")
    run_in_fresh_processes(todo, out, partial(backtest_jump_off, spec, data), log)
    return todo


def run_in_fresh_processes(
    jump_offs: list[int], out: Path, work: Callable[..., object], log: Callable[[str], None] = print
) -> None:
    """Compute each of `jump_offs`, one at a time, into its directory under `out` (created) by
    work(jump_off=..., directory=..., log=...) in a fresh spawned process (JAX does not survive fork)
    that shares the compilation cache; `work` must pickle (a module function or a partial of one)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn, max_tasks_per_child=1) as pool:
        for jump_off in jump_offs:
            directory = jump_off_directory(out, jump_off)
            directory.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            log(f"jump-off {jump_off}: refitting on data to {jump_off - 1}")
            pool.submit(_in_fresh_process, work, jump_off, directory).result()
            log(f"jump-off {jump_off}: done in {time.perf_counter() - start:.0f} s")


def _in_fresh_process(work: Callable[..., object], jump_off: int, directory: Path) -> None:
    enable_compilation_cache()
    work(jump_off=jump_off, directory=directory, log=partial(print, flush=True))


def backtest_spec(out: Path) -> Spec:
    """The spec a back-test directory was run with."""
    path = Path(out) / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a back-test directory (run `stochpop backtest` first)")
    return spec_from_dict(json.loads(path.read_text()), str(path))


def load_backtest(out: Path) -> tuple[xr.Dataset, xr.Dataset]:
    """Forecasts (jump_off, draw, horizon) and baselines (jump_off, line, horizon) of a finished back-test;
    IntegrityError naming any jump-off not done or damaged (`jump_off_damage`)."""
    jump_offs = backtest_spec(out).backtest.jump_off_years
    damage = {t: jump_off_damage(jump_off_directory(out, t)) for t in jump_offs}
    damaged = "; ".join(f"jump-off {t}: {problem}" for t, problem in damage.items() if problem is not None)
    if damaged:
        raise IntegrityError(f"{out}: {damaged} (rerun `stochpop backtest` to compute them)")
    loaded = {}
    for name in ("forecast", "baseline"):
        parts = [xr.load_dataset(jump_off_directory(out, t) / f"{name}.nc")[list(TARGETS)] for t in jump_offs]
        loaded[name] = xr.concat(parts, dim="jump_off").assign_coords(jump_off=list(jump_offs))
    return loaded["forecast"], loaded["baseline"]
