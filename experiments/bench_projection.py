"""Benchmark the stochastic projection of Norway after the fit, in one run.

Prints:
* paths_<w>_workers_s: N paths (default 10 000) to 2100 with 1 and with 2 Dask workers (sampling the
  components' drivers + kernel + indicators, streamed to zarr), workers started and compiled beforehand
  (one warm-up chunk each); path-years per second; the speedup of 2 workers over 1, the median over
  runs of 1 and 2 workers made one after the other;
* paths_and_summaries_s: what `stochpop run` does after the fit, on the warm 2-worker cluster: the paths,
  SSB's alternatives (on a worker while the paths run), and every table (quantiles, L/M/H variants,
  population quantiles, alternatives; CSV and parquet) - the goal's figure; summaries_s is its excess
  over paths_2_workers_s;
* the warm figures are the best of --repeat runs (this VM's timings vary by 10-20% from run to run and
  more between invocations; every run is listed in *_runs_s);
* cold_project_and_summary_s: `stochpop project` + `stochpop summary` as commands in fresh processes
  (cluster start-up, posterior loading and compilation included; compilation comes from the persistent
  cache after a first run, `stochpop.run.compilation_cache`);
* big_run_*: wall time and peak memory (max RSS) of a BIG-path run (default 100 000) streamed to zarr by
  `stochpop project --workers 0` in a subprocess, then the verification of its store (every file's
  CRC-32C checked; the store is in the page cache, as right after a run): `stochpop.verify` and its share
  of the run's time, and the `stochpop verify` command (Python and stochpop's imports included).
Goals on 2 cores: 10 000 paths + summaries < 10 s, 2 workers >= 1.7x one, 100 000 paths < 4 GB, verifying
them < 10% of the time projecting them took.

    python experiments/bench_projection.py --json [--fit-dir out/norway-fit] [--paths 10000] [--big 100000]

The fit (models/norway.toml) is made once into --fit-dir and reused by later runs; run directories (about
6 GB for 100 000 paths) go to a temporary folder beside it and are removed at the end.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import stochpop
from stochpop.cli import main
from stochpop.projection.sampled import PathProjection
from stochpop.run.chunks import run_chunks
from stochpop.run.cluster import dask_client

GOALS = {
    "paths_and_summaries_s": 10.0,
    "speedup_2_workers": 1.7,
    "big_run_peak_gb": 4.0,
    "big_verify_share_of_run": 0.1,
}


def fitted(fit_dir: Path) -> Path:
    if not all(path.is_file() for path in stochpop.RunDirectory(fit_dir).posterior_files.values()):
        if main(["fit", "models/norway.toml", "--out", str(fit_dir)]) != 0:
            raise SystemExit("the Norway fit failed")
    return fit_dir


def run_directory(fit_dir: Path, directory: Path, spec: stochpop.Spec) -> Path:
    """A fresh run directory holding `spec` and the fit's posteriors."""
    run = stochpop.RunDirectory(directory)
    run.write_spec(spec)
    for name, path in stochpop.RunDirectory(fit_dir).posterior_files.items():
        run.posterior_files[name].parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, run.posterior_files[name])
    return directory


def warm(client, projection: PathProjection, chunk: int) -> None:
    """Compile every worker's programs on one chunk of the timed size (results discarded)."""
    workers = client.scheduler_info()["workers"]
    client.gather([client.submit(projection, 0, chunk, pure=False, workers=[w]) for w in workers])


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-dir", type=Path, default=Path("out/norway-fit"))
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each warm figure (best kept)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    fit_dir = fitted(args.fit_dir)
    fit_spec = stochpop.RunDirectory(fit_dir).spec()
    spec = stochpop.with_values(
        fit_spec, "paths", {"n": args.paths, "chunk_size": args.chunk_size, "workers": 2}
    )
    path_years = args.paths * spec.projection.horizon
    result: dict[str, object] = {"paths": args.paths, "years": spec.projection.horizon}
    args.fit_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.fit_dir.parent, prefix="bench-") as scratch:
        scratch = Path(scratch)
        projection = stochpop.path_projection(run_directory(fit_dir, scratch / "spec", spec))
        with dask_client(1) as one, dask_client(2) as two:
            clients = {1: one, 2: two}
            for client in clients.values():
                warm(client, projection, args.chunk_size)
            runs: dict[int, list[float]] = {1: [], 2: []}
            for i in range(args.repeat):  # 1 and 2 workers alternate, so each pair meets the same machine
                for workers, client in clients.items():
                    store = scratch / f"w{workers}-{i}"
                    os.sync()  # earlier runs' files reach the disk now, not during this run
                    start = time.perf_counter()
                    run_chunks(projection, args.paths, args.chunk_size, store, client=client)
                    runs[workers].append(round(time.perf_counter() - start, 2))
                    shutil.rmtree(store)
            for workers, seconds in runs.items():
                result[f"paths_{workers}_workers_runs_s"] = seconds
                result[f"paths_{workers}_workers_s"] = min(seconds)
                result[f"path_years_per_s_{workers}_workers"] = round(path_years / min(seconds))
            ratios = [a / b for a, b in zip(runs[1], runs[2], strict=True)]
            result["speedup_2_workers"] = round(statistics.median(ratios), 2)
            result["speedup_2_workers_runs"] = [round(r, 2) for r in ratios]
            seconds = []
            for i in range(args.repeat):
                run = run_directory(fit_dir, scratch / f"run-{i}", spec)
                os.sync()
                start = time.perf_counter()
                stochpop.project_and_summarise(run, two, projection)
                seconds.append(round(time.perf_counter() - start, 2))
                shutil.rmtree(run)
            result["paths_and_summaries_runs_s"] = seconds
            result["paths_and_summaries_s"] = min(seconds)
        result["summaries_s"] = round(result["paths_and_summaries_s"] - result["paths_2_workers_s"], 2)

        cold = run_directory(fit_dir, scratch / "cold", spec)
        os.sync()
        start = time.perf_counter()
        for command in (["project", str(cold), "--paths", str(args.paths)], ["summary", str(cold)]):
            subprocess.run([sys.executable, "-m", "stochpop.cli", *command], check=True, capture_output=True)
        result["cold_project_and_summary_s"] = round(time.perf_counter() - start, 2)

        big = run_directory(fit_dir, scratch / "big", spec)
        os.sync()
        argv = ["project", str(big), "--paths", str(args.big), "--workers", "0"]
        code = (
            "import resource; from stochpop.cli import main; "
            f"assert main({argv!r}) == 0; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        result["big_run_paths"] = args.big
        big_run_s = time.perf_counter() - start
        result["big_run_s"] = round(big_run_s, 1)
        result["big_run_peak_gb"] = round(int(done.stdout.split()[-1]) / 2**20, 2)
        result["big_run_store_gb"] = round(
            sum(f.stat().st_size for f in (big / "paths.zarr").rglob("*") if f.is_file()) / 2**30, 2
        )
        start = time.perf_counter()
        assert stochpop.verify(big) == []
        verify_s = time.perf_counter() - start
        result["big_verify_s"] = round(verify_s, 1)
        result["big_verify_share_of_run"] = round(verify_s / big_run_s, 3)
        command = [sys.executable, "-m", "stochpop.cli", "verify", str(big)]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        result["big_verify_command_s"] = round(time.perf_counter() - start, 1)
    result["goals"] = GOALS
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")


if __name__ == "__main__":
    main_bench()
