"""Benchmark the stochastic projection of Norway after the fit, in one run.

Prints: wall time of N paths (default 10 000) to 2100 with 1 and with 2 Dask workers (sampling the
components' paths + kernel, streamed to zarr) and of the summaries (quantile, variant and population
tables, and the 15 SSB alternatives), path-years per second, the speedup of 2 workers over 1, and the
wall time and peak memory (max RSS of the process) of a BIG-path run (default 100 000) streamed to zarr
by `stochpop project` in a subprocess. Goals on 2 cores: 10 000 paths + summaries < 10 s, 2 workers
>= 1.7x one, 100 000 paths < 4 GB peak memory.

    python experiments/bench_projection.py --json [--fit-dir out/norway-fit] [--paths 10000] [--big 100000]

The fit (models/norway.toml) is made once into --fit-dir and reused by later runs; the stores (about 6 GB
for 100 000 paths) go to a temporary folder beside it and are removed at the end.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stochpop.cli import SPEC_FILE, _posterior_files, _run_spec, main
from stochpop.distributed import dask_client, run_chunks
from stochpop.pipeline import PathProjection, build_components, project_alternatives
from stochpop.report import write_tables
from stochpop.spec import load_data

GOALS = {"paths_and_summaries_s": 10.0, "speedup_2_workers": 1.7, "big_run_peak_gb": 4.0}


def fitted(fit_dir: Path) -> Path:
    if not all(path.is_file() for path in _posterior_files(fit_dir).values()):
        if main(["fit", "models/norway.toml", "--out", str(fit_dir)]) != 0:
            raise SystemExit("the Norway fit failed")
    return fit_dir


def timed_run(projection: PathProjection, n: int, chunk: int, workers: int, store: Path) -> float:
    """Seconds to compute n paths with `workers` Dask workers (cluster start-up and compilation in the
    workers excluded: one warm-up chunk runs first on every worker)."""
    with dask_client(workers) as client:
        warm = [
            client.submit(projection, 0, 10, pure=False, workers=[w])
            for w in client.scheduler_info()["workers"]
        ]
        client.gather(warm)
        start = time.perf_counter()
        run_chunks(projection, n, chunk, store, client=client)
        return time.perf_counter() - start


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-dir", type=Path, default=Path("out/norway-fit"))
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    fit_dir = fitted(args.fit_dir)
    spec = _run_spec(fit_dir)
    data = load_data(spec)
    projection = PathProjection.create(spec, data, build_components(spec, data), _posterior_files(fit_dir))
    levels = dict(zip("LMH", spec.outputs.variants, strict=True))
    path_years = args.paths * spec.projection.horizon
    result: dict[str, object] = {"paths": args.paths, "years": spec.projection.horizon}
    args.fit_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.fit_dir.parent, prefix="bench-") as scratch:
        scratch = Path(scratch)
        for workers in (1, 2):
            seconds = timed_run(projection, args.paths, args.chunk_size, workers, scratch / f"w{workers}")
            result[f"paths_{workers}_workers_s"] = round(seconds, 2)
            result[f"path_years_per_s_{workers}_workers"] = round(path_years / seconds)
        start = time.perf_counter()
        paths = run_chunks(projection, args.paths, args.chunk_size, scratch / "w2")  # complete: opens it
        alternatives = project_alternatives(projection, spec.outputs.alternatives, 1000, levels)
        write_tables(
            paths, alternatives, scratch / "tables", spec.outputs.quantiles, levels, ("csv", "parquet")
        )
        result["summaries_s"] = round(time.perf_counter() - start, 2)
        result["paths_and_summaries_s"] = round(result["paths_2_workers_s"] + result["summaries_s"], 2)
        result["speedup_2_workers"] = round(result["paths_1_workers_s"] / result["paths_2_workers_s"], 2)

        big = scratch / "big"
        big.mkdir()
        for name, path in _posterior_files(fit_dir).items():
            (big / "posteriors").mkdir(exist_ok=True)
            shutil.copy(path, big / "posteriors" / f"{name}.nc")
        shutil.copy(fit_dir / SPEC_FILE, big / SPEC_FILE)
        start = time.perf_counter()
        argv = [
            "project",
            str(big),
            "--paths",
            str(args.big),
            "--workers",
            "0",
            "--chunk-size",
            str(args.chunk_size),
        ]
        code = (
            "import resource; from stochpop.cli import main; "
            f"assert main({argv!r}) == 0; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        result["big_run_paths"] = args.big
        result["big_run_s"] = round(time.perf_counter() - start, 1)
        result["big_run_peak_gb"] = round(int(done.stdout.split()[-1]) / 2**20, 2)
        result["big_run_store_gb"] = round(
            sum(f.stat().st_size for f in big.rglob("*") if f.is_file()) / 2**30, 2
        )
    result["goals"] = GOALS
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")


if __name__ == "__main__":
    main_bench()
