"""Benchmark the grouped national run (BEFINN's groups under every path) against the ungrouped run, in one
sitting, from the same fit.

Prints, for N paths (default 10 000) to 2100 on a warm 2-worker Dask cluster (workers started and compiled
beforehand with one chunk each):
* grouped_paths_and_summaries_s / ungrouped_paths_and_summaries_s: the paths streamed to zarr and every
  table (quantiles, L/M/H variants, population quantiles; CSV and parquet), and their ratio;
* grouped_paths_s / ungrouped_paths_s: the paths alone; path-years per second;
* big_run_peak_gb: peak memory (max RSS) of a BIG-path grouped run (default 0 = skipped) streamed to zarr
  by `stochpop project --workers 0` in a subprocess.
Goals on 2 cores (issue #14): 10 000 grouped paths with summaries < 60 s; 100 000 paths < 4 GB.

    python experiments/bench_grouped_run.py --json [--fit-dir out/norway-groups-fit] [--paths 10000]

The fit (models/norway_groups.toml: the national components and the three group components) is made once
into --fit-dir and reused; the ungrouped run uses its national posteriors. Run directories go to a
temporary folder beside it and are removed at the end.
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import stochpop
from stochpop.cli import main
from stochpop.run.chunks import run_chunks
from stochpop.run.cluster import dask_client
from stochpop.run.spec import with_values
from stochpop.run.steps import chunk_function, path_projection, project, summarise

SPEC = "models/norway_groups.toml"
GOALS = {"grouped_paths_and_summaries_s": 60.0, "big_run_peak_gb": 4.0}


def fitted(fit_dir: Path) -> stochpop.RunDirectory:
    run = stochpop.RunDirectory(fit_dir)
    if not run.spec_file.is_file() or not all(f.is_file() for f in run.posterior_files.values()):
        if main(["fit", SPEC, "--out", str(fit_dir)]) != 0:
            raise SystemExit("the grouped fit failed")
    return run


def run_directory(
    fit: stochpop.RunDirectory, out: Path, paths: int, grouped: bool, workers: int, chunk_size: int
) -> Path:
    """A run directory sharing `fit`'s posteriors, with `paths` paths in chunks of `chunk_size`, with or
    without groups."""
    spec = with_values(fit.spec(), "paths", {"n": paths, "chunk_size": chunk_size, "workers": workers})
    spec = with_values(spec, "groups", {"enabled": grouped})
    spec = with_values(spec, "outputs", {"alternatives": []})
    run = stochpop.RunDirectory(out)
    run.write_spec(spec)
    shutil.copytree(fit.path / "posteriors", out / "posteriors", dirs_exist_ok=True)
    return out


def warm(client, run: Path, chunk_size: int) -> None:
    """Start and compile every worker: one chunk each, into a throw-away store."""
    chunk = chunk_function(run, path_projection(run))
    scratch = run / "warm.zarr"
    workers = len(client.scheduler_info()["workers"])
    run_chunks(chunk, chunk_size * workers, chunk_size, scratch, client)
    shutil.rmtree(scratch)


def timed_run(client, run: Path) -> dict[str, float]:
    start = time.perf_counter()
    project(run, client)
    paths = time.perf_counter() - start
    summarise(run)
    return {"paths_s": paths, "paths_and_summaries_s": time.perf_counter() - start}


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-dir", type=Path, default=Path("out/norway-groups-fit"))
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=0, help="paths of the memory run (0: skip)")
    parser.add_argument("--chunk-size", type=int, help="paths per chunk (default: the fitted spec's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    fit = fitted(args.fit_dir)
    horizon = fit.spec().projection.horizon
    chunk_size = args.chunk_size or fit.spec().paths.chunk_size
    results: dict[str, float | int | str] = {"paths": args.paths, "years": horizon, "chunk_size": chunk_size}
    scratch = Path(tempfile.mkdtemp(dir=args.fit_dir.parent, prefix="bench-groups-"))
    try:
        with dask_client(2) as client:
            for kind, grouped in (("grouped", True), ("ungrouped", False)):
                run = run_directory(fit, scratch / kind, args.paths, grouped, 2, chunk_size)
                warm(client, run, chunk_size)
                measured = timed_run(client, run)
                for name, value in measured.items():
                    results[f"{kind}_{name}"] = round(value, 2)
                results[f"{kind}_path_years_per_s"] = round(args.paths * horizon / measured["paths_s"])
        grouped, ungrouped = (float(results[f"{k}_paths_and_summaries_s"]) for k in ("grouped", "ungrouped"))
        results["ratio_grouped_to_ungrouped"] = round(grouped / ungrouped, 2)
        if args.big:
            big = run_directory(fit, scratch / "big", args.big, True, 0, chunk_size)
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "stochpop.cli", "project", str(big), "--workers", "0"], check=True
            )
            results["big_run_paths"] = args.big
            results["big_run_s"] = round(time.perf_counter() - start, 1)
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            results["big_run_peak_gb"] = round(peak_kb / 2**20, 2)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name, goal in GOALS.items():
        if name in results:
            results[f"{name}_goal"] = f"< {goal}: {'met' if float(results[name]) < goal else 'NOT met'}"
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, value in results.items():
            print(f"{name:40s} {value}")


if __name__ == "__main__":
    main_benchmark()
